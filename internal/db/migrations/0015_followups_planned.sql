-- A referral's follow-ups are planned after it commits (referral/planner.go).
--
-- A hotline webhook answers once the referral, its services, the consent
-- and the call's state are durable; planning its check-in, reminder and
-- call task (rows in followup, with its indexes, and their audit events)
-- is most of the writer's work for a referral, so it is a later write of
-- its own. followups_planned_at records that it was done: NULL until the
-- planner has looked at the referral (with or without planning anything),
-- set back to NULL when consent given afterwards calls for another look.
-- A process killed between the two writes leaves the referral NULL; the
-- planner finds it through the index below at start and every minute.
ALTER TABLE referral ADD COLUMN followups_planned_at TEXT;

-- Referrals made before this migration were planned with their commit.
UPDATE referral SET followups_planned_at = created_at;

-- Only the referrals still to plan: a few at most, in the order made.
CREATE INDEX referral_unplanned ON referral(created_at) WHERE followups_planned_at IS NULL;

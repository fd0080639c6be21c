-- The staff queue's filters and counts without a join (referral/queue.go).
--
-- The queue filters follow-ups by their referral's need and channel, and
-- counts every view under those filters at the top of the page. Read
-- through referral, each filter cost a table look-up per open follow-up
-- (docs/benchmarks.md, "Follow-up queue"). A referral's need and channel
-- never change once it is made, so each follow-up carries a copy: set when
-- it is inserted (insertFollowup copies them; the trigger below fills them
-- for any insert that does not), back-filled here for those already
-- scheduled.
ALTER TABLE followup ADD COLUMN need_category TEXT NOT NULL DEFAULT '';
ALTER TABLE followup ADD COLUMN channel TEXT NOT NULL DEFAULT '';
UPDATE followup SET (need_category, channel) =
  (SELECT r.need_category, r.channel FROM referral r WHERE r.id = followup.referral_id);

CREATE TRIGGER followup_referral_copy AFTER INSERT ON followup WHEN NEW.need_category = ''
BEGIN
  UPDATE followup SET (need_category, channel) =
    (SELECT r.need_category, r.channel FROM referral r WHERE r.id = NEW.referral_id)
  WHERE id = NEW.id;
END;

-- The queue's indexes hold only the open follow-ups (the states a person
-- may act on), each with every column the queue filters by, so that a page
-- and its counts never read the table. Queries name them (INDEXED BY) and
-- repeat the condition word for word.

-- The list, in due order.
DROP INDEX followup_queue;
CREATE INDEX followup_queue ON followup(due_at, kind, state, assignee, need_category, channel, referral_id)
  WHERE state IN ('pending','unsure','failed');

-- The counts: each view is a few ranges of (state, kind, due_at), counted
-- without looking at each row.
CREATE INDEX followup_queue_count ON followup(state, kind, due_at, assignee, need_category, channel)
  WHERE state IN ('pending','unsure','failed');

-- The claimed ones, by who claimed them: "mine" and "unassigned".
CREATE INDEX followup_queue_claimed ON followup(assignee, state, kind, due_at, need_category, channel)
  WHERE state IN ('pending','unsure','failed') AND assignee <> '';

-- The partner filter starts from the partner: the referrals that named an
-- organization (compared without case, as staff type it), then their open
-- follow-ups.
CREATE INDEX referral_service_organization ON referral_service(organization COLLATE NOCASE, referral_id);
CREATE INDEX followup_queue_referral ON followup(referral_id, due_at, kind, state, assignee, need_category, channel)
  WHERE state IN ('pending','unsure','failed');

-- The done view, newest first, with what its count filters by.
DROP INDEX followup_done;
CREATE INDEX followup_done ON followup(updated_at, kind, assignee, need_category, channel, referral_id)
  WHERE state = 'done';

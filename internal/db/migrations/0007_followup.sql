-- Follow-ups (package referral): the SMS check-ins sent after a referral
-- and the tasks staff work from the follow-up queue.
--
-- Times are RFC 3339 UTC with a six-digit fraction, as in 0006.

-- One follow-up. kind:
--   checkin   SMS: did you reach them? (day 3 by default)
--   reminder  SMS: the same question again when the check-in got no reply
--   final     SMS: did it work out? (day 30, for those who got help)
--   call      task: staff call the person (no reply, or no help)
--   callback  task: the person asked for a call (a reply, a voicemail, a text)
--
-- state:
--   pending   waiting for due_at (SMS) or for staff (tasks)
--   sending   an SMS claimed by the scheduler; if the process dies here the
--             next run asks the sms_message log what happened
--   sent      the SMS went out; waiting for a reply
--   answered  the person replied to this SMS
--   unsure    the SMS may have gone out; never resent automatically, shown
--             in the staff queue so staff check the provider's log
--   done      a task finished by staff (or an SMS made moot, see reason)
--   cancelled no longer needed (reason says why: opted out, got help ...)
--   failed    the SMS was refused for good (reason has the provider's code)
CREATE TABLE followup (
  id TEXT PRIMARY KEY NOT NULL,
  referral_id TEXT NOT NULL REFERENCES referral(id),
  kind TEXT NOT NULL CHECK (kind IN ('checkin','reminder','final','call','callback')),
  state TEXT NOT NULL CHECK (state IN ('pending','sending','sent','answered','unsure','done','cancelled','failed')),
  due_at TEXT NOT NULL,
  -- Why it was cancelled, failed or done; for a callback what was asked.
  reason TEXT NOT NULL DEFAULT '',
  -- The text sent, its idempotency ref in sms_message, and when.
  body TEXT NOT NULL DEFAULT '',
  message_ref TEXT NOT NULL DEFAULT '',
  sent_at TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  -- The person's reply, as received, and what it was read as (1-4, call,
  -- unclear). An unclear reply gets one clarifying text (the answer to the
  -- webhook) and the row stays sent with reply_code 'unclear'.
  reply TEXT NOT NULL DEFAULT '',
  reply_code TEXT NOT NULL DEFAULT '',
  replied_at TEXT,
  -- Staff work: who took it, and who closed it.
  assignee TEXT NOT NULL DEFAULT '',
  closed_by TEXT NOT NULL DEFAULT '',
  closed_at TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
-- The scheduler's and the queue's main question: what is due, by state.
CREATE INDEX followup_state_due ON followup(state, due_at);
CREATE INDEX followup_referral ON followup(referral_id, created_at);

-- Services flagged for re-verification because referrals to them keep
-- coming back "couldn't reach them" or "wrong information". One open flag
-- per service; cleared_at is set when staff verify the listing again.
CREATE TABLE service_review (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  service_id TEXT NOT NULL,
  reason TEXT NOT NULL,
  reports INTEGER NOT NULL,
  flagged_at TEXT NOT NULL,
  cleared_at TEXT,
  cleared_by TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX service_review_open ON service_review(service_id) WHERE cleared_at IS NULL;

-- Text messages received (hotline/), kept so that a webhook Twilio sends
-- twice is answered the same way and acted on once, and so staff can read
-- a person's replies. The body is personal and is removed with the client.
CREATE TABLE sms_inbound (
  message_sid TEXT PRIMARY KEY NOT NULL,
  from_number TEXT NOT NULL,
  body TEXT NOT NULL,
  -- What handled it (followup, stop, start, hotline ...) and what we answered.
  handled_by TEXT NOT NULL DEFAULT '',
  answer TEXT NOT NULL DEFAULT '',
  received_at TEXT NOT NULL
);
CREATE INDEX sms_inbound_from ON sms_inbound(from_number, received_at);

-- The staff follow-up queue (referral/queue.go).
--
-- The queue lists the follow-ups a person has to act on, by due time:
-- pending call and callback tasks, texts that may have gone out or failed
-- (unsure, failed), and texts held back for more than a day (pending).
-- This partial index holds only those open states, in due order, with the
-- columns the queue's list and counts read, so the first page and the counts
-- at its top are read from it alone however long the history grows.
CREATE INDEX followup_queue ON followup(due_at, kind, state, assignee, referral_id)
  WHERE state IN ('pending','unsure','failed');

-- The "done" view of the queue, newest first.
CREATE INDEX followup_done ON followup(updated_at) WHERE state = 'done';

-- Outgoing SMS (hotline/). Phone numbers here belong to people coming home
-- from prison: they are stored because sending needs them, and never logged
-- in full.

-- The local outbox: where messages go when no Twilio account is configured,
-- so that a fresh install works end to end; staff read it on a page.
CREATE TABLE sms_outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ref TEXT NOT NULL UNIQUE,
  to_number TEXT NOT NULL,
  body TEXT NOT NULL,
  purpose TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'queued',
  created_at TEXT NOT NULL
);
CREATE INDEX sms_outbox_created_at ON sms_outbox(created_at);

-- Every send, whichever provider carried it, keyed by the caller's ref so a
-- retry or a restart never sends the same message twice. status is ours:
--   sending   claimed; the provider has not answered (or the process died)
--   sent      the provider accepted it (provider_sid, provider_status)
--   failed    permanently refused (error_code); never retried
--   retryable a transient failure; the next Send with the ref tries again
--   unsure    the provider may have accepted it but we could not tell
-- provider_status is the provider's own word (queued, accepted, delivered...),
-- which status callbacks may update later.
CREATE TABLE sms_message (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ref TEXT NOT NULL UNIQUE,
  to_number TEXT NOT NULL,
  body TEXT NOT NULL,
  purpose TEXT NOT NULL,
  provider TEXT NOT NULL CHECK (provider IN ('twilio', 'outbox')),
  provider_sid TEXT NOT NULL DEFAULT '',
  provider_status TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'failed', 'retryable', 'unsure')),
  error_code INTEGER NOT NULL DEFAULT 0,
  error_message TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX sms_message_provider_sid ON sms_message(provider_sid) WHERE provider_sid <> '';
CREATE INDEX sms_message_created_at ON sms_message(created_at);

-- Numbers that must not be texted: a STOP reply, or Twilio's error 21610.
-- Consulted before every send.
CREATE TABLE opt_out (
  phone TEXT PRIMARY KEY,
  reason TEXT NOT NULL,
  source TEXT NOT NULL,
  at TEXT NOT NULL
);

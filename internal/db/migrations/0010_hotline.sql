-- The hotline (package hotline): calls in progress and SMS conversations,
-- kept here rather than in memory so that a restart mid-call continues the
-- call, and so that Twilio retrying a webhook gets the same answer.
--
-- Times are RFC 3339 UTC with a six-digit fraction, as in 0006.

-- One call, by Twilio's CallSid. seq numbers the answers we gave: every
-- action URL carries it, so a step is known exactly (see hotline_call_step).
-- results is the JSON list of places found (what is read out), page the
-- first of them being read.
CREATE TABLE hotline_call (
  call_sid TEXT PRIMARY KEY NOT NULL,
  from_number TEXT NOT NULL,
  to_number TEXT NOT NULL DEFAULT '',
  language TEXT NOT NULL DEFAULT '' CHECK (language IN ('','en','es')),
  seq INTEGER NOT NULL DEFAULT 0,
  -- The prompt now waiting for input, and the failed tries at it.
  step TEXT NOT NULL DEFAULT '',
  tries INTEGER NOT NULL DEFAULT 0,
  need TEXT NOT NULL DEFAULT '',
  query TEXT NOT NULL DEFAULT '',
  zip TEXT NOT NULL DEFAULT '',
  results TEXT NOT NULL DEFAULT '[]',
  page INTEGER NOT NULL DEFAULT 0,
  -- The referral logged when results were texted (and the text's ref), the
  -- consent answer ('' not asked, 'yes', 'no'), a voicemail's recording.
  referral_id TEXT NOT NULL DEFAULT '',
  text_ref TEXT NOT NULL DEFAULT '',
  consent TEXT NOT NULL DEFAULT '',
  recording_url TEXT NOT NULL DEFAULT '',
  -- How the call went: Twilio's last CallStatus and duration, and the
  -- staff dial's outcome (DialCallStatus).
  status TEXT NOT NULL DEFAULT 'in-progress',
  dial_status TEXT NOT NULL DEFAULT '',
  duration_seconds INTEGER,
  started_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  ended_at TEXT
);
CREATE INDEX hotline_call_started ON hotline_call(started_at);

-- Each answer given to a call, by the URL Twilio requested (path and query,
-- which carries seq): a webhook Twilio repeats is answered from here and
-- acts on nothing.
CREATE TABLE hotline_call_step (
  call_sid TEXT NOT NULL REFERENCES hotline_call(call_sid),
  step TEXT NOT NULL,
  twiml TEXT NOT NULL,
  at TEXT NOT NULL,
  PRIMARY KEY (call_sid, step)
);

-- The SMS search conversation with one number: language, the last search
-- and its results (JSON), the page shown. Forgotten after expires_at.
CREATE TABLE hotline_sms_conversation (
  phone TEXT PRIMARY KEY NOT NULL,
  language TEXT NOT NULL DEFAULT 'en' CHECK (language IN ('en','es')),
  need TEXT NOT NULL DEFAULT '',
  query TEXT NOT NULL DEFAULT '',
  zip TEXT NOT NULL DEFAULT '',
  results TEXT NOT NULL DEFAULT '[]',
  page INTEGER NOT NULL DEFAULT 0,
  referral_id TEXT NOT NULL DEFAULT '',
  updated_at TEXT NOT NULL,
  expires_at TEXT NOT NULL
);
CREATE INDEX hotline_sms_conversation_expires ON hotline_sms_conversation(expires_at);

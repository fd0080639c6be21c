-- The referral log (package referral): the people referred, what they were
-- referred to, what came of it, and an audit trail of every change.
--
-- Times are RFC 3339 UTC with a fixed six-digit fraction
-- (2026-01-05T14:00:00.000000Z) so that they sort as text.
-- Phones, names and notes are personal: DeleteClient blanks them (and the
-- copies in referral_event) and keeps the de-identified facts for reports.

-- A person referred. phone is E.164 and unique: a second referral for the
-- same number finds the same client. Anonymous referrals get a client row
-- with no phone (it keeps their language) and so never get a follow-up.
CREATE TABLE referral_client (
  id TEXT PRIMARY KEY NOT NULL,
  phone TEXT UNIQUE,
  name TEXT NOT NULL DEFAULT '',
  language TEXT NOT NULL CHECK (language IN ('en','es')),
  -- Consent to follow-up; consent_given is NULL until they were asked.
  consent_given INTEGER CHECK (consent_given IN (0,1)),
  consent_at TEXT,
  consent_channel TEXT,
  consent_words TEXT,
  opted_out_at TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  -- Set when the person asked us to delete their details.
  deleted_at TEXT
);

-- One referral: a need, a place, a channel, one or more services.
-- idempotency_key lets a retried webhook or form find the first referral.
CREATE TABLE referral (
  id TEXT PRIMARY KEY NOT NULL,
  client_id TEXT NOT NULL REFERENCES referral_client(id),
  channel TEXT NOT NULL CHECK (channel IN ('voice','sms','web','staff','walk-in')),
  need_category TEXT NOT NULL,
  zip TEXT NOT NULL DEFAULT '',
  created_by TEXT NOT NULL,
  notes TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL,
  idempotency_key TEXT UNIQUE
);
CREATE INDEX referral_created_at ON referral(created_at);
CREATE INDEX referral_client_id ON referral(client_id);

-- The services of a referral, with name, organization and phone as they
-- were listed when the referral was made. No foreign key to service: a
-- listing may be changed or removed and the referral must still say what
-- the person was told.
CREATE TABLE referral_service (
  referral_id TEXT NOT NULL REFERENCES referral(id),
  position INTEGER NOT NULL,
  service_id TEXT NOT NULL,
  name TEXT NOT NULL,
  organization TEXT NOT NULL,
  phone TEXT NOT NULL,
  PRIMARY KEY (referral_id, service_id)
);
CREATE INDEX referral_service_service_id ON referral_service(service_id);

-- The current outcome of a referral (service_id = '') and of each referred
-- service. Earlier answers are in referral_event.
CREATE TABLE referral_outcome (
  referral_id TEXT NOT NULL REFERENCES referral(id),
  service_id TEXT NOT NULL,
  reached INTEGER CHECK (reached IN (0,1)),
  got_help TEXT NOT NULL DEFAULT '' CHECK (got_help IN ('','yes','partly','no')),
  reason TEXT NOT NULL DEFAULT '' CHECK (reason IN ('','couldnt_reach','not_eligible','waitlist','wrong_info','didnt_go','other')),
  reason_note TEXT NOT NULL DEFAULT '',
  still_needs_help INTEGER CHECK (still_needs_help IN (0,1)),
  recorded_by TEXT NOT NULL,
  recorded_at TEXT NOT NULL,
  source TEXT NOT NULL CHECK (source IN ('staff','sms','voice')),
  PRIMARY KEY (referral_id, service_id)
);

-- The audit trail: one row per change, written in the same transaction as
-- the change. before and after are JSON (NULL when there was nothing).
-- referral_id is NULL for changes to a client alone (consent, opt-out).
CREATE TABLE referral_event (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  referral_id TEXT REFERENCES referral(id),
  client_id TEXT REFERENCES referral_client(id),
  actor TEXT NOT NULL,
  at TEXT NOT NULL,
  action TEXT NOT NULL,
  field TEXT NOT NULL DEFAULT '',
  before TEXT,
  after TEXT
);
CREATE INDEX referral_event_referral_id ON referral_event(referral_id, id);
CREATE INDEX referral_event_client_id ON referral_event(client_id, id);

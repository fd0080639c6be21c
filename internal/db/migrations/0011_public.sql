-- The public website (issue 6).
--
-- correction: "Suggest a correction" notes from visitors about a listing,
-- kept for staff review (the review queue is issue 7). The text is what the
-- visitor typed, at most 2000 characters; contact is optional (a phone or
-- an email so staff can ask back); ip_hash is a keyed hash of the sender's
-- address (SHA-256), kept only to rate-limit, never shown.
CREATE TABLE correction (
  id          INTEGER PRIMARY KEY,
  service_id  TEXT NOT NULL,
  field       TEXT NOT NULL,
  text        TEXT NOT NULL,
  contact     TEXT NOT NULL DEFAULT '',
  lang        TEXT NOT NULL DEFAULT 'en',
  ip_hash     TEXT NOT NULL DEFAULT '',
  status      TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new','accepted','rejected','done')),
  created_at  TEXT NOT NULL
);
CREATE INDEX correction_status ON correction(status, created_at);
CREATE INDEX correction_ip ON correction(ip_hash, created_at);

-- public_text: every "Text me this" attempt that passed validation, for the
-- anti-pumping limits (per address, per destination number, per day). The
-- number and address are kept as SHA-256 hashes: the limits only need to
-- compare them, and the referral log already holds the number itself.
CREATE TABLE public_text (
  id          INTEGER PRIMARY KEY,
  ip_hash     TEXT NOT NULL,
  to_hash     TEXT NOT NULL,
  service_id  TEXT NOT NULL,
  -- form_key is the random key of the form that was sent, so a form
  -- submitted twice counts (and texts) once.
  form_key    TEXT NOT NULL UNIQUE,
  created_at  TEXT NOT NULL
);
CREATE INDEX public_text_ip ON public_text(ip_hash, created_at);
CREATE INDEX public_text_to ON public_text(to_hash, created_at);
CREATE INDEX public_text_at ON public_text(created_at);

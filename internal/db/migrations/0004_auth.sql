-- Staff sign-in (package internal/auth). Times are RFC 3339 UTC to the second
-- ("2006-01-02T15:04:05Z"), so they compare correctly as text.

-- Staff and admin accounts. password_hash is an argon2id PHC string, or ''
-- when no password works (invited by CLI reset, or reset by an admin and not
-- yet set again). failed_logins counts wrong passwords since the last
-- success or lockout; locked_until is set when it reaches the limit.
CREATE TABLE staff_user (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  email TEXT NOT NULL UNIQUE COLLATE NOCASE,
  name TEXT NOT NULL DEFAULT '',
  role TEXT NOT NULL CHECK (role IN ('admin','staff')),
  password_hash TEXT NOT NULL DEFAULT '',
  disabled_at TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  failed_logins INTEGER NOT NULL DEFAULT 0,
  locked_until TEXT,
  password_set_at TEXT
);

-- Server-side sessions. The cookie holds a random token; only its SHA-256
-- (hex) is stored, so a copy of the database does not let anyone sign in.
-- ip_prefix (/24 or /48) and user_agent are for staff to recognise their own
-- sessions, not for binding. flash is a one-shot notice shown on the next page.
CREATE TABLE staff_session (
  token_hash TEXT PRIMARY KEY NOT NULL,
  user_id INTEGER NOT NULL REFERENCES staff_user(id) ON DELETE CASCADE,
  csrf_token TEXT NOT NULL,
  created_at TEXT NOT NULL,
  last_seen_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  ip_prefix TEXT NOT NULL DEFAULT '',
  user_agent TEXT NOT NULL DEFAULT '',
  flash TEXT NOT NULL DEFAULT ''
);
CREATE INDEX staff_session_user ON staff_session(user_id);
CREATE INDEX staff_session_expires ON staff_session(expires_at);

-- One-time links: kind 'invite' creates an account when accepted, kind
-- 'reset' sets a new password on an existing one. Only the SHA-256 of the
-- token is stored. A newer link for the same email expires the older ones.
CREATE TABLE staff_invite (
  token_hash TEXT PRIMARY KEY NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('invite','reset')),
  email TEXT NOT NULL COLLATE NOCASE,
  role TEXT NOT NULL CHECK (role IN ('admin','staff')),
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  used_at TEXT,
  created_by INTEGER REFERENCES staff_user(id) ON DELETE SET NULL
);
CREATE INDEX staff_invite_email ON staff_invite(email);

-- Audit trail of sign-ins, failures, lockouts, invites, resets, disables.
-- detail never holds a password, token or anything a person typed as one.
CREATE TABLE auth_event (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER REFERENCES staff_user(id) ON DELETE SET NULL,
  event TEXT NOT NULL,
  at TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX auth_event_user ON auth_event(user_id, at);
CREATE INDEX auth_event_at ON auth_event(at);

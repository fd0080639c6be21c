-- Secrets the application makes for itself, kept with the data they
-- protect. hash_key keys the HMAC that rate limits store instead of a
-- visitor's address or number (DB.Hash): a plain hash of a phone number
-- can be reversed by trying every number; a keyed one cannot without the
-- key.
CREATE TABLE app_secret (
  name TEXT PRIMARY KEY NOT NULL,
  value BLOB NOT NULL
);

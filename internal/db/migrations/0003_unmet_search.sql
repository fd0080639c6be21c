-- Searches that found nothing: the unmet needs staff report on. Query text
-- and filters only; no phone number, IP address or anything else personal.
CREATE TABLE unmet_search (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  searched_at TEXT NOT NULL,
  channel TEXT NOT NULL,
  query TEXT NOT NULL,
  filters TEXT NOT NULL
);
CREATE INDEX unmet_search_searched_at ON unmet_search(searched_at);

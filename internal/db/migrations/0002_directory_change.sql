-- The directory's change feed: every write that changes what a service looks
-- like appends the service's id here in the same transaction. The search index
-- tails it (seq is monotonic), so a change made by any process, or left
-- unindexed by a crash, still reaches the index.
CREATE TABLE directory_change (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  service_id TEXT NOT NULL,
  changed_at TEXT NOT NULL
);

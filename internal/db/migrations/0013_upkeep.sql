-- Keeping the directory true (issue 7): staff review of public corrections,
-- partner accounts and their proposed changes, and the listing history.
--
-- Staff edits themselves need no table: they are written to the HSDS tables
-- through the importer's writer, each changed field a row of `metadata`,
-- whose extra column holds {"at": exact time, "listing": service id, "note"}.

-- A listing's history finds the rows of its staff edits by listing, also
-- those of rows since removed.
CREATE INDEX metadata_listing ON metadata(json_extract(extra, '$.listing')) WHERE extra IS NOT NULL;

-- The review of a public correction: who accepted (into an edit) or
-- dismissed it, when, and why (a dismissal's reason, or the edit's note).
ALTER TABLE correction ADD COLUMN reviewed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE correction ADD COLUMN reviewed_at TEXT;
ALTER TABLE correction ADD COLUMN review_note TEXT NOT NULL DEFAULT '';
CREATE INDEX correction_service ON correction(service_id, status);

-- Partner accounts: a user of role 'partner' belongs to one organization
-- (organization_id, an HSDS organization id) and sees and proposes changes
-- to that organization's listings only. '' for staff and admins.
--
-- SQLite cannot change a CHECK constraint with ALTER TABLE, and rebuilding
-- staff_user would cascade to its sessions and audit trail; widening the
-- allowed roles is the case the SQLite manual allows through
-- writable_schema (no stored row changes meaning).
ALTER TABLE staff_user ADD COLUMN organization_id TEXT NOT NULL DEFAULT '';
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql, 'role IN (''admin'',''staff'')', 'role IN (''admin'',''staff'',''partner'')')
  WHERE type = 'table' AND name = 'staff_user';
PRAGMA writable_schema = RESET;

-- A change a partner proposed, waiting for staff: one edit of one row
-- (table_name, row_id; row_id '' creates), the text typed per field
-- (JSON object field -> text, the extension properties under "extra"),
-- the row's version when the partner opened it (RowVersion), and the
-- decision. Approving applies it through the same write path as a staff
-- edit, recorded in the history as the partner's change approved by staff.
CREATE TABLE directory_proposal (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  organization_id TEXT NOT NULL,
  listing_id TEXT NOT NULL DEFAULT '',
  table_name TEXT NOT NULL,
  row_id TEXT NOT NULL DEFAULT '',
  base_version TEXT NOT NULL DEFAULT '',
  base TEXT NOT NULL DEFAULT '{}',
  changes TEXT NOT NULL,
  fixed TEXT NOT NULL DEFAULT '{}',
  note TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new','approved','rejected')),
  proposed_by TEXT NOT NULL,
  proposed_at TEXT NOT NULL,
  decided_by TEXT NOT NULL DEFAULT '',
  decided_at TEXT,
  decision_note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX directory_proposal_status ON directory_proposal(status, proposed_at);
CREATE INDEX directory_proposal_org ON directory_proposal(organization_id, proposed_at);

package db

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secondchancekc/secondchance/internal/apperr"
)

// Every migration is applied once and recorded; opening again applies
// nothing; the pragmas a caller was promised are in force.
func TestOpenMigratesOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sc.db")
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	d.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n)
	ms, _ := Migrations()
	if n != len(ms) || n == 0 {
		t.Fatalf("%d migrations recorded, %d embedded", n, len(ms))
	}
	var mode string
	var fk, sync int
	d.Write.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode)
	d.Write.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk)
	d.Write.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync)
	if mode != "wal" || fk != 1 || sync != 2 {
		t.Errorf("journal_mode=%s foreign_keys=%d synchronous=%d, want wal 1 2 (FULL)", mode, fk, sync)
	}
	if _, err := d.Read.ExecContext(ctx, `CREATE TABLE x (a)`); err == nil {
		t.Error("a reader connection could write")
	}
	d.Close()
	d, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n)
	if n != len(ms) {
		t.Errorf("reopening recorded %d migrations, want %d", n, len(ms))
	}
	if err := d.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// A database written by a newer version is refused with a message that
// says so, and is left as it was.
func TestNewerDatabaseRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sc.db")
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	future := SchemaVersion() + 1
	if _, err := d.Write.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from_the_future', 'x')`, future); err != nil {
		t.Fatal(err)
	}
	d.Close()
	_, err = Open(ctx, path)
	if apperr.Code(err) != apperr.EINVALID || !strings.Contains(apperr.Message(err), "written by a newer version") {
		t.Fatalf("opening a newer database: %v", err)
	}
}

// A migration missing from the record is applied even when a higher one
// is recorded: numbers are reserved ahead, so 0009 may reach a database
// before 0008 is written.
func TestMissingMigrationApplied(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sc.db")
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := Migrations()
	m := ms[len(ms)-2]
	if _, err := d.Write.ExecContext(ctx, `DELETE FROM schema_migrations WHERE version = ?`, m.Version); err != nil {
		t.Fatal(err)
	}
	d.Close()
	// Its objects are still there, so applying it again fails, naming it:
	// the sign that it was tried rather than skipped.
	d, err = Open(ctx, path)
	if err == nil {
		d.Close()
		t.Fatalf("migration %s, missing from the record, was skipped", m.Name)
	}
	if !strings.Contains(err.Error(), m.Name) {
		t.Errorf("reopening: %v, want an attempt at %s", err, m.Name)
	}
}

// A backup of a live database is a consistent copy that passes its
// integrity check, and never overwrites a file.
func TestBackup(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := Open(ctx, filepath.Join(dir, "sc.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Write.ExecContext(ctx, `INSERT INTO directory_change (service_id, changed_at) VALUES ('s1', 'now')`); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(dir, "copy.db")
	if err := d.Backup(ctx, dest); err != nil {
		t.Fatal(err)
	}
	c, err := Open(ctx, dest)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var id string
	if err := c.Read.QueryRowContext(ctx, `SELECT service_id FROM directory_change`).Scan(&id); err != nil || id != "s1" {
		t.Errorf("the copy lacks the row written before the backup: %q %v", id, err)
	}
	if err := d.Backup(ctx, dest); apperr.Code(err) != apperr.ECONFLICT {
		t.Errorf("backup over an existing file: %v, want a conflict", err)
	}
}

// Package db opens the SQLite database: one writer connection, a pool of
// readers, and the embedded migrations applied in order at open.
package db

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/secondchancekc/secondchance/internal/apperr"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// DB is the application database. Write has exactly one connection, so writes
// are serialised in Go rather than by SQLITE_BUSY retries; Read is a pool of
// query-only connections that WAL lets run beside the writer.
type DB struct {
	Path  string
	Write *sql.DB
	Read  *sql.DB
	// Batch runs small write transactions from concurrent requests with
	// one shared commit (group commit) on Write; see Batcher.
	Batch *Batcher
	// ReadStmts runs hot queries prepared once on the readers.
	ReadStmts *Stmts
	// Now is the clock used for migration records; tests may replace it.
	Now func() time.Time
	// hashKey keys Hash.
	hashKey []byte
}

// Open opens (creating if needed) the database at path and applies every
// pending migration. A database written by a newer version is refused.
func Open(ctx context.Context, path string) (*DB, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
	}
	w, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		w.Close()
		return nil, err
	}
	n := max(4, runtime.NumCPU()*2)
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	d := &DB{Path: path, Write: w, Read: r, Batch: NewBatcher(w), ReadStmts: &Stmts{DB: r}, Now: time.Now}
	if err := d.migrate(ctx); err != nil {
		d.Close()
		return nil, err
	}
	if err := d.loadHashKey(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// dsn builds a modernc.org/sqlite DSN. busy_timeout comes first so that the
// pragmas after it wait rather than fail while another process holds a lock.
// synchronous=FULL: whatever we told a caller is saved survives power loss.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", "synchronous(FULL)")
	if readOnly {
		q.Add("_pragma", "query_only(ON)")
	} else {
		q.Set("_txlock", "immediate")
		// 64 MiB of page cache for the one writer: big imports touch the
		// same index pages over and over (measured 3.5-4 s faster on
		// 10,000 services).
		q.Add("_pragma", "cache_size(-65536)")
	}
	return "file:" + path + "?" + q.Encode()
}

// Close closes both pools.
func (d *DB) Close() error {
	err1 := d.Read.Close()
	err2 := d.Write.Close()
	if err1 != nil {
		return err1
	}
	return err2
}

// Migration is one embedded schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the embedded migrations in order. File names are
// NNNN_name.sql.
func Migrations() ([]Migration, error) {
	names, err := fs.Glob(migrationsFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var ms []Migration
	for _, n := range names {
		base := filepath.Base(n)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number and _", base)
		}
		b, err := migrationsFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: strings.TrimSuffix(base, ".sql"), SQL: string(b)})
	}
	return ms, nil
}

// SchemaVersion is the highest migration this binary knows.
func SchemaVersion() int {
	ms, _ := Migrations()
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

func (d *DB) migrate(ctx context.Context) error {
	if _, err := d.Write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("open %s: %w", d.Path, err)
	}
	ms, err := Migrations()
	if err != nil {
		return err
	}
	var have int
	if err := d.Write.QueryRowContext(ctx, `SELECT COALESCE(MAX(version),0) FROM schema_migrations`).Scan(&have); err != nil {
		return err
	}
	// Versions are applied by set, not by the highest one: migration numbers
	// are reserved ahead by people working side by side, so a database may
	// have 0009 from one branch before 0008 from another exists.
	applied := map[int]bool{}
	rows, err := d.Write.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return err
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if latest := SchemaVersion(); have > latest {
		return apperr.Errorf(apperr.EINVALID,
			"database %s has schema version %d but this secondchance knows only up to %d: it was written by a newer version; run that version or restore a backup",
			d.Path, have, latest)
	}
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		if err := d.apply(ctx, m); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return nil
}

func (d *DB) apply(ctx context.Context, m Migration) error {
	tx, err := d.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.Version, m.Name, d.Now().UTC().Format(time.RFC3339)); err != nil {
		return err
	}
	return tx.Commit()
}

// Version returns the schema version recorded in the database.
func (d *DB) Version(ctx context.Context) (int, error) {
	var v int
	err := d.Read.QueryRowContext(ctx, `SELECT COALESCE(MAX(version),0) FROM schema_migrations`).Scan(&v)
	return v, err
}

// Ping checks that the database answers and that every migration is applied.
func (d *DB) Ping(ctx context.Context) error {
	v, err := d.Version(ctx)
	if err != nil {
		return err
	}
	if v != SchemaVersion() {
		return fmt.Errorf("schema version %d, want %d", v, SchemaVersion())
	}
	return nil
}

// Backup writes a consistent copy of the live database to dest with VACUUM
// INTO (safe while the server runs: it reads one snapshot) and then checks
// that the copy opens and passes PRAGMA integrity_check.
func (d *DB) Backup(ctx context.Context, dest string) error {
	if _, err := os.Stat(dest); err == nil {
		return apperr.Errorf(apperr.ECONFLICT, "backup %s: file already exists; choose a new name", dest)
	}
	if dir := filepath.Dir(dest); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return fmt.Errorf("backup %s: %w", dest, err)
		}
	}
	// VACUUM INTO needs a connection that may write (to the new file), so
	// not one of the query-only readers; nor the writer, which it would hold
	// for the whole copy. A connection of its own reads one WAL snapshot.
	c, err := sql.Open("sqlite", dsn(d.Path, false))
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, `VACUUM INTO ?`, dest); err != nil {
		os.Remove(dest)
		return fmt.Errorf("backup %s: %w", dest, err)
	}
	return Verify(ctx, dest)
}

// Verify opens the database file at path read-only and runs PRAGMA
// integrity_check.
func Verify(ctx context.Context, path string) error {
	c, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer c.Close()
	var res string
	if err := c.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&res); err != nil {
		return fmt.Errorf("verify %s: %w", path, err)
	}
	if res != "ok" {
		return fmt.Errorf("verify %s: integrity_check says %q", path, res)
	}
	return nil
}

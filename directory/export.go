package directory

import (
	"archive/zip"
	"bufio"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/secondchancekc/secondchance/data"
)

// ExportJSON writes every service, fully nested, one per line (NDJSON), in
// the order they were first stored.
func (s *Store) ExportJSON(ctx context.Context, w io.Writer) (int, error) {
	snap, err := s.snapshot(ctx)
	if err != nil {
		return 0, err
	}
	defer snap.close()
	ids, err := allIDs(ctx, snap, "service")
	if err != nil {
		return 0, err
	}
	t := Schema.Table("service")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, id := range ids {
		r, err := getRow(ctx, snap, t, id)
		if err != nil {
			return 0, err
		}
		d, err := compose(ctx, snap, t, r, Full, nil)
		if err != nil {
			return 0, err
		}
		if err := enc.Encode(d); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// snapshot is a read transaction that prepares each distinct query once.
// An export reads one state of the directory however long it takes and
// whatever is written meanwhile (WAL readers see the database as it was
// when they began), so that what it writes is referentially consistent;
// and it composes thousands of objects from a few dozen distinct queries,
// which would otherwise each be parsed again every time.
type snapshot struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

var _ querier = (*snapshot)(nil)

func (s *Store) snapshot(ctx context.Context) (*snapshot, error) {
	tx, err := s.db.Read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	return &snapshot{tx: tx, stmts: map[string]*sql.Stmt{}}, nil
}

func (sn *snapshot) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := sn.stmts[query]; ok {
		return st, nil
	}
	st, err := sn.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	sn.stmts[query] = st
	return st, nil
}

func (sn *snapshot) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := sn.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (sn *snapshot) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := sn.stmt(ctx, query)
	if err != nil {
		return sn.tx.QueryRowContext(ctx, query, args...) // reports the same error
	}
	return st.QueryRowContext(ctx, args...)
}

func (sn *snapshot) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return sn.tx.ExecContext(ctx, query, args...)
}

func (sn *snapshot) close() {
	for _, st := range sn.stmts {
		st.Close()
	}
	sn.tx.Rollback()
}

// allIDs lists the ids of a table in the order the rows were stored.
func allIDs(ctx context.Context, q querier, table string) ([]string, error) {
	rs, err := q.QueryContext(ctx, "SELECT id FROM "+table+" ORDER BY rowid")
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var ids []string
	for rs.Next() {
		var id string
		if err := rs.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rs.Err()
}

// ExportTabular writes the HSDS 3.0 tabular form: the unmodified 3.0
// datapackage.json and one CSV per table, to a folder, or to a zip file when
// out ends in .zip. It writes beside out and renames at the end, so a failed
// export never leaves half a package at out.
func (s *Store) ExportTabular(ctx context.Context, out string) error {
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("export %s: already exists; choose a new name", out)
	}
	tmp := out + ".partial"
	os.RemoveAll(tmp)
	var err error
	if strings.EqualFold(filepath.Ext(out), ".zip") {
		err = s.exportZip(ctx, tmp)
	} else {
		err = s.exportDir(ctx, tmp)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("export %s: %w", out, err)
	}
	return os.Rename(tmp, out)
}

func (s *Store) exportDir(ctx context.Context, dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	return s.eachTabularFile(ctx, func(name string, write func(io.Writer) error) error {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		bw := bufio.NewWriter(f)
		if err := write(bw); err != nil {
			f.Close()
			return err
		}
		if err := bw.Flush(); err != nil {
			f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
}

func (s *Store) exportZip(ctx context.Context, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	err = s.eachTabularFile(ctx, func(name string, write func(io.Writer) error) error {
		w, err := zw.Create(name)
		if err != nil {
			return err
		}
		return write(w)
	})
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *Store) eachTabularFile(ctx context.Context, fn func(name string, write func(io.Writer) error) error) error {
	snap, err := s.snapshot(ctx)
	if err != nil {
		return err
	}
	defer snap.close()
	dp, err := data.FS.ReadFile("hsds/datapackage.json")
	if err != nil {
		return err
	}
	if err := fn("datapackage.json", func(w io.Writer) error { _, err := w.Write(dp); return err }); err != nil {
		return err
	}
	for _, name := range Schema.Order {
		t := Schema.Table(name)
		if !t.Tabular3 {
			continue
		}
		if err := fn(t.Path, func(w io.Writer) error { return writeCSV(ctx, snap, t, w) }); err != nil {
			return fmt.Errorf("%s: %w", t.Path, err)
		}
	}
	return nil
}

func writeCSV(ctx context.Context, q querier, t *Table, w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(t.Columns()); err != nil {
		return err
	}
	rs, err := q.QueryContext(ctx, "SELECT "+selectCols(t)+" FROM "+t.Name+" ORDER BY rowid")
	if err != nil {
		return err
	}
	defer rs.Close()
	cells := make([]string, len(t.Fields))
	for rs.Next() {
		r, err := scanRow(rs, t)
		if err != nil {
			return err
		}
		for i, f := range t.Fields {
			cells[i] = Text(r.Values[f.Name])
		}
		if err := cw.Write(cells); err != nil {
			return err
		}
	}
	if err := rs.Err(); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

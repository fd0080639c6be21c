package directory

import (
	"archive/zip"
	"bufio"
	"context"
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
	ids, err := s.ids(ctx, "service")
	if err != nil {
		return 0, err
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, id := range ids {
		d, err := s.Get(ctx, "service", id, Full)
		if err != nil {
			return 0, err
		}
		if err := enc.Encode(d); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

func (s *Store) ids(ctx context.Context, table string) ([]string, error) {
	rs, err := s.db.Read.QueryContext(ctx, "SELECT id FROM "+table+" ORDER BY rowid")
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
		if err := fn(t.Path, func(w io.Writer) error { return s.writeCSV(ctx, t, w) }); err != nil {
			return fmt.Errorf("%s: %w", t.Path, err)
		}
	}
	return nil
}

func (s *Store) writeCSV(ctx context.Context, t *Table, w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(t.Columns()); err != nil {
		return err
	}
	rs, err := s.db.Read.QueryContext(ctx, "SELECT "+selectCols(t)+" FROM "+t.Name+" ORDER BY rowid")
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

package directory

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/secondchancekc/secondchance/data"
)

// tableRows returns every row of a table by id, each as the JSON of its
// values (and of its extension properties when withExtra is set), so that
// two databases can be compared row by row.
func tableRows(t testing.TB, s *Store, table string, withExtra bool) map[string]string {
	t.Helper()
	rs, err := rows(context.Background(), s.db.Read, Schema.Table(table), "")
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string, len(rs))
	for _, r := range rs {
		v := map[string]any{"values": r.Values}
		if withExtra {
			v["extra"] = r.Extra
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out[r.ID()] = string(b)
	}
	return out
}

// compareDatabases checks that got holds exactly the rows of want in every
// table but metadata, and every metadata row of want (an import appends its
// own change history, so got has more).
func compareDatabases(t *testing.T, want, got *Store, withExtra bool) {
	t.Helper()
	for _, table := range Schema.Order {
		w := tableRows(t, want, table, withExtra)
		g := tableRows(t, got, table, withExtra)
		if table == "metadata" {
			for id, row := range w {
				if g[id] != row {
					t.Errorf("metadata row %s lost or changed:\nwant %s\ngot  %s", id, row, g[id])
				}
			}
			continue
		}
		if len(w) != len(g) {
			t.Errorf("%s: %d rows after the round trip, want %d", table, len(g), len(w))
		}
		for _, id := range slices.Sorted(maps.Keys(w)) {
			if g[id] != w[id] {
				t.Errorf("%s %s:\nwant %s\ngot  %s", table, id, w[id], g[id])
			}
		}
		for id := range g {
			if _, ok := w[id]; !ok {
				t.Errorf("%s %s: not in the original: %s", table, id, g[id])
			}
		}
	}
}

// richDirectory fills a store with everything the tests have: the embedded
// taxonomies, the demo directory, the HSDS compiled example, the
// publisher's package and (when tabular is set, since its rows are not all
// reachable from a service) the valid rows of the official tabular example.
func richDirectory(t *testing.T, tabular bool) *Store {
	t.Helper()
	ctx := context.Background()
	s := newStore(t)
	if _, err := s.LoadTaxonomies(ctx); err != nil {
		t.Fatal(err)
	}
	paths := []string{"../data/demo/services.ndjson", "testdata/service_full.json"}
	if tabular {
		paths = append(paths, kc211Dir)
	}
	for _, p := range paths {
		if res, err := importFile(t, s, p, ImportOptions{}); err != nil {
			logProblems(t, res)
			t.Fatal(err)
		}
	}
	if tabular {
		if _, err := importFile(t, s, officialExampleDir, ImportOptions{SkipInvalid: true}); err != nil {
			t.Fatal(err)
		}
	}
	// A description with a line break as a browser form sends it (CRLF),
	// and text with spaces and quotes at its ends.
	svc := messyJSONService()
	svc["description"] = "First line.\r\nSecond line, with \"quotes\"."
	svc["alert"] = ` "Call first" `
	file := filepath.Join(t.TempDir(), "crlf.json")
	if err := os.WriteFile(file, []byte(jsonText(svc)), 0o600); err != nil {
		t.Fatal(err)
	}
	if res, err := importFile(t, s, file, ImportOptions{}); err != nil {
		logProblems(t, res)
		t.Fatal(err)
	}
	return s
}

func TestExportJSONRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := richDirectory(t, false)
	var buf bytes.Buffer
	n, err := src.ExportJSON(ctx, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if want := tableCounts(t, src)["service"]; n != want {
		t.Errorf("exported %d services, want %d", n, want)
	}
	if lines := strings.Count(buf.String(), "\n"); lines != n {
		t.Errorf("%d lines for %d services", lines, n)
	}
	file := filepath.Join(t.TempDir(), "export.ndjson")
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	// Into an empty directory, which like every new one starts with the
	// embedded taxonomies.
	dst := newStore(t)
	if _, err := dst.LoadTaxonomies(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := importFile(t, dst, file, ImportOptions{})
	if err != nil {
		logProblems(t, res)
		t.Fatal(err)
	}
	if res.Created != n || len(res.Problems) != 0 {
		logProblems(t, res)
		t.Errorf("%s; want %d created and no problems", res.Summary(), n)
	}
	compareDatabases(t, src, dst, true)

	// Exporting the copy gives the same services (their change history
	// now has the copy's own "create" rows too).
	var again bytes.Buffer
	if _, err := dst.ExportJSON(ctx, &again); err != nil {
		t.Fatal(err)
	}
	a, b := servicesWithoutMetadata(t, buf.Bytes()), servicesWithoutMetadata(t, again.Bytes())
	if !slices.Equal(a, b) {
		t.Errorf("second export differs from the first")
	}
}

// servicesWithoutMetadata reads an NDJSON export and returns each line
// without the nested change history.
func servicesWithoutMetadata(t *testing.T, ndjson []byte) []string {
	t.Helper()
	var out []string
	dec := json.NewDecoder(bytes.NewReader(ndjson))
	for dec.More() {
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(withoutKey(v, "metadata"))
		out = append(out, string(b))
	}
	return out
}

func withoutKey(v any, key string) any {
	switch v := v.(type) {
	case map[string]any:
		delete(v, key)
		for k, el := range v {
			v[k] = withoutKey(el, key)
		}
	case []any:
		for i, el := range v {
			v[i] = withoutKey(el, key)
		}
	}
	return v
}

func TestExportTabularRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := richDirectory(t, true)
	for _, name := range []string{"hsds", "hsds.zip"} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), name)
			if err := src.ExportTabular(ctx, out); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(out + ".partial"); !os.IsNotExist(err) {
				t.Errorf("export left %s.partial behind", out)
			}
			if err := src.ExportTabular(ctx, out); err == nil {
				t.Errorf("export over an existing %s succeeded", name)
			}
			dst := newStore(t)
			res, err := importFile(t, dst, out, ImportOptions{})
			if err != nil {
				logProblems(t, res)
				t.Fatal(err)
			}
			if len(res.Problems) != 0 {
				logProblems(t, res)
				t.Errorf("%d problems importing our own export", len(res.Problems))
			}
			// Extension properties (name_es) are JSON only: the CSV has a
			// fixed set of columns.
			compareDatabases(t, src, dst, false)
		})
	}
}

// The tabular export is the unmodified HSDS 3.0 datapackage.json and one
// CSV per resource it names, each with exactly the resource's columns.
func TestExportTabularFiles(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	importKC211(t, s)
	out := filepath.Join(t.TempDir(), "hsds")
	if err := s.ExportTabular(ctx, out); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(out, "datapackage.json"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := data.FS.ReadFile("hsds/datapackage.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("exported datapackage.json differs from data/hsds/datapackage.json")
	}
	var dp dpPackage
	if err := json.Unmarshal(want, &dp); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != len(dp.Resources)+1 {
		t.Errorf("%d files, want datapackage.json and %d CSV files", len(entries), len(dp.Resources))
	}
	for _, r := range dp.Resources {
		f, err := os.Open(filepath.Join(out, r.Path))
		if err != nil {
			t.Error(err)
			continue
		}
		recs, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", r.Path, err)
			continue
		}
		var cols []string
		for _, fd := range r.Schema.Fields {
			cols = append(cols, fd.Name)
		}
		if !slices.Equal(recs[0], cols) {
			t.Errorf("%s header %v, want %v", r.Path, recs[0], cols)
		}
		if n, want := len(recs)-1, tableCounts(t, s)[r.Name]; n != want {
			t.Errorf("%s: %d rows, want %d", r.Path, n, want)
		}
	}
}

// An empty directory exports a package that imports as nothing.
func TestExportEmpty(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	out := filepath.Join(t.TempDir(), "empty.zip")
	if err := s.ExportTabular(ctx, out); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if n, err := s.ExportJSON(ctx, &buf); err != nil || n != 0 || buf.Len() != 0 {
		t.Errorf("JSON export of nothing: %d services, %d bytes, %v", n, buf.Len(), err)
	}
	dst := newStore(t)
	res, err := importFile(t, dst, out, ImportOptions{})
	if err != nil || res.Created+res.Updated+res.Unchanged+len(res.Problems) != 0 {
		t.Errorf("import of an empty export: %v %v", res.Summary(), err)
	}
}

// An export reads one state of the directory, however long it takes and
// whatever is written meanwhile: here a service is deleted, and another
// renamed, while the first is being written out.
func TestExportJSONIsOneSnapshot(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	importKC211(t, s)
	before := servicesWithoutMetadata(t, exportedJSON(t, s))
	var buf bytes.Buffer
	w := &hookWriter{w: &buf, once: func() {
		if _, err := s.db.Write.Exec(`DELETE FROM service WHERE id = ?`, kc211Counseling); err != nil {
			t.Error(err)
		}
		if _, err := s.db.Write.Exec(`UPDATE service SET name = 'Renamed' WHERE id = ?`, kc211PrimaryCare); err != nil {
			t.Error(err)
		}
	}}
	if _, err := s.ExportJSON(ctx, w); err != nil {
		t.Fatal(err)
	}
	if got := servicesWithoutMetadata(t, buf.Bytes()); !slices.Equal(got, before) {
		t.Errorf("export mixes states: %d services, want the %d there when it started", len(got), len(before))
	}
}

// The same for the tabular form: every file is of the same state, so that
// the package is referentially consistent.
func TestExportTabularIsOneSnapshot(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	importKC211(t, s)
	files := map[string]string{}
	err := s.eachTabularFile(ctx, func(name string, write func(io.Writer) error) error {
		var b bytes.Buffer
		if err := write(&b); err != nil {
			return err
		}
		files[name] = b.String()
		if name == "organizations.csv" {
			// Between organizations.csv and services.csv.
			if _, err := s.db.Write.Exec(`DELETE FROM organization WHERE id = ?`, kc211Prospect); err != nil {
				t.Error(err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"organizations.csv", "services.csv", "phones.csv"} {
		if !strings.Contains(files[f], kc211Prospect) {
			t.Errorf("%s does not mention the organization deleted during the export", f)
		}
	}
}

func exportedJSON(t *testing.T, s *Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := s.ExportJSON(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// hookWriter calls once before its first write.
type hookWriter struct {
	w    io.Writer
	once func()
	done bool
}

func (h *hookWriter) Write(p []byte) (int, error) {
	if !h.done {
		h.done = true
		h.once()
	}
	return h.w.Write(p)
}

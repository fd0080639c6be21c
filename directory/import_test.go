package directory

import (
	"archive/zip"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/secondchancekc/secondchance/internal/apperr"
)

// --- helpers shared by the import, export and benchmark tests ---

// tableCounts returns the number of rows in every table of the model.
func tableCounts(t testing.TB, s *Store) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, name := range Schema.Order {
		var n int
		if err := s.db.Read.QueryRow("SELECT COUNT(*) FROM " + name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[name] = n
	}
	return out
}

// importFile imports path and returns what Import returned.
func importFile(t testing.TB, s *Store, path string, opt ImportOptions) (*ImportResult, error) {
	t.Helper()
	src, err := OpenSource(path)
	if err != nil {
		t.Fatal(err)
	}
	return s.Import(context.Background(), src, opt)
}

// zipDir writes every file under dir into a new zip file in a temporary
// folder, each name prefixed with prefix (e.g. "export/", as when someone
// zips the folder itself rather than its contents). With dirEntries the zip
// also holds an entry for the folder, as most zip tools write one.
func zipDir(t testing.TB, dir, prefix string, dirEntries bool) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "package.zip")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	if dirEntries && prefix != "" {
		if _, err := zw.Create(prefix); err != nil {
			t.Fatal(err)
		}
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		w, err := zw.Create(prefix + filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// writeTempFiles creates a folder holding the given files.
func writeTempFiles(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// docAt follows a path of keys and array indexes through a composed Doc.
func docAt(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			d, ok := v.(Doc)
			if !ok {
				return nil
			}
			v = d.Get(k)
		case int:
			arr, ok := v.([]Doc)
			if !ok || k >= len(arr) {
				return nil
			}
			v = arr[k]
		}
	}
	return v
}

// withoutMetadata returns a copy of a composed Doc without the change
// history nested in it (whose ids and dates differ from one import to the
// next).
func withoutMetadata(v any) any {
	switch v := v.(type) {
	case Doc:
		out := make(Doc, 0, len(v))
		for _, p := range v {
			if p.Key != "metadata" {
				out = append(out, Prop{p.Key, withoutMetadata(p.Value)})
			}
		}
		return out
	case []Doc:
		out := make([]Doc, len(v))
		for i, d := range v {
			out[i] = withoutMetadata(d).(Doc)
		}
		return out
	}
	return v
}

func logProblems(t testing.TB, res *ImportResult) {
	t.Helper()
	if res == nil {
		return
	}
	for _, p := range res.Problems {
		t.Log(p)
	}
}

// --- a datapackage from another publisher ---

const (
	kc211Dir = "testdata/publisher-kc211"
	// Walk-in Primary Care: two phones, three languages, one location.
	kc211PrimaryCare = "e3b16684-4c5e-5379-9b7b-92c4faad179c"
	// Substance Use Counseling: the description with a quoted line break.
	kc211Counseling = "ea7c588b-426c-52f6-b7b4-39a570f95317"
	// Prospect Avenue Health Center, written in upper case in organization.csv.
	kc211Prospect = "f8aab7d3-a000-5fde-8368-38dae3f734b8"
)

// kc211Counts is what testdata/publisher-kc211 holds.
var kc211Counts = map[string]int{
	"organization": 6, "service": 10, "location": 7, "address": 7, "service_at_location": 11,
	"phone": 15, "schedule": 7, "language": 6, "taxonomy": 1, "taxonomy_term": 13, "attribute": 12,
}

// kc211Rows is the number of rows in the package.
func kc211Rows() (n int) {
	for _, c := range kc211Counts {
		n += c
	}
	return n
}

// importKC211 imports the publisher package into s and fails on any error.
func importKC211(t testing.TB, s *Store) *ImportResult {
	t.Helper()
	res, err := importFile(t, s, kc211Dir, ImportOptions{})
	if err != nil {
		logProblems(t, res)
		t.Fatal(err)
	}
	return res
}

// The publisher's package has its own datapackage.json (a subset of the
// tables, its own file names, a resource that is not HSDS), columns in its
// own order and a subset of them plus one of its own, byte-order marks on
// some files, CRLF line ends on most, a quoted description with a line break
// and quotes in it, blank optional cells, and ids in upper case in one file
// and lower case where they are referenced. It imports from its folder and
// from a zip, including a zip of the folder itself.
func TestImportPublisherPackage(t *testing.T) {
	for _, tc := range []struct {
		name string
		path func(t *testing.T) string
	}{
		{"folder", func(t *testing.T) string { return kc211Dir }},
		{"zip", func(t *testing.T) string { return zipDir(t, kc211Dir, "", false) }},
		{"zip with one top-level folder", func(t *testing.T) string { return zipDir(t, kc211Dir, "kc-resource-line-export/", true) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			res, err := importFile(t, s, tc.path(t), ImportOptions{})
			if err != nil {
				logProblems(t, res)
				t.Fatal(err)
			}
			var warnings []string
			for _, p := range res.Problems {
				if !p.Warning {
					t.Errorf("error: %v", p)
				}
				warnings = append(warnings, p.String())
			}
			wantWarnings := []string{
				`warning: datapackage.json, field resources[11]: resource "call_volume" is not an HSDS table; ignored`,
				`warning: services.csv line 1, field last_verified_by: is not a column of the HSDS service table; ignored`,
			}
			if !slices.Equal(warnings, wantWarnings) {
				t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(warnings, "\n"), strings.Join(wantWarnings, "\n"))
			}
			if res.Created != kc211Rows() || res.Updated+res.Unchanged+res.Skipped != 0 {
				t.Errorf("%s; want %d created", res.Summary(), kc211Rows())
			}
			counts := tableCounts(t, s)
			for table, n := range counts {
				if table == "metadata" {
					continue
				}
				if n != kc211Counts[table] {
					t.Errorf("%s: %d rows, want %d", table, n, kc211Counts[table])
				}
			}
			// One "create" row in the change history per row that has history.
			if want := kc211Rows() - kc211Counts["taxonomy"] - kc211Counts["taxonomy_term"]; counts["metadata"] != want {
				t.Errorf("metadata: %d rows, want %d", counts["metadata"], want)
			}

			d, err := s.Get(ctx, "service", kc211PrimaryCare, Full)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				path []any
				want any
			}{
				{[]any{"name"}, "Walk-in Primary Care"},
				{[]any{"status"}, "active"},
				{[]any{"organization_id"}, kc211Prospect},
				{[]any{"organization", "name"}, "Prospect Avenue Health Center"},
				{[]any{"organization", "year_incorporated"}, 1975.0},
				{[]any{"assured_date"}, "2026-02-20"},
				{[]any{"last_modified"}, "2026-03-01T09:15:00.000Z"},
				{[]any{"phones", 0, "number"}, "(816) 555-0188"},
				{[]any{"phones", 0, "type"}, "voice"},
				{[]any{"phones", 1, "number"}, "(816) 555-0189"},
				{[]any{"phones", 1, "type"}, "text"},
				{[]any{"phones", 1, "extension"}, nil},
				{[]any{"service_at_locations", 0, "location", "name"}, "Prospect Avenue Health Center"},
				{[]any{"service_at_locations", 0, "location", "latitude"}, 39.0536},
				{[]any{"service_at_locations", 0, "location", "addresses", 0, "address_1"}, "4700 Prospect Example Avenue"},
				{[]any{"service_at_locations", 0, "location", "addresses", 0, "address_2"}, nil},
				{[]any{"service_at_locations", 0, "location", "addresses", 0, "postal_code"}, "64130"},
				{[]any{"service_at_locations", 0, "location", "phones", 0, "number"}, "(816) 555-0181"},
				{[]any{"service_at_locations", 0, "location", "schedules", 0, "opens_at"}, "07:30:00"},
				{[]any{"schedules", 0, "byday"}, "MO,TU,WE,TH,FR"},
				{[]any{"schedules", 0, "opens_at"}, "08:00:00"},
				{[]any{"schedules", 0, "closes_at"}, "17:00:00"},
				{[]any{"languages", 2, "name"}, "Vietnamese"},
				{[]any{"attributes", 0, "taxonomy_term", "name"}, "Primary Care"},
				{[]any{"attributes", 0, "taxonomy_term", "taxonomy_detail", "name"}, "KC Resource Line categories"},
			} {
				if got := docAt(d, c.path...); got != c.want {
					t.Errorf("%v = %#v, want %#v", c.path, got, c.want)
				}
			}
			if n := len(docAt(d, "phones").([]Doc)); n != 2 {
				t.Errorf("primary care has %d phones, want 2", n)
			}
			if n := len(docAt(d, "languages").([]Doc)); n != 3 {
				t.Errorf("primary care has %d languages, want 3", n)
			}

			// The quoted description keeps its line break (CRLF in the file,
			// read as a plain newline) and its quotes.
			d, err = s.Get(ctx, "service", kc211Counseling, Flat)
			if err != nil {
				t.Fatal(err)
			}
			want := "Counseling groups are paused while we move to the new building.\nCall the front desk and ask for \"reentry intake\" to get on the list; we'll call you when groups restart."
			if got := d.Get("description"); got != want {
				t.Errorf("description = %q, want %q", got, want)
			}
			if got := d.Get("status"); got != "temporarily closed" {
				t.Errorf("status = %q", got)
			}
			// The unknown column is not kept anywhere.
			if got := d.Get("last_verified_by"); got != nil {
				t.Errorf("last_verified_by = %v, want it ignored", got)
			}

			// Transitional housing's "9:00" is stored as a time of day.
			docs, _, err := s.List(ctx, "schedule", ListFilter{Where: []string{"t.byday = ?"}, Args: []any{"MO,WE,FR"}}, Flat)
			if err != nil || len(docs) != 1 {
				t.Fatalf("schedule MO,WE,FR: %v %v", docs, err)
			}
			if got := docs[0].Get("opens_at"); got != "09:00:00" {
				t.Errorf("opens_at = %v, want 09:00:00", got)
			}
		})
	}
}

// --- messy input: every problem is named, and nothing is written ---

// wantProblem is one expected import error: where, and a piece of why.
type wantProblem struct {
	File   string
	Line   int
	Record int
	Field  string
	Reason string // a substring of Problem.Reason
}

func (w wantProblem) matches(p Problem) bool {
	return !p.Warning && p.File == w.File && p.Line == w.Line && p.Record == w.Record && p.Field == w.Field && strings.Contains(p.Reason, w.Reason)
}

// checkRefused imports path into s, which holds the publisher package, and
// checks that the import is refused with exactly the wanted errors and that
// nothing at all was written: every table has the rows it had, and a
// service the refused file tried to change is as it was.
func checkRefused(t *testing.T, s *Store, path string, want []wantProblem) {
	t.Helper()
	ctx := context.Background()
	before := tableCounts(t, s)
	docBefore, err := s.Get(ctx, "service", kc211PrimaryCare, Full)
	if err != nil {
		t.Fatal(err)
	}
	res, err := importFile(t, s, path, ImportOptions{})
	if err == nil {
		logProblems(t, res)
		t.Fatalf("import succeeded (%s); want it refused", res.Summary())
	}
	if apperr.Code(err) != apperr.EINVALID {
		logProblems(t, res)
		t.Fatalf("import error %v is %s, want %s", err, apperr.Code(err), apperr.EINVALID)
	}
	errs := res.Errors()
	for _, w := range want {
		if !slices.ContainsFunc(errs, w.matches) {
			t.Errorf("missing problem %+v", w)
		}
	}
	for _, p := range errs {
		if !slices.ContainsFunc(want, func(w wantProblem) bool { return w.matches(p) }) {
			t.Errorf("unexpected problem: %v", p)
		}
	}
	if t.Failed() {
		logProblems(t, res)
	}
	if res.Created+res.Updated+res.Unchanged != 0 {
		t.Errorf("refused import reports %s", res.Summary())
	}
	if after := tableCounts(t, s); !maps.Equal(before, after) {
		t.Errorf("row counts changed by a refused import:\nbefore %v\nafter  %v", before, after)
	}
	docAfter, err := s.Get(ctx, "service", kc211PrimaryCare, Full)
	if err != nil {
		t.Fatal(err)
	}
	b1, _ := json.Marshal(docBefore)
	b2, _ := json.Marshal(docAfter)
	if string(b1) != string(b2) {
		t.Errorf("a refused import changed service %s:\nbefore %s\nafter  %s", kc211PrimaryCare, b1, b2)
	}
}

const (
	messyOrg     = "11111111-1111-4111-8111-111111111111"
	messyService = "22222222-2222-4222-8222-222222222222"
	missingID    = "99999999-9999-4999-8999-999999999999"
)

// messyPackage is a small valid tabular package; each case replaces one of
// its files. Line 2 of services.csv renames a service that is already in the
// directory, so every refused case also shows that the change was not made.
var messyPackage = map[string]string{
	"datapackage.json": `{"name": "messy", "resources": [
		{"name": "organization", "path": "organizations.csv"},
		{"name": "service", "path": "services.csv"},
		{"name": "phone", "path": "phones.csv"},
		{"name": "schedule", "path": "schedules.csv"}]}`,
	"organizations.csv": "id,name,description\n" + messyOrg + ",Messy Org,An organization in a messy file.\n",
	"services.csv":      messyServicesHeader + messyServicesLine2 + messyServiceRow("Good service") + "\n",
	"phones.csv":        "id,organization_id,number,type\n33333333-3333-4333-8333-333333333333," + messyOrg + ",(816) 555-0199,voice\n",
	"schedules.csv":     "id,service_id,freq,byday,opens_at,closes_at\n44444444-4444-4444-8444-444444444444," + kc211PrimaryCare + ",WEEKLY,SA,09:00,12:00\n",
}

const (
	messyServicesHeader = "id,organization_id,name,status,assured_date,last_modified,minimum_age,email,url\n"
	messyServicesLine2  = kc211PrimaryCare + "," + kc211Prospect + ",Walk-in Primary Care (renamed),active,,,,,\n"
)

// messyServiceRow is line 3 of services.csv with the given name; edit it
// with strings.Replace to make a case.
func messyServiceRow(name string) string {
	return messyService + "," + messyOrg + "," + name + ",active,2026-01-05,2026-01-05T10:00:00Z,18,help@example.org,https://example.org/help"
}

func messyCSV(files map[string]string) map[string]string {
	out := maps.Clone(messyPackage)
	for name, body := range files {
		if body == "<delete>" {
			delete(out, name)
			continue
		}
		out[name] = body
	}
	return out
}

func servicesCSV(line3 string) map[string]string {
	return map[string]string{"services.csv": messyServicesHeader + messyServicesLine2 + line3 + "\n"}
}

func TestImportRefusesMessyCSV(t *testing.T) {
	t.Parallel()
	row := messyServiceRow("Good service")
	edit := func(old, new string) string {
		if !strings.Contains(row, old) {
			panic(old)
		}
		return strings.Replace(row, old, new, 1)
	}
	upper := strings.ToUpper(kc211PrimaryCare)
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []wantProblem
	}{
		{"bad UUID", servicesCSV(edit(messyService, "2222-not-a-uuid")),
			[]wantProblem{{"services.csv", 3, 0, "id", `"2222-not-a-uuid" is not a UUID`}}},
		{"bad UUID in a reference", servicesCSV(edit(messyOrg, "org-1")),
			[]wantProblem{{"services.csv", 3, 0, "organization_id", `"org-1" is not a UUID`}}},
		{"duplicate id", servicesCSV(edit(messyService, kc211PrimaryCare)),
			[]wantProblem{{"services.csv", 3, 0, "id", "duplicate id: service " + kc211PrimaryCare + " also appears at services.csv line 2"}}},
		{"duplicate id in other case", servicesCSV(edit(messyService, upper)),
			[]wantProblem{{"services.csv", 3, 0, "id", "duplicate id: service " + kc211PrimaryCare + " also appears at services.csv line 2"}}},
		{"dangling reference", servicesCSV(edit(messyOrg, missingID)),
			[]wantProblem{{"services.csv", 3, 0, "organization_id", "refers to organization " + missingID + ", which is neither in this import nor in the directory"}}},
		{"reference to an invalid row", map[string]string{
			"services.csv": messyServicesHeader + messyServicesLine2 + edit(",active,", ",open,") + "\n",
			"phones.csv":   "id,service_id,number\n33333333-3333-4333-8333-333333333333," + messyService + ",(816) 555-0199\n",
		},
			[]wantProblem{
				{"services.csv", 3, 0, "status", `"open" is not one of active, inactive, defunct, temporarily closed`},
				{"phones.csv", 2, 0, "service_id", "refers to service " + messyService + ", which is skipped because it is invalid (services.csv line 3)"},
			}},
		{"reference to a row whose id is bad", map[string]string{
			"organizations.csv": "id,name,description\n" + messyOrg[:35] + ",Messy Org,An organization in a messy file.\n",
		},
			[]wantProblem{
				{"organizations.csv", 2, 0, "id", `"` + messyOrg[:35] + `" is not a UUID`},
				{"services.csv", 3, 0, "organization_id", "refers to organization " + messyOrg + ", which is neither in this import nor in the directory"},
				{"phones.csv", 2, 0, "organization_id", "refers to organization " + messyOrg + ", which is neither in this import nor in the directory"},
			}},
		{"bad enum value", servicesCSV(edit(",active,", ",Active,")),
			[]wantProblem{{"services.csv", 3, 0, "status", `"Active" is not one of active, inactive, defunct, temporarily closed (did you mean "active"?`}}},
		{"bad date", servicesCSV(edit("2026-01-05,", "01/05/2026,")),
			[]wantProblem{{"services.csv", 3, 0, "assured_date", `"01/05/2026" is not a date in the form YYYY-MM-DD`}}},
		{"impossible date", servicesCSV(edit("2026-01-05,", "2026-02-30,")),
			[]wantProblem{{"services.csv", 3, 0, "assured_date", `"2026-02-30" is not a date`}}},
		{"bad datetime", servicesCSV(edit("2026-01-05T10:00:00Z", "2026-01-05 10:00")),
			[]wantProblem{{"services.csv", 3, 0, "last_modified", `"2026-01-05 10:00" is not a date and time in RFC 3339 form`}}},
		{"bad time", map[string]string{"schedules.csv": "id,service_id,freq,byday,opens_at,closes_at\n44444444-4444-4444-8444-444444444444," + kc211PrimaryCare + ",WEEKLY,MO,9am,25:00\n"},
			[]wantProblem{
				{"schedules.csv", 2, 0, "opens_at", `"9am" is not a time of day`},
				{"schedules.csv", 2, 0, "closes_at", `"25:00" is not a time of day`},
			}},
		{"bad number", servicesCSV(edit(",18,", ",eighteen,")),
			[]wantProblem{{"services.csv", 3, 0, "minimum_age", `"eighteen" is not a number`}}},
		{"bad email", servicesCSV(edit("help@example.org", "help at example.org")),
			[]wantProblem{{"services.csv", 3, 0, "email", `"help at example.org" is not an email address`}}},
		{"bad URL", servicesCSV(edit("https://example.org/help", "www.example.org/help")),
			[]wantProblem{{"services.csv", 3, 0, "url", `"www.example.org/help" is not a full URL`}}},
		{"required column missing", map[string]string{"services.csv": "id,organization_id,name\n" + messyService + "," + messyOrg + ",No status\n"},
			[]wantProblem{{"services.csv", 1, 0, "status", "required column is missing from the header"}}},
		{"required cell empty", servicesCSV(edit(",Good service,", ",,")),
			[]wantProblem{{"services.csv", 3, 0, "name", "is required and empty"}}},
		{"required cell blank", servicesCSV(edit(",Good service,", ",  ,")),
			[]wantProblem{{"services.csv", 3, 0, "name", "is required and empty"}}},
		{"non-UTF-8 text", servicesCSV(edit("Good service", "Caf\xe9 meals")),
			[]wantProblem{{"services.csv", 3, 0, "name", "is not valid UTF-8 text"}}},
		{"non-UTF-8 text after a quoted line break", servicesCSV(edit(",Good service,", ",\"Two\nlines\",") + "\n" + strings.ReplaceAll(edit(",Good service,", ",Caf\xe9,"), messyService, "55555555-5555-4555-8555-555555555555")),
			[]wantProblem{{"services.csv", 5, 0, "name", "is not valid UTF-8 text"}}},
		{"empty file", map[string]string{"services.csv": ""},
			[]wantProblem{{"services.csv", 0, 0, "", "the file is empty"}}},
		{"empty file with a byte-order mark", map[string]string{"services.csv": "\ufeff"},
			[]wantProblem{{"services.csv", 0, 0, "", "the file is empty"}}},
		{"unterminated quote", servicesCSV(edit(",Good service,", `,"Good service,`)),
			[]wantProblem{{"services.csv", 3, 0, "", "malformed CSV"}}},
		{"stray quote", servicesCSV(edit(",Good service,", `,Good "service",`)),
			[]wantProblem{{"services.csv", 3, 0, "", "malformed CSV"}}},
		{"too few cells", servicesCSV(edit(",help@example.org,https://example.org/help", ",help@example.org")),
			[]wantProblem{{"services.csv", 3, 0, "", "has 8 fields but the header has 9"}}},
		{"column twice", map[string]string{"phones.csv": "id,organization_id,number,number\n33333333-3333-4333-8333-333333333333," + messyOrg + ",1,2\n"},
			[]wantProblem{{"phones.csv", 1, 0, "number", "the column appears twice"}}},
		{"file missing", map[string]string{"phones.csv": "<delete>"},
			[]wantProblem{{"phones.csv", 0, 0, "", "datapackage.json names this file but it is missing"}}},
		{"no datapackage.json", map[string]string{"datapackage.json": "<delete>"},
			[]wantProblem{{"datapackage.json", 0, 0, "", "missing"}}},
		{"datapackage.json not JSON", map[string]string{"datapackage.json": `{"resources": [`},
			[]wantProblem{{"datapackage.json", 0, 0, "", "not valid JSON"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			importKC211(t, s)
			dir := writeTempFiles(t, messyCSV(tc.files))
			checkRefused(t, s, dir, tc.want)
		})
	}
}

// messyJSONService is a valid compiled service; each JSON case edits a copy.
func messyJSONService() map[string]any {
	return map[string]any{
		"id": messyService, "name": "Good service", "status": "active", "assured_date": "2026-01-05",
		"name_es":      "Buen servicio",
		"organization": map[string]any{"id": messyOrg, "name": "Messy Org", "description": "An organization in a messy file."},
		"phones":       []any{map[string]any{"id": "33333333-3333-4333-8333-333333333333", "number": "(816) 555-0199", "type": "voice"}},
		"schedules":    []any{map[string]any{"id": "44444444-4444-4444-8444-444444444444", "freq": "WEEKLY", "byday": "MO", "opens_at": "09:00", "closes_at": "17:00"}},
		"service_at_locations": []any{map[string]any{"id": "55555555-5555-4555-8555-555555555555",
			"location": map[string]any{"id": "66666666-6666-4666-8666-666666666666", "location_type": "physical", "name": "Messy place",
				"addresses": []any{map[string]any{"id": "77777777-7777-4777-8777-777777777777", "address_1": "1 Example Street",
					"city": "Kansas City", "state_province": "MO", "postal_code": "64106", "country": "US", "address_type": "physical"}}}}},
	}
}

// messyJSONRecord1 renames a service already in the directory and drops its
// phones: refused imports must do neither.
var messyJSONRecord1 = `{"id": "` + kc211PrimaryCare + `", "organization_id": "` + kc211Prospect + `", "name": "Walk-in Primary Care (renamed)", "status": "active", "phones": []}`

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// messyNDJSON is record 1 and then the edited service as record 2.
func messyNDJSON(edit func(m map[string]any)) string {
	m := messyJSONService()
	edit(m)
	return messyJSONRecord1 + "\n" + jsonText(m) + "\n"
}

func objAt(m map[string]any, path ...any) map[string]any {
	var v any = m
	for _, p := range path {
		switch k := p.(type) {
		case string:
			v = v.(map[string]any)[k]
		case int:
			v = v.([]any)[k]
		}
	}
	return v.(map[string]any)
}

func TestImportRefusesMessyJSON(t *testing.T) {
	t.Parallel()
	good := messyNDJSON(func(map[string]any) {})
	half := strings.LastIndex(good, `"schedules"`)
	for _, tc := range []struct {
		name string
		file string // services.ndjson unless set
		body string
		want []wantProblem
	}{
		{"bad UUID", "", messyNDJSON(func(m map[string]any) { m["id"] = "not-a-uuid" }),
			[]wantProblem{{"services.ndjson", 0, 2, "id", `"not-a-uuid" is not a UUID`}}},
		{"bad nested UUID", "", messyNDJSON(func(m map[string]any) { objAt(m, "phones", 0)["id"] = "3333" }),
			[]wantProblem{{"services.ndjson", 0, 2, "phones[0].id", `"3333" is not a UUID`}}},
		{"bad UUID in a reference", "", messyNDJSON(func(m map[string]any) { delete(m, "organization"); m["organization_id"] = "org-1" }),
			[]wantProblem{{"services.ndjson", 0, 2, "organization_id", `"org-1" is not a UUID`}}},
		{"duplicate id", "", messyNDJSON(func(m map[string]any) { m["id"] = kc211PrimaryCare }),
			[]wantProblem{{"services.ndjson", 0, 2, "id", "duplicate id: service " + kc211PrimaryCare + " also appears at services.ndjson record 1 with different content"}}},
		{"duplicate id in other case", "", messyNDJSON(func(m map[string]any) { m["id"] = strings.ToUpper(kc211PrimaryCare) }),
			[]wantProblem{{"services.ndjson", 0, 2, "id", "duplicate id: service " + kc211PrimaryCare + " also appears at services.ndjson record 1 with different content"}}},
		{"dangling reference", "", messyNDJSON(func(m map[string]any) { delete(m, "organization"); m["organization_id"] = missingID }),
			[]wantProblem{{"services.ndjson", 0, 2, "organization_id", "refers to organization " + missingID + ", which is neither in this import nor in the directory"}}},
		{"bad enum value", "", messyNDJSON(func(m map[string]any) { m["status"] = "closed" }),
			[]wantProblem{{"services.ndjson", 0, 2, "status", `"closed" is not one of active, inactive, defunct, temporarily closed`}}},
		{"bad nested enum value", "", messyNDJSON(func(m map[string]any) {
			objAt(m, "service_at_locations", 0, "location")["location_type"] = "building"
		}),
			[]wantProblem{{"services.ndjson", 0, 2, "service_at_locations[0].location.location_type", `"building" is not one of physical, postal, virtual`}}},
		{"bad date", "", messyNDJSON(func(m map[string]any) { m["assured_date"] = "2026-13-01" }),
			[]wantProblem{{"services.ndjson", 0, 2, "assured_date", `"2026-13-01" is not a date in the form YYYY-MM-DD`}}},
		{"bad time", "", messyNDJSON(func(m map[string]any) { objAt(m, "schedules", 0)["opens_at"] = "25:00" }),
			[]wantProblem{{"services.ndjson", 0, 2, "schedules[0].opens_at", `"25:00" is not a time of day`}}},
		{"bad datetime", "", messyNDJSON(func(m map[string]any) { m["last_modified"] = "yesterday" }),
			[]wantProblem{{"services.ndjson", 0, 2, "last_modified", `"yesterday" is not a date and time in RFC 3339 form`}}},
		{"required property missing", "", messyNDJSON(func(m map[string]any) { delete(m, "name") }),
			[]wantProblem{{"services.ndjson", 0, 2, "name", "is required and empty"}}},
		{"required nested property missing", "", messyNDJSON(func(m map[string]any) { delete(objAt(m, "phones", 0), "number") }),
			[]wantProblem{{"services.ndjson", 0, 2, "phone.number", "is required and empty"}}},
		{"array expected", "", messyNDJSON(func(m map[string]any) { m["phones"] = objAt(m, "phones", 0) }),
			[]wantProblem{{"services.ndjson", 0, 2, "phones", "must be an array of phone objects"}}},
		{"object expected", "", messyNDJSON(func(m map[string]any) { m["organization"] = "Messy Org" }),
			[]wantProblem{
				{"services.ndjson", 0, 2, "organization", "must be a organization object"},
				{"services.ndjson", 0, 2, "organization_id", "is required and empty"},
			}},
		{"number expected", "", messyNDJSON(func(m map[string]any) { m["minimum_age"] = []any{18} }),
			[]wantProblem{{"services.ndjson", 0, 2, "minimum_age", "is a JSON array, expected a number"}}},
		{"not an object", "", messyJSONRecord1 + "\n42\n",
			[]wantProblem{{"services.ndjson", 0, 2, "", "is a JSON number; expected a service object"}}},
		{"nested object names another parent", "", messyNDJSON(func(m map[string]any) { objAt(m, "phones", 0)["service_id"] = kc211PrimaryCare }),
			[]wantProblem{{"services.ndjson", 0, 2, "phones[0].service_id", "is " + kc211PrimaryCare + " but the object is nested in service " + messyService}}},
		{"nested object disagrees with its reference", "", messyNDJSON(func(m map[string]any) { m["organization_id"] = kc211Prospect }),
			[]wantProblem{{"services.ndjson", 0, 2, "organization_id", "is " + kc211Prospect + " but the nested organization has id " + messyOrg}}},
		{"non-UTF-8 text", "", strings.Replace(good, "Good service", "Caf\xe9 meals", 1),
			[]wantProblem{{"services.ndjson", 0, 2, "name", "is not valid UTF-8 text"}}},
		{"non-UTF-8 nested text", "", strings.Replace(good, "Messy place", "Caf\xe9", 1),
			[]wantProblem{{"services.ndjson", 0, 2, "service_at_locations[0].location.name", "is not valid UTF-8 text"}}},
		{"empty file", "", "",
			[]wantProblem{{"services.ndjson", 0, 0, "", "the file is empty"}}},
		{"only white space and a byte-order mark", "", "\ufeff \r\n\r\n",
			[]wantProblem{{"services.ndjson", 0, 0, "", "the file is empty"}}},
		{"truncated NDJSON", "", good[:half],
			[]wantProblem{{"services.ndjson", 0, 2, "", "the file ends in the middle of this record: the JSON is truncated"}}},
		{"truncated array", "services.json", "[" + messyJSONRecord1 + ",\n" + jsonText(messyJSONService()),
			[]wantProblem{{"services.json", 0, 3, "", "the file ends before the closing ] of the array: the JSON is truncated"}}},
		{"truncated array element", "services.json", "[" + messyJSONRecord1 + ",\n" + good[len(messyJSONRecord1)+1:half],
			[]wantProblem{{"services.json", 0, 2, "", "the JSON is truncated"}}},
		{"truncated object", "service.json", good[len(messyJSONRecord1)+1 : half],
			[]wantProblem{{"service.json", 0, 1, "", "the JSON is truncated"}}},
		{"syntax error", "", messyJSONRecord1 + "\n" + `{"id": "` + messyService + `",, "name": "x"}` + "\n",
			[]wantProblem{{"services.ndjson", 0, 2, "", "invalid JSON"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			importKC211(t, s)
			name := tc.file
			if name == "" {
				name = "services.ndjson"
			}
			dir := writeTempFiles(t, map[string]string{name: tc.body})
			checkRefused(t, s, filepath.Join(dir, name), tc.want)
		})
	}
}

// --- the official example, all-or-nothing and SkipInvalid ---

// The HSDS 3.0 tabular example is not referentially consistent: its
// location, taxonomy term and contact name an organization and a taxonomy
// that are not in it. Each dangling reference is named, and so is each row
// that hangs from one of them.
var officialExampleProblems = []wantProblem{
	{"taxonomy_terms.csv", 2, 0, "taxonomy_id", "refers to taxonomy 07ff6aee-a219-438c-b694-d2fcb6c5373b, which is neither in this import nor in the directory"},
	{"locations.csv", 2, 0, "organization_id", "refers to organization 985e4a42-bd9f-4edc-911d-0243a4640aca, which is neither in this import nor in the directory"},
	{"service_at_location.csv", 2, 0, "location_id", "refers to location 3a19ff88-4620-4d17-9830-ac1d859eb5d5, which is skipped because it is invalid (locations.csv line 2)"},
	{"contacts.csv", 2, 0, "organization_id", "refers to organization ae67a707-5893-4225-b0b1-320ab9cb596b, which is neither in this import nor in the directory"},
	{"phones.csv", 2, 0, "location_id", "refers to location 3a19ff88-4620-4d17-9830-ac1d859eb5d5, which is skipped because it is invalid (locations.csv line 2)"},
	{"addresses.csv", 2, 0, "location_id", "refers to location 3a19ff88-4620-4d17-9830-ac1d859eb5d5, which is skipped because it is invalid (locations.csv line 2)"},
	{"schedules.csv", 2, 0, "location_id", "refers to location 3a19ff88-4620-4d17-9830-ac1d859eb5d5, which is skipped because it is invalid (locations.csv line 2)"},
	{"languages.csv", 2, 0, "location_id", "refers to location 3a19ff88-4620-4d17-9830-ac1d859eb5d5, which is skipped because it is invalid (locations.csv line 2)"},
	{"accessibility.csv", 2, 0, "location_id", "refers to location 3a19ff88-4620-4d17-9830-ac1d859eb5d5, which is skipped because it is invalid (locations.csv line 2)"},
	{"attributes.csv", 2, 0, "taxonomy_term_id", "refers to taxonomy_term 3f7b145d-84af-42d7-8fae-eaca714b02b2, which is skipped because it is invalid (taxonomy_terms.csv line 2)"},
}

const officialExampleDir = "testdata/openreferral-example"

func TestImportOfficialExampleRefused(t *testing.T) {
	// Run several times: the reported field must not depend on map order.
	for range 5 {
		s := newStore(t)
		importKC211(t, s)
		checkRefused(t, s, officialExampleDir, officialExampleProblems)
		if t.Failed() {
			return
		}
	}
}

func TestImportOfficialExampleSkipInvalid(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	before := tableCounts(t, s)
	res, err := importFile(t, s, officialExampleDir, ImportOptions{SkipInvalid: true})
	if err != nil {
		logProblems(t, res)
		t.Fatal(err)
	}
	errs := res.Errors()
	if len(errs) != len(officialExampleProblems) {
		t.Errorf("%d problems, want %d", len(errs), len(officialExampleProblems))
	}
	for _, w := range officialExampleProblems {
		if !slices.ContainsFunc(errs, w.matches) {
			t.Errorf("skipped row not reported: %+v", w)
		}
	}
	// 21 rows, one per file: 10 skipped, 11 imported.
	if res.Created != 11 || res.Skipped != 10 || res.Updated+res.Unchanged != 0 {
		t.Errorf("%s; want 11 created, 10 skipped", res.Summary())
	}
	after := tableCounts(t, s)
	for table, n := range after {
		want := before[table]
		switch table {
		case "organization", "program", "service", "funding", "service_area", "required_document",
			"cost_option", "organization_identifier", "taxonomy", "meta_table_description":
			want++
		case "metadata":
			// The example's own row, and a "create" row for each imported
			// row that keeps history (taxonomy and meta_table_description
			// do not).
			want += 1 + 8
		}
		if n != want {
			t.Errorf("%s: %d rows, want %d", table, n, want)
		}
	}
	if _, err := s.Get(ctx, "service", "ac148810-d857-441c-9679-408f346de14b", Flat); err != nil {
		t.Errorf("the valid service is not there: %v", err)
	}
	if _, err := s.Get(ctx, "location", "3a19ff88-4620-4d17-9830-ac1d859eb5d5", Flat); apperr.Code(err) != apperr.ENOTFOUND {
		t.Errorf("the location with a dangling reference: %v, want not found", err)
	}

	// Again: the same rows are skipped and reported, the rest is unchanged.
	res, err = importFile(t, s, officialExampleDir, ImportOptions{SkipInvalid: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Unchanged != 11 || res.Skipped != 10 || res.Created+res.Updated != 0 || len(res.Errors()) != 10 {
		t.Errorf("second run: %s, %d problems; want 11 unchanged, 10 skipped", res.Summary(), len(res.Errors()))
	}
	if again := tableCounts(t, s); !maps.Equal(after, again) {
		t.Errorf("second run changed row counts:\n%v\n%v", after, again)
	}
}

// With SkipInvalid a compiled service that is wrong is skipped whole and
// the others are imported.
func TestImportSkipInvalidJSON(t *testing.T) {
	s := newStore(t)
	importKC211(t, s)
	before := tableCounts(t, s)
	bad := messyJSONService()
	bad["status"] = "open"
	good := messyJSONService()
	good["id"] = "88888888-8888-4888-8888-888888888888"
	good["phones"] = []any{}
	good["schedules"] = []any{}
	good["service_at_locations"] = []any{}
	body := jsonText(bad) + "\n" + jsonText(good) + "\n"
	dir := writeTempFiles(t, map[string]string{"services.ndjson": body})
	res, err := importFile(t, s, filepath.Join(dir, "services.ndjson"), ImportOptions{SkipInvalid: true})
	if err != nil {
		logProblems(t, res)
		t.Fatal(err)
	}
	want := wantProblem{"services.ndjson", 0, 1, "status", `"open" is not one of`}
	if errs := res.Errors(); len(errs) != 1 || !want.matches(errs[0]) {
		t.Errorf("problems %v, want %+v", errs, want)
	}
	if res.Created != 1 || res.Skipped != 1 {
		t.Errorf("%s; want 1 created, 1 skipped", res.Summary())
	}
	after := tableCounts(t, s)
	if after["service"] != before["service"]+1 || after["organization"] != before["organization"]+1 || after["phone"] != before["phone"] {
		t.Errorf("rows: before %v, after %v", before, after)
	}
	if _, err := s.Get(context.Background(), "service", messyService, Flat); apperr.Code(err) != apperr.ENOTFOUND {
		t.Errorf("skipped service: %v, want not found", err)
	}
}

// --- dry run, re-import, change history, replace semantics ---

func TestImportDryRun(t *testing.T) {
	s := newStore(t)
	empty := tableCounts(t, s)
	res, err := importFile(t, s, kc211Dir, ImportOptions{DryRun: true})
	if err != nil {
		logProblems(t, res)
		t.Fatal(err)
	}
	if !res.DryRun || res.Created != kc211Rows() || res.Updated+res.Unchanged+res.Skipped != 0 {
		t.Errorf("dry run into an empty directory: %s; want %d created", res.Summary(), kc211Rows())
	}
	if !strings.Contains(res.Summary(), "dry run, nothing written") {
		t.Errorf("summary %q does not say it was a dry run", res.Summary())
	}
	if got := tableCounts(t, s); !maps.Equal(got, empty) {
		t.Errorf("dry run wrote rows: %v", got)
	}
	res, err = importFile(t, s, "testdata/service_full.json", ImportOptions{DryRun: true})
	if err != nil || res.Created != 1 {
		t.Errorf("dry run of one compiled service: %v %v", res.Summary(), err)
	}

	// A refused dry run says why, like a real run.
	dir := writeTempFiles(t, messyCSV(servicesCSV(strings.Replace(messyServiceRow("x"), ",active,", ",Active,", 1))))
	res, err = importFile(t, s, dir, ImportOptions{DryRun: true})
	if apperr.Code(err) != apperr.EINVALID || len(res.Errors()) == 0 {
		t.Errorf("dry run of a bad file: %v, %v; want it refused with problems", res.Summary(), err)
	}

	importKC211(t, s)
	imported := tableCounts(t, s)
	res, err = importFile(t, s, kc211Dir, ImportOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Created != 0 || res.Created+res.Updated+res.Unchanged != kc211Rows() {
		t.Errorf("dry run of rows already there: %s; want none created, %d in all", res.Summary(), kc211Rows())
	}
	if got := tableCounts(t, s); !maps.Equal(got, imported) {
		t.Errorf("dry run wrote rows: %v, want %v", got, imported)
	}
}

// Importing the same file again changes nothing, adds no history and tells
// no listener.
func TestImportAgainIsUnchanged(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		units      int
	}{
		{"tabular", kc211Dir, kc211Rows()},
		{"compiled service", "testdata/service_full.json", 1},
		{"demo directory", "../data/demo/services.ndjson", 52},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			if _, err := s.LoadTaxonomies(ctx); err != nil {
				t.Fatal(err)
			}
			var changed [][]string
			s.OnChange = func(ids []string) { changed = append(changed, ids) }
			res, err := importFile(t, s, tc.path, ImportOptions{})
			if err != nil {
				logProblems(t, res)
				t.Fatal(err)
			}
			if res.Created != tc.units || len(changed) != 1 {
				t.Errorf("first import: %s, %d change notices; want %d created, 1 notice", res.Summary(), len(changed), tc.units)
			}
			before := tableCounts(t, s)
			res, err = importFile(t, s, tc.path, ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Unchanged != tc.units || res.Created+res.Updated+res.Skipped != 0 {
				t.Errorf("second import: %s; want %d unchanged", res.Summary(), tc.units)
			}
			if after := tableCounts(t, s); !maps.Equal(before, after) {
				t.Errorf("second import changed row counts:\nbefore %v\nafter  %v", before, after)
			}
			if len(changed) != 1 {
				t.Errorf("second import notified listeners: %v", changed[1:])
			}
		})
	}
}

// metadataRow is one row of the change history, without its id.
type metadataRow struct {
	ResourceID, ResourceType, Date, Action, Field, Before, After, By string
}

func changeHistory(t testing.TB, s *Store, action string) []metadataRow {
	t.Helper()
	rs, err := s.db.Read.Query(`SELECT resource_id, resource_type, last_action_date, last_action_type, field_name, previous_value, replacement_value, updated_by
		FROM metadata WHERE last_action_type = ? ORDER BY resource_type, resource_id, field_name`, action)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []metadataRow
	for rs.Next() {
		var m metadataRow
		if err := rs.Scan(&m.ResourceID, &m.ResourceType, &m.Date, &m.Action, &m.Field, &m.Before, &m.After, &m.By); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func fixedClock(s *Store, day string) {
	now, _ := time.Parse(time.DateOnly, day)
	s.Now = func() time.Time { return now.Add(15 * time.Hour) }
}

// Re-importing a changed compiled service records one "update" row per
// changed field, of the service and of its nested rows, with the values
// before and after, the date and who did it.
func TestImportRecordsEachChangedField(t *testing.T) {
	s := newStore(t)
	fixedClock(s, "2026-03-01")
	dir := t.TempDir()
	file := filepath.Join(dir, "services.ndjson")
	write := func(m map[string]any) {
		if err := os.WriteFile(file, []byte(jsonText(m)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	svc := messyJSONService()
	write(svc)
	if res, err := importFile(t, s, file, ImportOptions{Actor: "first@example.org"}); err != nil || res.Created != 1 {
		t.Fatalf("%v %v", res.Summary(), err)
	}
	if n := len(changeHistory(t, s, "update")); n != 0 {
		t.Fatalf("%d update rows after a first import", n)
	}
	creates := len(changeHistory(t, s, "create"))

	svc["name"] = "Better service"
	svc["status"] = "inactive"
	svc["name_es"] = "Mejor servicio"
	objAt(svc, "schedules", 0)["opens_at"] = "10:00"
	objAt(svc, "service_at_locations", 0, "location", "addresses", 0)["address_2"] = "Suite 5"
	write(svc)
	fixedClock(s, "2026-03-02")
	res, err := importFile(t, s, file, ImportOptions{Actor: "second@example.org"})
	if err != nil || res.Updated != 1 || res.Created+res.Unchanged != 0 {
		t.Fatalf("%v %v; want 1 updated", res.Summary(), err)
	}
	want := []metadataRow{
		{"77777777-7777-4777-8777-777777777777", "address", "2026-03-02", "update", "address_2", "(none)", "Suite 5", "second@example.org"},
		{"44444444-4444-4444-8444-444444444444", "schedule", "2026-03-02", "update", "opens_at", "09:00:00", "10:00:00", "second@example.org"},
		{messyService, "service", "2026-03-02", "update", "extra", `{"name_es":"Buen servicio"}`, `{"name_es":"Mejor servicio"}`, "second@example.org"},
		{messyService, "service", "2026-03-02", "update", "name", "Good service", "Better service", "second@example.org"},
		{messyService, "service", "2026-03-02", "update", "status", "active", "inactive", "second@example.org"},
	}
	if got := changeHistory(t, s, "update"); !slices.Equal(got, want) {
		t.Errorf("update history:\n%v\nwant:\n%v", got, want)
	}
	if n := len(changeHistory(t, s, "create")); n != creates {
		t.Errorf("%d create rows, want still %d", n, creates)
	}
}

// The same for a tabular row: each changed cell is one "update" row.
func TestImportRecordsEachChangedCell(t *testing.T) {
	s := newStore(t)
	fixedClock(s, "2026-03-01")
	importKC211(t, s)
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(kc211Dir)); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "services.csv")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(b), "Walk-in Primary Care,"+kc211PrimaryCare+","+kc211Prospect+",active,", "Walk-in Primary Care and Dental,"+kc211PrimaryCare+","+kc211Prospect+",inactive,", 1)
	if changed == string(b) {
		t.Fatal("fixture changed: primary care row not found")
	}
	if err := os.WriteFile(p, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	fixedClock(s, "2026-03-05")
	res, err := importFile(t, s, dir, ImportOptions{Actor: "staff@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Updated != 1 || res.Unchanged != kc211Rows()-1 || res.Created != 0 {
		t.Errorf("%s; want 1 updated, %d unchanged", res.Summary(), kc211Rows()-1)
	}
	want := []metadataRow{
		{kc211PrimaryCare, "service", "2026-03-05", "update", "name", "Walk-in Primary Care", "Walk-in Primary Care and Dental", "staff@example.org"},
		{kc211PrimaryCare, "service", "2026-03-05", "update", "status", "active", "inactive", "staff@example.org"},
	}
	if got := changeHistory(t, s, "update"); !slices.Equal(got, want) {
		t.Errorf("update history:\n%v\nwant:\n%v", got, want)
	}
}

// A compiled service is the whole truth about its own child rows: a phone
// or schedule it no longer lists is deleted (and the deletion recorded),
// while shared rows it only points at (its organization) stay.
func TestImportReplacesServiceChildren(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "services.ndjson")
	write := func(m map[string]any) {
		if err := os.WriteFile(file, []byte(jsonText(m)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const second = "33333333-3333-4333-8333-333333333334"
	svc := messyJSONService()
	svc["phones"] = append(svc["phones"].([]any), map[string]any{"id": second, "number": "(816) 555-0198", "type": "text"})
	write(svc)
	if _, err := importFile(t, s, file, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	d, _ := s.Get(ctx, "service", messyService, Full)
	if n := len(docAt(d, "phones").([]Doc)); n != 2 {
		t.Fatalf("%d phones after the first import, want 2", n)
	}
	before := tableCounts(t, s)

	svc["phones"] = svc["phones"].([]any)[:1]
	svc["schedules"] = []any{}
	delete(svc, "organization")
	svc["organization_id"] = messyOrg
	write(svc)
	res, err := importFile(t, s, file, ImportOptions{})
	if err != nil {
		logProblems(t, res)
		t.Fatal(err)
	}
	if res.Updated != 1 {
		t.Errorf("%s; want 1 updated", res.Summary())
	}
	d, _ = s.Get(ctx, "service", messyService, Full)
	phones := docAt(d, "phones").([]Doc)
	if len(phones) != 1 || phones[0].Get("id") != "33333333-3333-4333-8333-333333333333" {
		t.Errorf("phones after dropping one: %v", phones)
	}
	if _, err := s.Get(ctx, "phone", second, Flat); apperr.Code(err) != apperr.ENOTFOUND {
		t.Errorf("dropped phone: %v, want not found", err)
	}
	if n := len(docAt(d, "schedules").([]Doc)); n != 0 {
		t.Errorf("%d schedules, want 0", n)
	}
	if docAt(d, "organization", "name") != "Messy Org" {
		t.Errorf("organization: %v", docAt(d, "organization"))
	}
	after := tableCounts(t, s)
	if after["phone"] != before["phone"]-1 || after["schedule"] != before["schedule"]-1 || after["organization"] != before["organization"] {
		t.Errorf("rows before %v, after %v", before, after)
	}
	var deleted []string
	for _, m := range changeHistory(t, s, "delete") {
		deleted = append(deleted, m.ResourceType+" "+m.ResourceID)
	}
	if want := []string{"phone " + second, "schedule 44444444-4444-4444-8444-444444444444"}; !slices.Equal(deleted, want) {
		t.Errorf("deletions recorded: %v, want %v", deleted, want)
	}
}

// --- JSON forms, byte-order marks, spaces around enum values ---

// One compiled service imports the same from a pretty-printed object with a
// byte-order mark and CRLF line ends, from an array, and from NDJSON.
func TestImportJSONForms(t *testing.T) {
	ctx := context.Background()
	svc := messyJSONService()
	pretty, _ := json.MarshalIndent(svc, "", "  ")
	var want []byte
	for _, tc := range []struct{ name, file, body string }{
		{"NDJSON", "services.ndjson", jsonText(svc) + "\n"},
		{"NDJSON without final newline", "services.ndjson", jsonText(svc)},
		{"object with BOM and CRLF", "service.json", "\ufeff" + strings.ReplaceAll(string(pretty), "\n", "\r\n") + "\r\n"},
		{"array", "services.json", "[\n" + string(pretty) + "\n]\n"},
		{"array with BOM", "services.json", "\ufeff[" + jsonText(svc) + "]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			dir := writeTempFiles(t, map[string]string{tc.file: tc.body})
			res, err := importFile(t, s, filepath.Join(dir, tc.file), ImportOptions{})
			if err != nil || res.Created != 1 || len(res.Problems) != 0 {
				logProblems(t, res)
				t.Fatalf("%v %v", res.Summary(), err)
			}
			d, err := s.Get(ctx, "service", messyService, Full)
			if err != nil {
				t.Fatal(err)
			}
			if d.Get("name_es") != "Buen servicio" {
				t.Errorf("extension property name_es = %v", d.Get("name_es"))
			}
			got, _ := json.Marshal(withoutMetadata(d))
			if want == nil {
				want = got
			} else if string(got) != string(want) {
				t.Errorf("stored service differs:\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// Spreadsheets leave spaces around values; an enum value is checked without
// them and must then be stored without them (the database's CHECK on
// service.status refused " active" at write time, after validation had
// passed it, failing the whole import with an internal error).
func TestImportTrimsEnumValues(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	dir := writeTempFiles(t, messyCSV(map[string]string{
		"services.csv":  messyServicesHeader + strings.Replace(messyServiceRow("Spaced"), ",active,", ", active ,", 1) + "\n",
		"schedules.csv": "id,service_id,freq,byday,opens_at,closes_at\n44444444-4444-4444-8444-444444444444," + messyService + ",WEEKLY ,MO, 09:00 ,17:00\n",
	}))
	res, err := importFile(t, s, dir, ImportOptions{})
	if err != nil {
		logProblems(t, res)
		t.Fatal(err)
	}
	d, err := s.Get(ctx, "service", messyService, Full)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Get("status"); got != "active" {
		t.Errorf("status = %q, want active", got)
	}
	if got := docAt(d, "schedules", 0, "freq"); got != "WEEKLY" {
		t.Errorf("freq = %q, want WEEKLY", got)
	}
	if got := docAt(d, "schedules", 0, "opens_at"); got != "09:00:00" {
		t.Errorf("opens_at = %q, want 09:00:00", got)
	}
	// And importing it again finds nothing changed.
	res, err = importFile(t, s, dir, ImportOptions{})
	if err != nil || res.Unchanged != 4 {
		t.Errorf("again: %v %v; want 4 unchanged", res.Summary(), err)
	}
}

// --- a file far larger than memory should hold ---

// A large NDJSON file is streamed: the heap in use while importing it
// stays a small fraction of the file's size. The services carry long text
// (about 50 KB each), so the file is large while the number of rows, which
// the importer does keep an index of, stays moderate. See
// BenchmarkImport10kServices for the heap with realistic, shorter services.
func TestImportLargeFileBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("generates and imports a 50 MB file")
	}
	// The heap is the process's: run in a process of its own, so that
	// what other tests of the package hold (and the garbage collector's
	// headroom over it) does not count.
	if os.Getenv("SECONDCHANCE_TEST_MEMORY_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestImportLargeFileBoundedMemory$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "SECONDCHANCE_TEST_MEMORY_CHILD=1")
		out, err := cmd.CombinedOutput()
		t.Logf("in a process of its own:\n%s", out)
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	const services = 1000
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "large.ndjson")
	size := writeGenerated(t, file, services, 50_000)
	s := newStore(t)
	src, err := OpenSource(file)
	if err != nil {
		t.Fatal(err)
	}
	progress := map[string]int64{}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	stop := heapPeak(25 * time.Millisecond)
	start := time.Now()
	res, err := s.Import(ctx, src, ImportOptions{Progress: func(phase string, done, total int64) {
		progress[phase] = done
		if total != size {
			t.Errorf("progress total %d, want the file size %d", total, size)
		}
	}})
	took := time.Since(start)
	peak := stop()
	if err != nil {
		logProblems(t, res)
		t.Fatal(err)
	}
	if res.Created != services {
		t.Errorf("%s; want %d created", res.Summary(), services)
	}
	if progress["checking"] != size || progress["writing"] != size {
		t.Errorf("progress %v, want %d bytes read in each pass", progress, size)
	}
	if n := tableCounts(t, s)["phone"]; n != 2*services {
		t.Errorf("%d phones, want %d", n, 2*services)
	}
	t.Logf("file %.1f MiB, %d services, peak heap in use %.1f MiB (%.0f%% of the file; %.1f MiB before the import), took %s",
		float64(size)/(1<<20), services, float64(peak)/(1<<20), 100*float64(peak)/float64(size), float64(before.HeapInuse)/(1<<20), took.Round(time.Millisecond))
	if peak > uint64(size)/4 {
		t.Errorf("peak heap in use %d bytes is more than a quarter of the %d-byte file: the import is not streaming", peak, size)
	}
}

// Invalid UTF-8 is found in the bytes as they stream past, so it must be
// pinned to the right record however the reads fall: one byte at a time
// (every character split across reads), or read far ahead of the decoder.
func TestImportJSONInvalidUTF8AcrossReads(t *testing.T) {
	svc := func(id, name string) string {
		m := messyJSONService()
		m["id"] = id
		m["phones"], m["schedules"], m["service_at_locations"] = []any{}, []any{}, []any{}
		return strings.Replace(jsonText(m), "Good service", name, 1)
	}
	valid := "Café niños — 🙂 “quoted”"
	ids := []string{genID("utf8", 1), genID("utf8", 2), genID("utf8", 3)}
	for _, tc := range []struct {
		name  string
		names [3]string
		want  []wantProblem
	}{
		{"valid text", [3]string{valid, valid, valid}, nil},
		{"Latin-1 in record 2", [3]string{valid, "Caf\xe9", valid},
			[]wantProblem{{"utf8.ndjson", 0, 2, "name", "is not valid UTF-8 text"}}},
		{"cut character in record 3", [3]string{valid, valid, "Caf\xc3"},
			[]wantProblem{{"utf8.ndjson", 0, 3, "name", "is not valid UTF-8 text"}}},
	} {
		body := svc(ids[0], tc.names[0]) + "\n" + svc(ids[1], tc.names[1]) + "\n" + svc(ids[2], tc.names[2]) + "\n"
		for _, reads := range []struct {
			name string
			wrap func(io.Reader) io.Reader
		}{
			{"one byte at a time", iotest.OneByteReader},
			{"all at once", func(r io.Reader) io.Reader { return r }},
		} {
			t.Run(tc.name+", "+reads.name, func(t *testing.T) {
				s := newStore(t)
				src := ReaderSource("utf8.ndjson", int64(len(body)), func() (io.ReadCloser, error) {
					return io.NopCloser(reads.wrap(strings.NewReader(body))), nil
				})
				res, err := s.Import(context.Background(), src, ImportOptions{})
				errs := res.Errors()
				if len(errs) != len(tc.want) {
					t.Fatalf("problems %v, want %v (%v)", errs, tc.want, err)
				}
				for i, w := range tc.want {
					if !w.matches(errs[i]) {
						t.Errorf("problem %v, want %+v", errs[i], w)
					}
				}
				if tc.want == nil {
					if err != nil {
						t.Fatal(err)
					}
					d, err := s.Get(context.Background(), "service", ids[2], Flat)
					if err != nil || d.Get("name") != valid {
						t.Errorf("name = %q (%v), want %q", d.Get("name"), err, valid)
					}
				}
			})
		}
	}
}

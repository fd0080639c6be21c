package directory

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// Problem is one thing wrong with an import: where (file, line or record,
// field) and why. Warnings are reported but do not stop an import.
type Problem struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`   // CSV line (quoted newlines counted)
	Record  int    `json:"record,omitempty"` // JSON record number, from 1
	ID      string `json:"id,omitempty"`
	Field   string `json:"field,omitempty"`
	Reason  string `json:"reason"`
	Warning bool   `json:"warning,omitempty"`
}

// String reads like "services.csv line 14, field status: ...".
func (p Problem) String() string {
	var b strings.Builder
	if p.Warning {
		b.WriteString("warning: ")
	}
	b.WriteString(p.File)
	switch {
	case p.Line > 0:
		fmt.Fprintf(&b, " line %d", p.Line)
	case p.Record > 0:
		fmt.Fprintf(&b, " record %d", p.Record)
	}
	if p.ID != "" {
		fmt.Fprintf(&b, " (id %s)", p.ID)
	}
	if p.Field != "" {
		fmt.Fprintf(&b, ", field %s", p.Field)
	}
	b.WriteString(": ")
	b.WriteString(p.Reason)
	return b.String()
}

// Record is one row to write to one table.
type Record struct {
	Table  string
	Values map[string]any
	Extra  map[string]any
}

// ID returns the record's id.
func (r Record) ID() string { s, _ := r.Values["id"].(string); return s }

// unit is what is accepted or skipped as a whole: one CSV row, or one
// compiled service with everything nested in it.
type unit struct {
	File     string
	Line     int
	Record   int
	Root     string // the root record's table
	Records  []Record
	Problems []Problem // errors and warnings found while reading it
	Fatal    bool      // reading the file cannot go on after this unit
}

func (u *unit) problem(id, field, reason string) {
	u.Problems = append(u.Problems, Problem{File: u.File, Line: u.Line, Record: u.Record, ID: id, Field: field, Reason: reason})
}

func (u *unit) warn(id, field, reason string) {
	u.Problems = append(u.Problems, Problem{File: u.File, Line: u.Line, Record: u.Record, ID: id, Field: field, Reason: reason, Warning: true})
}

// Source is an import input that can be read more than once (the importer
// validates everything first and writes in a second pass, so that a file
// larger than memory is streamed and nothing is written when it is invalid).
type Source interface {
	// Name is how problems name the input.
	Name() string
	// Size is the number of bytes that Each reads, for progress.
	Size() int64
	// Each calls fn with every unit in order; read counts bytes consumed.
	Each(ctx context.Context, read func(n int64), fn func(*unit) error) error
	// Compiled reports whether units are compiled services (whose own
	// child rows are replaced) rather than single tabular rows.
	Compiled() bool
}

// OpenSource picks the reader for path: a folder or .zip holding a tabular
// datapackage, or a JSON / NDJSON file of compiled services.
func OpenSource(p string) (Source, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", p, err)
	}
	if st.IsDir() {
		return &tabularSource{name: p, open: func() (fs.FS, func() error, error) {
			return os.DirFS(p), func() error { return nil }, nil
		}}, nil
	}
	if strings.EqualFold(filepath.Ext(p), ".zip") {
		return &tabularSource{name: p, open: func() (fs.FS, func() error, error) {
			z, err := zip.OpenReader(p)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: not a readable zip file: %w", p, err)
			}
			return z, z.Close, nil
		}}, nil
	}
	return &jsonSource{path: p, size: st.Size()}, nil
}

// FSSource reads a tabular datapackage from a file system (the embedded
// taxonomy, tests).
func FSSource(name string, fsys fs.FS) Source {
	return &tabularSource{name: name, open: func() (fs.FS, func() error, error) { return fsys, func() error { return nil }, nil }}
}

// ReaderSource reads compiled JSON from a function that opens it afresh for
// each pass (the embedded demo directory).
func ReaderSource(name string, size int64, open func() (io.ReadCloser, error)) Source {
	return &jsonSource{path: name, size: size, open: open}
}

// --- JSON ---

type jsonSource struct {
	path string
	size int64
	open func() (io.ReadCloser, error)
}

func (s *jsonSource) Name() string   { return s.path }
func (s *jsonSource) Size() int64    { return s.size }
func (s *jsonSource) Compiled() bool { return true }

type countingReader struct {
	r    io.Reader
	read func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.read != nil && n > 0 {
		c.read(int64(n))
	}
	return n, err
}

func (s *jsonSource) Each(ctx context.Context, read func(int64), fn func(*unit) error) error {
	var rc io.ReadCloser
	var err error
	if s.open != nil {
		rc, err = s.open()
	} else {
		rc, err = os.Open(s.path)
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	name := filepath.Base(s.path)
	br := bufio.NewReaderSize(&countingReader{r: rc, read: read}, 1<<16)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
		br.Discard(3)
	}
	first, err := firstNonSpace(br)
	if err == io.EOF {
		u := &unit{File: name, Fatal: true}
		u.problem("", "", "the file is empty: expected HSDS services as a JSON object, an array of them, or NDJSON")
		return fn(u)
	} else if err != nil {
		return err
	}
	// encoding/json silently replaces invalid UTF-8 (a file saved as
	// Latin-1) with U+FFFD, so the bytes are checked on their way in.
	utf := &utf8Checker{r: br}
	dec := json.NewDecoder(utf)
	dec.UseNumber()
	array := first == '['
	if array {
		if _, err := dec.Token(); err != nil {
			return err
		}
	}
	for n := 1; ; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if array && !dec.More() {
			if _, err := dec.Token(); err != nil {
				u := &unit{File: name, Record: n, Fatal: true}
				u.problem("", "", "the file ends before the closing ] of the array: the JSON is truncated")
				return fn(u)
			}
			return nil
		}
		begin := dec.InputOffset()
		var v any
		err := dec.Decode(&v)
		if err == io.EOF && !array {
			return nil
		}
		u := &unit{File: name, Record: n, Root: "service"}
		if err != nil {
			u.Fatal = true
			var se *json.SyntaxError
			switch {
			case errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF:
				u.problem("", "", "the file ends in the middle of this record: the JSON is truncated")
			case errors.As(err, &se):
				u.problem("", "", fmt.Sprintf("invalid JSON at byte %d of the file: %v", se.Offset, err))
			default:
				u.problem("", "", "invalid JSON: "+err.Error())
			}
			return fn(u)
		}
		obj, ok := v.(map[string]any)
		if !ok {
			u.problem("", "", fmt.Sprintf("is a JSON %s; expected a service object", jsonKind(v)))
		} else {
			decompose(u, Schema.Table("service"), obj, "", nil)
			mergeDuplicates(u)
		}
		if utf.invalidBetween(begin, dec.InputOffset()) {
			invalidUTF8(u, v, "")
		}
		if err := fn(u); err != nil {
			return err
		}
	}
}

// utf8Checker passes a stream through and remembers the offsets at which
// it holds invalid UTF-8, for the records read since.
type utf8Checker struct {
	r       io.Reader
	off     int64   // stream offset of the next byte read
	carry   []byte  // an incomplete character at the end of the last read
	invalid []int64 // offsets of invalid bytes not yet passed, ascending
}

func (c *utf8Checker) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	data := p[:n]
	start := c.off
	if len(c.carry) > 0 {
		data = append(c.carry, data...)
		start -= int64(len(c.carry))
		c.carry = nil
	}
	c.off += int64(n)
	if utf8.Valid(data) {
		return n, err
	}
	for i := 0; i < len(data); {
		if data[i] < utf8.RuneSelf {
			i++
			continue
		}
		if !utf8.FullRune(data[i:]) && err == nil {
			c.carry = append([]byte(nil), data[i:]...)
			break
		}
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			c.invalid = append(c.invalid, start+int64(i))
		}
		i += size
	}
	return n, err
}

// invalidBetween reports whether the bytes from begin to end held invalid
// UTF-8, and forgets what lies before end.
func (c *utf8Checker) invalidBetween(begin, end int64) bool {
	found := false
	i := 0
	for ; i < len(c.invalid) && c.invalid[i] < end; i++ {
		if c.invalid[i] >= begin {
			found = true
		}
	}
	c.invalid = c.invalid[i:]
	return found
}

// invalidUTF8 reports the strings of a record that held invalid UTF-8,
// which the decoder turned into U+FFFD, by their JSON path.
func invalidUTF8(u *unit, v any, path string) {
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch v := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if strings.ContainsRune(k, utf8.RuneError) {
				u.problem("", join(k), "the property name is not valid UTF-8 text (save the file as UTF-8)")
			}
			invalidUTF8(u, v[k], join(k))
		}
	case []any:
		for i, el := range v {
			invalidUTF8(u, el, fmt.Sprintf("%s[%d]", path, i))
		}
	case string:
		if strings.ContainsRune(v, utf8.RuneError) {
			u.problem("", path, "is not valid UTF-8 text (save the file as UTF-8)")
		}
	}
}

func firstNonSpace(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		if b != ' ' && b != '\t' && b != '\n' && b != '\r' {
			return b, br.UnreadByte()
		}
	}
}

// decompose flattens a compiled object into records, parents before
// children, linking each child to its parent. prefix is the JSON path used in
// problems ("service_at_locations[0].location.addresses[1]").
func decompose(u *unit, t *Table, obj map[string]any, prefix string, link func(Record)) string {
	rec := Record{Table: t.Name, Values: map[string]any{}}
	id := ""
	if v, ok := obj["id"].(string); ok {
		id = v
	}
	field := func(name string) string {
		if prefix == "" {
			return name
		}
		return prefix + "." + name
	}
	type nested struct {
		rel Relation
		val any
	}
	var kids []nested
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		v := obj[k]
		if f, ok := t.Field(k); ok {
			pv, err := f.FromJSON(v)
			if err != nil {
				u.problem(id, field(k), err.Error())
				continue
			}
			rec.Values[k] = pv
			continue
		}
		if rel, ok := relation(t, k); ok {
			kids = append(kids, nested{rel, v})
			continue
		}
		switch v.(type) {
		case map[string]any, []any:
			u.warn(id, field(k), "is not an HSDS property of "+t.Name+"; ignored")
		case nil:
		default:
			if s, ok := v.(string); ok && !validText(s) {
				u.problem(id, field(k), "is not valid UTF-8 text")
				continue
			}
			if rec.Extra == nil {
				rec.Extra = map[string]any{}
			}
			if n, ok := v.(json.Number); ok {
				f, _ := n.Float64()
				v = f
			}
			rec.Extra[k] = v
		}
	}
	if link != nil {
		link(rec)
	}
	rid := rec.ID()
	if rid == "" && id == "" {
		u.problem("", field("id"), "is required: every HSDS object needs a UUID id")
	}
	idx := len(u.Records)
	u.Records = append(u.Records, rec)
	for _, kid := range kids {
		ct := Schema.Table(kid.rel.Table)
		kp := field(kid.rel.Key)
		if kid.rel.Many {
			arr, ok := kid.val.([]any)
			if kid.val == nil {
				continue
			}
			if !ok {
				u.problem(rid, kp, "must be an array of "+ct.Name+" objects")
				continue
			}
			for i, el := range arr {
				o, ok := el.(map[string]any)
				if !ok {
					u.problem(rid, fmt.Sprintf("%s[%d]", kp, i), "must be a "+ct.Name+" object")
					continue
				}
				decompose(u, ct, o, fmt.Sprintf("%s[%d]", kp, i), func(c Record) {
					setLink(u, c, kid.rel.Col, rid, t.Name, fmt.Sprintf("%s[%d]", kp, i))
				})
			}
			continue
		}
		if kid.val == nil {
			continue
		}
		o, ok := kid.val.(map[string]any)
		if !ok {
			u.problem(rid, kp, "must be a "+ct.Name+" object")
			continue
		}
		childID := decompose(u, ct, o, kp, nil)
		if childID == "" {
			continue
		}
		parent := u.Records[idx]
		if cur, ok := parent.Values[kid.rel.Col].(string); ok && cur != "" && cur != childID {
			u.problem(rid, field(kid.rel.Col), fmt.Sprintf("is %s but the nested %s has id %s", cur, kid.rel.Key, childID))
		}
		parent.Values[kid.rel.Col] = childID
	}
	return rid
}

// setLink points a nested child at its parent, or reports that the child
// already names a different parent.
func setLink(u *unit, c Record, col, parentID, parentTable, path string) {
	if parentID == "" {
		return
	}
	if cur, ok := c.Values[col].(string); ok && cur != "" && cur != parentID {
		u.problem(c.ID(), path+"."+col, fmt.Sprintf("is %s but the object is nested in %s %s", cur, parentTable, parentID))
		return
	}
	c.Values[col] = parentID
	switch c.Table {
	case "attribute":
		if c.Values["link_entity"] == nil {
			c.Values["link_entity"] = parentTable
		}
	case "metadata":
		if c.Values["resource_type"] == nil {
			c.Values["resource_type"] = parentTable
		}
	}
}

func relation(t *Table, key string) (Relation, bool) {
	for _, r := range t.Relations {
		if r.Key == key {
			return r, true
		}
	}
	return Relation{}, false
}

// --- tabular ---

type tabularSource struct {
	name string
	open func() (fs.FS, func() error, error)
	size int64
}

func (s *tabularSource) Name() string   { return s.name }
func (s *tabularSource) Compiled() bool { return false }
func (s *tabularSource) Size() int64 {
	if s.size > 0 {
		return s.size
	}
	fsys, closeFn, err := s.open()
	if err != nil {
		return 0
	}
	defer closeFn()
	root, files, _ := tabularFiles(fsys)
	for _, f := range files {
		if st, err := fs.Stat(fsys, path.Join(root, f.path)); err == nil {
			s.size += st.Size()
		}
	}
	return s.size
}

type tabularFile struct {
	table *Table
	path  string
}

// tabularFiles reads the publisher's datapackage.json (at the root, or in
// the one folder a zip often wraps everything in) and lists the CSV files to
// read, parents first.
func tabularFiles(fsys fs.FS) (root string, files []tabularFile, problems []Problem) {
	b, err := fs.ReadFile(fsys, "datapackage.json")
	if err != nil {
		matches, _ := fs.Glob(fsys, "*/datapackage.json")
		if len(matches) != 1 {
			return "", nil, []Problem{{File: "datapackage.json", Reason: "missing: a tabular HSDS import needs datapackage.json beside the CSV files"}}
		}
		root = path.Dir(matches[0])
		b, _ = fs.ReadFile(fsys, matches[0])
	}
	var dp struct {
		Resources []struct {
			Name string `json:"name"`
			Path any    `json:"path"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(bytes.TrimPrefix(b, []byte{0xEF, 0xBB, 0xBF}), &dp); err != nil {
		return root, nil, []Problem{{File: "datapackage.json", Reason: "not valid JSON: " + err.Error()}}
	}
	paths := map[string]string{}
	for i, r := range dp.Resources {
		p, _ := r.Path.(string)
		if _, known := Schema.Tables[r.Name]; !known {
			problems = append(problems, Problem{File: "datapackage.json", Field: fmt.Sprintf("resources[%d]", i), Reason: fmt.Sprintf("resource %q is not an HSDS table; ignored", r.Name), Warning: true})
			continue
		}
		if p == "" {
			problems = append(problems, Problem{File: "datapackage.json", Field: fmt.Sprintf("resources[%d].path", i), Reason: fmt.Sprintf("resource %q has no single CSV path", r.Name)})
			continue
		}
		paths[r.Name] = p
	}
	for _, name := range Schema.Order {
		if p, ok := paths[name]; ok {
			files = append(files, tabularFile{table: Schema.Table(name), path: p})
		}
	}
	if len(files) == 0 && len(problems) == 0 {
		problems = append(problems, Problem{File: "datapackage.json", Reason: "names no HSDS resources (expected organization, service, location ...)"})
	}
	return root, files, problems
}

func (s *tabularSource) Each(ctx context.Context, read func(int64), fn func(*unit) error) error {
	fsys, closeFn, err := s.open()
	if err != nil {
		return err
	}
	defer closeFn()
	root, files, problems := tabularFiles(fsys)
	if len(problems) > 0 {
		u := &unit{File: "datapackage.json"}
		u.Problems = problems
		for _, p := range problems {
			if !p.Warning {
				u.Fatal = true
			}
		}
		if err := fn(u); err != nil || u.Fatal {
			return err
		}
	}
	for _, tf := range files {
		if err := s.readCSV(ctx, fsys, root, tf, read, fn); err != nil {
			return err
		}
	}
	return nil
}

func (s *tabularSource) readCSV(ctx context.Context, fsys fs.FS, root string, tf tabularFile, read func(int64), fn func(*unit) error) error {
	name := tf.path
	f, err := fsys.Open(path.Join(root, tf.path))
	if err != nil {
		u := &unit{File: name, Fatal: true}
		u.problem("", "", "datapackage.json names this file but it is missing")
		return fn(u)
	}
	defer f.Close()
	br := bufio.NewReaderSize(&countingReader{r: f, read: read}, 1<<16)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
		br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		u := &unit{File: name, Fatal: true}
		u.problem("", "", "the file is empty: expected a header row naming the columns")
		return fn(u)
	} else if err != nil {
		u := &unit{File: name, Line: 1, Fatal: true}
		u.problem("", "", "cannot read the header row: "+err.Error())
		return fn(u)
	}
	header = slices.Clone(header)
	hu := &unit{File: name, Line: 1}
	cols := make([]*Field, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		header[i] = h
		if seen[h] {
			hu.problem("", h, "the column appears twice in the header")
			hu.Fatal = true
			continue
		}
		seen[h] = true
		if fd, ok := tf.table.Field(h); ok {
			cols[i] = &fd
		} else {
			hu.warn("", h, fmt.Sprintf("is not a column of the HSDS %s table; ignored", tf.table.Name))
		}
	}
	for _, fd := range tf.table.Fields {
		if fd.Required && !seen[fd.Name] {
			hu.problem("", fd.Name, "required column is missing from the header")
			hu.Fatal = true
		}
	}
	if len(hu.Problems) > 0 {
		if err := fn(hu); err != nil || hu.Fatal {
			return err
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		row, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		line, _ := cr.FieldPos(0)
		u := &unit{File: name, Line: line, Root: tf.table.Name}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				u.Line = pe.Line
				u.problem("", "", "malformed CSV: "+pe.Err.Error())
			} else {
				u.problem("", "", err.Error())
			}
			u.Fatal = true
			return fn(u)
		}
		if len(row) == 1 && strings.TrimSpace(row[0]) == "" && len(header) > 1 {
			continue // a blank line
		}
		if len(row) != len(header) {
			u.problem("", "", fmt.Sprintf("has %d fields but the header has %d", len(row), len(header)))
			if err := fn(u); err != nil {
				return err
			}
			continue
		}
		rec := Record{Table: tf.table.Name, Values: map[string]any{}}
		id := ""
		for i, c := range cols {
			if c != nil && c.Name == "id" {
				id = strings.TrimSpace(row[i])
			}
		}
		for i, c := range cols {
			if c == nil {
				continue
			}
			v, err := c.Parse(row[i])
			if err != nil {
				u.problem(id, c.Name, err.Error())
				continue
			}
			rec.Values[c.Name] = v
		}
		u.Records = []Record{rec}
		if err := fn(u); err != nil {
			return err
		}
	}
}

// mergeDuplicates folds together the copies of one object that a compiled
// document nests in several places (the HSDS example nests one phone under
// the service, its location and a contact): each copy carries the link to
// the parent it sits under, and the stored row carries them all. Copies that
// disagree on a value are a problem. A nested program without an
// organization belongs to the service's organization.
func mergeDuplicates(u *unit) {
	first := map[string]int{}
	out := u.Records[:0]
	for _, r := range u.Records {
		k := r.Table + "/" + r.ID()
		i, seen := first[k]
		if !seen || r.ID() == "" {
			first[k] = len(out)
			out = append(out, r)
			continue
		}
		kept := out[i]
		for _, name := range slices.Sorted(maps.Keys(r.Values)) {
			v := r.Values[name]
			if v == nil {
				continue
			}
			if cur := kept.Values[name]; cur != nil && Text(cur) != Text(v) {
				u.problem(r.ID(), r.Table+"."+name, fmt.Sprintf("the %s appears twice in this record with different values (%q and %q)", r.Table, clip(Text(cur)), clip(Text(v))))
				continue
			}
			kept.Values[name] = v
		}
		for name, v := range r.Extra {
			if kept.Extra == nil {
				kept.Extra = map[string]any{}
			}
			kept.Extra[name] = v
		}
	}
	u.Records = out
	if len(out) > 0 && out[0].Table == "service" {
		for _, r := range out {
			if r.Table == "program" && r.Values["organization_id"] == nil && r.ID() == out[0].Values["program_id"] {
				r.Values["organization_id"] = out[0].Values["organization_id"]
			}
		}
	}
}

package directory

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/internal/db"
)

// Store reads and writes the directory in SQLite.
type Store struct {
	db *db.DB
	// Now is the clock for change history; tests replace it.
	Now func() time.Time
	// OnChange, if set, is called after every committed write with the ids
	// of the services it touched (the search index listens here).
	OnChange func(serviceIDs []string)
	// SearchIDs, if set, answers the HSDS API's search parameter with the
	// ids of the matching services (the search engine sets it).
	SearchIDs func(ctx context.Context, text string) ([]string, error)
}

// NewStore returns a Store on an open database.
func NewStore(d *db.DB) *Store {
	return &Store{db: d, Now: time.Now}
}

// DB returns the underlying database.
func (s *Store) DB() *db.DB { return s.db }

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Row is one stored record: column -> value (string, float64 or nil), plus
// extension properties kept from JSON imports.
type Row struct {
	Values map[string]any
	Extra  map[string]any
}

// ID returns the row's id.
func (r Row) ID() string { s, _ := r.Values["id"].(string); return s }

func selectCols(t *Table) string {
	return strings.Join(t.Columns(), ", ") + ", extra"
}

// rows runs "SELECT cols FROM table WHERE <where>" and scans every row.
func rows(ctx context.Context, q querier, t *Table, where string, args ...any) ([]Row, error) {
	query := "SELECT " + selectCols(t) + " FROM " + t.Name
	if where != "" {
		query += " WHERE " + where
	}
	rs, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", t.Name, err)
	}
	defer rs.Close()
	var out []Row
	for rs.Next() {
		r, err := scanRow(rs, t)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rs.Err()
}

func scanRow(rs *sql.Rows, t *Table) (Row, error) {
	vals := make([]any, len(t.Fields)+1)
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rs.Scan(ptrs...); err != nil {
		return Row{}, err
	}
	r := Row{Values: make(map[string]any, len(t.Fields))}
	for i, f := range t.Fields {
		v := vals[i]
		if b, ok := v.([]byte); ok {
			v = string(b)
		}
		if i64, ok := v.(int64); ok {
			v = float64(i64)
		}
		r.Values[f.Name] = v
	}
	if ex, ok := vals[len(t.Fields)].(string); ok && ex != "" {
		if err := json.Unmarshal([]byte(ex), &r.Extra); err != nil {
			return Row{}, fmt.Errorf("%s %s: extra: %w", t.Name, r.ID(), err)
		}
	}
	return r, nil
}

// getRow loads one row by id; ENOTFOUND when absent.
func getRow(ctx context.Context, q querier, t *Table, id string) (Row, error) {
	rs, err := rows(ctx, q, t, "id = ?", id)
	if err != nil {
		return Row{}, err
	}
	if len(rs) == 0 {
		return Row{}, apperr.Errorf(apperr.ENOTFOUND, "No %s with id %s.", strings.ReplaceAll(t.Name, "_", " "), id)
	}
	return rs[0], nil
}

// Prop is one property of a Doc.
type Prop struct {
	Key   string
	Value any
}

// Doc is a JSON object that keeps its properties in HSDS order (id first),
// which makes exports and API answers readable and diffable.
type Doc []Prop

// Get returns the value of key, or nil.
func (d Doc) Get(key string) any {
	for _, p := range d {
		if p.Key == key {
			return p.Value
		}
	}
	return nil
}

// MarshalJSON writes the properties in order.
func (d Doc) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range d {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(p.Key)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(p.Value)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Depth says how much of the object graph compose follows.
type Depth int

const (
	// Flat is the object's own fields only.
	Flat Depth = iota
	// Full nests every related object, as in the compiled HSDS schemas.
	Full
)

// compose renders a row as an HSDS JSON object. Null fields are left out
// (the compiled schemas type them without null); arrays are always present
// at Full depth. path holds the tables above this one, so that no object
// nests its own ancestors.
func compose(ctx context.Context, q querier, t *Table, r Row, depth Depth, path []string) (Doc, error) {
	d := make(Doc, 0, len(t.Fields)+len(t.Relations)+len(r.Extra))
	for _, f := range t.Fields {
		if v := r.Values[f.Name]; v != nil {
			if t.Name == "metadata" && f.Name == "updated_by" {
				v = publicActor(v)
			}
			d = append(d, Prop{f.Name, v})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r.Extra)) {
		d = append(d, Prop{k, r.Extra[k]})
	}
	if depth == Flat {
		return d, nil
	}
	path = append(path, t.Name)
	for _, rel := range t.Relations {
		if slices.Contains(path, rel.Table) {
			continue
		}
		ct := Schema.Table(rel.Table)
		if rel.Many {
			crs, err := rows(ctx, q, ct, rel.Col+" = ? ORDER BY rowid", r.ID())
			if err != nil {
				return nil, err
			}
			arr := make([]Doc, 0, len(crs))
			for _, cr := range crs {
				cd, err := compose(ctx, q, ct, cr, depth, path)
				if err != nil {
					return nil, err
				}
				arr = append(arr, cd)
			}
			d = append(d, Prop{rel.Key, arr})
			continue
		}
		id, _ := r.Values[rel.Col].(string)
		if id == "" {
			continue
		}
		cr, err := getRow(ctx, q, ct, id)
		if apperr.Code(err) == apperr.ENOTFOUND {
			continue
		} else if err != nil {
			return nil, err
		}
		cd, err := compose(ctx, q, ct, cr, depth, path)
		if err != nil {
			return nil, err
		}
		d = append(d, Prop{rel.Key, cd})
	}
	return d, nil
}

// publicActor is who made a change as the published directory (the /hsds
// API, exports) shows it: staff edits record the editor's email in
// metadata.updated_by for the staff history page, but a staff member's
// address is not for publishing, so it reads "staff".
func publicActor(v any) any {
	if s, ok := v.(string); ok && strings.Contains(s, "@") {
		return "staff"
	}
	return v
}

// Get returns one object of the named table, composed to depth.
func (s *Store) Get(ctx context.Context, table, id string, depth Depth) (Doc, error) {
	t := Schema.Table(table)
	r, err := getRow(ctx, s.db.Read, t, id)
	if err != nil {
		return nil, err
	}
	return compose(ctx, s.db.Read, t, r, depth, nil)
}

// ListFilter selects and pages objects of one table.
type ListFilter struct {
	Where  []string // SQL conditions on the table aliased as "t", ANDed
	Args   []any
	Order  string // SQL ORDER BY; default rowid
	Limit  int
	Offset int
}

// List returns one page of objects of a table and the total count.
func (s *Store) List(ctx context.Context, table string, f ListFilter, depth Depth) ([]Doc, int, error) {
	t := Schema.Table(table)
	where := ""
	if len(f.Where) > 0 {
		where = " WHERE " + strings.Join(f.Where, " AND ")
	}
	var total int
	if err := s.db.Read.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+t.Name+" t"+where, f.Args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count %s: %w", t.Name, err)
	}
	order := f.Order
	if order == "" {
		order = "t.rowid"
	}
	cols := make([]string, 0, len(t.Fields)+1)
	for _, c := range t.Columns() {
		cols = append(cols, "t."+c)
	}
	cols = append(cols, "t.extra")
	query := "SELECT " + strings.Join(cols, ", ") + " FROM " + t.Name + " t" + where + " ORDER BY " + order
	args := f.Args
	if f.Limit > 0 {
		query += " LIMIT ? OFFSET ?"
		args = append(append([]any{}, args...), f.Limit, f.Offset)
	}
	rs, err := s.db.Read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", t.Name, err)
	}
	var found []Row
	for rs.Next() {
		r, err := scanRow(rs, t)
		if err != nil {
			rs.Close()
			return nil, 0, err
		}
		found = append(found, r)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return nil, 0, err
	}
	docs := make([]Doc, 0, len(found))
	for _, r := range found {
		d, err := compose(ctx, s.db.Read, t, r, depth, nil)
		if err != nil {
			return nil, 0, err
		}
		docs = append(docs, d)
	}
	return docs, total, nil
}

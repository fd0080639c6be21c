package directory

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

// A staff member's email in the change history stays on the staff pages:
// the published directory says "staff".
func TestPublishedHistoryHidesStaffEmail(t *testing.T) {
	s := newDemoStore(t)
	ctx := context.Background()
	svcs, _, err := s.List(ctx, "service", ListFilter{Limit: 1}, Flat)
	if err != nil || len(svcs) == 0 {
		t.Fatal(err)
	}
	id := svcs[0].Get("id").(string)
	if _, err := s.db.Write.Exec(`INSERT INTO metadata (id, resource_id, resource_type, last_action_date, last_action_type, field_name,
		previous_value, replacement_value, updated_by) VALUES ('m-test', ?, 'service', '2026-11-29', 'update', 'name', 'a', 'b', 'sam@secondchancekc.org')`, id); err != nil {
		t.Fatal(err)
	}
	doc, err := s.Get(ctx, "service", id, Full)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(doc)
	if strings.Contains(string(b), "sam@secondchancekc.org") || !strings.Contains(string(b), `"updated_by":"staff"`) {
		t.Errorf("published service shows the editor: %s", b)
	}
}

// A bulk update's retirements commit with its changes or not at all: a
// retirement that fails rolls the whole import back.
func TestImportRetireIsAtomic(t *testing.T) {
	s := newDemoStore(t)
	ctx := context.Background()
	svcs, _, err := s.List(ctx, "service", ListFilter{Limit: 2}, Full)
	if err != nil || len(svcs) < 2 {
		t.Fatal(err)
	}
	keep, gone := svcs[0], svcs[1].Get("id").(string)
	changed := Doc{}
	for _, p := range keep {
		if p.Key == "name" {
			p.Value = "Renamed In Bulk"
		}
		changed = append(changed, p)
	}
	b, _ := json.Marshal(changed)
	src := func() Source {
		return ReaderSource("upload.ndjson", int64(len(b)), func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	}
	// Retiring a service that does not exist fails: nothing is written.
	if _, err := s.Import(ctx, src(), ImportOptions{Actor: "test", Retire: []string{"no-such-service"}}); err == nil {
		t.Fatal("an import retiring a missing service succeeded")
	}
	if d, _ := s.Get(ctx, "service", keep.Get("id").(string), Flat); d.Get("name") == "Renamed In Bulk" {
		t.Error("the change was kept although its retirement failed")
	}
	// Together they apply.
	if _, err := s.Import(ctx, src(), ImportOptions{Actor: "test", Retire: []string{gone}}); err != nil {
		t.Fatal(err)
	}
	d, _ := s.Get(ctx, "service", gone, Flat)
	if d.Get("status") != "defunct" {
		t.Errorf("retired service status %v", d.Get("status"))
	}
	if d, _ := s.Get(ctx, "service", keep.Get("id").(string), Flat); d.Get("name") != "Renamed In Bulk" {
		t.Error("the change was not applied")
	}
}

package directory

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// A staff member's email in the change history stays on the staff pages:
// the published directory says "staff".
func TestPublishedHistoryHidesStaffEmail(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.LoadTaxonomies(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LoadDemo(ctx); err != nil {
		t.Fatal(err)
	}
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

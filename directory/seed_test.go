package directory

import (
	"context"
	"testing"
)

// The embedded taxonomy and demo directory load cleanly into an empty
// database, and a second start loads nothing again.
func TestLoadDemo(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	tr, err := s.LoadTaxonomies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Problems) > 0 {
		t.Fatalf("taxonomy problems: %v", tr.Problems)
	}
	loaded, res, err := s.LoadDemo(ctx)
	if err != nil {
		if res != nil {
			for _, p := range res.Problems {
				t.Log(p)
			}
		}
		t.Fatal(err)
	}
	if !loaded || res.Created < 40 {
		t.Fatalf("demo: loaded=%v created=%d, want at least 40 services", loaded, res.Created)
	}
	for _, p := range res.Problems {
		t.Errorf("demo problem: %v", p)
	}
	var orgs int
	s.db.Read.QueryRowContext(ctx, "SELECT COUNT(*) FROM organization").Scan(&orgs)
	if orgs < 25 {
		t.Errorf("demo has %d organizations, want at least 25", orgs)
	}
	again, _, err := s.LoadDemo(ctx)
	if err != nil || again {
		t.Fatalf("second LoadDemo: loaded=%v err=%v, want nothing loaded", again, err)
	}
	tr, err = s.LoadTaxonomies(ctx)
	if err != nil || tr.Created+tr.Updated != 0 {
		t.Fatalf("second LoadTaxonomies: %+v %v, want all unchanged", tr, err)
	}
}

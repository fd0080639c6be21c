package search

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/secondchancekc/secondchance/directory"
	"github.com/secondchancekc/secondchance/internal/db"
)

// newDemoEngine builds a real index over the demo directory in a temporary
// folder.
func newDemoEngine(t testing.TB) (*Engine, *directory.Store) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	d, err := db.Open(ctx, filepath.Join(dir, "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	s := directory.NewStore(d)
	if _, err := s.LoadTaxonomies(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LoadDemo(ctx); err != nil {
		t.Fatal(err)
	}
	chicago, _ := time.LoadLocation("America/Chicago")
	e, err := New(Options{Dir: filepath.Join(dir, "index"), Store: s, Location: chicago, Slots: Slots})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Rebuild(ctx, nil); err != nil {
		t.Fatal(err)
	}
	e.state.Store("")
	t.Cleanup(func() { e.Close() })
	return e, s
}

package directory

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/secondchancekc/secondchance/internal/db"
)

// newStore opens a fresh database in a temporary folder.
func newStore(t testing.TB) *Store {
	t.Helper()
	d, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return NewStore(d)
}

// newDemoStore is newStore holding the taxonomies and the demo directory.
func newDemoStore(t testing.TB) *Store {
	t.Helper()
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.LoadTaxonomies(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LoadDemo(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

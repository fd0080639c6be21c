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

func mustImport(t testing.TB, s *Store, path string, opt ImportOptions) *ImportResult {
	t.Helper()
	src, err := OpenSource(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Import(context.Background(), src, opt)
	if err != nil {
		for _, p := range res.Problems {
			t.Log(p)
		}
		t.Fatalf("import %s: %v", path, err)
	}
	return res
}

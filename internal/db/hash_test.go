package db

import (
	"context"
	"path/filepath"
	"testing"
)

// The hash key is made once per database and kept: the same value hashes
// the same after a restart, differently in another database, and a kind
// keeps uses apart.
func TestHash(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a.db")
	a, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	h1 := a.Hash("to", "+18165550142")
	a.Close()
	a, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if h2 := a.Hash("to", "+18165550142"); h2 != h1 {
		t.Errorf("hash changed across a reopen: %s, %s", h1, h2)
	}
	if a.Hash("ip", "+18165550142") == h1 {
		t.Error("kinds do not separate hashes")
	}
	if a.Hash("to", "+18165550143") == h1 {
		t.Error("different numbers hash the same")
	}
	b, err := Open(ctx, filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Hash("to", "+18165550142") == h1 {
		t.Error("two databases share a hash key")
	}
	if len(h1) != 32 {
		t.Errorf("hash %q: want 32 hex digits", h1)
	}
}

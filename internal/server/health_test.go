package server

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/secondchancekc/secondchance/internal/db"
)

func TestHealth(t *testing.T) {
	d, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ts := newTestServer(t, Config{}, nil)
	// Long enough for a database ping on a loaded machine under -race; the
	// hung checks below still show the cut-off.
	ts.readyTimeout = 2 * time.Second

	ts.check(t, scenario{Name: "no checks", URL: "/readyz", Status: 200,
		Contains: []string{`"status":"ready"`, `"checks":{}`}, NotContains: []string{"notes"}})

	ts.AddReadyCheck("database", d.Ping)
	ts.SetReadyNote("search", "rebuilding, answering from SQL fallback")
	for _, sc := range []scenario{
		{Name: "liveness", URL: "/healthz", Status: 200, Contains: []string{`{"status":"ok"}`},
			WantHeader: map[string]string{"Cache-Control": "no-store"}},
		{Name: "liveness HEAD", Method: "HEAD", URL: "/healthz", Status: 200},
		{Name: "ready with a note", URL: "/readyz", Status: 200,
			Contains: []string{`"status":"ready"`, `"database":"ok"`, `"search":"rebuilding, answering from SQL fallback"`}},
	} {
		t.Run(sc.Name, func(t *testing.T) { ts.check(t, sc) })
	}

	// A failing check and a hung check make the server not ready; the note
	// stays informational and liveness is unaffected.
	ts.AddReadyCheck("search", func(ctx context.Context) error { return errors.New("index is closed") })
	ts.AddReadyCheck("hung", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	ts.AddReadyCheck("deaf", func(ctx context.Context) error { time.Sleep(10 * time.Second); return nil })
	ts.AddReadyCheck("panicky", func(ctx context.Context) error { panic("oops") })
	start := time.Now()
	_, b := ts.check(t, scenario{Name: "not ready", URL: "/readyz", Status: 503})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("/readyz took %s; checks must be cut off at their timeout", took)
	}
	var got readyAnswer
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	want := map[string]string{
		"database": "ok",
		"search":   "index is closed",
		"hung":     "timed out after 2s",
		"deaf":     "timed out after 2s",
		"panicky":  "check panicked: oops",
	}
	if got.Status != "not_ready" || len(got.Checks) != len(want) {
		t.Errorf("answer %+v", got)
	}
	for k, v := range want {
		if got.Checks[k] != v {
			t.Errorf("check %s = %q, want %q", k, got.Checks[k], v)
		}
	}
	if got.Notes["search"] == "" {
		t.Errorf("note lost: %+v", got)
	}
	ts.check(t, scenario{Name: "still alive", URL: "/healthz", Status: 200})

	// Closing the database fails its check; removing a note drops it.
	ts.AddReadyCheck("search", func(ctx context.Context) error { return nil })
	ts.AddReadyCheck("hung", func(ctx context.Context) error { return nil })
	ts.AddReadyCheck("deaf", func(ctx context.Context) error { return nil })
	ts.AddReadyCheck("panicky", func(ctx context.Context) error { return nil })
	ts.SetReadyNote("search", "")
	ts.check(t, scenario{Name: "ready again", URL: "/readyz", Status: 200, NotContains: []string{"notes"}})
	d.Close()
	ts.check(t, scenario{Name: "database closed", URL: "/readyz", Status: 503,
		Contains: []string{`"status":"not_ready"`, `"database":"sql: database is closed"`}})
}

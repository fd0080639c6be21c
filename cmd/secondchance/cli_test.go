package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// serve on a fresh data folder serves the demo directory, and stops
// cleanly when its context ends (as on SIGTERM).
func TestServeDemoDirectory(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	addr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb bytes.Buffer
	root := newRoot(&out, &errb)
	root.SetArgs([]string{"serve", "--listen", addr, "--data-dir", filepath.Join(dir, "var")})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	var resp *http.Response
	var err error
	for i := 0; i < 200; i++ {
		resp, err = http.Get("http://" + addr + "/hsds/services?per_page=1")
		if err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("server never answered: %v\n%s", err, errb.String())
	}
	var page struct {
		TotalItems int `json:"total_items"`
	}
	json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if page.TotalItems < 40 {
		t.Errorf("demo directory has %d services, want at least 40", page.TotalItems)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		r, err := http.Get("http://" + addr + path)
		if err != nil || r.StatusCode != 200 {
			t.Errorf("GET %s: %v %v", path, err, r)
		} else {
			r.Body.Close()
		}
	}
	// Staff pages and the staff API are wired in and locked.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if r, err := noRedirect.Get("http://" + addr + "/staff/"); err != nil || r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/staff/login") {
		t.Errorf("GET /staff/ without a session: %v %v, want a redirect to /staff/login", err, r)
	}
	if r, err := http.Get("http://" + addr + "/api/staff/referrals"); err != nil || r.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /api/staff/referrals without a session: %v %v, want 401", err, r)
	}
	if r, err := http.Get("http://" + addr + "/api/search?q=job"); err != nil || r.StatusCode != http.StatusOK {
		t.Errorf("GET /api/search: %v %v", err, r)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after its context ended")
	}
	if _, err := os.Stat(filepath.Join(dir, "var", "secondchance.db")); err != nil {
		t.Errorf("no database in data_dir: %v", err)
	}
}

// import, export, backup and version work from the command line, and a
// refused import exits 1 naming the problem.
func TestTransferCommands(t *testing.T) {
	demo, _ := filepath.Abs(filepath.Join("..", "..", "data", "demo", "services.ndjson"))
	dir := t.TempDir()
	t.Chdir(dir)
	data := []string{"--data-dir", filepath.Join(dir, "var")}
	args := func(a ...string) []string { return append(append([]string{}, a...), data...) }

	code, out, errs := runArgs(t, nil, args("import", demo)...)
	if code != 0 || !strings.Contains(out, "52 created") {
		t.Fatalf("import: exit %d\n%s\n%s", code, out, errs)
	}
	bad := filepath.Join(dir, "bad.ndjson")
	os.WriteFile(bad, []byte(`{"id":"not-a-uuid","name":"X","status":"open"}`+"\n"), 0o600)
	code, _, errs = runArgs(t, nil, args("import", bad)...)
	if code != 1 || !strings.Contains(errs, `bad.ndjson record 1`) || !strings.Contains(errs, `field status: "open" is not one of`) || !strings.Contains(errs, "nothing was imported") {
		t.Errorf("bad import: exit %d, stderr:\n%s", code, errs)
	}
	code, out, errs = runArgs(t, nil, args("export", "--format", "json", filepath.Join(dir, "out.ndjson"))...)
	if code != 0 || !strings.Contains(out, "exported 52 services") {
		t.Errorf("export json: exit %d %s %s", code, out, errs)
	}
	code, _, errs = runArgs(t, nil, args("export", "--format", "csv", filepath.Join(dir, "out.zip"))...)
	if code != 0 {
		t.Errorf("export csv: exit %d %s", code, errs)
	}
	code, _, errs = runArgs(t, nil, args("export", "--format", "xml", filepath.Join(dir, "out.xml"))...)
	if code != 2 || !strings.Contains(errs, "accepted values are json, csv") {
		t.Errorf("export xml: exit %d %s", code, errs)
	}
	code, out, errs = runArgs(t, nil, args("backup", filepath.Join(dir, "copy.db"))...)
	if code != 0 || !strings.Contains(out, "integrity check ok") {
		t.Errorf("backup: exit %d %s %s", code, out, errs)
	}
	code, _, errs = runArgs(t, nil, args("backup", filepath.Join(dir, "copy.db"))...)
	if code != 1 || !strings.Contains(errs, "already exists") {
		t.Errorf("backup over an existing file: exit %d %s", code, errs)
	}
	// The exported zip imports into an empty database.
	code, out, errs = runArgs(t, nil, "import", filepath.Join(dir, "out.zip"), "--data-dir", filepath.Join(dir, "var2"))
	if code != 0 || !strings.Contains(out, "imported") {
		t.Errorf("import of the export: exit %d %s %s", code, out, errs)
	}
	code, out, _ = runArgs(t, nil, "version")
	if code != 0 || !strings.Contains(out, "schema version") {
		t.Errorf("version: exit %d %s", code, out)
	}
	code, _, errs = runArgs(t, nil, args("import")...)
	if code != 2 || !strings.Contains(errs, "import needs PATH") {
		t.Errorf("import without PATH: exit %d %s", code, errs)
	}
}

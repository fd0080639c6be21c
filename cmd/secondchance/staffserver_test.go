package main

import (
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"testing"

	"github.com/secondchancekc/secondchance/internal/logbuf"
)

// serveWithStaff runs `serve` on a fresh data folder in a temporary
// working folder, with one staff account (sam@secondchancekc.org, "purple
// monkey dishwasher"), until the test ends. It returns the folder and the
// server's base URL.
func serveWithStaff(t *testing.T) (dir, base string) {
	t.Helper()
	dir = t.TempDir()
	t.Chdir(dir)
	addr := freePort(t)
	base = "http://" + addr
	t.Setenv("SECONDCHANCE_DATA_DIR", filepath.Join(dir, "var"))
	t.Setenv("SECONDCHANCE_BASE_URL", base)
	if code, out, errs := runStdin(t, "purple monkey dishwasher\n", "user", "add", "--email", "sam@secondchancekc.org", "--role", "staff", "--password-stdin"); code != 0 {
		t.Fatalf("user add: %s %s", out, errs)
	}
	errb, _ := startServe(t, "--listen", addr)
	waitFor(t, base+"/healthz", errb)
	return dir, base
}

// startServe runs `secondchance serve args...` in this process, with the
// environment the test set, until the test ends. It returns what serve
// writes to stderr and a channel that gives serve's error if it stops
// early.
func startServe(tb testing.TB, args ...string) (errb *logbuf.Buffer, exited <-chan error) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errb = &logbuf.Buffer{Max: 1 << 20}
	root := newRoot(io.Discard, errb)
	root.SetArgs(append([]string{"serve"}, args...))
	done, stopped := make(chan error, 1), make(chan struct{})
	go func() {
		done <- root.ExecuteContext(ctx)
		close(stopped)
	}()
	tb.Cleanup(func() { cancel(); <-stopped })
	return errb, done
}

// listing is a service as /hsds/services lists it.
type listing struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	OrganizationID string `json:"organization_id"`
}

// twoListings returns two demo services of different organizations.
func twoListings(t *testing.T, base string) (svc, other listing) {
	t.Helper()
	var list struct {
		Contents []listing `json:"contents"`
	}
	b, _ := get(t, base+"/hsds/services?per_page=100", nil)
	if err := json.Unmarshal([]byte(b), &list); err != nil || len(list.Contents) < 2 {
		t.Fatalf("services: %v %s", err, b)
	}
	svc, other = list.Contents[0], list.Contents[0]
	for _, s := range list.Contents {
		if s.OrganizationID != svc.OrganizationID {
			return svc, s
		}
	}
	return svc, other
}

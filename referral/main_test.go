package referral

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secondchancekc/secondchance/data"
	"github.com/secondchancekc/secondchance/directory"
	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/internal/db"
)

// Services of the embedded demo directory (data/demo/services.ndjson).
const (
	svcEmployment = "53ca901c-7beb-57fb-b936-401bb6784356" // Second Chance Employment Services, (816) 231-0217
	svcTempJobs   = "fd3d2ed7-bd82-547f-8c49-6d451f4dfab3" // Fair-Chance Temp-to-Hire Jobs, Bridgeway Staffing Partners, (816) 555-0101
	svcMensHouse  = "91eb5108-2b3d-57d4-a874-2f2d4c30ada5" // New Roots Men's Transitional House, (816) 555-0116
	svcShelter    = "f59b8a92-1966-5420-bf6f-4a18341eef27" // 24-Hour Emergency Shelter, (816) 555-0118
)

// A client phone in the forms people write it, and as E.164.
const (
	phoneRaw  = "(816) 231-0217"
	phoneE164 = "+18162310217"
)

var t0 = time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)

// clock is a test clock that moves one minute each time it is read, so that
// every write has its own time and the order is certain.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Minute)
	return c.t
}

// env is a referral store on a fresh database holding the demo directory.
type env struct {
	*Store
	dir   *directory.Store
	clock *clock
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ds := directory.NewStore(d)
	if _, err := ds.LoadTaxonomies(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ds.LoadDemo(ctx); err != nil {
		t.Fatal(err)
	}
	c := &clock{t: t0}
	s := NewStore(d, DirectorySnapshots{Store: ds})
	s.Now = c.Now
	return &env{Store: s, dir: ds, clock: c}
}

// create logs a referral and fails the test on error.
func (e *env) create(t testing.TB, n NewReferral) *Referral {
	t.Helper()
	r, _, err := e.CreateReferral(context.Background(), n)
	if err != nil {
		t.Fatalf("CreateReferral: %v", err)
	}
	return r
}

// basic is a valid referral by phone, to vary in each test.
func basic() NewReferral {
	return NewReferral{
		Client:       Client{Phone: phoneRaw, Language: LanguageEN},
		Channel:      ChannelVoice,
		NeedCategory: "employment",
		ZIP:          "64127",
		ServiceIDs:   []string{svcTempJobs},
		CreatedBy:    "system:voice",
	}
}

// demoService returns the demo directory's JSON line for a service, decoded.
func demoService(t testing.TB, id string) map[string]any {
	t.Helper()
	f, err := data.FS.Open("demo/services.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		if m["id"] == id {
			return m
		}
	}
	t.Fatalf("no demo service %s", id)
	return nil
}

// importService writes a compiled service into the directory, as an import
// of a changed listing would.
func (e *env) importService(t testing.TB, svc map[string]any) {
	t.Helper()
	b, err := json.Marshal(svc)
	if err != nil {
		t.Fatal(err)
	}
	src := directory.ReaderSource("changed.ndjson", int64(len(b)), func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	})
	if res, err := e.dir.Import(context.Background(), src, directory.ImportOptions{Actor: "test"}); err != nil {
		for _, p := range res.Problems {
			t.Log(p)
		}
		t.Fatal(err)
	}
}

// wantCode fails unless err has the code and, for EINVALID, a message that
// starts with field.
func wantCode(t testing.TB, err error, code, field string) {
	t.Helper()
	if apperr.Code(err) != code {
		t.Fatalf("error = %v, want code %s", err, code)
	}
	if field != "" && !strings.HasPrefix(apperr.Message(err), field+":") {
		t.Fatalf("message %q does not name the field %s", apperr.Message(err), field)
	}
}

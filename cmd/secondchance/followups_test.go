package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/secondchancekc/secondchance/directory"
	"github.com/secondchancekc/secondchance/internal/db"
	"github.com/secondchancekc/secondchance/internal/logbuf"
	"github.com/secondchancekc/secondchance/referral"
)

// Twilio credentials in Twilio's shapes, for the fake.
const (
	fakeSID   = "AC0123456789abcdef0123456789abcdef"
	fakeToken = "0123456789abcdef0123456789abcdef"
	fakeFrom  = "+18165550100"
)

// TestMain lets a test run the command in a child process it can kill:
// with SC_TEST_CHILD_ARGS set (JSON), the test binary is secondchance.
func TestMain(m *testing.M) {
	if a := os.Getenv("SC_TEST_CHILD_ARGS"); a != "" {
		var args []string
		if err := json.Unmarshal([]byte(a), &args); err != nil {
			panic(err)
		}
		root := newRoot(os.Stdout, os.Stderr)
		root.SetArgs(args)
		os.Exit(exitCode(root.Execute(), os.Stderr))
	}
	os.Exit(m.Run())
}

// fakeTwilioAPI is Twilio's Messages API on loopback: it records every text
// and can be slowed down, so a test can kill a sender mid-batch.
type fakeTwilioAPI struct {
	srv   *httptest.Server
	delay time.Duration
	mu    sync.Mutex
	texts []url.Values
	n     int
}

func newFakeTwilioAPI(t testing.TB, delay time.Duration) *fakeTwilioAPI {
	f := &fakeTwilioAPI{delay: delay}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/"+fakeSID+"/Messages.json" || !ok || user != fakeSID || pass != fakeToken {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"code":20003,"message":"Authenticate","status":401}`))
			return
		}
		r.ParseForm()
		time.Sleep(f.delay)
		f.mu.Lock()
		f.texts = append(f.texts, r.PostForm)
		f.n++
		sid := fmt.Sprintf("SM%032x", f.n)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"sid": sid, "status": "queued", "to": r.PostForm.Get("To"), "body": r.PostForm.Get("Body"),
			"account_sid": fakeSID, "direction": "outbound-api", "num_segments": "1"})
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeTwilioAPI) sent() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.texts...)
}

func twilioEnv(api *fakeTwilioAPI, dataDir string) map[string]string {
	return map[string]string{
		"SECONDCHANCE_DATA_DIR":            dataDir,
		"SECONDCHANCE_TWILIO_ACCOUNT_SID":  fakeSID,
		"SECONDCHANCE_TWILIO_AUTH_TOKEN":   fakeToken,
		"SECONDCHANCE_TWILIO_FROM_NUMBER":  fakeFrom,
		"SECONDCHANCE_TWILIO_API_BASE_URL": api.srv.URL,
		"SECONDCHANCE_FOLLOWUP_RUN":        "false",
		"SECONDCHANCE_DEMO_DATA":           "true",
	}
}

// twilioSign is X-Twilio-Signature as Twilio's documentation defines it.
func twilioSign(token, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		b.WriteString(k + form.Get(k))
	}
	m := hmac.New(sha1.New, []byte(token))
	m.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

var csrfInput = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// The "done when", through the binary: a staff member signs in,
// logs a walk-in referral with consent, its check-in goes out through
// (fake) Twilio on day 3, the person's signed reply updates the outcome,
// and their STOP stops the rest.
func TestFollowupEndToEnd(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	api := newFakeTwilioAPI(t, 0)
	addr := freePort(t)
	base := "http://" + addr
	env := twilioEnv(api, filepath.Join(dir, "var"))
	env["SECONDCHANCE_BASE_URL"] = base
	for k, v := range env {
		t.Setenv(k, v)
	}
	if code, out, errs := runStdin(t, "purple monkey dishwasher\n", "user", "add", "--email", "sam@secondchancekc.org", "--role", "staff", "--name", "Sam Reyes", "--password-stdin"); code != 0 {
		t.Fatalf("user add: %s %s", out, errs)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var out, errb logbuf.Buffer
	root := newRoot(&out, &errb)
	root.SetArgs([]string{"serve", "--listen", addr})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	waitFor(t, base+"/healthz", &errb)

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	get := func(path string) string {
		t.Helper()
		res, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, res.StatusCode, b)
		}
		return string(b)
	}
	m := csrfInput.FindStringSubmatch(get("/staff/login"))
	if m == nil {
		t.Fatal("no CSRF token on the sign-in page")
	}
	res, err := c.PostForm(base+"/staff/login", url.Values{"csrf_token": {m[1]}, "email": {"sam@secondchancekc.org"}, "password": {"purple monkey dishwasher"}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("sign in: %v %v", err, res)
	}
	res.Body.Close()
	var me struct {
		CSRFToken string `json:"csrf_token"`
	}
	json.Unmarshal([]byte(get("/api/staff/me")), &me)

	// A walk-in with consent (the JSON API the walk-in page also uses).
	body := `{"client":{"phone":"(816) 555-0142","name":"Marcus","language":"en",
		"consent":{"given":true,"channel":"walk-in","words":"Can we text you in a few days to ask how it went? You can reply STOP any time."}},
		"channel":"walk-in","need_category":"employment","zip":"64127","service_ids":["fd3d2ed7-bd82-547f-8c49-6d451f4dfab3"],
		"idempotency_key":"walkin-1"}`
	req, _ := http.NewRequest(http.MethodPost, base+"/api/staff/referrals", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", me.CSRFToken)
	res, err = c.Do(req)
	if err != nil || res.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("create referral: %v %d %s", err, res.StatusCode, b)
	}
	var ref referral.Referral
	json.NewDecoder(res.Body).Decode(&ref)
	res.Body.Close()

	// Day 2: nothing. Day 3: the check-in, once. A follow-up is due n days
	// after the referral to the minute, so day n is the first moment in
	// the sending window after that (10:00 on day n was too early for a
	// referral made after 10:00 in Kansas City, and the test failed every
	// afternoon).
	created := ref.CreatedAt
	policy := referral.DefaultPolicy()
	day := func(n int) string {
		return policy.NextWindow(created.AddDate(0, 0, n).Add(time.Minute)).Format(time.RFC3339)
	}
	runFollowups := func(at string) referral.Summary {
		t.Helper()
		code, out, errs := runArgs(t, nil, "followups", "run", "--at", at)
		if code != 0 {
			t.Fatalf("followups run --at %s: %s %s", at, out, errs)
		}
		var s referral.Summary
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("summary %q: %v", out, err)
		}
		return s
	}
	if s := runFollowups(day(2)); s.Sent != 0 {
		t.Fatalf("day 2 sent %+v", s)
	}
	if s := runFollowups(day(3)); s.Sent != 1 {
		t.Fatalf("day 3: %+v", s)
	}
	runFollowups(day(3))
	texts := api.sent()
	if len(texts) != 1 || texts[0].Get("To") != "+18165550142" || !strings.Contains(texts[0].Get("Body"), "Bridgeway Staffing Partners") {
		t.Fatalf("texts through Twilio: %v", texts)
	}

	// The person replies "1" (Twilio signs the webhook for base_url).
	reply := func(sid, text string) []string {
		t.Helper()
		form := url.Values{"MessageSid": {sid}, "AccountSid": {fakeSID}, "From": {"+18165550142"}, "To": {fakeFrom}, "Body": {text}}
		req, _ := http.NewRequest(http.MethodPost, base+"/hotline/sms", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", twilioSign(fakeToken, base+"/hotline/sms", form))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var r struct {
			Messages []string `xml:"Message"`
		}
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || xml.Unmarshal(b, &r) != nil {
			t.Fatalf("webhook: %d %s", res.StatusCode, b)
		}
		return r.Messages
	}
	if m := reply("SM1", "1"); len(m) != 1 || !strings.Contains(m[0], "glad") {
		t.Errorf("answer to 1: %v", m)
	}
	var got referral.Referral
	json.Unmarshal([]byte(get("/api/staff/referrals/"+ref.ID)), &struct {
		*referral.Referral
	}{&got})
	if got.Outcome == nil || got.Outcome.GotHelp != referral.GotHelpYes || got.Outcome.Source != referral.SourceSMS {
		t.Fatalf("outcome after the reply: %+v", got.Outcome)
	}
	// Day 5: no reminder (answered). Day 30: the final check.
	if s := runFollowups(day(5)); s.Sent != 0 {
		t.Errorf("day 5 sent %+v", s)
	}
	if s := runFollowups(day(30)); s.Sent != 1 {
		t.Errorf("day 30: %+v", s)
	}
	// STOP: no more texts, in both records.
	reply("SM2", "STOP")
	var optedOut int
	d, err := db.Open(context.Background(), filepath.Join(dir, "var", "secondchance.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.Read.QueryRow(`SELECT (SELECT COUNT(*) FROM opt_out WHERE phone = '+18165550142') +
		(SELECT COUNT(*) FROM referral_client WHERE phone = '+18165550142' AND opted_out_at IS NOT NULL)`).Scan(&optedOut)
	if optedOut != 2 {
		t.Errorf("STOP recorded in %d of the 2 opt-out records", optedOut)
	}
}

func waitFor(t testing.TB, u string, errb *logbuf.Buffer) {
	t.Helper()
	for range 400 {
		if r, err := http.Get(u); err == nil {
			r.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server never answered %s:\n%s", u, errb.String())
}

// seedCheckins makes n referrals with consent, made at t0, in a fresh data
// folder, and returns the time their check-ins are due plus an hour.
func seedCheckins(t testing.TB, dataDir string, n int) time.Time {
	t.Helper()
	ctx := context.Background()
	os.MkdirAll(dataDir, 0o755)
	d, err := db.Open(ctx, filepath.Join(dataDir, "secondchance.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ds := directory.NewStore(d)
	if _, err := ds.LoadTaxonomies(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ds.LoadDemo(ctx); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC) // 09:00 in Kansas City
	refs := referral.NewStore(d, referral.DirectorySnapshots{Store: ds})
	refs.Now = func() time.Time { return t0 }
	for i := range n {
		_, _, err := refs.CreateReferral(ctx, referral.NewReferral{
			Client: referral.Client{Phone: fmt.Sprintf("+1816%07d", 2000000+i), Language: referral.LanguageEN,
				Consent: &referral.Consent{Given: true, Channel: referral.ChannelVoice, Words: "May we text you in a few days? Press 1."}},
			Channel: referral.ChannelVoice, NeedCategory: "employment", ServiceIDs: []string{"fd3d2ed7-bd82-547f-8c49-6d451f4dfab3"},
			CreatedBy: "system:voice",
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return t0.AddDate(0, 0, 3).Add(time.Hour)
}

// runKilled runs `followups run --at at` in a child process and kills it
// with SIGKILL once the fake has received kill texts (never, if kill is 0).
func runKilled(t testing.TB, env map[string]string, api *fakeTwilioAPI, at time.Time, kill int) (killed bool, out string) {
	t.Helper()
	args, _ := json.Marshal([]string{"followups", "run", "--at", at.Format(time.RFC3339)})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SC_TEST_CHILD_ARGS="+string(args))
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var buf logbuf.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if kill > 0 {
		for {
			select {
			case err := <-exited:
				t.Fatalf("the run ended before it could be killed: %v\n%s", err, buf.String())
			case <-time.After(2 * time.Millisecond):
			}
			if len(api.sent()) >= kill {
				cmd.Process.Signal(syscall.SIGKILL)
				<-exited
				return true, buf.String()
			}
		}
	}
	if err := <-exited; err != nil {
		t.Fatalf("followups run: %v\n%s", err, buf.String())
	}
	return false, buf.String()
}

// checkNoDuplicates fails unless every number got at most one text, and
// every follow-up is either sent (and its text arrived) or unsure.
func checkNoDuplicates(t testing.TB, dataDir string, api *fakeTwilioAPI, n int) (sent, unsure int) {
	t.Helper()
	per := map[string]int{}
	for _, f := range api.sent() {
		per[f.Get("To")]++
	}
	for to, k := range per {
		if k > 1 {
			t.Errorf("%s texted %d times", to, k)
		}
	}
	d, err := db.Open(context.Background(), filepath.Join(dataDir, "secondchance.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rows, err := d.Read.Query(`SELECT state, COUNT(*) FROM followup WHERE kind = 'checkin' GROUP BY state`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	states := map[string]int{}
	for rows.Next() {
		var s string
		var k int
		rows.Scan(&s, &k)
		states[s] = k
	}
	sent, unsure = states[referral.FollowupSent], states[referral.FollowupUnsure]
	if sent+unsure != n || len(states) > 2 {
		t.Errorf("check-in states %v: want all %d sent or unsure (nothing lost)", states, n)
	}
	// An unsure text may or may not have reached Twilio; a sent one has.
	if len(per) < sent || len(per) > sent+unsure {
		t.Errorf("%d check-ins recorded sent and %d unsure, but %d numbers texted", sent, unsure, len(per))
	}
	if unsure > 1 {
		t.Errorf("%d unsure: only the one in flight at the kill may be", unsure)
	}
	return sent, unsure
}

// A batch of check-ins, its sender killed midway and restarted: nobody is
// texted twice and nobody is skipped; the one in flight at the kill (if
// any) is left "unsure" for staff.
func TestFollowupsKilledAndRestarted(t *testing.T) {
	const n = 150
	dir := t.TempDir()
	data := filepath.Join(dir, "var")
	at := seedCheckins(t, data, n)
	api := newFakeTwilioAPI(t, 5*time.Millisecond)
	env := twilioEnv(api, data)
	env["SECONDCHANCE_FOLLOWUP_PER_SECOND"] = "100"
	if killed, out := runKilled(t, env, api, at, n/3); !killed {
		t.Fatalf("not killed: %s", out)
	}
	before := len(api.sent())
	if before >= n {
		t.Fatalf("the kill came too late: %d of %d sent", before, n)
	}
	// Restarted five minutes later.
	_, out := runKilled(t, env, api, at.Add(5*time.Minute), 0)
	var sum referral.Summary
	json.Unmarshal([]byte(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:]), &sum)
	sent, unsure := checkNoDuplicates(t, data, api, n)
	t.Logf("killed after %d texts; restart sent %d more (summary %+v); %d sent, %d unsure", before, len(api.sent())-before, sum, sent, unsure)
}

// BenchmarkFollowupBatch10k: 10,000 due check-ins dispatched through the
// fake Twilio API at the configured pace (followup.per_second=100, the
// most the setting allows, or FOLLOWUP_BENCH_PER_SECOND), killed a third
// of the way and restarted, with zero duplicates; reports the throughput
// of each run.
//
//	go test -run '^$' -bench '^BenchmarkFollowupBatch10k$' -benchtime 1x -timeout 30m ./cmd/secondchance
//	FOLLOWUP_BENCH_PER_SECOND=25 go test -run '^$' -bench '^BenchmarkFollowupBatch10k$' -benchtime 1x -timeout 30m ./cmd/secondchance
func BenchmarkFollowupBatch10k(b *testing.B) {
	const n = 10_000
	for range b.N {
		dir := b.TempDir()
		data := filepath.Join(dir, "var")
		start := time.Now()
		at := seedCheckins(b, data, n)
		b.ReportMetric(time.Since(start).Seconds(), "seed-s")
		api := newFakeTwilioAPI(b, time.Millisecond)
		env := twilioEnv(api, data)
		pace := "100"
		if p := os.Getenv("FOLLOWUP_BENCH_PER_SECOND"); p != "" {
			pace = p
		}
		env["SECONDCHANCE_FOLLOWUP_PER_SECOND"] = pace
		env["SECONDCHANCE_FOLLOWUP_DAILY_CAP"] = "20000"
		start = time.Now()
		runKilled(b, env, api, at, n/3)
		first := len(api.sent())
		firstDur := time.Since(start)
		start = time.Now()
		runKilled(b, env, api, at.Add(5*time.Minute), 0)
		second := len(api.sent()) - first
		secondDur := time.Since(start)
		sent, unsure := checkNoDuplicates(b, data, api, n)
		b.ReportMetric(float64(first)/firstDur.Seconds(), "texts/s-before-kill")
		b.ReportMetric(float64(second)/secondDur.Seconds(), "texts/s-after-restart")
		b.ReportMetric(float64(sent), "sent")
		b.ReportMetric(float64(unsure), "unsure")
		b.ReportMetric(float64(len(api.sent())-sent), "duplicates")
	}
}

package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/secondchancekc/secondchance/internal/db"
)

// The hotline issue's "done when", through the binary with no Twilio
// account: `simulate call` walks a Spanish caller from the greeting to
// texted results (in the outbox) and a consented follow-up, against the
// real search and referral log; `simulate sms` does the same by text.
func TestHotlineSimulated(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	addr := freePort(t)
	t.Setenv("SECONDCHANCE_DATA_DIR", filepath.Join(dir, "var"))
	t.Setenv("SECONDCHANCE_LISTEN", addr)
	t.Setenv("SECONDCHANCE_BASE_URL", "http://"+addr)
	t.Setenv("SECONDCHANCE_TWILIO_VALIDATE_SIGNATURES", "false")
	t.Setenv("SECONDCHANCE_FOLLOWUP_RUN", "false")

	errb, _ := startServe(t)
	waitFor(t, "http://"+addr+"/healthz", errb)
	// While the index is first built, search answers from its SQL
	// fallback, which knows no distance; wait for the index.
	waitIndexed(t, "http://"+addr)

	// Spanish (2), jobs (1), ZIP 64127#, text me these (1), consent yes (1).
	code, said, errs := runArgs(t, nil, "simulate", "call", "--from", "+18165551234", "--digits", "2,1,64127#,1,1")
	if code != 0 {
		t.Fatalf("simulate call: %d\n%s\n%s", code, said, errs)
	}
	for _, w := range []string{"Para español", "Número 3:", "Oprima 1 para sí"} {
		if !strings.Contains(said, w) {
			t.Errorf("the call never said %q:\n%s", w, said)
		}
	}
	// Which places come first depends on the index being built yet (the
	// SQL fallback ranks differently); that phones are read digit by digit
	// does not.
	if !regexp.MustCompile(`Teléfono: \d \d \d, \d \d \d, \d \d \d \d`).MatchString(said) {
		t.Errorf("no phone number read digit by digit:\n%s", said)
	}
	// With a ZIP, the places read are within reach (the demo directory
	// has three jobs services within 10 miles of 64127).
	if !regexp.MustCompile(`\. A (unas \d+ millas|una milla más o menos)\. Teléfono`).MatchString(said) {
		t.Errorf("no place's distance read, as a sentence of its own:\n%s", said)
	}
	for _, m := range regexp.MustCompile(`A unas (\d+) millas`).FindAllStringSubmatch(said, -1) {
		if n, _ := strconv.Atoi(m[1]); n > 10 {
			t.Errorf("a place %s miles away was read although closer ones exist:\n%s", m[1], said)
		}
	}
	code, texted, errs := runArgs(t, nil, "simulate", "sms", "--from", "+18165554321", "--text", "food 64108", "--text", "1")
	if code != 0 {
		t.Fatalf("simulate sms: %d\n%s\n%s", code, texted, errs)
	}

	d, err := db.Open(context.Background(), filepath.Join(dir, "var", "secondchance.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var outboxed, consented, planned, smsReplies int
	d.Read.QueryRow(`SELECT COUNT(*) FROM sms_outbox WHERE to_number = '+18165551234'`).Scan(&outboxed)
	d.Read.QueryRow(`SELECT COUNT(*) FROM referral r JOIN referral_client c ON c.id = r.client_id
		WHERE c.phone = '+18165551234' AND r.channel = 'voice' AND c.language = 'es' AND c.consent_given = 1 AND c.consent_words <> ''`).Scan(&consented)
	// The follow-ups are planned after the call's answers, within about a
	// second (referral/planner.go).
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		d.Read.QueryRow(`SELECT COUNT(*) FROM followup f JOIN referral r ON r.id = f.referral_id JOIN referral_client c ON c.id = r.client_id
			WHERE c.phone = '+18165551234' AND f.kind = 'checkin' AND f.state = 'pending'`).Scan(&planned)
		if planned > 0 || time.Now().After(deadline) {
			break
		}
	}
	d.Read.QueryRow(`SELECT COUNT(*) FROM sms_inbound WHERE from_number = '+18165554321' AND handled_by <> ''`).Scan(&smsReplies)
	if outboxed != 1 || consented != 1 || planned != 1 {
		t.Errorf("after the call: %d texts in the outbox, %d consented voice referrals, %d check-ins planned; want 1 each\n%s", outboxed, consented, planned, said)
	}
	if smsReplies != 2 {
		t.Errorf("%d of the 2 texts were handled:\n%s", smsReplies, texted)
	}

	// Four callers at once, each a whole call and four texts.
	code, report, errs := runArgs(t, nil, "simulate", "load", "--callers", "4", "--think", "0", "--first-number", "7000")
	if code != 0 {
		t.Fatalf("simulate load: %d\n%s\n%s", code, report, errs)
	}
	m := regexp.MustCompile(`(?m)^voice +(\d+) webhooks .*p99 [\d.]+ ms.*\nsms +(\d+) webhooks`).FindStringSubmatch(report)
	if m == nil || m[1] == "0" || m[2] != "16" {
		t.Errorf("simulate load reported:\n%s", report)
	}
	var loadReferrals int
	d.Read.QueryRow(`SELECT COUNT(*) FROM referral r JOIN referral_client c ON c.id = r.client_id
		WHERE c.phone LIKE '+181655570%' AND r.channel = 'sms'`).Scan(&loadReferrals)
	if loadReferrals != 12 { // "jobs 64127", "more" and "vivienda" from each caller
		t.Errorf("%d SMS referrals from the load test's 4 callers, want 12", loadReferrals)
	}
	if code, _, errs := runArgs(t, nil, "simulate", "load", "--callers", "0"); code != 2 || !strings.Contains(errs, "--callers: expected 1 to 1000, got 0") {
		t.Errorf("simulate load --callers 0: exit %d\n%s", code, errs)
	}
	// Callers out of step: two calls started within 200 ms.
	code, report, errs = runArgs(t, nil, "simulate", "load", "--callers", "2", "--think", "10ms", "--spread", "200ms", "--first-number", "7100")
	if code != 0 || !strings.Contains(report, "5ms to 15ms between keys, starting within 200ms") || !strings.Contains(report, "sms       8 webhooks") {
		t.Errorf("simulate load --spread: exit %d\n%s\n%s", code, report, errs)
	}
	// By default the spread is the think time; --spread 0 is in step.
	code, report, errs = runArgs(t, nil, "simulate", "load", "--callers", "2", "--think", "10ms", "--first-number", "7200")
	if code != 0 || !strings.Contains(report, "5ms to 15ms between keys, starting within 10ms") {
		t.Errorf("simulate load --think 10ms: exit %d\n%s\n%s", code, report, errs)
	}
	code, report, errs = runArgs(t, nil, "simulate", "load", "--callers", "2", "--think", "10ms", "--spread", "0", "--first-number", "7300")
	if code != 0 || !strings.Contains(report, "10ms between keys, all in step") {
		t.Errorf("simulate load --spread 0: exit %d\n%s\n%s", code, report, errs)
	}
	if code, _, errs := runArgs(t, nil, "simulate", "load", "--spread", "-1s"); code != 2 || !strings.Contains(errs, "--spread: expected a duration of 0 or more, got -1s") {
		t.Errorf("simulate load --spread -1s: exit %d\n%s", code, errs)
	}
}

// waitIndexed waits until search answers from its index rather than its
// SQL fallback.
func waitIndexed(t *testing.T, base string) {
	t.Helper()
	for range 600 {
		r, err := http.Get(base + "/api/search?q=job")
		if err == nil {
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			if r.StatusCode == http.StatusOK && strings.Contains(string(b), `"fallback":false`) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the search index was not built within 30 s")
}

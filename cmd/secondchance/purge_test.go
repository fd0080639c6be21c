package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/secondchancekc/secondchance/directory"
	"github.com/secondchancekc/secondchance/internal/db"
	"github.com/secondchancekc/secondchance/referral"
)

// purge keeps what the privacy page says for as long as it says, and no
// longer.
func TestPurge(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	data := filepath.Join(dir, "var")
	t.Setenv("SECONDCHANCE_DATA_DIR", data)
	seedCheckins(t, data, 1) // a client with consent, referred on 2 March 2026
	ctx := context.Background()
	d, err := db.Open(ctx, filepath.Join(data, "secondchance.db"))
	if err != nil {
		t.Fatal(err)
	}
	// A client referred a year later, and old and recent rows of every
	// kind the purge looks at.
	refs := referral.NewStore(d, referral.DirectorySnapshots{Store: directory.NewStore(d)})
	refs.Now = func() time.Time { return time.Date(2027, 3, 2, 15, 0, 0, 0, time.UTC) }
	if _, _, err := refs.CreateReferral(ctx, referral.NewReferral{Client: referral.Client{Phone: "+18165559999", Name: "Recent", Language: "en"},
		Channel: "walk-in", NeedCategory: "housing", CreatedBy: "7", ServiceIDs: []string{"f59b8a92-1966-5420-bf6f-4a18341eef27"}}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO sms_message (ref, to_number, body, purpose, provider, status, created_at, updated_at) VALUES
			('old', '+18162000000', 'b', 'followup', 'outbox', 'sent', '2026-03-05T16:00:00.000000Z', '2026-03-05T16:00:00.000000Z'),
			('new', '+18162000000', 'b', 'followup', 'outbox', 'sent', '2028-05-01T16:00:00.000000Z', '2028-05-01T16:00:00.000000Z')`,
		`INSERT INTO sms_inbound (message_sid, from_number, body, received_at) VALUES ('SMold', '+18162000000', '1', '2026-03-05T17:00:00.000000Z')`,
		`INSERT INTO hotline_call (call_sid, from_number, started_at, updated_at) VALUES ('CAold', '+18162000000', '2026-03-01T17:00:00.000000Z', '2026-03-01T17:00:00.000000Z')`,
		`INSERT INTO hotline_call_step (call_sid, step, twiml, at) VALUES ('CAold', '/hotline/voice?seq=1', '<Response/>', '2026-03-01T17:00:00.000000Z')`,
		`INSERT INTO hotline_sms_conversation (phone, updated_at, expires_at) VALUES ('+18162000000', '2028-05-31T17:00:00.000000Z', '2028-06-01T16:00:00.000000Z')`,
		`INSERT INTO correction (service_id, field, text, status, created_at) VALUES
			('s', 'phone', 'old reviewed', 'rejected', '2027-01-01T00:00:00Z'),
			('s', 'phone', 'old unreviewed', 'new', '2027-01-01T00:00:00Z'),
			('s', 'phone', 'recent reviewed', 'accepted', '2028-01-01T00:00:00Z')`,
		`INSERT INTO unmet_search (searched_at, channel, query, filters) VALUES ('2026-01-01T00:00:00Z', 'web', 'x', '{}'), ('2028-01-01T00:00:00Z', 'web', 'y', '{}')`,
		`INSERT INTO public_text (ip_hash, to_hash, service_id, form_key, created_at) VALUES
			('a', 'b', 's', 'k1', '2028-04-01T00:00:00Z'), ('a', 'b', 's', 'k2', '2028-05-25T00:00:00Z')`,
		`INSERT INTO opt_out (phone, reason, source, at) VALUES ('+18162000001', 'STOP', 'sms', '2026-01-01T00:00:00.000000Z')`,
	} {
		if _, err := d.Write.Exec(q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	d.Close()

	code, out, errs := runArgs(t, nil, "purge", "--at", "2028-06-01T12:00:00-05:00")
	if code != 0 {
		t.Fatalf("purge: %s %s", out, errs)
	}
	var got purgeResult
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	want := purgeResult{PurgeResult: referral.PurgeResult{ClientsDeidentified: 1, TextLimitRows: 1}, Messages: 5, Corrections: 1, UnmetSearches: 1}
	if got != want {
		t.Errorf("purge removed %+v, want %+v", got, want)
	}
	d, err = db.Open(ctx, filepath.Join(data, "secondchance.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var left int
	d.Read.QueryRow(`SELECT COUNT(*) FROM referral_client WHERE phone IS NOT NULL`).Scan(&left)
	if left != 1 {
		t.Errorf("%d clients keep their phone, want 1 (the recent one)", left)
	}
	d.Read.QueryRow(`SELECT COUNT(*) FROM opt_out`).Scan(&left)
	if left != 1 {
		t.Error("an opt-out was purged")
	}
	// Again: nothing more.
	_, out, _ = runArgs(t, nil, "purge", "--at", "2028-06-01T12:00:00-05:00")
	json.Unmarshal([]byte(out), &got)
	if got != (purgeResult{}) {
		t.Errorf("a second purge removed %+v", got)
	}
}

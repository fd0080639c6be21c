package referral

import (
	"context"
	"testing"

	"github.com/secondchancekc/secondchance/internal/apperr"
)

func TestOutcomeValidate(t *testing.T) {
	t.Parallel()
	yes, no := ptr(true), ptr(false)
	for _, tc := range []struct {
		Name    string
		Outcome Outcome
		Field   string // "" when valid
	}{
		{"reached", Outcome{Reached: yes}, ""},
		{"not reached", Outcome{Reached: no}, ""},
		{"got help", Outcome{Reached: yes, GotHelp: GotHelpYes}, ""},
		{"partly, waitlist", Outcome{Reached: yes, GotHelp: GotHelpPartly, Reason: ReasonWaitlist}, ""},
		{"no, not eligible, note", Outcome{Reached: yes, GotHelp: GotHelpNo, Reason: ReasonNotEligible, ReasonNote: "needs a photo ID"}, ""},
		{"not reached, wrong info", Outcome{Reached: no, Reason: ReasonWrongInfo}, ""},
		{"still needs help alone", Outcome{StillNeedsHelp: yes}, ""},
		{"full", Outcome{Reached: yes, GotHelp: GotHelpNo, Reason: ReasonDidntGo, StillNeedsHelp: yes}, ""},

		{"nothing", Outcome{}, "outcome"},
		{"got help without reached", Outcome{GotHelp: GotHelpYes}, "got_help"},
		{"got help but not reached", Outcome{Reached: no, GotHelp: GotHelpPartly}, "got_help"},
		{"got help unknown", Outcome{Reached: yes, GotHelp: "maybe"}, "got_help"},
		{"reason when got help", Outcome{Reached: yes, GotHelp: GotHelpYes, Reason: ReasonOther}, "reason"},
		{"reason when reached, no answer yet", Outcome{Reached: yes, Reason: ReasonWaitlist}, "reason"},
		{"reason alone", Outcome{Reason: ReasonWaitlist}, "reason"},
		{"reason unknown", Outcome{Reached: no, Reason: "busy"}, "reason"},
		{"note without reason", Outcome{Reached: yes, ReasonNote: "hm"}, "reason_note"},
		{"source unknown", Outcome{Reached: yes, Source: "email"}, "source"},
		{"recorded by nobody", Outcome{Reached: yes, RecordedBy: " "}, "recorded_by"},
	} {
		t.Run(tc.Name, func(t *testing.T) {
			o := tc.Outcome
			if o.Source == "" {
				o.Source = SourceStaff
			}
			if o.RecordedBy == "" {
				o.RecordedBy = "staff-7"
			}
			o.RecordedAt = t0
			err := o.Validate()
			if tc.Field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if tc.Field == "outcome" { // names no single field
				wantCode(t, err, apperr.EINVALID, "")
				return
			}
			wantCode(t, err, apperr.EINVALID, tc.Field)
		})
	}
}

// A follow-up records one stage at a time; the stages build up, repeats
// change nothing, and a changed earlier answer drops the later ones.
func TestRecordOutcomeStages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	n := basic()
	n.ServiceIDs = []string{svcTempJobs, svcEmployment}
	r := e.create(t, n)
	events := func() int {
		evs, err := e.Events(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	start := events()

	steps := []struct {
		Name  string
		In    Outcome
		Want  Outcome
		State string
	}{
		{"reached", Outcome{Reached: ptr(true)}, Outcome{Reached: ptr(true)}, StateOpen},
		{"got help partly", Outcome{GotHelp: GotHelpPartly}, Outcome{Reached: ptr(true), GotHelp: GotHelpPartly}, StateOpen},
		{"why", Outcome{Reason: ReasonWaitlist, ReasonNote: "six weeks"},
			Outcome{Reached: ptr(true), GotHelp: GotHelpPartly, Reason: ReasonWaitlist, ReasonNote: "six weeks"}, StateOpen},
		{"still needs help", Outcome{StillNeedsHelp: ptr(true)},
			Outcome{Reached: ptr(true), GotHelp: GotHelpPartly, Reason: ReasonWaitlist, ReasonNote: "six weeks", StillNeedsHelp: ptr(true)}, StateClosed},
		{"correction: not reached after all", Outcome{Reached: ptr(false), Reason: ReasonCouldntReach},
			Outcome{Reached: ptr(false), Reason: ReasonCouldntReach}, StateOpen},
	}
	for i, st := range steps {
		st.In.Source = SourceSMS
		got, err := e.RecordOutcome(ctx, r.ID, "", st.In, "system:sms")
		if err != nil {
			t.Fatalf("%s: %v", st.Name, err)
		}
		if !got.sameAnswers(&st.Want) || got.RecordedBy != "system:sms" || got.Source != SourceSMS || got.RecordedAt.IsZero() {
			t.Fatalf("%s: outcome %+v, want %+v", st.Name, *got, st.Want)
		}
		stored, err := e.GetReferral(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !stored.Outcome.sameAnswers(&st.Want) || stored.State != st.State {
			t.Errorf("%s: stored %+v state %s, want state %s", st.Name, stored.Outcome, stored.State, st.State)
		}
		if n := events() - start; n != i+1 {
			t.Errorf("%s: %d outcome events, want %d", st.Name, n, i+1)
		}
	}
	// The same answer again (a webhook retried) writes nothing.
	if _, err := e.RecordOutcome(ctx, r.ID, "", Outcome{Reached: ptr(false), Source: SourceSMS}, "system:sms"); err != nil {
		t.Fatal(err)
	}
	if n := events() - start; n != len(steps) {
		t.Errorf("a repeated answer wrote an event (%d events, want %d)", n, len(steps))
	}

	// Per service, beside the overall outcome.
	if _, err := e.RecordOutcome(ctx, r.ID, svcEmployment, Outcome{Reached: ptr(true), GotHelp: GotHelpYes, Source: SourceStaff}, "staff-7"); err != nil {
		t.Fatal(err)
	}
	got, _ := e.GetReferral(ctx, r.ID)
	if got.Services[0].Outcome != nil || got.Services[1].Outcome == nil || got.Services[1].Outcome.GotHelp != GotHelpYes ||
		got.Outcome.GotHelp != "" {
		t.Errorf("per-service outcome: %+v / %+v, overall %+v", got.Services[0].Outcome, got.Services[1].Outcome, got.Outcome)
	}

	for _, tc := range []struct {
		Name      string
		Referral  string
		Service   string
		In        Outcome
		Code, Fld string
	}{
		{"stage rule", r.ID, svcTempJobs, Outcome{GotHelp: GotHelpYes}, apperr.EINVALID, "got_help"},
		{"stage rule after merge", r.ID, "", Outcome{GotHelp: GotHelpYes}, apperr.EINVALID, "got_help"},
		{"bad reason", r.ID, "", Outcome{Reason: "busy"}, apperr.EINVALID, "reason"},
		{"empty", r.ID, "", Outcome{}, apperr.EINVALID, ""},
		{"service not referred", r.ID, svcShelter, Outcome{Reached: ptr(true)}, apperr.EINVALID, "service_id"},
		{"unknown referral", "no-such-referral", "", Outcome{Reached: ptr(true)}, apperr.ENOTFOUND, ""},
	} {
		t.Run(tc.Name, func(t *testing.T) {
			tc.In.Source = SourceStaff
			_, err := e.RecordOutcome(ctx, tc.Referral, tc.Service, tc.In, "staff-7")
			wantCode(t, err, tc.Code, tc.Fld)
		})
	}
}

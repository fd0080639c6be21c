package hotline

import (
	"context"
	"database/sql"
	"time"
)

// Finder searches the directory for the hotline (cmd adapts the search
// engine to it). A ZIP code the finder does not know is an EINVALID error.
type Finder interface {
	Find(ctx context.Context, q FindQuery) ([]Place, error)
}

// FindQuery is what a caller or texter asked for.
type FindQuery struct {
	// Text is what they said or wrote; may be empty when Need is set.
	Text string
	// Need is a category key of directory.Categories(), or "".
	Need string
	// ZIP is a five-digit ZIP code, or "".
	ZIP string
	// Language is the person's language (en, es): the finder may favour
	// services that speak it.
	Language string
	// Channel is "voice" or "sms", for the unmet-needs report.
	Channel string
	Limit   int
}

// Place is one service found, with what is read out or texted.
type Place struct {
	ServiceID string  `json:"id"`
	Name      string  `json:"name"`
	NameES    string  `json:"name_es,omitempty"`
	Summary   string  `json:"summary"`
	SummaryES string  `json:"summary_es,omitempty"`
	Phone     string  `json:"phone"`
	Address   string  `json:"address,omitempty"`
	City      string  `json:"city,omitempty"`
	Miles     float64 `json:"miles,omitempty"`
	HasMiles  bool    `json:"has_miles,omitempty"`
	// HoursKnown, OpenNow and NextOpen say when it is open, when known.
	HoursKnown bool       `json:"hours_known,omitempty"`
	OpenNow    bool       `json:"open_now,omitempty"`
	NextOpen   *time.Time `json:"next_open,omitempty"`
}

// name and summary in the person's language, when the listing has it.
func (p Place) name(lang string) string {
	if lang == "es" && p.NameES != "" {
		return p.NameES
	}
	return p.Name
}

func (p Place) summary(lang string) string {
	if lang == "es" && p.SummaryES != "" {
		return p.SummaryES
	}
	return p.Summary
}

// Referrals is the referral log as the hotline uses it (cmd adapts
// referral.Store). Every method is safe to repeat with the same key.
type Referrals interface {
	// LogReferral checks a referral of the services the person was given
	// and returns the write that records it, to run in a write transaction
	// of the caller's (with what must commit with it), which returns the
	// referral's id; with the Key of an earlier referral, that one's.
	LogReferral(ctx context.Context, r NewReferral) (ReferralWrite, error)
	// Consent checks the person's answer to the follow-up question, with
	// the exact words they heard, and returns the write that records it
	// (given has the follow-ups of referralID planned once it commits; not
	// given cancels any), for the caller's write transaction; it may run
	// more than once, with the same result.
	Consent(ctx context.Context, referralID string, given bool, words, channel string) (func(context.Context, *sql.Tx) error, error)
	// Callback adds a staff callback task: to ReferralID when set, else to a
	// new referral made for it (by Key).
	Callback(ctx context.Context, c CallbackRequest) error
}

// ReferralWrite records a referral in tx and returns its id. It may run
// more than once, as a db.Batcher job may, with the same result.
type ReferralWrite func(ctx context.Context, tx *sql.Tx) (string, error)

// NewReferral is a referral the hotline logs.
type NewReferral struct {
	Phone, Language, Channel, Need, ZIP string
	ServiceIDs                          []string
	Key                                 string
}

// CallbackRequest asks staff to call a person back.
type CallbackRequest struct {
	// ReferralID is the referral made in this call or conversation, or "".
	ReferralID                          string
	Phone, Language, Channel, Need, ZIP string
	// Reason is what staff read in the queue: why, and the recording's link
	// for a voicemail.
	Reason string
	Key    string
}

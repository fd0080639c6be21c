// Package referral is the referral log: the people the program refers
// (clients, with their consent to follow-up), each referral with a snapshot
// of the services as they were listed at that moment, the outcomes that staff
// and follow-ups record, and an audit trail of every change.
//
// Phone numbers, names and notes of justice-involved people are sensitive:
// nothing here logs them, events keep phones masked, and DeleteClient removes
// them while keeping the de-identified facts that reports count.
package referral

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/secondchancekc/secondchance/directory"
	"github.com/secondchancekc/secondchance/internal/apperr"
)

// Channels through which a referral is made (and consent given).
const (
	ChannelVoice  = "voice"
	ChannelSMS    = "sms"
	ChannelWeb    = "web"
	ChannelStaff  = "staff"
	ChannelWalkIn = "walk-in"
)

// Channels lists every channel, in display order.
var Channels = []string{ChannelVoice, ChannelSMS, ChannelWeb, ChannelStaff, ChannelWalkIn}

// NeedOther is the need category for a need that fits none of
// directory.Categories().
const NeedOther = "other"

// SystemActorPrefix starts the CreatedBy (and event actor) of anything done
// by the program itself rather than by a staff member: "system:voice".
const SystemActorPrefix = "system:"

// Limits on free text, so that one bad request cannot fill the database.
const (
	maxServices = 20
	maxNotes    = 4000
	maxName     = 200
	maxWords    = 2000
	maxKey      = 200
	maxActor    = 200
	maxNote     = 1000
)

// Referral is one referral: a person, a need, and the services they were
// told about, each as it was listed at that moment.
type Referral struct {
	// ID is a UUID.
	ID       string `json:"id"`
	ClientID string `json:"client_id"`
	// Client is loaded with the referral by GetReferral and ListReferrals.
	Client *Client `json:"client,omitempty"`
	// Channel is how the referral was made: voice, sms, web, staff, walk-in.
	Channel string `json:"channel"`
	// NeedCategory is a key of directory.Categories() or "other".
	NeedCategory string `json:"need_category"`
	// ZIP is the five-digit ZIP code the person gave, or "".
	ZIP      string            `json:"zip"`
	Services []ReferredService `json:"services"`
	// CreatedBy is the staff user id, or "system:<channel>" when the
	// hotline or the web site made the referral on its own.
	CreatedBy string    `json:"created_by"`
	Notes     string    `json:"notes"`
	CreatedAt time.Time `json:"created_at"`
	// IdempotencyKey, if set, is unique: creating with the same key again
	// returns this referral.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// Outcome is the overall outcome, nil until one is recorded.
	Outcome *Outcome `json:"outcome"`
	// State is StateOpen or StateClosed, from Outcome.
	State string `json:"state"`
}

// ReferredService is one service of a referral, with its name, organization
// and phone copied from the directory when the referral was made: the
// listing may change later, the referral keeps what the person was told.
type ReferredService struct {
	ServiceID    string `json:"service_id"`
	Name         string `json:"name"`
	Organization string `json:"organization"`
	Phone        string `json:"phone"`
	// Outcome is the outcome for this service, nil until one is recorded.
	Outcome *Outcome `json:"outcome"`
}

// States of a referral, from its overall outcome.
const (
	// StateOpen: no overall outcome yet, or one that does not settle it.
	StateOpen = "open"
	// StateClosed: the person got help, or said whether they still need it.
	StateClosed = "closed"
)

// Validate checks a referral as it is stored.
func (r *Referral) Validate() error {
	if _, err := uuid.Parse(r.ID); err != nil {
		return invalid("id", "must be a UUID")
	}
	if r.ClientID == "" {
		return invalid("client_id", "required")
	}
	if err := validateCommon(r.Channel, r.NeedCategory, r.ZIP, r.CreatedBy, r.Notes, r.IdempotencyKey); err != nil {
		return err
	}
	if len(r.Services) == 0 {
		return invalid("services", "give at least one service")
	}
	if len(r.Services) > maxServices {
		return invalid("services", "at most %d services per referral, got %d", maxServices, len(r.Services))
	}
	seen := map[string]bool{}
	for i, s := range r.Services {
		f := fmt.Sprintf("services[%d]", i)
		if s.ServiceID == "" {
			return invalid(f+".service_id", "required")
		}
		if seen[s.ServiceID] {
			return invalid(f+".service_id", "service %s is listed twice", clip(s.ServiceID))
		}
		seen[s.ServiceID] = true
		if strings.TrimSpace(s.Name) == "" {
			return invalid(f+".name", "required")
		}
		if s.Outcome != nil {
			if err := s.Outcome.Validate(); err != nil {
				return prefixed(f+".outcome", err)
			}
		}
	}
	if r.CreatedAt.IsZero() {
		return invalid("created_at", "required")
	}
	if r.Outcome != nil {
		if err := r.Outcome.Validate(); err != nil {
			return prefixed("outcome", err)
		}
	}
	return nil
}

// NewReferral is what a caller knows when it logs a referral; CreateReferral
// fills in the rest.
type NewReferral struct {
	// Client is the person. Phone may be in any usual format ("(816)
	// 231-0217", "+1 816 231 0217") or "" for an anonymous referral, which
	// gets no follow-up. Language "" keeps a known client's language and is
	// "en" for a new one. Consent, if set, replaces the client's consent; a
	// zero Consent.At means now. ID, OptedOutAt and the timestamps are
	// ignored: opting out and in is OptOut and OptIn.
	Client Client
	// Channel is voice, sms, web, staff or walk-in.
	Channel string
	// NeedCategory is a key of directory.Categories() or "other".
	NeedCategory string
	// ZIP is a five-digit ZIP code (ZIP+4 is cut to five digits) or "".
	ZIP string
	// ServiceIDs are the directory services referred to, in the order
	// given to the person.
	ServiceIDs []string
	// CreatedBy is the staff user id, or "system:<channel>".
	CreatedBy string
	Notes     string
	// IdempotencyKey, if set, makes CreateReferral safe to retry: a second
	// call with the same key returns the first referral and creates
	// nothing, e.g. "voice:<CallSid>:<step>" or "web:<form token>".
	IdempotencyKey string
}

// Validate checks n after normalisation: the client's phone must already be
// E.164 (CreateReferral normalises it first).
func (n *NewReferral) Validate() error {
	c := n.Client
	if c.Language == "" {
		c.Language = LanguageEN
	}
	if err := c.validateDetails(); err != nil {
		return prefixed("client", err)
	}
	if err := validateCommon(n.Channel, n.NeedCategory, n.ZIP, n.CreatedBy, n.Notes, n.IdempotencyKey); err != nil {
		return err
	}
	if len(n.ServiceIDs) == 0 {
		return invalid("service_ids", "give at least one service")
	}
	if len(n.ServiceIDs) > maxServices {
		return invalid("service_ids", "at most %d services per referral, got %d", maxServices, len(n.ServiceIDs))
	}
	for i, id := range n.ServiceIDs {
		f := fmt.Sprintf("service_ids[%d]", i)
		if strings.TrimSpace(id) == "" {
			return invalid(f, "required")
		}
		if len(id) > 100 || !validText(id) {
			return invalid(f, "not a service id")
		}
		if slices.Index(n.ServiceIDs, id) < i {
			return invalid(f, "service %s is listed twice", id)
		}
	}
	return nil
}

// validateCommon checks the fields a Referral and a NewReferral share.
func validateCommon(channel, need, zip, createdBy, notes, key string) error {
	if channel == "" {
		return invalid("channel", "required; one of %s", strings.Join(Channels, ", "))
	}
	if !slices.Contains(Channels, channel) {
		return invalid("channel", "must be one of %s, got %q", strings.Join(Channels, ", "), clip(channel))
	}
	if need == "" {
		return invalid("need_category", "required; one of %s", strings.Join(needCategories(), ", "))
	}
	if !slices.Contains(needCategories(), need) {
		return invalid("need_category", "must be one of %s, got %q", strings.Join(needCategories(), ", "), clip(need))
	}
	if zip != "" && (len(zip) != 5 || strings.Trim(zip, "0123456789") != "") {
		return invalid("zip", "must be a five-digit ZIP code, got %q", clip(zip))
	}
	if err := validateActor("created_by", createdBy); err != nil {
		return err
	}
	if !validText(notes) {
		return invalid("notes", "must be text without control characters")
	}
	if n := utf8.RuneCountInString(notes); n > maxNotes {
		return invalid("notes", "at most %d characters, got %d", maxNotes, n)
	}
	if len(key) > maxKey {
		return invalid("idempotency_key", "at most %d characters, got %d", maxKey, len(key))
	}
	for _, r := range key {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) || r == ' ' {
			return invalid("idempotency_key", "printable ASCII without spaces only")
		}
	}
	return nil
}

// validateActor checks that a, in field, is a staff user id or
// "system:<channel>".
func validateActor(field, a string) error {
	if strings.TrimSpace(a) == "" {
		return invalid(field, "required: a staff user id or %s<channel>", SystemActorPrefix)
	}
	if len(a) > maxActor || !validText(a) || strings.ContainsAny(a, "\n\t") {
		return invalid(field, "not a staff user id")
	}
	if ch, ok := strings.CutPrefix(a, SystemActorPrefix); ok && !slices.Contains(Channels, ch) && a != SystemActorRetention {
		return invalid(field, "%s must be followed by one of %s", SystemActorPrefix, strings.Join(Channels, ", "))
	}
	return nil
}

// needCategories is the keys of directory.Categories() and "other".
func needCategories() []string {
	cs := directory.Categories()
	keys := make([]string, 0, len(cs)+1)
	for _, c := range cs {
		keys = append(keys, c.Key)
	}
	return append(keys, NeedOther)
}

// normalizeZIP trims a ZIP code and cuts ZIP+4 to five digits: reports need
// no more, and the four extra digits narrow down where someone lives.
func normalizeZIP(z string) string {
	z = strings.TrimSpace(z)
	if len(z) == 10 && z[5] == '-' {
		z = z[:5]
	}
	return z
}

// invalid returns an EINVALID error whose message starts with the field.
func invalid(field, format string, args ...any) error {
	return apperr.Errorf(apperr.EINVALID, "%s: %s", field, fmt.Sprintf(format, args...))
}

// prefixed puts field before the message of an EINVALID error (so that
// "phone: ..." from Client.Validate becomes "client.phone: ..."); other
// errors pass through.
func prefixed(field string, err error) error {
	if apperr.Code(err) != apperr.EINVALID {
		return err
	}
	msg := apperr.Message(err)
	if name, _, ok := strings.Cut(msg, ": "); !ok || strings.Contains(name, " ") {
		return apperr.Errorf(apperr.EINVALID, "%s: %s", field, msg) // names no field of its own
	}
	return apperr.Errorf(apperr.EINVALID, "%s.%s", field, msg)
}

// validText reports whether s is UTF-8 without control characters other
// than newlines and tabs.
func validText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\t' && r != '\r' {
			return false
		}
	}
	return true
}

// clip shortens s for an error message.
func clip(s string) string {
	if utf8.RuneCountInString(s) > 40 {
		return string([]rune(s)[:40]) + "..."
	}
	return s
}

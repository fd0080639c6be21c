package referral

import (
	"context"
	"database/sql"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/nyaruka/phonenumbers"
	"github.com/secondchancekc/secondchance/internal/apperr"
)

// Languages a client may prefer.
const (
	LanguageEN = "en"
	LanguageES = "es"
)

// DefaultRegion is the region of phone numbers written without a country
// code.
const DefaultRegion = "US"

// Client is a person referred. A client with a phone is found again by it;
// an anonymous client (no phone) is one per referral and gets no follow-up.
type Client struct {
	ID string `json:"id"`
	// Phone is E.164 (+18162310217), or "" when anonymous or deleted. Never
	// log it; use MaskPhone (Client's String and LogValue do).
	Phone string `json:"phone"`
	Name  string `json:"name"`
	// Language is "en" or "es": the language of follow-up messages.
	Language string `json:"language"`
	// Consent is the person's answer about follow-up, nil if never asked.
	Consent *Consent `json:"consent"`
	// OptedOutAt is when they asked for no more messages (SMS STOP); only
	// OptIn clears it, a new referral does not.
	OptedOutAt *time.Time `json:"opted_out_at"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	// DeletedAt is when their details were deleted on request.
	DeletedAt *time.Time `json:"deleted_at,omitempty"`
}

// Consent is a person's answer to being followed up.
type Consent struct {
	// Given is whether they agreed.
	Given bool `json:"given"`
	// At is when they answered.
	At time.Time `json:"at"`
	// Channel is the channel through which they answered: voice, sms, web,
	// staff or walk-in.
	Channel string `json:"channel"`
	// Words are the exact words they agreed (or declined) to: the prompt
	// played or shown, or what staff read out. Required when Given.
	Words string `json:"words"`
}

// CanFollowUp reports whether the client may be contacted about how a
// referral went: a phone, consent given, and not opted out.
func (c *Client) CanFollowUp() bool {
	return c.Phone != "" && c.Consent != nil && c.Consent.Given && c.OptedOutAt == nil && c.DeletedAt == nil
}

// Validate checks a client as it is stored.
func (c *Client) Validate() error {
	if c.ID == "" {
		return invalid("id", "required")
	}
	if err := c.validateDetails(); err != nil {
		return err
	}
	if c.CreatedAt.IsZero() {
		return invalid("created_at", "required")
	}
	return nil
}

// validateDetails checks what a caller supplies: phone, name, language and
// consent.
func (c *Client) validateDetails() error {
	if c.Phone != "" {
		if p, err := NormalizePhone(c.Phone); err != nil {
			return err
		} else if p != c.Phone {
			return invalid("phone", "must be in E.164 form, e.g. +18165550123")
		}
	}
	if !validText(c.Name) || strings.ContainsAny(c.Name, "\n\r\t") {
		return invalid("name", "must be one line of text")
	}
	if n := utf8.RuneCountInString(c.Name); n > maxName {
		return invalid("name", "at most %d characters, got %d", maxName, n)
	}
	if c.Language != LanguageEN && c.Language != LanguageES {
		return invalid("language", "must be en or es, got %q", clip(c.Language))
	}
	if c.Consent != nil {
		if err := c.Consent.Validate(); err != nil {
			return prefixed("consent", err)
		}
	}
	return nil
}

// Validate checks a consent record.
func (c *Consent) Validate() error {
	if c.At.IsZero() {
		return invalid("at", "required")
	}
	if c.Channel == "" {
		return invalid("channel", "required; one of %s", strings.Join(Channels, ", "))
	}
	if !slices.Contains(Channels, c.Channel) {
		return invalid("channel", "must be one of %s, got %q", strings.Join(Channels, ", "), clip(c.Channel))
	}
	if c.Given && strings.TrimSpace(c.Words) == "" {
		return invalid("words", "required when consent is given: the exact words the person agreed to")
	}
	if !validText(c.Words) {
		return invalid("words", "must be text without control characters")
	}
	if n := utf8.RuneCountInString(c.Words); n > maxWords {
		return invalid("words", "at most %d characters, got %d", maxWords, n)
	}
	return nil
}

func (c *Consent) equal(o *Consent) bool {
	if c == nil || o == nil {
		return c == o
	}
	return c.Given == o.Given && c.At.Equal(o.At) && c.Channel == o.Channel && c.Words == o.Words
}

// String describes the client without the phone number or name, so that a
// client printed by mistake leaks nothing.
func (c Client) String() string {
	return "client " + c.ID + " (" + MaskPhone(c.Phone) + ")"
}

// LogValue keeps the phone masked and the name out of structured logs.
func (c Client) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", c.ID),
		slog.String("phone", MaskPhone(c.Phone)),
		slog.String("language", c.Language),
		slog.Bool("can_follow_up", c.CanFollowUp()),
	)
}

// NormalizePhone returns raw as E.164 (+18162310217), reading numbers
// without a country code as DefaultRegion; "" stays "". The error (EINVALID,
// naming the field phone) never repeats the number.
func NormalizePhone(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", nil
	}
	if len(raw) > 40 || !validText(raw) {
		return "", invalid("phone", "not a phone number; give 10 digits, e.g. (816) 555-0123, or + and the country code")
	}
	n, err := phonenumbers.Parse(raw, DefaultRegion)
	if err != nil {
		return "", invalid("phone", "not a phone number; give 10 digits, e.g. (816) 555-0123, or + and the country code")
	}
	if n.GetExtension() != "" {
		return "", invalid("phone", "give the number without an extension: follow-up texts cannot reach an extension")
	}
	if !phonenumbers.IsValidNumber(n) {
		return "", invalid("phone", "not a valid phone number; check the area code and the number of digits")
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// MaskPhone hides all but the last four digits: "+1******0217". Use it
// wherever a phone would otherwise reach a log or an audit record.
func MaskPhone(p string) string {
	if p == "" {
		return ""
	}
	b := []byte(p)
	digits := 0
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < '0' || b[i] > '9' {
			continue
		}
		digits++
		if digits > 4 && !(i == 1 && b[0] == '+') {
			b[i] = '*'
		}
	}
	if digits <= 4 {
		return strings.Repeat("*", len(b))
	}
	return string(b)
}

// --- store ---

// clientCols are the columns scanned by clientRow.dest, on the table
// aliased c.
const clientCols = `c.id, c.phone, c.name, c.language, c.consent_given, c.consent_at, c.consent_channel,
	c.consent_words, c.opted_out_at, c.created_at, c.updated_at, c.deleted_at`

// clientRow receives clientCols.
type clientRow struct {
	id, name, language, createdAt, updatedAt                            string
	phone, consentAt, consentChannel, consentWords, optedOut, deletedAt sql.NullString
	consentGiven                                                        sql.NullInt64
}

func (r *clientRow) dest() []any {
	return []any{&r.id, &r.phone, &r.name, &r.language, &r.consentGiven, &r.consentAt, &r.consentChannel,
		&r.consentWords, &r.optedOut, &r.createdAt, &r.updatedAt, &r.deletedAt}
}

func (r *clientRow) client() (*Client, error) {
	c := &Client{ID: r.id, Phone: r.phone.String, Name: r.name, Language: r.language}
	var err error
	if c.CreatedAt, err = parseTime(r.createdAt); err != nil {
		return nil, err
	}
	if c.UpdatedAt, err = parseTime(r.updatedAt); err != nil {
		return nil, err
	}
	if c.OptedOutAt, err = parseNullTime(r.optedOut); err != nil {
		return nil, err
	}
	if c.DeletedAt, err = parseNullTime(r.deletedAt); err != nil {
		return nil, err
	}
	if r.consentGiven.Valid {
		at, err := parseTime(r.consentAt.String)
		if err != nil {
			return nil, err
		}
		c.Consent = &Consent{Given: r.consentGiven.Int64 == 1, At: at, Channel: r.consentChannel.String, Words: r.consentWords.String}
	}
	return c, nil
}

// GetClient returns the client with the given id.
func (s *Store) GetClient(ctx context.Context, id string) (*Client, error) {
	return findClient(ctx, s.db.Read, "c.id = ?", id)
}

// FindClient returns the client with the given phone, in any usual format.
func (s *Store) FindClient(ctx context.Context, phone string) (*Client, error) {
	p, err := NormalizePhone(phone)
	if err != nil {
		return nil, err
	} else if p == "" {
		return nil, invalid("phone", "required")
	}
	return findClient(ctx, s.db.Read, "c.phone = ?", p)
}

// SetConsent records a client's answer about follow-up (a zero c.At means
// now), replacing any earlier answer.
func (s *Store) SetConsent(ctx context.Context, clientID string, c Consent, actor string) (*Client, error) {
	if err := validateActor("actor", actor); err != nil {
		return nil, err
	}
	now := s.now()
	if c.At.IsZero() {
		c.At = now
	}
	c.At = c.At.UTC()
	if err := c.Validate(); err != nil {
		return nil, prefixed("consent", err)
	}
	return inWrite(ctx, s, func(ctx context.Context, tx querier) (*Client, error) {
		return s.setConsentTx(ctx, tx, clientID, c, actor, now)
	})
}

// setConsentTx is SetConsent inside tx.
func (s *Store) setConsentTx(ctx context.Context, tx querier, clientID string, c Consent, actor string, now time.Time) (*Client, error) {
	cl, err := findClient(ctx, tx, "c.id = ?", clientID)
	if err != nil {
		return nil, err
	}
	if cl.DeletedAt != nil {
		return nil, apperr.Errorf(apperr.ECONFLICT, "This client's details were deleted on request.")
	}
	if cl.Consent.equal(&c) {
		return cl, nil
	}
	ev := newEvent{ClientID: cl.ID, Actor: actor, At: now, Action: ActionConsentSet, Field: "consent", Before: cl.Consent, After: &c}
	cl.Consent, cl.UpdatedAt = &c, now
	if err := updateClient(ctx, tx, cl); err != nil {
		return nil, err
	}
	if err := writeEvents(ctx, tx, ev); err != nil {
		return nil, err
	}
	return cl, nil
}

// OptOut records that the person at phone wants no more messages (they
// texted STOP, or told staff). A number we have never seen gets a client of
// its own, so that a later referral of the same number starts opted out.
// Opting out twice changes nothing.
func (s *Store) OptOut(ctx context.Context, phone, actor string) (*Client, error) {
	return s.setOptOut(ctx, phone, actor, true)
}

// OptIn clears an opt-out (the person texted START); ENOTFOUND if we have no
// client with that phone.
func (s *Store) OptIn(ctx context.Context, phone, actor string) (*Client, error) {
	return s.setOptOut(ctx, phone, actor, false)
}

func (s *Store) setOptOut(ctx context.Context, phone, actor string, out bool) (*Client, error) {
	p, err := NormalizePhone(phone)
	if err != nil {
		return nil, err
	} else if p == "" {
		return nil, invalid("phone", "required")
	}
	if err := validateActor("actor", actor); err != nil {
		return nil, err
	}
	now := s.now()
	return inWrite(ctx, s, func(ctx context.Context, tx querier) (*Client, error) {
		return setOptOutTx(ctx, tx, p, actor, out, now)
	})
}

func setOptOutTx(ctx context.Context, tx querier, p, actor string, out bool, now time.Time) (*Client, error) {
	var evs []newEvent
	cl, err := findClient(ctx, tx, "c.phone = ?", p)
	switch {
	case apperr.Code(err) == apperr.ENOTFOUND && out:
		cl = &Client{ID: uuid.NewString(), Phone: p, Language: LanguageEN, CreatedAt: now, UpdatedAt: now}
		if err := insertClient(ctx, tx, cl); err != nil {
			return nil, err
		}
		evs = append(evs, newEvent{ClientID: cl.ID, Actor: actor, At: now, Action: ActionClientCreated, After: clientView(cl)})
	case apperr.Code(err) == apperr.ENOTFOUND:
		return nil, apperr.Errorf(apperr.ENOTFOUND, "No client with that phone number.")
	case err != nil:
		return nil, err
	}
	if (cl.OptedOutAt != nil) == out {
		return cl, nil
	}
	ev := newEvent{ClientID: cl.ID, Actor: actor, At: now, Action: ActionOptedIn, Field: "opted_out_at", Before: cl.OptedOutAt}
	cl.OptedOutAt = nil
	if out {
		ev.Action = ActionOptedOut
		cl.OptedOutAt = &now
		ev.After = cl.OptedOutAt
	}
	cl.UpdatedAt = now
	if err := updateClient(ctx, tx, cl); err != nil {
		return nil, err
	}
	if err := writeEvents(ctx, tx, append(evs, ev)...); err != nil {
		return nil, err
	}
	if out {
		if err := cancelClientSMS(ctx, tx, cl.ID, "opted out", actor, now); err != nil {
			return nil, err
		}
	}
	return cl, nil
}

// DeleteClient de-identifies a client on request: their phone, name and
// consent go, so do the notes of their referrals, and the same are blanked
// in the audit trail. What is left (channel, need, ZIP, services, outcomes,
// language, dates) counts in reports but points to no one. Deleting twice
// changes nothing.
//
// Other packages may hold the phone too (the hotline's SMS outbox); the
// caller that handles a deletion request must clear those as well.
func (s *Store) DeleteClient(ctx context.Context, clientID, actor string) error {
	if err := validateActor("actor", actor); err != nil {
		return err
	}
	now := s.now()
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	cl, err := findClient(ctx, tx, "c.id = ?", clientID)
	if err != nil {
		return err
	}
	if cl.DeletedAt != nil {
		return tx.Commit()
	}
	cl.Phone, cl.Name, cl.Consent, cl.OptedOutAt = "", "", nil, nil
	cl.UpdatedAt, cl.DeletedAt = now, &now
	if err := updateClient(ctx, tx, cl); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE referral SET notes = '' WHERE client_id = ?`, cl.ID); err != nil {
		return err
	}
	// Their texts go too; what they were read as (reply_code) stays.
	if _, err := tx.ExecContext(ctx, `UPDATE followup SET reply = '' WHERE referral_id IN (SELECT id FROM referral WHERE client_id = ?)`, cl.ID); err != nil {
		return err
	}
	if err := cancelClientSMS(ctx, tx, cl.ID, "client deleted", actor, now); err != nil {
		return err
	}
	if err := redactEvents(ctx, tx, cl.ID); err != nil {
		return err
	}
	ev := newEvent{ClientID: cl.ID, Actor: actor, At: now, Action: ActionClientDeleted, Field: "client", After: map[string]any{"deleted_at": now}}
	if err := writeEvents(ctx, tx, ev); err != nil {
		return err
	}
	return tx.Commit()
}

func findClient(ctx context.Context, q querier, where string, args ...any) (*Client, error) {
	var r clientRow
	err := q.QueryRowContext(ctx, `SELECT `+clientCols+` FROM referral_client c WHERE `+where, args...).Scan(r.dest()...)
	if err == sql.ErrNoRows {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "No such client.")
	} else if err != nil {
		return nil, err
	}
	return r.client()
}

func insertClient(ctx context.Context, tx querier, c *Client) error {
	if err := c.Validate(); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO referral_client (id, phone, name, language, consent_given, consent_at,
		consent_channel, consent_words, opted_out_at, created_at, updated_at, deleted_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
		clientArgs(c)...)
	return constraintError(err)
}

func updateClient(ctx context.Context, tx querier, c *Client) error {
	if err := c.Validate(); err != nil {
		return err
	}
	args := clientArgs(c)
	_, err := tx.ExecContext(ctx, `UPDATE referral_client SET phone = ?, name = ?, language = ?, consent_given = ?,
		consent_at = ?, consent_channel = ?, consent_words = ?, opted_out_at = ?, created_at = ?, updated_at = ?,
		deleted_at = ? WHERE id = ?`, append(args[1:], c.ID)...)
	return constraintError(err)
}

// clientArgs are c's values in column order, id first.
func clientArgs(c *Client) []any {
	var given, at, channel, words any
	if c.Consent != nil {
		given, at, channel, words = boolInt(c.Consent.Given), formatTime(c.Consent.At), c.Consent.Channel, c.Consent.Words
	}
	return []any{c.ID, nullString(c.Phone), c.Name, c.Language, given, at, channel, words,
		formatNullTime(c.OptedOutAt), formatTime(c.CreatedAt), formatTime(c.UpdatedAt), formatNullTime(c.DeletedAt)}
}

// clientView is what the audit trail records of a client: the phone masked.
func clientView(c *Client) map[string]any {
	return map[string]any{
		"phone":        MaskPhone(c.Phone),
		"name":         c.Name,
		"language":     c.Language,
		"consent":      c.Consent,
		"opted_out_at": c.OptedOutAt,
	}
}

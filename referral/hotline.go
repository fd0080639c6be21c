package referral

import (
	"context"
	"database/sql"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/secondchancekc/secondchance/internal/apperr"
)

// What the hotline (voice menu and SMS search) needs beyond CreateReferral:
// consent given after the referral was logged, and a call back asked for
// before any service was chosen.

// PrepareConsent checks a client's answer to the follow-up question asked
// after their referral was logged (the hotline texts the results, logs the
// referral, then asks) and returns the write that records it, for a write
// transaction of the caller's (a db.Batcher job's: the hotline records it
// with the call's step, one commit). Agreeing marks the referral to be
// planned again and wakes the planner, which plans its follow-ups after
// that commit unless it has them already (it may have been planned with
// an earlier consent, or before this one, with none). Declining cancels
// the follow-ups the referral has waiting, if the planner made them before
// the answer came; after it, the planner makes none. The write may run
// more than once, with the same result.
func (s *Store) PrepareConsent(referralID string, c Consent, actor string) (func(ctx context.Context, tx *sql.Tx) error, error) {
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
	return func(ctx context.Context, jobTx *sql.Tx) error {
		tx := s.db.Batch.Prepared(jobTx) // statements parsed once
		clientID, err := referralClient(ctx, tx, referralID)
		if err != nil {
			return err
		}
		if _, err := s.setConsentTx(ctx, tx, clientID, c, actor, now); err != nil {
			return err
		}
		if !c.Given {
			return cancelPending(ctx, tx, referralID, clientID, []string{KindCheckin, KindReminder, KindCall}, "consent refused", actor, now)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE referral SET followups_planned_at = NULL WHERE id = ?`, referralID); err != nil {
			return err
		}
		s.kickPlanner()
		return nil
	}, nil
}

// CallRequest is a person asking staff to call them back (a voicemail, or
// STAFF by text) before or without a referral.
type CallRequest struct {
	// ReferralID, when set, gets the callback; else a referral without
	// services is made for it.
	ReferralID string
	Phone      string
	Language   string
	Channel    string
	// Need is a category key or "other".
	Need string
	ZIP  string
	// Reason is what staff read in the queue ("Why"): the voicemail's
	// link, the caller's number and language.
	Reason string
	// Key makes the request safe to repeat (the referral's idempotency key).
	Key   string
	Actor string
}

// RequestCall adds a callback task for a person: to their referral when
// given, else to a new referral with no services (a person who wants to
// talk before being referred anywhere). Repeating it with the same Key
// adds nothing.
func (s *Store) RequestCall(ctx context.Context, cr CallRequest) (*Followup, error) {
	if utf8.RuneCountInString(cr.Reason) > maxNote {
		cr.Reason = string([]rune(cr.Reason)[:maxNote])
	}
	if cr.ReferralID != "" {
		return s.RequestCallback(ctx, cr.ReferralID, cr.Reason, cr.Actor)
	}
	phone, err := NormalizePhone(cr.Phone)
	if err != nil {
		return nil, prefixed("client", err)
	}
	if cr.Language == "" {
		cr.Language = LanguageEN
	}
	if cr.Need == "" {
		cr.Need = NeedOther
	}
	cr.ZIP = normalizeZIP(cr.ZIP)
	cr.Key = strings.TrimSpace(cr.Key)
	if err := validateCommon(cr.Channel, cr.Need, cr.ZIP, cr.Actor, "", cr.Key); err != nil {
		return nil, err
	}
	now := s.now()
	return inWrite(ctx, s, func(ctx context.Context, tx querier) (*Followup, error) {
		return s.requestCallTx(ctx, tx, cr, phone, now)
	})
}

// requestCallTx is RequestCall inside tx.
func (s *Store) requestCallTx(ctx context.Context, tx querier, cr CallRequest, phone string, now time.Time) (*Followup, error) {
	if cr.Key != "" {
		first, err := s.findReferralByKey(ctx, tx, cr.Key)
		if err == nil {
			fs, err := queryFollowups(ctx, tx, `f.referral_id = ? AND f.kind = 'callback' ORDER BY f.created_at LIMIT 1`, first.ID)
			if err != nil {
				return nil, err
			}
			if len(fs) > 0 {
				return fs[0], nil
			}
		} else if apperr.Code(err) != apperr.ENOTFOUND {
			return nil, err
		}
	}
	cl, evs, err := upsertClient(ctx, tx, Client{Phone: phone, Language: cr.Language}, cr.Actor, now)
	if err != nil {
		return nil, err
	}
	r := &Referral{ID: uuid.NewString(), ClientID: cl.ID, Client: cl, Channel: cr.Channel, NeedCategory: cr.Need, ZIP: cr.ZIP,
		CreatedBy: cr.Actor, CreatedAt: now, IdempotencyKey: cr.Key, State: StateOpen, Notes: "asked for a call back"}
	// A call back is all it asks for: nothing for the planner to plan.
	if _, err := tx.ExecContext(ctx, `INSERT INTO referral (id, client_id, channel, need_category, zip, created_by, notes,
		created_at, idempotency_key, followups_planned_at) VALUES (?,?,?,?,?,?,?,?,?,?)`,
		r.ID, r.ClientID, r.Channel, r.NeedCategory, r.ZIP, r.CreatedBy, r.Notes, formatTime(r.CreatedAt), nullString(r.IdempotencyKey),
		formatTime(now)); err != nil {
		return nil, constraintError(err)
	}
	for i := range evs {
		evs[i].ReferralID = r.ID
	}
	evs = append(evs, newEvent{ReferralID: r.ID, ClientID: r.ClientID, Actor: r.CreatedBy, At: now, Action: ActionReferralCreated, After: referralView(r)})
	if err := writeEvents(ctx, tx, evs...); err != nil {
		return nil, err
	}
	f, err := requestCallback(ctx, tx, r.ID, cl.ID, cr.Reason, cr.Actor, now)
	if err != nil {
		return nil, err
	}
	return f, nil
}

package hotline

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/labstack/echo/v4"

	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/internal/db"
)

// Replies takes a text that answers a follow-up check-in (referral.Store
// satisfies it). handled is false when the number has no check-in
// waiting for an answer.
type Replies interface {
	HandleReply(ctx context.Context, phone, body string) (answer string, handled bool, err error)
	// MayAnswer reports whether phone has a follow-up text a reply could
	// answer; when false, HandleReply would not handle any text from it.
	// It only reads.
	MayAnswer(ctx context.Context, phone string) (bool, error)
}

// Conversation answers a text that is not a reply to a check-in: the
// hotline's SMS search ([Conversations]). sid is the text's MessageSid,
// for keys that make what it logs happen once. It returns the reply text.
type Conversation interface {
	Answer(ctx context.Context, sid, phone, body string) (string, error)
}

// ClientOptOuts records STOP and START in the referral log as well, so the
// person's record shows it and no follow-up is planned.
type ClientOptOuts interface {
	OptOut(ctx context.Context, phone string) error
	OptIn(ctx context.Context, phone string) error
}

// Keywords Twilio's own opt-out handling acts on (it confirms them to the
// sender itself, so we answer nothing), plus their Spanish equivalents,
// which we record ourselves.
var (
	stopWords  = []string{"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "ALTO", "PARAR", "BASTA"}
	startWords = []string{"START", "UNSTOP", "OPTIN", "INICIAR", "COMENZAR"}
	helpWords  = []string{"HELP", "INFO", "AYUDA"}
)

// SMS handles text messages Twilio forwards to POST /hotline/sms: it acts on
// each message once (Twilio retries a webhook that timed out), records
// STOP and START in both opt-out records, routes a reply to an outstanding
// follow-up check-in first, and gives the rest to the Conversation.
type SMS struct {
	DB           *db.DB
	OptOuts      *OptOuts
	Replies      Replies
	Conversation Conversation
	Clients      ClientOptOuts
	Log          *slog.Logger
	Now          func() time.Time
}

// Handled-by values of sms_inbound.
const (
	handledStop     = "stop"
	handledStart    = "start"
	handledHelp     = "help"
	handledFollowup = "followup"
	handledHotline  = "hotline"
	handledOptedOut = "opted-out" // not answered: the number texted STOP
	handledPending  = ""          // claimed, not finished
)

// helpText answers HELP, in both languages (we do not know theirs yet).
const helpText = "Second Chance KC: text what you need and your ZIP (like JOB 64130), or call (816) 231-0217. Envie lo que necesita y su codigo postal. STOP to opt out."

// Register adds POST /hotline/sms behind the signature check.
func (h *SMS) Register(e *echo.Echo, sig echo.MiddlewareFunc) {
	e.POST("/hotline/sms", h.receive, sig)
}

func (h *SMS) now() time.Time {
	if h.Now == nil {
		return time.Now().UTC()
	}
	return h.Now().UTC()
}

func (h *SMS) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}

func (h *SMS) receive(c echo.Context) error {
	ctx := c.Request().Context()
	sid := strings.TrimSpace(c.FormValue("MessageSid"))
	from := strings.TrimSpace(c.FormValue("From"))
	body := c.FormValue("Body")
	if sid == "" {
		return apperr.Errorf(apperr.EINVALID, "MessageSid: required (Twilio sends it with every message).")
	}
	if !IsE164(from) {
		return apperr.Errorf(apperr.EINVALID, "From: must be a phone number in E.164 form, e.g. +18165550123.")
	}
	log := h.log().With("message_sid", sid, "from", MaskPhone(from))
	direct, err := h.direct(ctx, from, body)
	if err != nil {
		return err
	}
	if direct {
		return h.converse(c, log, sid, from, body)
	}
	seen, answer, err := h.claim(ctx, sid, from, body)
	if err != nil {
		return err
	}
	if seen {
		// Twilio retried: answer as before, act on nothing.
		log.InfoContext(ctx, "sms webhook repeated; answered as before")
		return twimlMessage(c, answer)
	}
	by, answer, save, err := h.handle(ctx, sid, from, body)
	if err != nil {
		// The claim stays unfinished: a retry answers nothing rather than
		// act twice; the text is in sms_inbound for staff.
		log.ErrorContext(ctx, "sms not handled", "err", err)
		return err
	}
	// The answer and the conversation's new state commit together: a
	// retry after this sees both, before it neither (and answers nothing).
	if err := h.DB.Batch.Do(context.WithoutCancel(ctx), func(ctx context.Context, tx *sql.Tx) error {
		if _, err := h.DB.Batch.Exec(ctx, tx, `UPDATE sms_inbound SET handled_by = ?, answer = ? WHERE message_sid = ?`,
			by, answer, sid); err != nil {
			return fmt.Errorf("record sms answer: %w", err)
		}
		if save != nil {
			return save(ctx, tx)
		}
		return nil
	}); err != nil {
		return err
	}
	log.InfoContext(ctx, "sms received", "handled_by", by)
	return twimlMessage(c, answer)
}

// direct reports whether the text goes straight to the Conversation: no
// keyword, not from an opted-out number, and no follow-up it could answer.
// Such a text is recorded with its answer, in one transaction with
// everything the answer does (converse), rather than claimed first.
func (h *SMS) direct(ctx context.Context, from, body string) (bool, error) {
	kw := keyword(body)
	if h.Conversation == nil || slices.Contains(stopWords, kw) || slices.Contains(startWords, kw) || slices.Contains(helpWords, kw) ||
		h.optedOut(ctx, from) {
		return false, nil
	}
	if _, ok := h.Conversation.(txConversation); !ok {
		return false, nil
	}
	if h.Replies != nil {
		may, err := h.Replies.MayAnswer(ctx, from)
		if err != nil || may {
			return false, err
		}
	}
	return true, nil
}

// converse answers a text for the Conversation and records the message,
// its answer and the conversation's new state (with the referral of a
// texted list) in one transaction: a text is acted on once, the first
// delivery's answer is the one given to any repeat, and a process that
// dies before the commit left nothing done, so Twilio's retry starts
// afresh. A text that cannot be answered is still recorded, unanswered,
// for staff.
func (h *SMS) converse(c echo.Context, log *slog.Logger, sid, from, body string) error {
	ctx := c.Request().Context()
	if seen, answer, err := h.recorded(ctx, sid); err != nil {
		return err
	} else if seen {
		log.InfoContext(ctx, "sms webhook repeated; answered as before")
		return twimlMessage(c, answer)
	}
	unanswered := func(err error) error {
		log.ErrorContext(ctx, "sms not handled", "err", err)
		if _, _, cerr := h.claim(context.WithoutCancel(ctx), sid, from, body); cerr != nil {
			log.ErrorContext(ctx, "sms not recorded", "err", cerr)
		}
		return err
	}
	answer, save, err := h.Conversation.(txConversation).answerTx(ctx, sid, from, body)
	if err != nil {
		return unanswered(err)
	}
	at := formatTime(h.now())
	var first bool
	var stored string
	if err := h.DB.Batch.Do(context.WithoutCancel(ctx), func(ctx context.Context, tx *sql.Tx) error {
		r, err := h.DB.Batch.Exec(ctx, tx, `INSERT INTO sms_inbound (message_sid, from_number, body, handled_by, answer, received_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (message_sid) DO NOTHING`, sid, from, body, handledHotline, answer, at)
		if err != nil {
			return fmt.Errorf("record sms: %w", err)
		}
		n, err := r.RowsAffected()
		if err != nil {
			return err
		}
		if first = n == 1; !first {
			// Delivered twice at once: the other delivery acted.
			return h.DB.Batch.QueryRow(ctx, tx, `SELECT answer FROM sms_inbound WHERE message_sid = ?`, sid).Scan(&stored)
		}
		return save(ctx, tx)
	}); err != nil {
		return unanswered(err)
	}
	if !first {
		log.InfoContext(ctx, "sms webhook repeated; answered as before")
		return twimlMessage(c, stored)
	}
	log.InfoContext(ctx, "sms received", "handled_by", handledHotline)
	return twimlMessage(c, answer)
}

// recorded is the answer given to a message already recorded (on a
// reader: the writer confirms it, see converse).
func (h *SMS) recorded(ctx context.Context, sid string) (seen bool, answer string, err error) {
	err = h.DB.ReadStmts.QueryRow(ctx, `SELECT answer FROM sms_inbound WHERE message_sid = ?`, sid).Scan(&answer)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, "", nil
	case err != nil:
		return false, "", err
	}
	return true, answer, nil
}

// claim records the message; seen is true (with the earlier answer) when
// it was recorded before. It commits (through the group commit) before
// anything is acted on, so a restart mid-way never acts twice.
func (h *SMS) claim(ctx context.Context, sid, from, body string) (seen bool, answer string, err error) {
	at := formatTime(h.now())
	err = h.DB.Batch.Do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var by string
		seen, answer = false, ""
		err := h.DB.Batch.QueryRow(ctx, tx, `SELECT handled_by, answer FROM sms_inbound WHERE message_sid = ?`, sid).Scan(&by, &answer)
		switch {
		case err == nil:
			seen = true
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := h.DB.Batch.Exec(ctx, tx, `INSERT INTO sms_inbound (message_sid, from_number, body, handled_by, answer, received_at)
		VALUES (?, ?, ?, '', '', ?)`, sid, from, body, at); err != nil {
			return fmt.Errorf("record sms: %w", err)
		}
		return nil
	})
	if err != nil {
		return false, "", err
	}
	return seen, answer, nil
}

// keyword reads a whole-message keyword, ignoring case, spaces and
// punctuation around it.
func keyword(body string) string {
	return strings.ToUpper(strings.Join(strings.FieldsFunc(body, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}), " "))
}

// txConversation is a Conversation whose new state can be committed with
// the text's recorded answer (Conversations is one).
type txConversation interface {
	answerTx(ctx context.Context, sid, phone, body string) (string, func(context.Context, *sql.Tx) error, error)
}

// handle acts on a claimed text. save, when not nil, is a write to commit
// with the recorded answer.
func (h *SMS) handle(ctx context.Context, sid, from, body string) (by, answer string, save func(context.Context, *sql.Tx) error, err error) {
	kw := keyword(body)
	switch {
	case slices.Contains(stopWords, kw):
		if err := h.OptOuts.OptOut(ctx, from, OptOutSourceSMS, kw); err != nil {
			return "", "", nil, err
		}
		if h.Clients != nil {
			if err := h.Clients.OptOut(ctx, from); err != nil {
				return "", "", nil, err
			}
		}
		// Twilio confirms the opt-out itself and would refuse a reply.
		return handledStop, "", nil, nil
	case slices.Contains(startWords, kw) || kw == "YES" && h.optedOut(ctx, from):
		// YES opts back in only from an opted-out number; from anyone else
		// it answers a check-in.
		if err := h.OptOuts.OptIn(ctx, from); err != nil {
			return "", "", nil, err
		}
		if h.Clients != nil {
			if err := h.Clients.OptIn(ctx, from); err != nil && apperr.Code(err) != apperr.ENOTFOUND {
				return "", "", nil, err
			}
		}
		return handledStart, "", nil, nil
	case slices.Contains(helpWords, kw):
		return handledHelp, helpText, nil, nil
	case h.optedOut(ctx, from):
		// Nothing more is sent to a number that opted out, answers
		// included, until START.
		return handledOptedOut, "", nil, nil
	}
	if h.Replies != nil {
		answer, handled, err := h.Replies.HandleReply(ctx, from, body)
		if err != nil {
			return "", "", nil, err
		}
		if handled {
			return handledFollowup, answer, nil, nil
		}
	}
	if h.Conversation == nil {
		return handledHotline, helpText, nil, nil
	}
	if tc, ok := h.Conversation.(txConversation); ok {
		answer, save, err = tc.answerTx(ctx, sid, from, body)
	} else {
		answer, err = h.Conversation.Answer(ctx, sid, from, body)
	}
	if err != nil {
		return "", "", nil, err
	}
	return handledHotline, answer, save, nil
}

// optedOut reports whether from is on the opt-out list (false on error:
// the text is then read as an ordinary message).
func (h *SMS) optedOut(ctx context.Context, from string) bool {
	out, err := h.OptOuts.IsOptedOut(ctx, from)
	return err == nil && out
}

package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/secondchancekc/secondchance/internal/apperr"
)

// Session is one signed-in browser. The token that names it lives only in
// the browser's cookie; the database has its SHA-256.
type Session struct {
	User *User
	// CSRFToken must come back with every unsafe request of this session,
	// as the form field csrf_token or the X-CSRF-Token header.
	CSRFToken string
	CreatedAt time.Time
	// LastSeenAt is updated at most once a minute.
	LastSeenAt time.Time
	// ExpiresAt is the absolute end; the idle timeout may end it sooner.
	ExpiresAt time.Time
	// IPPrefix is the /24 (IPv4) or /48 (IPv6) the session signed in from.
	IPPrefix  string
	UserAgent string

	tokenHash string
	flash     string
}

// touchEvery limits how often a request writes last_seen_at: the idle
// timeout is 30 minutes, so a minute's slack is harmless and saves a write
// per request.
const touchEvery = time.Minute

var errNoSession = apperr.Errorf(apperr.EUNAUTHORIZED, "Please sign in to continue.")

// ipPrefix is what we keep of a client address: enough for staff to tell
// their office from somewhere else, not enough to identify a household.
func ipPrefix(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	a = a.Unmap()
	bits := 24
	if a.Is6() {
		bits = 48
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// startSession signs u in: it ends the session named by oldToken (if any,
// so that a token planted before sign-in is worthless after it), sweeps
// expired sessions, and stores a new one. It returns the new token for the
// cookie.
func (s *Service) startSession(ctx context.Context, u *User, oldToken, ip, userAgent string) (string, *Session, error) {
	now := s.clock()
	token := randomToken()
	sess := &Session{
		User: u, CSRFToken: randomToken(), CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(s.cfg.AbsoluteTimeout), IPPrefix: ipPrefix(ip),
		UserAgent: clip(strings.ToValidUTF8(userAgent, ""), 200), tokenHash: hashToken(token),
	}
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return "", nil, err
	}
	defer tx.Rollback()
	if validToken(oldToken) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM staff_session WHERE token_hash = ?`, hashToken(oldToken)); err != nil {
			return "", nil, fmt.Errorf("end previous session: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM staff_session WHERE expires_at <= ? OR last_seen_at <= ?`,
		fmtTime(now), fmtTime(now.Add(-s.cfg.IdleTimeout))); err != nil {
		return "", nil, fmt.Errorf("sweep expired sessions: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO staff_session (token_hash, user_id, csrf_token, created_at, last_seen_at, expires_at, ip_prefix, user_agent)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, sess.tokenHash, u.ID, sess.CSRFToken, fmtTime(now), fmtTime(now),
		fmtTime(sess.ExpiresAt), sess.IPPrefix, sess.UserAgent); err != nil {
		return "", nil, fmt.Errorf("store session: %w", err)
	}
	detail := "signed in"
	if sess.IPPrefix != "" {
		detail += " from " + sess.IPPrefix
	}
	if err := event(ctx, tx, now, u.ID, "login", detail); err != nil {
		return "", nil, err
	}
	if err := tx.Commit(); err != nil {
		return "", nil, err
	}
	return token, sess, nil
}

const sessionCols = `s.token_hash, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at, s.ip_prefix, s.user_agent, s.flash`

func scanSession(row scanner, extra ...any) (*Session, error) {
	var sess Session
	var created, seen, expires string
	dest := append([]any{&sess.tokenHash, &sess.CSRFToken, &created, &seen, &expires, &sess.IPPrefix, &sess.UserAgent, &sess.flash}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	var err error
	if sess.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if sess.LastSeenAt, err = parseTime(seen); err != nil {
		return nil, err
	}
	if sess.ExpiresAt, err = parseTime(expires); err != nil {
		return nil, err
	}
	return &sess, nil
}

// live reports whether sess may still be used at now.
func (s *Service) live(sess *Session, now time.Time) bool {
	return now.Before(sess.ExpiresAt) && now.Sub(sess.LastSeenAt) < s.cfg.IdleTimeout
}

// session returns the live session named by token, with its user, and
// consumes its flash message. Unknown, expired and idle sessions, and those
// of disabled accounts, are EUNAUTHORIZED (dead ones are deleted).
func (s *Service) session(ctx context.Context, token string) (*Session, error) {
	if !validToken(token) {
		return nil, errNoSession
	}
	h := hashToken(token)
	var userID int64
	sess, err := scanSession(s.db.Read.QueryRowContext(ctx, `SELECT `+sessionCols+`, s.user_id FROM staff_session s WHERE s.token_hash = ?`, h), &userID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoSession
	} else if err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	now := s.clock()
	u, err := s.UserByID(ctx, userID)
	if err != nil && apperr.Code(err) != apperr.ENOTFOUND {
		return nil, err
	}
	if err != nil || u.Disabled() || !s.live(sess, now) {
		if _, err := s.db.Write.ExecContext(ctx, `DELETE FROM staff_session WHERE token_hash = ?`, h); err != nil {
			return nil, fmt.Errorf("end dead session: %w", err)
		}
		return nil, errNoSession
	}
	sess.User = u
	if now.Sub(sess.LastSeenAt) >= touchEvery || sess.flash != "" {
		if _, err := s.db.Write.ExecContext(ctx, `UPDATE staff_session SET last_seen_at = ?, flash = '' WHERE token_hash = ?`,
			fmtTime(now), h); err != nil {
			return nil, fmt.Errorf("touch session: %w", err)
		}
		sess.LastSeenAt = now
	}
	return sess, nil
}

// endSession signs out the session named by token.
func (s *Service) endSession(ctx context.Context, sess *Session) error {
	now := s.clock()
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM staff_session WHERE token_hash = ?`, sess.tokenHash); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	if err := event(ctx, tx, now, sess.User.ID, "logout", ""); err != nil {
		return err
	}
	return tx.Commit()
}

// endUserSessions signs the account out everywhere.
func endUserSessions(ctx context.Context, tx *sql.Tx, userID int64) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM staff_session WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	return nil
}

// setFlash stores a one-shot message for the next page the session loads.
func (s *Service) setFlash(ctx context.Context, sess *Session, msg string) error {
	if _, err := s.db.Write.ExecContext(ctx, `UPDATE staff_session SET flash = ? WHERE token_hash = ?`,
		clip(msg, 1000), sess.tokenHash); err != nil {
		return fmt.Errorf("set flash: %w", err)
	}
	return nil
}

// Sessions returns the live sessions of an account, newest first. Their
// User field is nil and they carry no CSRF token.
func (s *Service) Sessions(ctx context.Context, userID int64) ([]Session, error) {
	now := s.clock()
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+sessionCols+` FROM staff_session s
		WHERE s.user_id = ? AND s.expires_at > ? AND s.last_seen_at > ? ORDER BY s.created_at DESC`,
		userID, fmtTime(now), fmtTime(now.Add(-s.cfg.IdleTimeout)))
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		if !s.live(sess, now) {
			continue
		}
		sess.CSRFToken, sess.flash = "", ""
		out = append(out, *sess)
	}
	return out, rows.Err()
}

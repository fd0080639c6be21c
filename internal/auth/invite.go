package auth

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/secondchancekc/secondchance/internal/apperr"
)

// Link is a one-time link that lets its holder set a password: an invitation
// to a new account or a reset of an existing one. URL holds the secret token,
// which is stored only hashed: show it once, to the admin who asked for it.
type Link struct {
	URL       string
	Email     string
	Role      Role
	ExpiresAt time.Time
}

// link kinds, as stored in staff_invite.kind.
const (
	kindInvite = "invite"
	kindReset  = "reset"
)

// pendingLink is a stored link that is still usable.
type pendingLink struct {
	Kind      string
	Email     string
	Role      Role
	ExpiresAt time.Time
}

var errLinkGone = apperr.Errorf(apperr.ENOTFOUND,
	"This link has expired or has already been used. Ask an admin for a new one.")

// hashToken is how tokens are stored: SHA-256, hex. The tokens are 256
// random bits, so a fast hash is enough; a slow one would only slow every
// request.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func (s *Service) linkURL(token string) string {
	return s.cfg.BaseURL + "/staff/invite/" + token
}

// Invite creates a one-time link, valid for Config.InviteTTL (72 hours by
// default), with which the person at email creates their account with role.
// ECONFLICT if the email already has an account. A new link for the same
// email replaces any older one.
func (s *Service) Invite(ctx context.Context, email string, role Role, by *User) (*Link, error) {
	email = strings.TrimSpace(email)
	if err := validateEmail(email); err != nil {
		return nil, err
	}
	if err := validateRole(role); err != nil {
		return nil, err
	}
	if role == RolePartner {
		// A partner belongs to an organization, which a link cannot carry.
		return nil, apperr.Errorf(apperr.EINVALID, "Partners are added with `secondchance user add --role partner --organization ID`.")
	}
	now := s.clock()
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if _, err := findUser(ctx, tx, `email = ?`, email); err == nil {
		return nil, apperr.Errorf(apperr.ECONFLICT, "There is already an account for %s. To give them a new password, use Reset password.", email)
	} else if apperr.Code(err) != apperr.ENOTFOUND {
		return nil, err
	}
	link, err := s.insertLink(ctx, tx, now, kindInvite, email, role, by)
	if err != nil {
		return nil, err
	}
	var actor int64
	if by != nil {
		actor = by.ID
	}
	if err := event(ctx, tx, now, actor, "invite", fmt.Sprintf("invited %s as %s %s", email, role, byWhom(by))); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return link, nil
}

// ResetPassword is an admin's reset: the account's password stops working
// at once, its sessions end, its lockout clears, and the returned one-time
// link (valid like an invite) lets its owner set a new password. A disabled
// account must be enabled first.
func (s *Service) ResetPassword(ctx context.Context, userID int64, by *User) (*Link, error) {
	now := s.clock()
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	u, err := findUser(ctx, tx, `id = ?`, userID)
	if err != nil {
		return nil, err
	}
	if u.Disabled() {
		return nil, apperr.Errorf(apperr.EINVALID, "The account of %s is disabled. Enable it first, then reset the password.", u.Email)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE staff_user SET password_hash = '', password_set_at = NULL,
		failed_logins = 0, locked_until = NULL, updated_at = ? WHERE id = ?`, fmtTime(now), userID); err != nil {
		return nil, fmt.Errorf("reset password: %w", err)
	}
	if err := endUserSessions(ctx, tx, userID); err != nil {
		return nil, err
	}
	link, err := s.insertLink(ctx, tx, now, kindReset, u.Email, u.Role, by)
	if err != nil {
		return nil, err
	}
	if err := event(ctx, tx, now, userID, "reset", byWhom(by)); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return link, nil
}

// insertLink expires older links for email and stores a new one.
func (s *Service) insertLink(ctx context.Context, tx *sql.Tx, now time.Time, kind, email string, role Role, by *User) (*Link, error) {
	if err := expireLinks(ctx, tx, now, email); err != nil {
		return nil, err
	}
	token := randomToken()
	expires := now.Add(s.cfg.InviteTTL)
	if _, err := tx.ExecContext(ctx, `INSERT INTO staff_invite (token_hash, kind, email, role, created_at, expires_at, created_by)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, hashToken(token), kind, email, string(role), fmtTime(now), fmtTime(expires), byID(by)); err != nil {
		return nil, fmt.Errorf("store %s link: %w", kind, err)
	}
	return &Link{URL: s.linkURL(token), Email: email, Role: role, ExpiresAt: expires}, nil
}

// expireLinks ends every unused link for email.
func expireLinks(ctx context.Context, tx *sql.Tx, now time.Time, email string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE staff_invite SET expires_at = ? WHERE email = ? AND used_at IS NULL AND expires_at > ?`,
		fmtTime(now), email, fmtTime(now)); err != nil {
		return fmt.Errorf("expire old links: %w", err)
	}
	return nil
}

// pending returns the link for token if it can still be used.
func (s *Service) pending(ctx context.Context, token string) (*pendingLink, error) {
	if !validToken(token) {
		return nil, errLinkGone
	}
	var l pendingLink
	var role, expires string
	var used sql.NullString
	err := s.db.Read.QueryRowContext(ctx, `SELECT kind, email, role, expires_at, used_at FROM staff_invite WHERE token_hash = ?`,
		hashToken(token)).Scan(&l.Kind, &l.Email, &role, &expires, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errLinkGone
	} else if err != nil {
		return nil, fmt.Errorf("load link: %w", err)
	}
	l.Role = Role(role)
	if l.ExpiresAt, err = parseTime(expires); err != nil {
		return nil, err
	}
	if used.Valid || !s.clock().Before(l.ExpiresAt) {
		return nil, errLinkGone
	}
	return &l, nil
}

// AcceptInvite uses a one-time link: for an invitation it creates the
// account (with name, which may be empty), for a reset it sets the new
// password (name is ignored). A link works once; ENOTFOUND when it is
// unknown, used or expired, EINVALID for a weak password.
func (s *Service) AcceptInvite(ctx context.Context, token, name, password string) (*User, error) {
	l, err := s.pending(ctx, token)
	if err != nil {
		return nil, err
	}
	name = strings.TrimSpace(name)
	if err := validateName(name); err != nil {
		return nil, err
	}
	if err := checkPassword(password, l.Email); err != nil {
		return nil, err
	}
	hash, err := s.hashNew(ctx, password)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	// Claim the link in the same transaction that uses it: of two
	// submissions racing, exactly one gets a row here.
	res, err := tx.ExecContext(ctx, `UPDATE staff_invite SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?`,
		fmtTime(now), hashToken(token), fmtTime(now))
	if err != nil {
		return nil, fmt.Errorf("use link: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, errLinkGone
	}
	var id int64
	switch l.Kind {
	case kindInvite:
		if id, err = insertUser(ctx, tx, now, l.Email, name, l.Role, hash); err != nil {
			return nil, err
		}
		if err := event(ctx, tx, now, id, "invite_accepted", "account created, role "+string(l.Role)); err != nil {
			return nil, err
		}
	case kindReset:
		u, err := findUser(ctx, tx, `email = ?`, l.Email)
		if apperr.Code(err) == apperr.ENOTFOUND {
			return nil, errLinkGone
		} else if err != nil {
			return nil, err
		}
		if u.Disabled() {
			return nil, errLinkGone
		}
		id = u.ID
		if err := setPassword(ctx, tx, now, id, hash); err != nil {
			return nil, err
		}
		if err := event(ctx, tx, now, id, "password_set", "with a reset link"); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("link of unknown kind %q", l.Kind)
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return s.UserByID(ctx, id)
}

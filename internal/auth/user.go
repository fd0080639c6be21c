package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/secondchancekc/secondchance/internal/apperr"
)

// NewUser is an account to create with a password (the command line's
// `user add`; the admin page invites instead).
type NewUser struct {
	Email    string
	Name     string
	Role     Role
	Password string
	// OrganizationID is required for a partner and empty for the others.
	OrganizationID string
}

// Validate checks the email, name and role (not the password, which
// CreateUser checks against the email).
func (n NewUser) Validate() error {
	if err := validateEmail(n.Email); err != nil {
		return err
	}
	if err := validateRole(n.Role); err != nil {
		return err
	}
	if (n.Role == RolePartner) != (n.OrganizationID != "") {
		return apperr.Errorf(apperr.EINVALID, "A partner needs the id of their organization, and only a partner has one.")
	}
	return validateName(n.Name)
}

func validateEmail(email string) error {
	if email == "" {
		return apperr.Errorf(apperr.EINVALID, "Enter an email address.")
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" || len(email) > 254 || strings.ContainsAny(email, " \t\r\n") {
		return apperr.Errorf(apperr.EINVALID, "%q is not an email address like name@example.org.", email)
	}
	return nil
}

func validateRole(r Role) error {
	if !r.Valid() {
		return apperr.Errorf(apperr.EINVALID, "The role must be admin, staff or partner, not %q.", string(r))
	}
	return nil
}

func validateName(name string) error {
	if utf8.RuneCountInString(name) > 200 || strings.ContainsAny(name, "\r\n\x00") {
		return apperr.Errorf(apperr.EINVALID, "The name must be one line of at most 200 characters.")
	}
	return nil
}

const userCols = `id, email, name, role, password_hash, disabled_at, created_at, updated_at, failed_logins, locked_until, password_set_at, organization_id`

type scanner interface{ Scan(dest ...any) error }

func scanUser(row scanner) (*User, error) {
	var u User
	var role string
	var disabled, locked, pwSet sql.NullString
	var created, updated string
	if err := row.Scan(&u.ID, &u.Email, &u.Name, &role, &u.passwordHash, &disabled, &created, &updated,
		&u.FailedLogins, &locked, &pwSet, &u.OrganizationID); err != nil {
		return nil, err
	}
	u.Role = Role(role)
	var err error
	if u.DisabledAt, err = parseNullTime(disabled); err != nil {
		return nil, err
	}
	if u.LockedUntil, err = parseNullTime(locked); err != nil {
		return nil, err
	}
	if u.PasswordSetAt, err = parseNullTime(pwSet); err != nil {
		return nil, err
	}
	if u.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if u.UpdatedAt, err = parseTime(updated); err != nil {
		return nil, err
	}
	return &u, nil
}

// findUser loads one account; ENOTFOUND when there is none.
func findUser(ctx context.Context, q querier, where string, args ...any) (*User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userCols+` FROM staff_user WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFoundUser
	}
	if err != nil {
		return nil, fmt.Errorf("load staff user: %w", err)
	}
	return u, nil
}

// UserByID returns the account with id; ENOTFOUND when there is none.
func (s *Service) UserByID(ctx context.Context, id int64) (*User, error) {
	return findUser(ctx, s.db.Read, `id = ?`, id)
}

// UserByEmail returns the account with email (case-insensitive); ENOTFOUND
// when there is none.
func (s *Service) UserByEmail(ctx context.Context, email string) (*User, error) {
	return findUser(ctx, s.db.Read, `email = ?`, strings.TrimSpace(email))
}

// Users returns every account, admins first, then by email.
func (s *Service) Users(ctx context.Context) ([]*User, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+userCols+` FROM staff_user ORDER BY role = 'staff', email`)
	if err != nil {
		return nil, fmt.Errorf("list staff users: %w", err)
	}
	defer rows.Close()
	var us []*User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		us = append(us, u)
	}
	return us, rows.Err()
}

// CreateUser adds an account with a password. ECONFLICT if the email is
// taken (case-insensitively), EINVALID for a bad field or weak password.
func (s *Service) CreateUser(ctx context.Context, n NewUser) (*User, error) {
	n.Email, n.Name = strings.TrimSpace(n.Email), strings.TrimSpace(n.Name)
	if err := n.Validate(); err != nil {
		return nil, err
	}
	if err := checkPassword(n.Password, n.Email); err != nil {
		return nil, err
	}
	hash, err := s.hashNew(ctx, n.Password)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	id, err := insertUser(ctx, tx, now, n.Email, n.Name, n.Role, hash)
	if err != nil {
		return nil, err
	}
	if n.OrganizationID != "" {
		if _, err := tx.ExecContext(ctx, `UPDATE staff_user SET organization_id = ? WHERE id = ?`, n.OrganizationID, id); err != nil {
			return nil, err
		}
	}
	if err := event(ctx, tx, now, id, "user_created", fmt.Sprintf("role %s, %s", n.Role, byWhom(nil))); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return s.UserByID(ctx, id)
}

// insertUser adds an account row; a taken email is ECONFLICT. The caller's
// transaction is IMMEDIATE (see db.dsn), so the check cannot race.
func insertUser(ctx context.Context, tx *sql.Tx, now time.Time, email, name string, role Role, hash string) (int64, error) {
	var taken int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM staff_user WHERE email = ?`, email).Scan(&taken); err != nil {
		return 0, err
	}
	if taken > 0 {
		return 0, apperr.Errorf(apperr.ECONFLICT, "There is already an account for %s.", email)
	}
	var pwSet any
	if hash != "" {
		pwSet = fmtTime(now)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO staff_user (email, name, role, password_hash, created_at, updated_at, password_set_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, email, name, string(role), hash, fmtTime(now), fmtTime(now), pwSet)
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return 0, apperr.Errorf(apperr.ECONFLICT, "There is already an account for %s.", email)
		}
		return 0, fmt.Errorf("insert staff user: %w", err)
	}
	return res.LastInsertId()
}

// SetPassword gives the account a new password, clears any lockout and ends
// all its sessions (whoever knew the old password is signed out).
func (s *Service) SetPassword(ctx context.Context, userID int64, password string) error {
	u, err := s.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	if err := checkPassword(password, u.Email); err != nil {
		return err
	}
	hash, err := s.hashNew(ctx, password)
	if err != nil {
		return err
	}
	now := s.clock()
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := setPassword(ctx, tx, now, userID, hash); err != nil {
		return err
	}
	if err := event(ctx, tx, now, userID, "password_set", ""); err != nil {
		return err
	}
	return tx.Commit()
}

func setPassword(ctx context.Context, tx *sql.Tx, now time.Time, userID int64, hash string) error {
	res, err := tx.ExecContext(ctx, `UPDATE staff_user SET password_hash = ?, password_set_at = ?, updated_at = ?,
		failed_logins = 0, locked_until = NULL WHERE id = ?`, hash, fmtTime(now), fmtTime(now), userID)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errNotFoundUser
	}
	return endUserSessions(ctx, tx, userID)
}

// Disable stops the account from signing in and ends its sessions and any
// pending invite or reset link for it. by is the admin doing it (nil: the
// command line); an admin cannot disable themself.
func (s *Service) Disable(ctx context.Context, userID int64, by *User) error {
	if by != nil && by.ID == userID {
		return apperr.Errorf(apperr.EINVALID, "You cannot disable your own account. Ask another admin.")
	}
	now := s.clock()
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	u, err := findUser(ctx, tx, `id = ?`, userID)
	if err != nil {
		return err
	}
	if u.Disabled() {
		return tx.Commit() // already: nothing to change, nothing to record
	}
	if _, err := tx.ExecContext(ctx, `UPDATE staff_user SET disabled_at = ?, updated_at = ? WHERE id = ?`,
		fmtTime(now), fmtTime(now), userID); err != nil {
		return fmt.Errorf("disable: %w", err)
	}
	if err := endUserSessions(ctx, tx, userID); err != nil {
		return err
	}
	if err := expireLinks(ctx, tx, now, u.Email); err != nil {
		return err
	}
	if err := event(ctx, tx, now, userID, "disable", byWhom(by)); err != nil {
		return err
	}
	return tx.Commit()
}

// Enable lets a disabled account sign in again (with its old password, if
// it still has one).
func (s *Service) Enable(ctx context.Context, userID int64, by *User) error {
	now := s.clock()
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	u, err := findUser(ctx, tx, `id = ?`, userID)
	if err != nil {
		return err
	}
	if !u.Disabled() {
		return tx.Commit()
	}
	if _, err := tx.ExecContext(ctx, `UPDATE staff_user SET disabled_at = NULL, failed_logins = 0, locked_until = NULL,
		updated_at = ? WHERE id = ?`, fmtTime(now), userID); err != nil {
		return fmt.Errorf("enable: %w", err)
	}
	if err := event(ctx, tx, now, userID, "enable", byWhom(by)); err != nil {
		return err
	}
	return tx.Commit()
}

// errBadLogin is the one answer to a wrong email, wrong password, disabled
// account or account without a password: which of those it was is nobody's
// business before sign-in.
var errBadLogin = apperr.Errorf(apperr.EUNAUTHORIZED, "The email or password is wrong.")

// lockedError is the ETOOMANY answer for a locked account; it carries the
// time so that the login page can send Retry-After.
type lockedError struct {
	until time.Time
	err   *apperr.Error
}

func (e *lockedError) Error() string { return e.err.Error() }
func (e *lockedError) Unwrap() error { return e.err }

func (s *Service) lockedErr(until, now time.Time) error {
	mins := int(math.Ceil(until.Sub(now).Minutes()))
	return &lockedError{until: until, err: apperr.Errorf(apperr.ETOOMANY,
		"This account is locked for a while after too many wrong passwords. Try again after %s (in %d minute%s), or ask an admin to reset your password.",
		until.In(s.cfg.Location).Format("3:04 PM MST"), mins, plural(mins))}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Authenticate checks an email and password. It answers EUNAUTHORIZED with
// one generic message for every kind of failure, except a locked account,
// which is ETOOMANY saying when to try again. Each wrong password for an
// account counts toward its lockout; a right one clears the count.
func (s *Service) Authenticate(ctx context.Context, email, password string) (*User, error) {
	email = strings.TrimSpace(email)
	now := s.clock()
	u, err := s.UserByEmail(ctx, email)
	if apperr.Code(err) == apperr.ENOTFOUND {
		if _, err := s.verify(ctx, "", password); err != nil {
			return nil, err
		}
		return nil, s.recordEvent(ctx, now, 0, "login_failed", "unknown email", errBadLogin)
	} else if err != nil {
		return nil, err
	}
	if u.Disabled() {
		if _, err := s.verify(ctx, "", password); err != nil {
			return nil, err
		}
		return nil, s.recordEvent(ctx, now, u.ID, "login_failed", "account disabled", errBadLogin)
	}
	if now.Before(u.LockedUntil) {
		return nil, s.recordEvent(ctx, now, u.ID, "login_failed", "account locked", s.lockedErr(u.LockedUntil, now))
	}
	ok, err := s.verify(ctx, u.passwordHash, password)
	if err != nil {
		return nil, fmt.Errorf("verify password of user %d: %w", u.ID, err)
	}
	if !ok {
		return nil, s.recordFailure(ctx, u, now)
	}
	if u.FailedLogins != 0 || !u.LockedUntil.IsZero() {
		if _, err := s.db.Write.ExecContext(ctx, `UPDATE staff_user SET failed_logins = 0, locked_until = NULL WHERE id = ?`, u.ID); err != nil {
			return nil, fmt.Errorf("clear failed sign-ins: %w", err)
		}
		u.FailedLogins, u.LockedUntil = 0, time.Time{}
	}
	return u, nil
}

// recordEvent writes an audit event and returns answer (or the write error).
func (s *Service) recordEvent(ctx context.Context, now time.Time, userID int64, name, detail string, answer error) error {
	if err := event(ctx, s.db.Write, now, userID, name, detail); err != nil {
		return err
	}
	return answer
}

// recordFailure counts a wrong password and locks the account when the count
// reaches the limit. The increment happens in SQL so that parallel attempts
// cannot each see the same count.
func (s *Service) recordFailure(ctx context.Context, u *User, now time.Time) error {
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `UPDATE staff_user SET failed_logins = failed_logins + 1 WHERE id = ? RETURNING failed_logins`,
		u.ID).Scan(&n); err != nil {
		return fmt.Errorf("count failed sign-in: %w", err)
	}
	answer := errBadLogin
	if n >= s.cfg.MaxFailures {
		until := now.Add(s.cfg.Lockout)
		if _, err := tx.ExecContext(ctx, `UPDATE staff_user SET failed_logins = 0, locked_until = ? WHERE id = ?`,
			fmtTime(until), u.ID); err != nil {
			return fmt.Errorf("lock account: %w", err)
		}
		if err := event(ctx, tx, now, u.ID, "lockout", fmt.Sprintf("after %d wrong passwords, until %s", n, fmtTime(until))); err != nil {
			return err
		}
		s.log.Warn("staff account locked after repeated wrong passwords", "user_id", u.ID, "until", until)
		if err := tx.Commit(); err != nil {
			return err
		}
		return s.lockedErr(until, now)
	}
	if err := event(ctx, tx, now, u.ID, "login_failed", fmt.Sprintf("wrong password (%d of %d)", n, s.cfg.MaxFailures)); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	return answer
}

// Package auth is staff sign-in: staff and admin accounts with argon2id
// password hashes, server-side sessions stored in SQLite, CSRF tokens,
// per-IP throttling and per-account lockout, one-time invite and reset links,
// and the echo middleware that keeps every /staff page and /api/staff
// endpoint behind a login.
//
// The people in this system are justice-involved; their phone numbers and
// needs must never be reachable without a login. Register therefore installs
// a guard on the whole echo instance rather than trusting every package to
// wrap its own routes: any request whose path is under /staff or /api/staff
// needs a live session (except the login, logout and invite-acceptance
// pages), and every unsafe method there needs the session's CSRF token.
package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/internal/db"
	"github.com/secondchancekc/secondchance/templates"
)

// Defaults applied by New to zero fields of Config.
const (
	DefaultIdleTimeout      = 30 * time.Minute
	DefaultAbsoluteTimeout  = 12 * time.Hour
	DefaultMaxFailures      = 5
	DefaultLockout          = 15 * time.Minute
	DefaultThrottleFailures = 20
	DefaultThrottleWindow   = 15 * time.Minute
	DefaultInviteTTL        = 72 * time.Hour
	DefaultHomePath         = "/staff/"
)

// Config is how the Service behaves, as plain values from cmd. Zero fields
// take the Default* values.
type Config struct {
	// BaseURL is the public URL of the site. One-time links are built on it,
	// and cookies are marked Secure when it is https.
	BaseURL string
	// Location is the zone times are shown in (lockout messages, link
	// expiry). Nil means UTC.
	Location *time.Location
	// IdleTimeout ends a session not used for this long; AbsoluteTimeout
	// ends any session this long after sign-in.
	IdleTimeout, AbsoluteTimeout time.Duration
	// MaxFailures wrong passwords in a row lock the account for Lockout.
	MaxFailures int
	Lockout     time.Duration
	// ThrottleFailures failed sign-ins from one address (an IPv4 address or
	// an IPv6 /64) within ThrottleWindow refuse further attempts from it
	// with 429 until the window ends, whichever accounts they name.
	ThrottleFailures int
	ThrottleWindow   time.Duration
	// InviteTTL is how long invite and reset links stay valid.
	InviteTTL time.Duration
	// HomePath is where staff land after signing in when no page asked for
	// them to come back.
	HomePath string
	// Logger receives warnings (lockouts, throttling). Nil: slog.Default().
	Logger *slog.Logger
	// Pages renders the sign-in and account pages: the one renderer cmd
	// builds with templates.New and PageViewer. Nil: New builds one.
	Pages *templates.Renderer
}

func (c Config) withDefaults() Config {
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	set(&c.IdleTimeout, DefaultIdleTimeout)
	set(&c.AbsoluteTimeout, DefaultAbsoluteTimeout)
	set(&c.Lockout, DefaultLockout)
	set(&c.ThrottleWindow, DefaultThrottleWindow)
	set(&c.InviteTTL, DefaultInviteTTL)
	if c.MaxFailures == 0 {
		c.MaxFailures = DefaultMaxFailures
	}
	if c.ThrottleFailures == 0 {
		c.ThrottleFailures = DefaultThrottleFailures
	}
	if c.HomePath == "" {
		c.HomePath = DefaultHomePath
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	return c
}

// Validate reports what is wrong with c (after defaults) in words an operator
// can act on.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("auth: base URL %q: want an absolute http(s) URL such as https://example.org", c.BaseURL))
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"idle timeout", c.IdleTimeout}, {"absolute timeout", c.AbsoluteTimeout}, {"lockout", c.Lockout},
		{"throttle window", c.ThrottleWindow}, {"invite lifetime", c.InviteTTL},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("auth: %s %s: must be positive", d.name, d.v))
		}
	}
	if c.MaxFailures < 0 || c.ThrottleFailures < 0 {
		errs = append(errs, errors.New("auth: failure limits must be positive"))
	}
	if !strings.HasPrefix(c.HomePath, "/staff") {
		errs = append(errs, fmt.Errorf("auth: home path %q: must be a page under /staff", c.HomePath))
	}
	return errors.Join(errs...)
}

// Service is staff accounts, sessions and sign-in. Build it with New; it is
// safe for concurrent use.
type Service struct {
	db     *db.DB
	now    func() time.Time
	cfg    Config
	secure bool
	log    *slog.Logger

	hash argonParams
	// dummyHash is verified for unknown emails, so that timing does not
	// tell which emails have accounts. Made on first use, at s.hash's cost.
	dummyOnce sync.Once
	dummyHash string
	dummyErr  error
	hashSlots chan struct{} // argon2id takes ~19 MiB each; bound how many run at once
	throttle  *throttle
	pages     *templates.Renderer
}

// New returns a Service on d. now is the clock (nil: time.Now); tests pass a
// fake one to step through timeouts and lockouts.
func New(d *db.DB, now func() time.Time, cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if now == nil {
		now = time.Now
	}
	pages := cfg.Pages
	if pages == nil {
		var err error
		if pages, err = templates.New(templates.Options{Viewer: PageViewer}); err != nil {
			return nil, err
		}
	}
	s := &Service{
		db: d, now: now, cfg: cfg, log: cfg.Logger,
		secure:    strings.HasPrefix(cfg.BaseURL, "https://"),
		hash:      defaultArgon,
		hashSlots: make(chan struct{}, max(2, runtime.NumCPU())),
		throttle:  newThrottle(cfg.ThrottleFailures, cfg.ThrottleWindow),
		pages:     pages,
	}
	return s, nil
}

// setHashParams changes the argon2id cost of new hashes; tests lower it
// before first use.
func (s *Service) setHashParams(p argonParams) { s.hash = p }

// dummy returns the hash checked in place of a missing one.
func (s *Service) dummy() (string, error) {
	s.dummyOnce.Do(func() { s.dummyHash, s.dummyErr = hashPassword(s.hash, randomToken()) })
	return s.dummyHash, s.dummyErr
}

// Role is what a staff member may do: admins also manage staff accounts.
type Role string

// The roles.
const (
	RoleAdmin Role = "admin"
	RoleStaff Role = "staff"
	// RolePartner is a partner organization's user: tied to one
	// organization (User.OrganizationID), they reach only the directory
	// pages, see only that organization's listings, and their changes are
	// proposals for staff to approve. Never any referral data.
	RolePartner Role = "partner"
)

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleStaff || r == RolePartner }

// User is a staff account. The password hash never leaves the package.
type User struct {
	ID    int64
	Email string
	Name  string
	Role  Role
	// OrganizationID is a partner's organization (an HSDS id); "" for
	// staff and admins.
	OrganizationID string
	// DisabledAt is when an admin disabled the account; zero when active.
	DisabledAt time.Time
	// FailedLogins counts wrong passwords since the last success or lockout.
	FailedLogins int
	// LockedUntil is the end of the current (or last) lockout.
	LockedUntil time.Time
	// PasswordSetAt is zero when no password works: a reset is pending.
	PasswordSetAt time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time

	passwordHash string
}

// IsAdmin reports whether u may manage staff accounts.
func (u *User) IsAdmin() bool { return u != nil && u.Role == RoleAdmin }

// IsPartner reports whether u is a partner organization's user.
func (u *User) IsPartner() bool { return u != nil && u.Role == RolePartner }

// Disabled reports whether an admin has disabled u.
func (u *User) Disabled() bool { return !u.DisabledAt.IsZero() }

// DisplayName is the name, or the email when there is no name.
func (u *User) DisplayName() string {
	if u.Name != "" {
		return u.Name
	}
	return u.Email
}

// timeFormat is fixed-width so that stored times compare correctly as text.
const timeFormat = "2006-01-02T15:04:05Z"

func fmtTime(t time.Time) string { return t.UTC().Truncate(time.Second).Format(timeFormat) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeFormat, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t, nil
}

func parseNullTime(s sql.NullString) (time.Time, error) {
	if !s.Valid || s.String == "" {
		return time.Time{}, nil
	}
	return parseTime(s.String)
}

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// event appends to the audit trail. userID 0 means no account (an unknown
// email).
func event(ctx context.Context, q querier, at time.Time, userID int64, name, detail string) error {
	var uid any
	if userID != 0 {
		uid = userID
	}
	_, err := q.ExecContext(ctx, `INSERT INTO auth_event (user_id, event, at, detail) VALUES (?, ?, ?, ?)`,
		uid, name, fmtTime(at), detail)
	if err != nil {
		return fmt.Errorf("record %s: %w", name, err)
	}
	return nil
}

// byWhom names the actor of an admin action for the audit trail.
func byWhom(by *User) string {
	if by == nil {
		return "by the command line"
	}
	return fmt.Sprintf("by %s (id %d)", by.Email, by.ID)
}

func byID(by *User) any {
	if by == nil {
		return nil
	}
	return by.ID
}

// showTime formats t for people in the configured zone.
func (s *Service) showTime(t time.Time) string {
	return t.In(s.cfg.Location).Format("Mon 2 Jan 2006 3:04 PM MST")
}

// clock returns the current time to the second, in UTC.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Second) }

var errNotFoundUser = apperr.Errorf(apperr.ENOTFOUND, "No staff account has that email or id.")

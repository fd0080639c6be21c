package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/secondchancekc/secondchance/internal/apperr"
)

func TestPasswordHashing(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t, Config{})
	ctx := context.Background()
	u := mustUser(t, svc, adminEmail, adminPass, RoleAdmin)

	var stored string
	if err := svc.db.Read.QueryRow(`SELECT password_hash FROM staff_user WHERE id = ?`, u.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "$argon2id$v=19$") || strings.Contains(stored, adminPass) {
		t.Fatalf("stored password is not an argon2id hash: %q", stored)
	}
	if ok, err := verifyPassword(stored, adminPass); !ok || err != nil {
		t.Errorf("right password does not verify: %v %v", ok, err)
	}
	if ok, _ := verifyPassword(stored, adminPass+"x"); ok {
		t.Error("wrong password verifies")
	}
	// Same password, different salt.
	other := mustUser(t, svc, staffEmail, adminPass, RoleStaff)
	var stored2 string
	svc.db.Read.QueryRow(`SELECT password_hash FROM staff_user WHERE id = ?`, other.ID).Scan(&stored2)
	if stored2 == stored {
		t.Error("two accounts with one password have the same hash: no salt")
	}
	// No plaintext anywhere in the database file's tables.
	var n int
	svc.db.Read.QueryRow(`SELECT COUNT(*) FROM auth_event WHERE detail LIKE ?`, "%"+adminPass+"%").Scan(&n)
	if n != 0 {
		t.Error("the password appears in the audit trail")
	}
	// The production cost is OWASP's argon2id minimum, and verifies.
	h, err := hashPassword(defaultArgon, "a long enough password")
	if err != nil || !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("default hash %q %v", h, err)
	}
	if ok, err := verifyPassword(h, "a long enough password"); !ok || err != nil {
		t.Errorf("default-cost hash does not verify: %v", err)
	}
	for _, bad := range []string{"", "plain", "$argon2id$v=19$m=99999999,t=2,p=1$AAAA$AAAA", "$2a$10$abcdefghijklmnopqrstuv"} {
		if ok, err := verifyPassword(bad, "x"); ok || err == nil {
			t.Errorf("verifyPassword(%q) = %v, %v; want an error", bad, ok, err)
		}
	}
	if _, err := svc.Authenticate(ctx, adminEmail, adminPass); err != nil {
		t.Errorf("Authenticate with the right password: %v", err)
	}
}

func TestPasswordRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		Password, Email string
		OK              bool
		Contains        string
	}{
		{"short pass", "a@b.org", false, "at least 12"},
		{"elevenchars", "a@b.org", false, "at least 12"},
		{"twelve chars", "a@b.org", true, ""},
		{"maria.lopez@kc.org", "maria.lopez@kc.org", false, "email"},
		{"MARIA.LOPEZ@KC.ORG", "maria.lopez@kc.org", false, "email"},
		{"maria.lopez1", "maria.lopez@kc.org", false, "email"},
		{"password1234", "a@b.org", false, "too common"},
		{"Password1234", "a@b.org", false, "too common"},
		{"SecondChanceKC", "a@b.org", false, "too common"},
		{"aaaaaaaaaaaaaaa", "a@b.org", false, "too common"},
		{"ñññññññññññññ", "a@b.org", false, "too common"},
		{strings.Repeat("ab", 129), "a@b.org", false, "at most 256"},
		{"días de sol y lluvia", "a@b.org", true, ""},
	} {
		err := checkPassword(tc.Password, tc.Email)
		if tc.OK != (err == nil) || (err != nil && (apperr.Code(err) != apperr.EINVALID || !strings.Contains(apperr.Message(err), tc.Contains))) {
			t.Errorf("checkPassword(%q, %q) = %v", tc.Password, tc.Email, err)
		}
	}
}

func TestCreateUser(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t, Config{})
	ctx := context.Background()
	u := mustUser(t, svc, "Ada@SecondChanceKC.org", adminPass, RoleAdmin)
	if u.ID == 0 || u.Role != RoleAdmin || u.PasswordSetAt.IsZero() || u.Disabled() {
		t.Errorf("created %+v", u)
	}
	for _, tc := range []struct {
		Name string
		In   NewUser
		Code string
	}{
		{"duplicate, other case", NewUser{Email: "ada@secondchancekc.org", Role: RoleStaff, Password: staffPass}, apperr.ECONFLICT},
		{"bad email", NewUser{Email: "not an email", Role: RoleStaff, Password: staffPass}, apperr.EINVALID},
		{"display name form", NewUser{Email: "Sam <sam@x.org>", Role: RoleStaff, Password: staffPass}, apperr.EINVALID},
		{"no email", NewUser{Role: RoleStaff, Password: staffPass}, apperr.EINVALID},
		{"bad role", NewUser{Email: "sam@x.org", Role: "root", Password: staffPass}, apperr.EINVALID},
		{"weak password", NewUser{Email: "sam@x.org", Role: RoleStaff, Password: "short"}, apperr.EINVALID},
		{"two-line name", NewUser{Email: "sam@x.org", Name: "a\nb", Role: RoleStaff, Password: staffPass}, apperr.EINVALID},
	} {
		if _, err := svc.CreateUser(ctx, tc.In); apperr.Code(err) != tc.Code {
			t.Errorf("%s: %v, want %s", tc.Name, err, tc.Code)
		}
	}
	got, err := svc.UserByEmail(ctx, "ADA@secondchancekc.org")
	if err != nil || got.ID != u.ID {
		t.Errorf("lookup by email ignores case: %v %v", got, err)
	}
	if _, err := svc.UserByID(ctx, 999); apperr.Code(err) != apperr.ENOTFOUND {
		t.Errorf("missing user: %v", err)
	}
	us, err := svc.Users(ctx)
	if err != nil || len(us) != 1 {
		t.Errorf("Users: %v %v", us, err)
	}
}

func TestAuthenticateAndLockout(t *testing.T) {
	t.Parallel()
	svc, clk := newService(t, Config{})
	ctx := context.Background()
	u := mustUser(t, svc, staffEmail, staffPass, RoleStaff)

	// Every failure but lockout has one message.
	_, errUnknown := svc.Authenticate(ctx, "nobody@x.org", staffPass)
	_, errWrong := svc.Authenticate(ctx, staffEmail, "wrong password!")
	if apperr.Code(errUnknown) != apperr.EUNAUTHORIZED || apperr.Message(errUnknown) != apperr.Message(errWrong) {
		t.Fatalf("unknown email %v, wrong password %v: want the same EUNAUTHORIZED", errUnknown, errWrong)
	}
	// A success clears the count.
	if _, err := svc.Authenticate(ctx, " "+strings.ToUpper(staffEmail)+" ", staffPass); err != nil {
		t.Fatalf("right password (other case, spaces): %v", err)
	}
	got, _ := svc.UserByID(ctx, u.ID)
	if got.FailedLogins != 0 {
		t.Errorf("failed count %d after success", got.FailedLogins)
	}
	for i := 1; i <= 4; i++ {
		if _, err := svc.Authenticate(ctx, staffEmail, "wrong password!"); apperr.Code(err) != apperr.EUNAUTHORIZED {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	_, err := svc.Authenticate(ctx, staffEmail, "wrong password!")
	var le *lockedError
	if !errors.As(err, &le) || apperr.Code(err) != apperr.ETOOMANY || !strings.Contains(apperr.Message(err), "Try again after 3:15 PM UTC (in 15 minutes)") {
		t.Fatalf("5th failure: %v, want a lockout saying when", err)
	}
	// Locked: even the right password is refused, and says when.
	clk.Add(14 * time.Minute)
	if _, err := svc.Authenticate(ctx, staffEmail, staffPass); apperr.Code(err) != apperr.ETOOMANY || !strings.Contains(apperr.Message(err), "in 1 minute)") {
		t.Fatalf("right password while locked: %v", err)
	}
	clk.Add(time.Minute)
	if _, err := svc.Authenticate(ctx, staffEmail, staffPass); err != nil {
		t.Fatalf("right password after the lockout: %v", err)
	}
	evs := strings.Join(events(t, svc), " ")
	if !strings.Contains(evs, "login_failed") || strings.Count(evs, "lockout") != 1 {
		t.Errorf("audit trail %s", evs)
	}
}

func TestInviteService(t *testing.T) {
	t.Parallel()
	svc, clk := newService(t, Config{})
	ctx := context.Background()
	admin := mustUser(t, svc, adminEmail, adminPass, RoleAdmin)

	link, err := svc.Invite(ctx, "new@x.org", RoleStaff, admin)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link.URL, "http://staff.test/staff/invite/") || !link.ExpiresAt.Equal(clk.Now().Add(72*time.Hour)) {
		t.Errorf("link %+v", link)
	}
	token := link.URL[strings.LastIndex(link.URL, "/")+1:]
	var n int
	svc.db.Read.QueryRow(`SELECT COUNT(*) FROM staff_invite WHERE token_hash = ?`, token).Scan(&n)
	if n != 0 {
		t.Error("the invite token is stored in clear")
	}
	if _, err := svc.Invite(ctx, adminEmail, RoleStaff, admin); apperr.Code(err) != apperr.ECONFLICT {
		t.Errorf("invite of an existing account: %v", err)
	}
	if _, err := svc.AcceptInvite(ctx, token, "New Person", "short"); apperr.Code(err) != apperr.EINVALID {
		t.Errorf("weak password: %v", err)
	}
	u, err := svc.AcceptInvite(ctx, token, "New Person", "a garden of lemons")
	if err != nil || u.Email != "new@x.org" || u.Role != RoleStaff || u.Name != "New Person" {
		t.Fatalf("accept: %+v %v", u, err)
	}
	if _, err := svc.AcceptInvite(ctx, token, "", "another fine password"); apperr.Code(err) != apperr.ENOTFOUND {
		t.Errorf("second use: %v", err)
	}
	if _, err := svc.Authenticate(ctx, "new@x.org", "a garden of lemons"); err != nil {
		t.Errorf("sign in after accepting: %v", err)
	}

	// Expiry: 72 hours.
	link2, _ := svc.Invite(ctx, "later@x.org", RoleAdmin, nil)
	token2 := link2.URL[strings.LastIndex(link2.URL, "/")+1:]
	clk.Add(72*time.Hour - time.Second)
	if _, err := svc.pending(ctx, token2); err != nil {
		t.Errorf("link a second before expiry: %v", err)
	}
	clk.Add(time.Second)
	if _, err := svc.AcceptInvite(ctx, token2, "", "a garden of lemons"); apperr.Code(err) != apperr.ENOTFOUND {
		t.Errorf("expired link: %v", err)
	}

	// A newer link replaces an older one.
	a, _ := svc.Invite(ctx, "twice@x.org", RoleStaff, admin)
	b, _ := svc.Invite(ctx, "twice@x.org", RoleStaff, admin)
	if _, err := svc.AcceptInvite(ctx, a.URL[strings.LastIndex(a.URL, "/")+1:], "", "a garden of lemons"); apperr.Code(err) != apperr.ENOTFOUND {
		t.Errorf("older link still works: %v", err)
	}
	if _, err := svc.AcceptInvite(ctx, b.URL[strings.LastIndex(b.URL, "/")+1:], "", "a garden of lemons"); err != nil {
		t.Errorf("newer link: %v", err)
	}
	for _, bad := range []string{"", "x", strings.Repeat("A", 43), "../../etc/passwd"} {
		if _, err := svc.AcceptInvite(ctx, bad, "", "a garden of lemons"); apperr.Code(err) != apperr.ENOTFOUND {
			t.Errorf("token %q: %v", bad, err)
		}
	}
}

func TestResetAndDisableService(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t, Config{})
	ctx := context.Background()
	admin := mustUser(t, svc, adminEmail, adminPass, RoleAdmin)
	staff := mustUser(t, svc, staffEmail, staffPass, RoleStaff)
	if _, _, err := svc.startSession(ctx, staff, "", "203.0.113.9", "test"); err != nil {
		t.Fatal(err)
	}
	if ss, _ := svc.Sessions(ctx, staff.ID); len(ss) != 1 || ss[0].IPPrefix != "203.0.113.0/24" || ss[0].CSRFToken != "" {
		t.Fatalf("sessions %+v", ss)
	}

	link, err := svc.ResetPassword(ctx, staff.ID, admin)
	if err != nil {
		t.Fatal(err)
	}
	if ss, _ := svc.Sessions(ctx, staff.ID); len(ss) != 0 {
		t.Errorf("%d sessions after reset", len(ss))
	}
	if _, err := svc.Authenticate(ctx, staffEmail, staffPass); apperr.Code(err) != apperr.EUNAUTHORIZED {
		t.Errorf("old password after reset: %v", err)
	}
	token := link.URL[strings.LastIndex(link.URL, "/")+1:]
	if _, err := svc.AcceptInvite(ctx, token, "ignored", "a brand new password"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, staffEmail, "a brand new password"); err != nil {
		t.Errorf("new password: %v", err)
	}

	if err := svc.Disable(ctx, admin.ID, admin); apperr.Code(err) != apperr.EINVALID {
		t.Errorf("disable yourself: %v", err)
	}
	svc.startSession(ctx, staff, "", "2001:db8:1:2::9", "test")
	link2, _ := svc.ResetPassword(ctx, staff.ID, admin)
	svc.AcceptInvite(ctx, link2.URL[strings.LastIndex(link2.URL, "/")+1:], "", "yet another password")
	svc.startSession(ctx, staff, "", "2001:db8:1:2::9", "test")
	link3, _ := svc.ResetPassword(ctx, staff.ID, admin)
	svc.SetPassword(ctx, staff.ID, "set by command line ok")
	svc.startSession(ctx, staff, "", "2001:db8:1:2::9", "test")
	if ss, _ := svc.Sessions(ctx, staff.ID); len(ss) != 1 || ss[0].IPPrefix != "2001:db8:1::/48" {
		t.Fatalf("sessions %+v", ss)
	}
	if err := svc.Disable(ctx, staff.ID, admin); err != nil {
		t.Fatal(err)
	}
	if ss, _ := svc.Sessions(ctx, staff.ID); len(ss) != 0 {
		t.Errorf("%d sessions after disable", len(ss))
	}
	if _, err := svc.Authenticate(ctx, staffEmail, "set by command line ok"); apperr.Code(err) != apperr.EUNAUTHORIZED {
		t.Errorf("disabled account signs in: %v", err)
	}
	if _, err := svc.ResetPassword(ctx, staff.ID, admin); apperr.Code(err) != apperr.EINVALID {
		t.Errorf("reset of a disabled account: %v", err)
	}
	// Disabling expired the pending reset link.
	if _, err := svc.AcceptInvite(ctx, link3.URL[strings.LastIndex(link3.URL, "/")+1:], "", "sneaky new password"); apperr.Code(err) != apperr.ENOTFOUND {
		t.Errorf("reset link of a disabled account: %v", err)
	}
	if err := svc.Enable(ctx, staff.ID, admin); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, staffEmail, "set by command line ok"); err != nil {
		t.Errorf("enabled account: %v", err)
	}
	evs := strings.Join(events(t, svc), " ")
	for _, want := range []string{"user_created", "login", "reset", "password_set", "disable", "enable"} {
		if !strings.Contains(evs, want) {
			t.Errorf("no %s in the audit trail: %s", want, evs)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []Config{
		{BaseURL: "staff.test"},
		{BaseURL: "ftp://x.org"},
		{IdleTimeout: -time.Second},
		{HomePath: "/"},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if err := (Config{BaseURL: "https://secondchancekc.org/"}).Validate(); err != nil {
		t.Error(err)
	}
}

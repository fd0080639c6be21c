package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secondchancekc/secondchance/internal/auth"
	"github.com/secondchancekc/secondchance/internal/db"
)

// runStdin runs the command line with stdin and returns exit status, stdout
// and stderr.
func runStdin(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRoot(&out, &errb)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	code := exitCode(root.Execute(), &errb)
	return code, out.String(), errb.String()
}

func TestUserCommands(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("SECONDCHANCE_BASE_URL", "https://kc.example")
	data := filepath.Join(dir, "var")
	run := func(stdin string, a ...string) (int, string, string) {
		t.Helper()
		return runStdin(t, stdin, append(a, "--data-dir", data)...)
	}

	code, out, errs := run("correct horse battery\n", "user", "add", "--email", "ada@secondchancekc.org", "--role", "admin", "--name", "Ada Ortiz", "--password-stdin")
	if code != 0 || !strings.Contains(out, "created admin ada@secondchancekc.org (id 1)") {
		t.Fatalf("user add: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = run("purple monkey dishwasher", "user", "add", "--email", "sam@secondchancekc.org", "--role", "staff", "--password-stdin")
	if code != 0 {
		t.Fatalf("user add without a final newline: exit %d %s %s", code, out, errs)
	}

	for _, tc := range []struct {
		Name     string
		Stdin    string
		Args     []string
		Code     int
		Contains string
	}{
		{"duplicate", "another good password\n", []string{"user", "add", "--email", "ADA@secondchancekc.org", "--role", "staff", "--password-stdin"}, 1, "already an account"},
		{"weak password", "short\n", []string{"user", "add", "--email", "x@secondchancekc.org", "--role", "staff", "--password-stdin"}, 1, "at least 12 characters"},
		{"password is the email", "x.person@secondchancekc.org\n", []string{"user", "add", "--email", "x.person@secondchancekc.org", "--role", "staff", "--password-stdin"}, 1, "must not be your email"},
		{"empty stdin", "", []string{"user", "add", "--email", "x@secondchancekc.org", "--role", "staff", "--password-stdin"}, 1, "no password"},
		{"bad email", "another good password\n", []string{"user", "add", "--email", "nope", "--role", "staff", "--password-stdin"}, 1, "not an email address"},
		{"bad role", "", []string{"user", "add", "--email", "x@secondchancekc.org", "--role", "root", "--password-stdin"}, 2, `--role is "root": accepted values are admin, staff`},
		{"no role", "", []string{"user", "add", "--email", "x@secondchancekc.org"}, 2, "accepted values are admin, staff"},
		{"no email", "", []string{"user", "add", "--role", "staff"}, 2, "--email is required"},
		{"no terminal, no --password-stdin", "pw\n", []string{"user", "add", "--email", "x@secondchancekc.org", "--role", "staff"}, 2, "--password-stdin"},
		{"unknown flag", "", []string{"user", "add", "--emial", "x"}, 2, "unknown flag"},
		{"stray argument", "", []string{"user", "list", "extra"}, 2, "no arguments"},
		{"no subcommand", "", []string{"user"}, 2, "name a subcommand"},
		{"disable without email", "", []string{"user", "disable"}, 2, "--email is required"},
		{"disable unknown", "", []string{"user", "disable", "--email", "ghost@x.org"}, 1, "no staff account for ghost@x.org"},
	} {
		t.Run(tc.Name, func(t *testing.T) {
			code, out, errs := run(tc.Stdin, tc.Args...)
			if code != tc.Code || !strings.Contains(out+errs, tc.Contains) {
				t.Errorf("exit %d, want %d with %q\nstdout: %s\nstderr: %s", code, tc.Code, tc.Contains, out, errs)
			}
			if strings.Contains(out+errs, "another good password") {
				t.Error("the password was printed")
			}
		})
	}

	code, out, _ = run("", "user", "list")
	if code != 0 || !strings.Contains(out, "ada@secondchancekc.org") || !strings.Contains(out, "Ada Ortiz") || !strings.Contains(out, "admin") ||
		!strings.Contains(out, "sam@secondchancekc.org") || strings.Count(out, "active") != 2 {
		t.Errorf("user list: exit %d\n%s", code, out)
	}

	code, out, errs = run("", "user", "reset", "--email", "sam@secondchancekc.org")
	if code != 0 || !strings.Contains(out, "https://kc.example/staff/invite/") || !strings.Contains(out, "no longer works") {
		t.Errorf("user reset: exit %d\n%s\n%s", code, out, errs)
	}
	if _, out, _ = run("", "user", "list"); !strings.Contains(out, "no password (reset pending)") {
		t.Errorf("list after reset:\n%s", out)
	}
	code, out, _ = run("", "user", "disable", "--email", "sam@secondchancekc.org")
	if code != 0 || !strings.Contains(out, "disabled sam@secondchancekc.org") {
		t.Errorf("user disable: exit %d %s", code, out)
	}
	if _, out, _ = run("", "user", "list"); !strings.Contains(out, "disabled since") {
		t.Errorf("list after disable:\n%s", out)
	}
	if code, out, _ = run("", "user", "enable", "--email", "sam@secondchancekc.org"); code != 0 || !strings.Contains(out, "enabled") {
		t.Errorf("user enable: exit %d %s", code, out)
	}

	// What user add stored is a hash the server accepts.
	ctx := context.Background()
	d, err := db.Open(ctx, filepath.Join(data, "secondchance.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var hash string
	d.Read.QueryRow(`SELECT password_hash FROM staff_user WHERE email = 'ada@secondchancekc.org'`).Scan(&hash)
	if !strings.HasPrefix(hash, "$argon2id$") || strings.Contains(hash, "correct horse") {
		t.Errorf("stored %q", hash)
	}
	svc, err := auth.New(d, time.Now, auth.Config{BaseURL: "https://kc.example"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := svc.Authenticate(ctx, "ada@secondchancekc.org", "correct horse battery")
	if err != nil || u.Role != auth.RoleAdmin || u.Name != "Ada Ortiz" {
		t.Errorf("Authenticate: %+v %v", u, err)
	}
	if _, err := svc.Authenticate(ctx, "ada@secondchancekc.org", "correct horse battery\n"); err == nil {
		t.Error("the newline from stdin became part of the password")
	}
}

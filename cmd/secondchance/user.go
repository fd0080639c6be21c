package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/secondchancekc/secondchance/directory"
	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/internal/auth"
	"github.com/secondchancekc/secondchance/internal/db"
	"github.com/secondchancekc/secondchance/templates"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// newAuth builds the staff sign-in service on d from the configuration,
// rendering its pages with pages (nil, for commands that show none: its own).
func (a *app) newAuth(d *db.DB, pages *templates.Renderer) (*auth.Service, error) {
	return auth.New(d, time.Now, auth.Config{BaseURL: a.cfg.BaseURL, Location: a.cfg.location(), Logger: a.log, Pages: pages})
}

// withAuth opens the database, builds the auth service and runs fn.
func (a *app) withAuth(ctx context.Context, fn func(*auth.Service) error) error {
	d, err := db.Open(ctx, a.cfg.dbPath())
	if err != nil {
		return err
	}
	defer d.Close()
	svc, err := a.newAuth(d, nil)
	if err != nil {
		return err
	}
	return fn(svc)
}

// usageError prints what is wrong and the command's usage; main exits 2.
func usageError(cmd *cobra.Command, format string, args ...any) error {
	fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n\n%s", cmd.CommandPath(), fmt.Sprintf(format, args...), cmd.UsageString())
	return errUsage
}

func (a *app) userCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage staff accounts: add, list, disable, enable, reset",
		Long: `Manage the staff accounts that sign in at /staff/login.

Admins can also invite, disable and reset staff at /staff/admin/users once
signed in; use "user add" to create the first admin.`,
		Args: exactArgs(0, "a subcommand: add, list, disable, enable or reset"),
		RunE: func(cmd *cobra.Command, args []string) error { return usageError(cmd, "name a subcommand") },
	}
	cmd.AddCommand(a.userAddCmd(), a.userListCmd(),
		a.userEmailCmd("disable", "Stop an account signing in and end its sessions", func(ctx context.Context, svc *auth.Service, u *auth.User) error {
			if err := svc.Disable(ctx, u.ID, nil); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "disabled %s; they are signed out everywhere\n", u.Email)
			return nil
		}),
		a.userEmailCmd("enable", "Let a disabled account sign in again", func(ctx context.Context, svc *auth.Service, u *auth.User) error {
			if err := svc.Enable(ctx, u.ID, nil); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "enabled %s\n", u.Email)
			return nil
		}),
		a.userEmailCmd("reset", "Reset a password: print a one-time link to choose a new one", func(ctx context.Context, svc *auth.Service, u *auth.User) error {
			link, err := svc.ResetPassword(ctx, u.ID, nil)
			if err != nil {
				return err
			}
			loc, _ := time.LoadLocation(a.cfg.Timezone)
			fmt.Fprintf(a.stdout, "The old password of %s no longer works and they are signed out.\n", u.Email)
			fmt.Fprintf(a.stdout, "Send them this one-time link to choose a new one (valid until %s):\n%s\n",
				link.ExpiresAt.In(loc).Format("Mon 2 Jan 2006 3:04 PM MST"), link.URL)
			return nil
		}),
	)
	return cmd
}

func (a *app) userAddCmd() *cobra.Command {
	var email, role, name, org string
	var fromStdin bool
	cmd := &cobra.Command{
		Use:   "add --email EMAIL --role admin|staff|partner [--organization ID] [--name NAME] [--password-stdin]",
		Short: "Create a staff account with a password",
		Long: `Create a staff account. The password is asked for twice (not shown) when
standard input is a terminal; otherwise pass it as the first line of standard
input with --password-stdin. Passwords need at least 12 characters and must
not be the email address or a well-known password.

A partner (--role partner) is a partner organization's user: they need
--organization, the HSDS id of their organization, and can only see that
organization's listings on /staff/directory, propose changes to them for staff
to approve, and mark them verified; never any referral data.`,
		Example: `  secondchance user add --email ada@secondchancekc.org --role admin --name "Ada Ortiz"
  printf '%s\n' "$PASSWORD" | secondchance user add --email sam@secondchancekc.org --role staff --password-stdin
  secondchance user add --email pat@newroots.org --role partner --organization 1d7a4e4b-0c8f-4a52-9d1e-8f1f4d0c2a11`,
		Args: exactArgs(0, "no arguments (use --email and --role)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(email) == "" {
				return usageError(cmd, "--email is required")
			}
			if !auth.Role(role).Valid() {
				return usageError(cmd, "--role is %q: accepted values are admin, staff, partner", role)
			}
			if (auth.Role(role) == auth.RolePartner) != (org != "") {
				return usageError(cmd, "--organization is required with --role partner, and only with it")
			}
			if org != "" {
				d, err := db.Open(cmd.Context(), a.cfg.dbPath())
				if err != nil {
					return err
				}
				_, err = directory.NewStore(d).Row(cmd.Context(), "organization", org)
				d.Close()
				if err != nil {
					return usageError(cmd, "--organization %q: %s", org, apperr.Message(err))
				}
			}
			password, err := readNewPassword(cmd, a.stderr, email, fromStdin)
			if err != nil {
				return err
			}
			return a.withAuth(cmd.Context(), func(svc *auth.Service) error {
				u, err := svc.CreateUser(cmd.Context(), auth.NewUser{Email: email, Name: name, Role: auth.Role(role), Password: password, OrganizationID: org})
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "created %s %s (id %d)\n", u.Role, u.Email, u.ID)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&email, "email", "", "sign-in email address (required)")
	f.StringVar(&role, "role", "", "admin (also manages staff accounts), staff, or partner (one organization's listings only) (required)")
	f.StringVar(&org, "organization", "", "a partner's organization: its HSDS id (required with --role partner)")
	f.StringVar(&name, "name", "", "name shown to other staff")
	f.BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of standard input")
	return cmd
}

// readNewPassword reads the password from the first line of standard input
// (--password-stdin) or asks for it twice on the terminal without echo.
func readNewPassword(cmd *cobra.Command, prompt io.Writer, email string, fromStdin bool) (string, error) {
	in := cmd.InOrStdin()
	if fromStdin {
		line, err := bufio.NewReader(io.LimitReader(in, 4096)).ReadString('\n')
		if err != nil && err != io.EOF {
			return "", fmt.Errorf("read the password from standard input: %w", err)
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", apperr.Errorf(apperr.EINVALID, "--password-stdin: standard input has no password on its first line")
		}
		return pw, nil
	}
	f, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usageError(cmd, "standard input is not a terminal, so the password cannot be asked for: pass it on standard input with --password-stdin")
	}
	ask := func(label string) (string, error) {
		fmt.Fprint(prompt, label)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read the password: %w", err)
		}
		return string(b), nil
	}
	p1, err := ask(fmt.Sprintf("Password for %s (at least %d characters): ", email, auth.MinPasswordLength))
	if err != nil {
		return "", err
	}
	p2, err := ask("The same password again: ")
	if err != nil {
		return "", err
	}
	if p1 != p2 {
		return "", apperr.Errorf(apperr.EINVALID, "the two passwords do not match; nothing was changed")
	}
	return p1, nil
}

func (a *app) userListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List staff accounts",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withAuth(cmd.Context(), func(svc *auth.Service) error {
				us, err := svc.Users(cmd.Context())
				if err != nil {
					return err
				}
				if len(us) == 0 {
					fmt.Fprintln(a.stdout, `no staff accounts yet; create the first admin with "secondchance user add --role admin --email ..."`)
					return nil
				}
				loc, _ := time.LoadLocation(a.cfg.Timezone)
				now := time.Now()
				w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tEMAIL\tNAME\tROLE\tSTATUS\tCREATED")
				for _, u := range us {
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", u.ID, u.Email, u.Name, u.Role, userStatus(u, now, loc), u.CreatedAt.In(loc).Format("2006-01-02"))
				}
				return w.Flush()
			})
		},
	}
}

func userStatus(u *auth.User, now time.Time, loc *time.Location) string {
	switch {
	case u.Disabled():
		return "disabled since " + u.DisabledAt.In(loc).Format("2006-01-02")
	case now.Before(u.LockedUntil):
		return "locked until " + u.LockedUntil.In(loc).Format("15:04")
	case u.PasswordSetAt.IsZero():
		return "no password (reset pending)"
	}
	return "active"
}

// userEmailCmd is a subcommand that acts on the account named by --email.
func (a *app) userEmailCmd(use, short string, act func(context.Context, *auth.Service, *auth.User) error) *cobra.Command {
	var email string
	cmd := &cobra.Command{
		Use:   use + " --email EMAIL",
		Short: short,
		Args:  exactArgs(0, "no arguments (use --email)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(email) == "" {
				return usageError(cmd, "--email is required")
			}
			return a.withAuth(cmd.Context(), func(svc *auth.Service) error {
				u, err := svc.UserByEmail(cmd.Context(), email)
				if apperr.Code(err) == apperr.ENOTFOUND {
					return apperr.Errorf(apperr.ENOTFOUND, "there is no staff account for %s", email)
				} else if err != nil {
					return err
				}
				return act(cmd.Context(), svc, u)
			})
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "email of the account (required)")
	return cmd
}

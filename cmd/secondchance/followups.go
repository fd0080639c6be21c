package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/secondchancekc/secondchance/directory"
	"github.com/secondchancekc/secondchance/hotline"
	"github.com/secondchancekc/secondchance/internal/db"
	"github.com/secondchancekc/secondchance/referral"
)

// followupSender adapts the hotline's logged sender to the follow-up
// runner, translating its errors to the runner's.
type followupSender struct{ l *hotline.Logged }

var _ referral.Sender = followupSender{}

func (s followupSender) SendSMS(ctx context.Context, m referral.SMS) error {
	_, err := s.l.Send(ctx, hotline.Message{To: m.To, Body: m.Body, Purpose: m.Purpose, Ref: m.Ref})
	var se *hotline.SendError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, hotline.ErrUnsure):
		return fmt.Errorf("%w: %v", referral.ErrSendUnsure, err)
	case errors.As(err, &se) && se.OptedOut:
		return fmt.Errorf("%w: %v", referral.ErrOptedOut, err)
	case errors.As(err, &se) && se.Permanent && !se.Config:
		return fmt.Errorf("%w: %v", referral.ErrUndeliverable, err)
	}
	return err
}

// newReferrals builds the referral store with the configured zone and
// follow-up policy.
func (a *app) newReferrals(d *db.DB, store *directory.Store) (*referral.Store, error) {
	refs := referral.NewStore(d, referral.DirectorySnapshots{Store: store})
	refs.Zone = a.cfg.location()
	p, err := a.cfg.followupPolicy()
	if err != nil {
		return nil, err
	}
	refs.Policy = &p
	a.cfg.configureReports(refs)
	return refs, nil
}

// newRunner builds the follow-up scheduler with the configured sender (the
// outbox when no Twilio account is set).
func (a *app) newRunner(d *db.DB, refs *referral.Store) (*referral.Runner, *hotline.Logged, error) {
	sender, err := hotline.NewSender(a.cfg.smsSenderConfig(), d, a.log)
	if err != nil {
		return nil, nil, err
	}
	return &referral.Runner{Store: refs, Sender: followupSender{sender}, Log: a.log, Now: time.Now}, sender, nil
}

func (a *app) followupsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "followups",
		Short: "Work with referral follow-ups",
		Args:  exactArgs(0, "a subcommand: run"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	var at string
	run := &cobra.Command{
		Use:   "run",
		Short: "Send the follow-up texts due now (or as of --at), then exit",
		Long: `Sends every follow-up text due as of now, or as of --at, inside the sending
window (followup.window), at the configured pace and under the daily cap, and
exits. Texts left half-sent by a killed process are finished without sending
twice; any that may have gone out are shown to staff as "unsure".

Use it from cron with followup.run=false, or to test a schedule:
  secondchance followups run --at 2026-12-02T10:00:00-06:00`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			when, err := parseAt("followups run", at)
			if err != nil {
				return err
			}
			store, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			d := store.DB()
			defer d.Close()
			refs, err := a.newReferrals(d, store)
			if err != nil {
				return err
			}
			runner, _, err := a.newRunner(d, refs)
			if err != nil {
				return err
			}
			sum, err := runner.RunDue(ctx, when)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(a.stdout)
			return enc.Encode(sum)
		},
	}
	run.Flags().StringVar(&at, "at", "", "process what is due as of this time (RFC 3339); default now")
	cmd.AddCommand(run)
	return cmd
}

// clientOptOuts records a texted STOP or START in the referral log.
type clientOptOuts struct{ refs *referral.Store }

var _ hotline.ClientOptOuts = clientOptOuts{}

func (c clientOptOuts) OptOut(ctx context.Context, phone string) error {
	_, err := c.refs.OptOut(ctx, phone, referral.SystemActorPrefix+referral.ChannelSMS)
	return err
}

func (c clientOptOuts) OptIn(ctx context.Context, phone string) error {
	_, err := c.refs.OptIn(ctx, phone, referral.SystemActorPrefix+referral.ChannelSMS)
	return err
}

// parseAt reads a command's --at flag (RFC 3339); empty is now.
func parseAt(command, at string) (time.Time, error) {
	if at == "" {
		return time.Now(), nil
	}
	t, err := time.Parse(time.RFC3339, at)
	if err != nil {
		return time.Time{}, &configError{fmt.Sprintf("%s: --at %q is not a time like 2026-12-02T10:00:00-06:00 (RFC 3339)", command, at)}
	}
	return t, nil
}

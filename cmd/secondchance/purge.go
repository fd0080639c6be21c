package main

import (
	"context"
	"encoding/json"
	"time"

	"github.com/spf13/cobra"

	"github.com/secondchancekc/secondchance/directory"
	"github.com/secondchancekc/secondchance/hotline"
	"github.com/secondchancekc/secondchance/referral"
	"github.com/secondchancekc/secondchance/search"
)

// purgeResult counts what one retention pass removed.
type purgeResult struct {
	referral.PurgeResult
	Messages      int64 `json:"messages"`
	Corrections   int64 `json:"corrections"`
	UnmetSearches int64 `json:"unmet_searches"`
}

// purge applies every retention period of the privacy page as of now.
func purge(ctx context.Context, store *directory.Store, refs *referral.Store, now time.Time) (purgeResult, error) {
	var res purgeResult
	var err error
	if res.PurgeResult, err = refs.Purge(ctx, now); err != nil {
		return res, err
	}
	if res.Messages, err = hotline.PurgeMessages(ctx, store.DB(), now); err != nil {
		return res, err
	}
	if res.Corrections, err = store.PurgeCorrections(ctx, now); err != nil {
		return res, err
	}
	if res.UnmetSearches, err = search.PurgeUnmet(ctx, store.DB(), now); err != nil {
		return res, err
	}
	return res, nil
}

// purgeDaily runs purge at start and then every day until ctx ends.
func (a *app) purgeDaily(ctx context.Context, store *directory.Store, refs *referral.Store) {
	t := time.NewTicker(24 * time.Hour)
	defer t.Stop()
	for {
		res, err := purge(ctx, store, refs, time.Now())
		if err != nil && ctx.Err() == nil {
			a.log.Error("retention purge failed", "err", err)
		} else if err == nil {
			a.log.Info("retention purge", "clients_deidentified", res.ClientsDeidentified, "text_limit_rows", res.TextLimitRows,
				"messages", res.Messages, "corrections", res.Corrections, "unmet_searches", res.UnmetSearches)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *app) purgeCmd() *cobra.Command {
	var at string
	cmd := &cobra.Command{
		Use:   "purge",
		Short: "Delete or de-identify personal details past their retention period, then exit",
		Long: `Applies the retention periods the privacy page promises, as of now or --at:
clients not heard from in two years are de-identified (phone, name, notes and
replies removed; the facts stay for reports), texts older than two years are
deleted, as are "Text me this" rate-limit hashes after 30 days, reviewed
corrections after a year and unmet searches after two years. Opt-outs are
kept. serve does the same once a day.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			when, err := parseAt("purge", at)
			if err != nil {
				return err
			}
			store, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			defer store.DB().Close()
			refs, err := a.newReferrals(store.DB(), store)
			if err != nil {
				return err
			}
			res, err := purge(ctx, store, refs, when)
			if err != nil {
				return err
			}
			return json.NewEncoder(a.stdout).Encode(res)
		},
	}
	cmd.Flags().StringVar(&at, "at", "", "apply the periods as of this time (RFC 3339); default now")
	return cmd
}

package main

import (
	"fmt"
	"os"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func (a *app) reindexCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "reindex",
		Short: "Rebuild the search index from the database",
		Long: `Rebuild the search index (data_dir/index) from the database, with a progress
bar. The server does this by itself at start when the index is missing, out of
date or disagrees with the database, so this is for repairs by hand; the server
must be stopped while it runs.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			store, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			defer store.DB().Close()
			eng, unlock, err := a.openEngine(store)
			if err != nil {
				return err
			}
			defer unlock()
			defer eng.Close()
			var progress func(done, total int)
			if term.IsTerminal(int(os.Stderr.Fd())) {
				var bar *progressbar.ProgressBar
				progress = func(done, total int) {
					if bar == nil {
						bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(a.stderr),
							progressbar.OptionSetDescription("indexing services"), progressbar.OptionClearOnFinish())
					}
					bar.Set(done)
				}
			}
			if err := eng.Rebuild(ctx, progress); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "search index rebuilt at", a.cfg.indexPath())
			return nil
		},
	}
}

// Command secondchance is the Second Chance KC back end: the HSDS service
// directory, its API and import/export, in one binary.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"
	_ "time/tzdata" // time zones for the static binary in a scratch image
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot(os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode prints err and returns the process status: 2 for a bad setting
// or usage, 1 for anything else that failed.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ce *configError
	switch {
	case errors.As(err, &ce):
		fmt.Fprintln(stderr, ce.msg)
		return 2
	case errors.Is(err, errUsage):
		return 2
	case apperr.Code(err) != apperr.EINTERNAL:
		fmt.Fprintln(stderr, "secondchance:", apperr.Message(err))
	default:
		fmt.Fprintln(stderr, "secondchance:", err)
	}
	return 1
}

var errUsage = errors.New("usage")

// app is what every command shares: settings and the streams to write to.
type app struct {
	v          *viper.Viper
	configFile string
	cfg        *Config
	stdout     io.Writer
	stderr     io.Writer
	log        *slog.Logger
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	a := &app{v: newViper(), stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "secondchance",
		Short: "Second Chance KC: the reentry service directory, hotline and referral follow-up",
		Long: `secondchance runs the back end of Kansas City's Second Chance reentry program:
a searchable directory of partner services (Open Referral HSDS 3.0), its public
API at /hsds, and import/export of directory data.

Settings come from flags, SECONDCHANCE_* environment variables, and
secondchance.yaml (or the file given by --config); see secondchance.example.yaml.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Name() == "version" || cmd.Name() == "help" {
				return nil
			}
			cfg, err := loadConfig(a.v, a.configFile)
			if err != nil {
				return err
			}
			a.cfg = cfg
			a.log = newLogger(cfg, stderr)
			return nil
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		fmt.Fprintf(stderr, "%v\n\n%s", err, cmd.UsageString())
		return errUsage
	})
	root.PersistentFlags().StringVar(&a.configFile, "config", "", "config file (default: ./secondchance.yaml if present)")
	root.PersistentFlags().String("data-dir", "", "folder for the database and index (setting data_dir)")
	a.v.BindPFlag("data_dir", root.PersistentFlags().Lookup("data-dir"))
	root.AddCommand(a.serveCmd(), a.importCmd(), a.exportCmd(), a.backupCmd(), a.reindexCmd(), a.versionCmd(), a.healthcheckCmd(), a.userCmd(), a.followupsCmd(), a.simulateCmd(), a.purgeCmd())
	return root
}

func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/secondchancekc/secondchance/directory"
	"github.com/secondchancekc/secondchance/internal/db"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// openStore opens the configured database (applying migrations) and makes
// sure the embedded taxonomies are there, since directory data refers to
// them.
func (a *app) openStore(ctx context.Context) (*directory.Store, error) {
	d, err := db.Open(ctx, a.cfg.dbPath())
	if err != nil {
		return nil, err
	}
	s := directory.NewStore(d)
	if _, err := s.LoadTaxonomies(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return s, nil
}

// maxShownProblems keeps a badly broken file from scrolling the first, most
// useful problems off the screen.
const maxShownProblems = 50

func (a *app) importCmd() *cobra.Command {
	var opt directory.ImportOptions
	var quiet, allProblems bool
	cmd := &cobra.Command{
		Use:   "import PATH",
		Short: "Import HSDS 3.0 data: compiled JSON / NDJSON, or a tabular datapackage folder or .zip",
		Long: `Import HSDS 3.0 directory data, upserting by id.

PATH is one of:
  - a JSON file holding one compiled service, an array of them, or NDJSON
    (one service per line);
  - a folder or .zip holding datapackage.json and the CSV files it names
    (organizations.csv, services.csv, locations.csv ...).

The whole file is checked first. By default nothing is written if anything is
wrong, and every problem is listed with its file, line or record, field and
reason. --skip-invalid writes the valid records and lists each skipped one.
--dry-run only checks. Changes are recorded in the HSDS metadata table.`,
		Example: `  secondchance import partners.ndjson
  secondchance import --dry-run kc211-export.zip
  secondchance import --skip-invalid ./datapackage-folder`,
		Args: exactArgs(1, "PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			defer s.DB().Close()
			src, err := directory.OpenSource(args[0])
			if err != nil {
				return err
			}
			opt.Actor = "import " + args[0]
			var bar *progressbar.ProgressBar
			if !quiet && term.IsTerminal(int(os.Stderr.Fd())) {
				bar = progressbar.NewOptions64(src.Size(), progressbar.OptionSetWriter(a.stderr),
					progressbar.OptionShowBytes(true), progressbar.OptionSetDescription("checking"),
					progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(100_000_000))
				phase := "checking"
				opt.Progress = func(p string, done, total int64) {
					if p != phase {
						phase = p
						bar.Reset()
						bar.Describe(p)
					}
					bar.Set64(done)
				}
			}
			res, err := s.Import(ctx, src, opt)
			if bar != nil {
				bar.Finish()
			}
			if res != nil {
				shown := res.Problems
				if !allProblems && len(shown) > maxShownProblems {
					shown = shown[:maxShownProblems]
				}
				for _, p := range shown {
					fmt.Fprintln(a.stderr, p)
				}
				if n := len(res.Problems) - len(shown); n > 0 {
					fmt.Fprintf(a.stderr, "... and %d more problems (--all-problems lists them all)\n", n)
				}
				if err == nil {
					fmt.Fprintln(a.stdout, res.Summary())
				}
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&opt.DryRun, "dry-run", false, "check everything, write nothing")
	cmd.Flags().BoolVar(&opt.SkipInvalid, "skip-invalid", false, "import the valid records, report and skip the rest")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	cmd.Flags().BoolVar(&allProblems, "all-problems", false, fmt.Sprintf("list every problem, not only the first %d", maxShownProblems))
	return cmd
}

func (a *app) exportCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "export --format json|csv OUT",
		Short: "Export the directory as HSDS 3.0 NDJSON or a tabular datapackage",
		Long: `Export the whole directory in an HSDS 3.0 form.

  --format json  NDJSON: one fully nested (compiled) service per line. OUT may be
                 - for standard output.
  --format csv   the tabular datapackage: the unmodified HSDS 3.0 datapackage.json
                 and one CSV per table, into the folder OUT, or into a zip file
                 when OUT ends in .zip.

Export then import into an empty database gives the same directory.`,
		Example: `  secondchance export --format json directory.ndjson
  secondchance export --format csv hsds-2026-11-29.zip`,
		Args: exactArgs(1, "OUT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			out := args[0]
			if format != "json" && format != "csv" {
				return &configError{fmt.Sprintf("export: --format is %q: accepted values are json, csv", format)}
			}
			s, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			defer s.DB().Close()
			if format == "csv" {
				if err := s.ExportTabular(ctx, out); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "exported the tabular datapackage to %s\n", out)
				return nil
			}
			if out == "-" {
				_, err := s.ExportJSON(ctx, a.stdout)
				return err
			}
			return writeFileAtomic(out, func(f *os.File) (string, error) {
				n, err := s.ExportJSON(ctx, f)
				return fmt.Sprintf("exported %d services to %s", n, out), err
			}, a)
		},
	}
	cmd.Flags().StringVar(&format, "format", "json", "json (NDJSON of compiled services) or csv (tabular datapackage)")
	return cmd
}

// writeFileAtomic writes to OUT.partial and renames it into place, so that a
// failed or killed export never leaves a truncated file under the real name.
func writeFileAtomic(out string, write func(*os.File) (string, error), a *app) error {
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("export %s: already exists; choose a new name", out)
	}
	tmp := out + ".partial"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	msg, err := write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, msg)
	return nil
}

func (a *app) backupCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "backup PATH",
		Short: "Write a consistent copy of the database, safe while the server runs",
		Long: `Write a consistent copy of the live database to PATH (VACUUM INTO reads one
snapshot, so the server can keep running), then open the copy and run
PRAGMA integrity_check on it. PATH must not exist yet. To restore, stop the
server and put the copy in place of data_dir/secondchance.db.`,
		Example: `  secondchance backup /backups/secondchance-$(date +%F).db`,
		Args:    exactArgs(1, "PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			d, err := db.Open(ctx, a.cfg.dbPath())
			if err != nil {
				return err
			}
			defer d.Close()
			if err := d.Backup(ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "backed up %s to %s (integrity check ok)\n", a.cfg.dbPath(), args[0])
			return nil
		},
	}
}

// exactArgs is cobra.ExactArgs with a message that names what is missing.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			fmt.Fprintf(cmd.ErrOrStderr(), "%s needs %s (got %d arguments: %s)\n\n%s", cmd.Name(), names, len(args), strings.Join(args, " "), cmd.UsageString())
			return errUsage
		}
		return nil
	}
}

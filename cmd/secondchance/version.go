package main

import (
	"fmt"
	"runtime/debug"

	"github.com/secondchancekc/secondchance/internal/db"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, the source revision and the database schema version",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			rev, modified := "unknown", ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					switch s.Key {
					case "vcs.revision":
						rev = s.Value
					case "vcs.modified":
						if s.Value == "true" {
							modified = " (modified)"
						}
					}
				}
			}
			fmt.Fprintf(a.stdout, "secondchance %s\nrevision %s%s\nschema version %d\n", version, rev, modified, db.SchemaVersion())
			return nil
		},
	}
}

package main

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/directory"
	"github.com/secondchancekc/secondchance/internal/server"
	"github.com/spf13/cobra"
)

func (a *app) serveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the web server: the directory API at /hsds, health checks and metrics",
		Long: `Run the web server until SIGTERM or SIGINT; in-flight requests are allowed to
finish. At start it applies database migrations, loads the embedded taxonomies
and, when demo_data is true and the directory is empty, the demo directory.

Endpoints: /hsds/ (the HSDS 3.0 API), /healthz, /readyz, /metrics.`,
		Example: `  secondchance serve
  SECONDCHANCE_LISTEN=:9000 SECONDCHANCE_DEMO_DATA=false secondchance serve`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg := a.cfg
			store, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			d := store.DB()
			defer d.Close()
			if cfg.DemoData {
				loaded, res, err := store.LoadDemo(ctx)
				if err != nil {
					return err
				}
				if loaded {
					a.log.Info("loaded the demo directory into the empty database", "services", res.Created)
				}
			}

			srv := server.New(server.Config{Listen: cfg.Listen, BaseURL: cfg.BaseURL, Logger: a.log})
			srv.RegisterDBStats("read", d.Read)
			srv.RegisterDBStats("write", d.Write)
			srv.AddReadyCheck("database", d.Ping)
			e := srv.Echo
			directory.RegisterAPI(e.Group("/hsds"), store, cfg.BaseURL)
			e.GET("/", func(c echo.Context) error {
				return c.JSON(http.StatusOK, map[string]string{
					"service": "Second Chance KC directory",
					"hsds":    cfg.BaseURL + "/hsds/",
					"hotline": "(816) 231-0217",
				})
			})
			a.log.Info("secondchance is serving", "listen", cfg.Listen, "base_url", cfg.BaseURL, "database", cfg.dbPath())
			return srv.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.String("listen", "", "host:port to listen on (setting listen)")
	f.String("base-url", "", "public URL of this service (setting base_url)")
	f.Bool("demo-data", true, "load the demo directory into an empty database (setting demo_data)")
	a.v.BindPFlag("listen", f.Lookup("listen"))
	a.v.BindPFlag("base_url", f.Lookup("base-url"))
	a.v.BindPFlag("demo_data", f.Lookup("demo-data"))
	return cmd
}

package main

import (
	"context"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/directory"
	"github.com/secondchancekc/secondchance/hotline"
	"github.com/secondchancekc/secondchance/internal/auth"
	"github.com/secondchancekc/secondchance/internal/server"
	"github.com/secondchancekc/secondchance/referral"
	"github.com/secondchancekc/secondchance/search"
	"github.com/secondchancekc/secondchance/templates"
	"github.com/spf13/cobra"
)

func (a *app) serveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the web server: the directory API at /hsds, health checks and metrics",
		Long: `Run the web server until SIGTERM or SIGINT; in-flight requests are allowed to
finish. At start it applies database migrations, loads the embedded taxonomies
and, when demo_data is true and the directory is empty, the demo directory.

Endpoints: /hsds/ (the HSDS 3.0 API), /api/search, /healthz, /readyz, /metrics.
The search index (data_dir/index) is opened, or rebuilt in the background
while searches answer from SQL, and then follows every directory change.`,
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

			eng, unlock, err := a.openEngine(store)
			if err != nil {
				return err
			}
			defer unlock()
			store.OnChange = eng.Notify
			store.SearchIDs = eng.ServiceIDs

			srv := server.New(server.Config{Listen: cfg.Listen, BaseURL: cfg.BaseURL, Logger: a.log})
			srv.RegisterDBStats("read", d.Read)
			srv.RegisterDBStats("write", d.Write)
			srv.AddReadyCheck("database", d.Ping)
			e := srv.Echo
			directory.RegisterAPI(e.Group("/hsds"), store, cfg.BaseURL)
			search.RegisterAPI(e, eng)

			// Staff: every /staff and /api/staff route needs a session, and
			// every form and unsafe request there a CSRF token.
			// Every HTML page is rendered by this one renderer.
			pages, err := templates.New(templates.Options{Viewer: auth.PageViewer})
			if err != nil {
				return err
			}
			authSvc, err := a.newAuth(d, pages)
			if err != nil {
				return err
			}
			auth.Register(e, authSvc)
			referrals, err := a.newReferrals(d, store)
			if err != nil {
				return err
			}
			referral.RegisterAPI(e.Group("/api/staff"), referrals, staffActor)
			runner, sms, err := a.newRunner(d, referrals)
			if err != nil {
				return err
			}
			hotline.RegisterStaff(e.Group("/staff"), hotline.StaffPages{Log: sms, Pages: pages, Zone: cfg.location(),
				Flash: authSvc.SetFlash, RequireLogin: authSvc.RequireLogin})
			referral.RegisterQueue(e.Group("/staff"), referral.QueuePages{Store: referrals, Pages: pages, Actor: staffActor,
				Flash: authSvc.SetFlash, Staff: staffMembers(authSvc), Search: serviceSearch{eng}})
			referral.RegisterReports(e.Group("/staff"), referrals, pages, staffActor)
			// Keeping the directory true: verification queue, edits with
			// history, corrections, partners' proposals (/staff/directory).
			directory.RegisterStaff(e.Group("/staff"), directory.StaffPages{Store: store, Pages: pages, Zone: cfg.location(),
				VerifyAfter: cfg.Directory.VerifyAfter, Signals: directorySignals{referrals}, Flash: authSvc.SetFlash, Who: directoryPerson})
			// The hotline: calls at /hotline/voice, texts at /hotline/sms
			// (STOP/START, replies to follow-up check-ins, then the SMS
			// search); every webhook signed by Twilio.
			if err := a.registerHotline(e, d, eng, referrals, sms); err != nil {
				return err
			}
			// The public website: home and results (search), a service, its
			// slip, organizations, about, privacy, corrections (directory),
			// "Text me this" (referral); friendly error pages in the
			// visitor's language.
			pages.RegisterPublic(e)
			srv.HTMLError = pages.ErrorPage
			search.RegisterPages(e, search.Pages{Engine: eng, Pages: pages, Zone: cfg.location()})
			listings := directory.Pages{Store: store, Pages: pages, Zone: cfg.location(), UnverifiedAfter: cfg.Directory.UnverifiedAfter}
			directory.RegisterPages(e, listings)
			referral.RegisterTextMe(e, &referral.TextMe{Store: referrals, Listings: listings, Sender: followupSender{sms},
				Pages: pages, BaseURL: cfg.BaseURL})
			// The indexer runs beside the server; on SIGTERM the server
			// drains its requests first, then the indexer stops.
			workers, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
			defer stopWorkers()
			indexed := make(chan error, 1)
			go func() { indexed <- eng.Run(workers) }()
			go a.reportSearchStatus(workers, srv, eng)
			go a.purgeDaily(workers, store, referrals)
			followupsDone := make(chan struct{})
			if cfg.Followup.Run {
				go func() { runner.Run(workers); close(followupsDone) }()
			} else {
				close(followupsDone)
			}

			a.log.Info("secondchance is serving", "listen", cfg.Listen, "base_url", cfg.BaseURL, "database", cfg.dbPath())
			err = srv.Run(ctx)
			stopWorkers()
			<-followupsDone
			sms.Wait() // texts sent just before the shutdown are recorded
			if ierr := <-indexed; ierr != nil && err == nil {
				a.log.Error("search indexer", "err", ierr)
			}
			return err
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

// openEngine builds the search engine from the configuration and takes
// the index lock for this process; unlock releases it.
func (a *app) openEngine(store *directory.Store) (eng *search.Engine, unlock func(), err error) {
	eng, err = search.New(search.Options{
		Dir: a.cfg.indexPath(), Store: store, Location: a.cfg.location(), Synonyms: a.cfg.synonymsPath(),
		Logger: a.log, Slots: search.Slots, UnverifiedAfter: a.cfg.Directory.UnverifiedAfter,
	})
	if err != nil {
		return nil, nil, err
	}
	unlock, err = eng.Lock()
	if err != nil {
		return nil, nil, err
	}
	return eng, unlock, nil
}

// reportSearchStatus keeps /readyz saying whether search uses its index.
func (a *app) reportSearchStatus(ctx context.Context, srv *server.Server, eng *search.Engine) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last := "-"
	for {
		_, note := eng.Status()
		if note != last {
			srv.SetReadyNote("search", note)
			last = note
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// staffActor names the signed-in staff member in the referral log.
func staffActor(c echo.Context) string {
	if u := auth.CurrentUser(c); u != nil {
		return strconv.FormatInt(u.ID, 10)
	}
	return ""
}

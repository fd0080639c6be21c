package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

const (
	healthzPath = "/healthz"
	readyzPath  = "/readyz"

	// readyCheckTimeout bounds each readiness check, so a hung dependency
	// makes /readyz say so instead of hanging the prober.
	readyCheckTimeout = 2 * time.Second
)

// AddReadyCheck registers a readiness check run by GET /readyz: the server is
// ready only when every check returns nil within 2 seconds. A later check
// with the same name replaces the earlier one. fn must honour ctx.
//
// The check's error text is shown in the /readyz answer, which is meant for
// load balancers and operators; keep it free of secrets.
func (s *Server) AddReadyCheck(name string, fn func(ctx context.Context) error) {
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	s.readyChecks[name] = fn
}

// SetReadyNote shows note under name in the /readyz answer without affecting
// readiness, e.g. SetReadyNote("search", "rebuilding, answering from SQL
// fallback"). An empty note removes it. Safe to call while serving.
func (s *Server) SetReadyNote(name, note string) {
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	if note == "" {
		delete(s.readyNotes, name)
		return
	}
	s.readyNotes[name] = note
}

// readyAnswer is the JSON of /readyz.
type readyAnswer struct {
	Status string            `json:"status"` // "ready" or "not_ready"
	Checks map[string]string `json:"checks"` // name -> "ok" or the failure
	Notes  map[string]string `json:"notes,omitempty"`
}

func (s *Server) routeHealth() {
	methods := []string{http.MethodGet, http.MethodHead}
	// Liveness: the process answers HTTP. It checks no dependency on
	// purpose, so a database hiccup never gets the process restarted.
	s.Echo.Match(methods, healthzPath, func(c echo.Context) error {
		c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	})
	s.Echo.Match(methods, readyzPath, s.handleReady)
}

// handleReady runs every readiness check concurrently, each under its own
// timeout, and answers 200 when all pass, 503 otherwise.
func (s *Server) handleReady(c echo.Context) error {
	s.readyMu.Lock()
	checks := make(map[string]func(context.Context) error, len(s.readyChecks))
	for k, v := range s.readyChecks {
		checks[k] = v
	}
	var notes map[string]string
	if len(s.readyNotes) > 0 {
		notes = make(map[string]string, len(s.readyNotes))
		for k, v := range s.readyNotes {
			notes[k] = v
		}
	}
	s.readyMu.Unlock()

	ans := readyAnswer{Status: "ready", Checks: make(map[string]string, len(checks)), Notes: notes}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, fn := range checks {
		wg.Go(func() {
			res := "ok"
			if err := runCheck(c.Request().Context(), fn, s.readyTimeout); err != nil {
				res = err.Error()
			}
			mu.Lock()
			defer mu.Unlock()
			ans.Checks[name] = res
			if res != "ok" {
				ans.Status = "not_ready"
			}
		})
	}
	wg.Wait()

	status := http.StatusOK
	if ans.Status != "ready" {
		status = http.StatusServiceUnavailable
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(status, ans)
}

// runCheck runs fn with a timeout and gives up waiting at the timeout even if
// fn ignores its context. A panicking check fails rather than crashing.
func runCheck(ctx context.Context, fn func(context.Context) error, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("check panicked: %v", r)
			}
		}()
		done <- fn(ctx)
	}()
	select {
	case err := <-done:
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("timed out after %s", timeout)
		}
		return err
	case <-ctx.Done():
		return fmt.Errorf("timed out after %s", timeout)
	}
}

package auth

import (
	"net/netip"
	"sync"
	"time"
)

// throttle counts failed sign-ins per client address in fixed windows. It
// lives in memory: one server process answers every request, and a restart
// forgetting the counts only gives an attacker back what the per-account
// lockout still denies them.
type throttle struct {
	limit  int
	window time.Duration

	mu sync.Mutex
	m  map[string]*throttleWindow
}

type throttleWindow struct {
	start    time.Time
	failures int
}

// throttleMaxKeys bounds memory under a flood from many addresses; beyond
// it, expired windows are swept first and, if still full, the new address is
// not tracked (the per-account lockout still applies).
const throttleMaxKeys = 100_000

func newThrottle(limit int, window time.Duration) *throttle {
	return &throttle{limit: limit, window: window, m: map[string]*throttleWindow{}}
}

// throttleKey is an IPv4 address or an IPv6 /64 (one customer's network is
// usually a whole /64, so single IPv6 addresses would be free to rotate).
func throttleKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// retryAfter is how long key must wait before trying again; 0 if it may.
func (t *throttle) retryAfter(key string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.m[key]
	if w == nil {
		return 0
	}
	end := w.start.Add(t.window)
	if !now.Before(end) {
		delete(t.m, key)
		return 0
	}
	if w.failures < t.limit {
		return 0
	}
	return end.Sub(now)
}

// fail counts one failed sign-in from key.
func (t *throttle) fail(key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.m[key]
	if w != nil && !now.Before(w.start.Add(t.window)) {
		w = nil
	}
	if w == nil {
		if len(t.m) >= throttleMaxKeys {
			for k, old := range t.m {
				if !now.Before(old.start.Add(t.window)) {
					delete(t.m, k)
				}
			}
			if len(t.m) >= throttleMaxKeys {
				return
			}
		}
		w = &throttleWindow{start: now}
		t.m[key] = w
	}
	w.failures++
}

package auth

import (
	"strings"
	"sync"
	"time"
)

// Sign-in limits: failed sign-ins count for LoginWindow; an account is
// blocked after MaxFailsPerAccount of them, a client address after
// MaxFailsPerAddress.
const (
	LoginWindow        = 15 * time.Minute
	MaxFailsPerAccount = 5
	MaxFailsPerAddress = 20
)

// LoginLimiter counts failed sign-ins per key in a sliding window of
// LoginWindow. A key is "u:" and a user name (limited to
// MaxFailsPerAccount) or "a:" and a client address (MaxFailsPerAddress).
// It is safe for concurrent use; the zero value is not: use NewLoginLimiter.
type LoginLimiter struct {
	mu    sync.Mutex
	fails map[string][]time.Time
}

// NewLoginLimiter returns a limiter that has seen no failure.
func NewLoginLimiter() *LoginLimiter { return &LoginLimiter{fails: map[string][]time.Time{}} }

func limitOf(key string) int {
	if strings.HasPrefix(key, "u:") {
		return MaxFailsPerAccount
	}
	return MaxFailsPerAddress
}

// Blocked returns how long until the first of keys is below its limit, or
// 0 if none is at it.
func (l *LoginLimiter) Blocked(now time.Time, keys ...string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		ts := l.prune(now, k)
		if n := limitOf(k); len(ts) >= n {
			if w := ts[len(ts)-n].Add(LoginWindow).Sub(now); w > wait {
				wait = w
			}
		}
	}
	return wait
}

// Fail counts a failed sign-in at now against each of keys. It bounds the
// keys it keeps (at about 100,000) by forgetting those with no failure in
// the window.
func (l *LoginLimiter) Fail(now time.Time, keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		l.fails[k] = append(l.prune(now, k), now)
	}
	if len(l.fails) > 100000 { // bound memory under a flood of distinct keys
		for k := range l.fails {
			if len(l.prune(now, k)) == 0 {
				delete(l.fails, k)
			}
		}
	}
}

// Reset forgets key's failures (after a successful sign-in).
func (l *LoginLimiter) Reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, key)
}

func (l *LoginLimiter) prune(now time.Time, key string) []time.Time {
	ts := l.fails[key]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) > LoginWindow {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.fails, key)
		return nil
	}
	l.fails[key] = ts
	return ts
}

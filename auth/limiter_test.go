package auth

import (
	"testing"
	"time"
)

// TestLoginLimiter: an account is blocked after MaxFailsPerAccount
// failures and an address after MaxFailsPerAddress, until the oldest
// counted failure leaves the window; Reset clears an account; keys are
// independent. The clock is the caller's: no waiting.
func TestLoginLimiter(t *testing.T) {
	l := NewLoginLimiter()
	t0 := time.Date(2016, 7, 1, 8, 0, 0, 0, time.UTC)
	for i := range MaxFailsPerAccount {
		if w := l.Blocked(t0, "u:clerk"); w != 0 {
			t.Fatalf("blocked after %d failures", i)
		}
		l.Fail(t0.Add(time.Duration(i)*time.Second), "u:clerk", "a:10.0.0.1")
	}
	now := t0.Add(time.Minute)
	w := l.Blocked(now, "u:clerk")
	if want := LoginWindow - time.Minute; w != want {
		t.Fatalf("blocked for %s, want %s (until the first failure leaves the window)", w, want)
	}
	if w := l.Blocked(now, "u:other", "a:10.0.0.2"); w != 0 {
		t.Errorf("another account and address are blocked for %s", w)
	}
	if w := l.Blocked(now, "a:10.0.0.1"); w != 0 {
		t.Errorf("the address is blocked after only %d failures", MaxFailsPerAccount)
	}
	// Past the window of the first failure, one more attempt is allowed.
	if w := l.Blocked(t0.Add(LoginWindow+time.Second/2), "u:clerk"); w != 0 {
		t.Errorf("still blocked past the window: %s", w)
	}
	l.Reset("u:clerk")
	if w := l.Blocked(now, "u:clerk"); w != 0 {
		t.Errorf("blocked after Reset: %s", w)
	}
	for i := range MaxFailsPerAddress {
		l.Fail(now, "a:10.0.0.3", "u:user"+string(rune('a'+i)))
	}
	if w := l.Blocked(now, "u:fresh", "a:10.0.0.3"); w != LoginWindow {
		t.Errorf("address over its limit: blocked %s, want %s", w, LoginWindow)
	}
}

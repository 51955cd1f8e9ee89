package auth

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"taizhang/events"
)

// TestTokens: API tokens are tz_ and 43 base64url characters, never the
// same twice; their hash is SHA-256 in hex; a session's CSRF token is
// derived from its cookie, the same each time and different per cookie.
func TestTokens(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^tz_[A-Za-z0-9_-]{43}$`).MatchString(tok) || seen[tok] {
			t.Fatalf("token %q malformed or repeated", tok)
		}
		seen[tok] = true
	}
	if got := HashToken("abc").String(); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("HashToken(abc) = %s, want SHA-256", got)
	}
	a, b := CSRFOf("cookie-1"), CSRFOf("cookie-2")
	if a != CSRFOf("cookie-1") || a == b || len(a) != 43 || strings.Contains(a, "cookie") {
		t.Errorf("CSRFOf: %q %q", a, b)
	}
	r1, err1 := RandomToken()
	r2, err2 := RandomToken()
	if err1 != nil || err2 != nil || r1 == r2 || len(r1) != 43 {
		t.Errorf("RandomToken: %q %q %v %v", r1, r2, err1, err2)
	}
}

// TestCheckPassword: passwords of MinPasswordLen characters (not bytes)
// up to MaxPasswordLen bytes pass; others are invalid.
func TestCheckPassword(t *testing.T) {
	for pw, ok := range map[string]bool{
		"short":                               false,
		"0123456789":                          true,
		"台賬台賬台賬台賬台賬":                          true, // 10 characters, 30 bytes
		strings.Repeat("x", MaxPasswordLen):   true,
		strings.Repeat("x", MaxPasswordLen+1): false,
	} {
		err := CheckPassword(pw)
		if (err == nil) != ok || (err != nil && !errors.Is(err, events.ErrInvalid)) {
			t.Errorf("CheckPassword(%d bytes) = %v, want ok %v", len(pw), err, ok)
		}
	}
	if len(DummyHash()) == 0 {
		t.Error("no dummy hash")
	}
}

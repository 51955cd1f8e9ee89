package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// TokenHash is the SHA-256 of an API token; only hashes are stored.
type TokenHash [32]byte

// String returns the hex form.
func (h TokenHash) String() string { return hex.EncodeToString(h[:]) }

// HashToken returns the hash under which a token is stored.
func HashToken(token string) TokenHash { return sha256.Sum256([]byte(token)) }

// NewToken returns a fresh random API token: "tz_" and 43 base64url
// characters (256 bits).
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new token: %w", err)
	}
	return "tz_" + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// ErrUnknownToken is returned by a TokenStore for a token it does not hold.
var ErrUnknownToken = errors.New("unknown token")

// TokenRecord is what the credential store keeps of an API token, under the
// token's hash. The token itself is shown once and kept nowhere.
type TokenRecord struct {
	ID        string    `json:"token_id"`
	User      string    `json:"user"`
	Label     string    `json:"label,omitempty"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires,omitzero"`
	Revoked   time.Time `json:"revoked,omitzero"`
	RevokedBy string    `json:"revoked_by,omitempty"`
}

// TokenStore holds API tokens by hash. Tokens never enter the ledger.
type TokenStore interface {
	// Put stores rec under h, replacing what was there.
	Put(ctx context.Context, h TokenHash, rec TokenRecord) error
	// Get returns the record stored under h, or ErrUnknownToken.
	Get(ctx context.Context, h TokenHash) (TokenRecord, error)
	// List returns every token record with its hash.
	List(ctx context.Context) (map[TokenHash]TokenRecord, error)
}

// PasswordStore keeps users' password hashes (bcrypt), apart from the ledger.
type PasswordStore interface {
	// SetPassword stores hash as user's password hash.
	SetPassword(ctx context.Context, user string, hash []byte) error
	// PasswordHash returns user's password hash, or ErrUnknownToken if the
	// user has no password.
	PasswordHash(ctx context.Context, user string) ([]byte, error)
}

// Session is a signed-in browser session, stored under the hash of its
// cookie value.
type Session struct {
	User     string    `json:"user"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen"`
	Via      string    `json:"via"` // "password" or "token"
}

// SessionStore keeps web sessions by the hash of their cookie value.
type SessionStore interface {
	PutSession(ctx context.Context, h TokenHash, s Session) error
	// GetSession returns the session under h, or ErrUnknownToken.
	GetSession(ctx context.Context, h TokenHash) (Session, error)
	DeleteSession(ctx context.Context, h TokenHash) error
}

// Credentials is the credential store the server needs: tokens, passwords
// and sessions, all kept by hash, none of it in the ledger.
type Credentials interface {
	TokenStore
	PasswordStore
	SessionStore
}

// Errors of authentication and authorisation.
var (
	ErrUnauthenticated = errors.New("authentication required")
	ErrForbidden       = errors.New("forbidden")
	ErrTooManyAttempts = errors.New("too many failed sign-ins")
)

// CSRFOf derives a session's CSRF token from its cookie value, so that it
// is stored nowhere: only the holder of the cookie can know it, and a page
// of another origin can read neither.
func CSRFOf(cookie string) string {
	h := sha256.Sum256([]byte("taizhang csrf\x00" + cookie))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// RandomToken returns 256 random bits, base64url (a session cookie's value).
func RandomToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

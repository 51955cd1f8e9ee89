package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"taizhang/events"
)

// SessionCookie is the name of the web session cookie. Its value is 256
// random bits; only its hash is kept.
const SessionCookie = "tz_session"

// Session lifetimes by default (see Authenticator).
const (
	DefaultSessionIdle = 30 * time.Minute
	DefaultSessionMax  = 12 * time.Hour
)

// ErrBadForm is a state-changing form whose body cannot be read for its
// CSRF token (the server answers it 400).
var ErrBadForm = errors.New("bad form")

// Authenticator resolves requests to principals (a bearer token, or a
// session cookie), signs browsers in (a password or a token) and out, and
// checks the CSRF token of session requests. It keeps no state of its own
// but the sign-in limiter: tokens, passwords and sessions are in Creds,
// users' current state comes from User. Every field but Log and Record is
// required.
type Authenticator struct {
	Creds Credentials
	// User returns a user as the users chain says now; ok is false if
	// there is no such user.
	User func(id string) (u events.User, disabled, ok bool)
	// Now is the clock.
	Now func() time.Time
	// Idle ends a session unused this long, Max any session this old.
	Idle, Max time.Duration
	// SecureCookies marks the cookie Secure even without TLS (behind a
	// TLS-terminating proxy).
	SecureCookies bool
	// MaxFormSize bounds a multipart form whose first part is read for its
	// CSRF token (the rest is read by the handler).
	MaxFormSize int64
	// Limiter counts failed sign-ins.
	Limiter *LoginLimiter
	// Log, if set, is told of sessions whose activity could not be stored.
	Log *slog.Logger
	// Record, if set, is told of every sign-in: its principal (only the
	// user name when it failed), status and error.
	Record func(r *http.Request, p Principal, status int, err error)
}

// Authenticate resolves the request's bearer token or, without one, the
// user asserted in its context (WithAssertedUser) or, without that, its
// session cookie, to the token's, asserted or session's user as the users
// chain says now: a disabled or unknown user, an unknown, revoked or
// expired token, or an expired session is refused at once
// (ErrUnauthenticated).
func (a *Authenticator) Authenticate(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		if as, ok := r.Context().Value(assertedKey{}).(asserted); ok {
			p, err := a.userPrincipal(as.user)
			if err != nil {
				return Principal{}, fmt.Errorf("%s user: %w", as.via, err)
			}
			p.Via = as.via
			return p, nil
		}
		if c, err := r.Cookie(SessionCookie); err == nil {
			return a.sessionPrincipal(r, c.Value)
		}
		return Principal{}, fmt.Errorf("%w: send Authorization: Bearer <token>, or sign in", ErrUnauthenticated)
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || len(token) > 200 {
		return Principal{}, fmt.Errorf("%w: malformed Authorization header", ErrUnauthenticated)
	}
	return a.tokenPrincipal(r.Context(), strings.TrimSpace(token))
}

// tokenPrincipal resolves an API token.
func (a *Authenticator) tokenPrincipal(ctx context.Context, token string) (Principal, error) {
	rec, err := a.Creds.Get(ctx, HashToken(token))
	if errors.Is(err, ErrUnknownToken) {
		return Principal{}, fmt.Errorf("%w: unknown token", ErrUnauthenticated)
	}
	if err != nil {
		return Principal{}, fmt.Errorf("check token: %w", err)
	}
	if !rec.Revoked.IsZero() {
		return Principal{}, fmt.Errorf("%w: token revoked", ErrUnauthenticated)
	}
	if !rec.Expires.IsZero() && a.Now().After(rec.Expires) {
		return Principal{}, fmt.Errorf("%w: token expired", ErrUnauthenticated)
	}
	p, err := a.userPrincipal(rec.User)
	if err != nil {
		return Principal{}, err
	}
	p.TokenID, p.Via, p.Created, p.Expires = rec.ID, "token", rec.Created, rec.Expires
	return p, nil
}

type assertedKey struct{}

type asserted struct{ user, via string }

// WithAssertedUser returns ctx carrying a user that an in-process caller
// has authenticated by other means, and how (via, e.g. "nats": the NATS
// server's word on who sent a message, see package natsapi). A request with
// this context and no Authorization header is then authenticated as that
// user, exactly as a token of that user would be (its role and scope as the
// users chain says now). It is a context value, never read from a request,
// so no HTTP client can set it.
func WithAssertedUser(ctx context.Context, user, via string) context.Context {
	return context.WithValue(ctx, assertedKey{}, asserted{user: user, via: via})
}

// userPrincipal returns the principal for a user as the users chain says
// now, or ErrUnauthenticated if the user is unknown or disabled.
func (a *Authenticator) userPrincipal(id string) (Principal, error) {
	u, disabled, ok := a.User(id)
	if !ok {
		return Principal{}, fmt.Errorf("%w: user %s does not exist", ErrUnauthenticated, id)
	}
	if disabled {
		return Principal{}, fmt.Errorf("%w: user %s is disabled", ErrUnauthenticated, id)
	}
	return PrincipalOf(u), nil
}

// record tells Record of a sign-in, if it is set.
func (a *Authenticator) record(r *http.Request, p Principal, status int, err error) {
	if a.Record != nil {
		a.Record(r, p, status, err)
	}
}

// CheckCSRF refuses a state-changing session request that is cross-origin
// (Sec-Fetch-Site / Origin, net/http's CrossOriginProtection) or does not
// carry the session's CSRF token (ErrForbidden). The token comes as
// X-CSRF-Token, or as a form's field "csrf": for a multipart form it reads
// the first part, which must be the token, and hands the rest of the form
// to the handler (FormReader); for a URL-encoded form it parses the form.
func (a *Authenticator) CheckCSRF(w http.ResponseWriter, r *http.Request, p Principal) (*http.Request, error) {
	if err := http.NewCrossOriginProtection().Check(r); err != nil {
		return r, fmt.Errorf("%w: cross-origin request refused", ErrForbidden)
	}
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		switch ct {
		case "application/x-www-form-urlencoded":
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if err := r.ParseForm(); err != nil {
				return r, fmt.Errorf("%w: form: %v", ErrBadForm, err)
			}
			got = r.PostForm.Get("csrf")
		case "multipart/form-data":
			if params["boundary"] == "" {
				return r, fmt.Errorf("%w: multipart form without a boundary", ErrBadForm)
			}
			// The handler reads the rest through this reader, not r.Body:
			// bound it here by the upload limit, as the handlers bound theirs.
			r.Body = http.MaxBytesReader(w, r.Body, a.MaxFormSize)
			mr := multipart.NewReader(r.Body, params["boundary"])
			part, err := mr.NextPart()
			if err != nil || part.FormName() != "csrf" {
				return r, fmt.Errorf("%w: the form's first field must be its CSRF token", ErrForbidden)
			}
			b, _ := io.ReadAll(io.LimitReader(part, 256))
			got = string(b)
			r = r.WithContext(context.WithValue(r.Context(), formKey{}, mr))
		}
	}
	if got == "" || p.CSRF == "" || subtle.ConstantTimeCompare([]byte(got), []byte(p.CSRF)) != 1 {
		return r, fmt.Errorf("%w: missing or wrong CSRF token; reload the page and try again", ErrForbidden)
	}
	return r, nil
}

type formKey struct{}

// FormReader returns the rest of a multipart form whose CSRF token
// CheckCSRF read, or nil if it read none from this request.
func FormReader(ctx context.Context) *multipart.Reader {
	mr, _ := ctx.Value(formKey{}).(*multipart.Reader)
	return mr
}

// StartSession checks a user's password and, on success, sets the session
// cookie on w and returns the signed-in principal. Failures are rate
// limited per account and per client address (ErrTooManyAttempts) and
// recorded; a wrong user and a wrong password answer alike, and take as
// long.
func (a *Authenticator) StartSession(w http.ResponseWriter, r *http.Request, user, password string) (Principal, error) {
	if err := http.NewCrossOriginProtection().Check(r); err != nil {
		return Principal{}, fmt.Errorf("%w: cross-origin sign-in refused", ErrForbidden)
	}
	user = strings.ToLower(strings.TrimSpace(user))
	addr := ClientAddr(r)
	now := a.Now()
	if wait := a.Limiter.Blocked(now, "u:"+user, "a:"+addr); wait > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		err := fmt.Errorf("%w: try again in %s", ErrTooManyAttempts, wait.Round(time.Second))
		a.record(r, Principal{User: user}, http.StatusTooManyRequests, err)
		return Principal{}, err
	}
	fail := func() (Principal, error) {
		a.Limiter.Fail(now, "u:"+user, "a:"+addr)
		err := fmt.Errorf("%w: wrong user name or password", ErrUnauthenticated)
		a.record(r, Principal{User: user}, http.StatusUnauthorized, err)
		return Principal{}, err
	}
	if events.ValidUserID(user) != nil || len(password) > MaxPasswordLen || a.Creds == nil {
		_ = bcrypt.CompareHashAndPassword(DummyHash(), []byte(password))
		return fail()
	}
	hash, err := a.Creds.PasswordHash(r.Context(), user)
	if errors.Is(err, ErrUnknownToken) {
		_ = bcrypt.CompareHashAndPassword(DummyHash(), []byte(password))
		return fail()
	}
	if err != nil {
		return Principal{}, fmt.Errorf("sign in: %w", err)
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil {
		return fail()
	}
	p, err := a.userPrincipal(user)
	if err != nil {
		return fail()
	}
	a.Limiter.Reset("u:" + user)
	p, err = a.NewSession(w, r, p, "password")
	if err == nil {
		a.record(r, p, http.StatusOK, nil)
	}
	return p, err
}

// StartTokenSession signs the browser in with an API token: the session is
// the token's user's, and ends when the session times out (a revoked or
// expired token cannot start one). Failures are rate limited per client
// address.
func (a *Authenticator) StartTokenSession(w http.ResponseWriter, r *http.Request, token string) (Principal, error) {
	if err := http.NewCrossOriginProtection().Check(r); err != nil {
		return Principal{}, fmt.Errorf("%w: cross-origin sign-in refused", ErrForbidden)
	}
	addr := ClientAddr(r)
	now := a.Now()
	if wait := a.Limiter.Blocked(now, "a:"+addr); wait > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		return Principal{}, fmt.Errorf("%w: try again in %s", ErrTooManyAttempts, wait.Round(time.Second))
	}
	token = strings.TrimSpace(token)
	if token == "" || len(token) > 200 {
		a.Limiter.Fail(now, "a:"+addr)
		return Principal{}, fmt.Errorf("%w: malformed token", ErrUnauthenticated)
	}
	p, err := a.tokenPrincipal(r.Context(), token)
	if err != nil {
		if errors.Is(err, ErrUnauthenticated) {
			a.Limiter.Fail(now, "a:"+addr)
			a.record(r, Principal{}, http.StatusUnauthorized, err)
		}
		return Principal{}, err
	}
	p, err = a.NewSession(w, r, p, "token")
	if err == nil {
		a.record(r, p, http.StatusOK, nil)
	}
	return p, err
}

// NewSession stores a session for p, signed in via "password" or
// "token", sets its cookie on w and returns p as the session's principal
// (with its CSRF token).
func (a *Authenticator) NewSession(w http.ResponseWriter, r *http.Request, p Principal, via string) (Principal, error) {
	id, err := RandomToken()
	if err != nil {
		return Principal{}, err
	}
	now := a.Now().UTC()
	if err := a.Creds.PutSession(r.Context(), HashToken(id), Session{User: p.User, Created: now, LastSeen: now, Via: via}); err != nil {
		return Principal{}, fmt.Errorf("start session: %w", err)
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", HttpOnly: true,
		Secure: r.TLS != nil || a.SecureCookies, SameSite: http.SameSiteLaxMode, MaxAge: int(a.Max.Seconds())})
	p.Via, p.CSRF, p.TokenID = "session", CSRFOf(id), ""
	return p, nil
}

// EndSession ends r's session, if any, and clears the cookie.
func (a *Authenticator) EndSession(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil && a.Creds != nil {
		_ = a.Creds.DeleteSession(r.Context(), HashToken(c.Value))
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true,
		Secure: r.TLS != nil || a.SecureCookies, SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// sessionPrincipal resolves a session cookie: unknown, forged, idle-expired
// or too old sessions, and sessions of disabled users, are refused.
func (a *Authenticator) sessionPrincipal(r *http.Request, value string) (Principal, error) {
	if value == "" || len(value) > 100 || a.Creds == nil {
		return Principal{}, fmt.Errorf("%w: bad session cookie; sign in again", ErrUnauthenticated)
	}
	h := HashToken(value)
	sess, err := a.Creds.GetSession(r.Context(), h)
	if errors.Is(err, ErrUnknownToken) {
		return Principal{}, fmt.Errorf("%w: session unknown or ended; sign in again", ErrUnauthenticated)
	}
	if err != nil {
		return Principal{}, fmt.Errorf("check session: %w", err)
	}
	now := a.Now()
	if now.Sub(sess.LastSeen) > a.Idle || now.Sub(sess.Created) > a.Max {
		_ = a.Creds.DeleteSession(r.Context(), h)
		return Principal{}, fmt.Errorf("%w: session timed out; sign in again", ErrUnauthenticated)
	}
	p, err := a.userPrincipal(sess.User)
	if err != nil {
		_ = a.Creds.DeleteSession(r.Context(), h)
		return Principal{}, err
	}
	if now.Sub(sess.LastSeen) > time.Minute {
		sess.LastSeen = now.UTC()
		if err := a.Creds.PutSession(r.Context(), h, sess); err != nil && a.Log != nil {
			a.Log.WarnContext(r.Context(), "session: could not record activity", "user", sess.User, "err", err)
		}
	}
	p.Via, p.CSRF, p.Created = "session", CSRFOf(value), sess.Created
	return p, nil
}

// ClientAddr is the request's client IP (the connection's peer: proxies'
// headers are not trusted).
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

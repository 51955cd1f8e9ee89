package services

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"taizhang/events"
)

// sessionCookie is the name of the web session cookie. Its value is 256
// random bits; the server keeps only its hash.
const sessionCookie = "tz_session"

// Session and sign-in defaults (see Config).
const (
	defaultSessionIdle = 30 * time.Minute
	defaultSessionMax  = 12 * time.Hour
	loginWindow        = 15 * time.Minute
	maxFailsPerAccount = 5
	maxFailsPerAddress = 20
	maxPasswordLen     = 72 // bcrypt's limit
	minPasswordLen     = 10
)

// csrfToken returns the CSRF token that every form the web app renders for
// r must carry in a hidden field named "csrf" (the first field of a
// multipart form), or that a script sends as X-CSRF-Token. It is "" for a
// request that did not come with a session (bearer tokens need none).
func (s *Server) csrfToken(r *http.Request) string { return principal(r).csrf }

// checkCSRF refuses a state-changing session request that is cross-origin
// (Sec-Fetch-Site / Origin, net/http's CrossOriginProtection) or does not
// carry the session's CSRF token. For a multipart form it reads the first
// part, which must be the token, and hands the rest of the form to the
// handler (multipartReader); for a URL-encoded form it parses the form.
func (s *Server) checkCSRF(w http.ResponseWriter, r *http.Request, p Principal) (*http.Request, error) {
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
				return r, fmt.Errorf("%w: form: %v", errBadRequest, err)
			}
			got = r.PostForm.Get("csrf")
		case "multipart/form-data":
			if params["boundary"] == "" {
				return r, fmt.Errorf("%w: multipart form without a boundary", errBadRequest)
			}
			// The handler reads the rest through this reader, not r.Body:
			// bound it here by the upload limit, as the handlers bound theirs.
			r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestSize)
			mr := multipart.NewReader(r.Body, params["boundary"])
			part, err := mr.NextPart()
			if err != nil || part.FormName() != "csrf" {
				return r, fmt.Errorf("%w: the form's first field must be its CSRF token", ErrForbidden)
			}
			b, _ := io.ReadAll(io.LimitReader(part, 256))
			got = string(b)
			r = r.WithContext(context.WithValue(r.Context(), multipartKey{}, mr))
		}
	}
	if got == "" || p.csrf == "" || subtle.ConstantTimeCompare([]byte(got), []byte(p.csrf)) != 1 {
		return r, fmt.Errorf("%w: missing or wrong CSRF token; reload the page and try again", ErrForbidden)
	}
	return r, nil
}

type multipartKey struct{}

// startSession checks a user's password and, on success, sets the session
// cookie on w and returns the signed-in principal. Failures are rate
// limited per account and per client address (ErrTooManyAttempts) and
// recorded in the access log; a wrong user and a wrong password answer alike.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, user, password string) (Principal, error) {
	if err := http.NewCrossOriginProtection().Check(r); err != nil {
		return Principal{}, fmt.Errorf("%w: cross-origin sign-in refused", ErrForbidden)
	}
	user = strings.ToLower(strings.TrimSpace(user))
	addr := clientAddr(r)
	now := s.now()
	if wait := s.logins.blocked(now, "u:"+user, "a:"+addr); wait > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		err := fmt.Errorf("%w: try again in %s", ErrTooManyAttempts, wait.Round(time.Second))
		s.logAccess(r, Principal{User: user}, "login", "", http.StatusTooManyRequests, err)
		return Principal{}, err
	}
	fail := func() (Principal, error) {
		s.logins.fail(now, "u:"+user, "a:"+addr)
		err := fmt.Errorf("%w: wrong user name or password", ErrUnauthenticated)
		s.logAccess(r, Principal{User: user}, "login", "", http.StatusUnauthorized, err)
		return Principal{}, err
	}
	if events.ValidUserID(user) != nil || len(password) > maxPasswordLen || s.creds == nil {
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return fail()
	}
	hash, err := s.creds.PasswordHash(r.Context(), user)
	if errors.Is(err, ErrUnknownToken) {
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return fail()
	}
	if err != nil {
		return Principal{}, fmt.Errorf("sign in: %w", err)
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil {
		return fail()
	}
	p, err := s.userPrincipal(user)
	if err != nil {
		return fail()
	}
	s.logins.reset("u:" + user)
	p, err = s.newSession(w, r, p, "password")
	if err == nil {
		s.logAccess(r, p, "login", "", http.StatusOK, nil)
	}
	return p, err
}

// dummyHash is compared against when the user does not exist, so that an
// unknown user takes as long as a wrong password. It is made on first use,
// not when the package loads: every CLI command links this package.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("taizhang-no-such-user"), bcrypt.DefaultCost)
	return h
})

// startTokenSession signs the browser in with an API token: the session is
// the token's user's, and ends when the session times out (a revoked or
// expired token cannot start one).
func (s *Server) startTokenSession(w http.ResponseWriter, r *http.Request, token string) (Principal, error) {
	if err := http.NewCrossOriginProtection().Check(r); err != nil {
		return Principal{}, fmt.Errorf("%w: cross-origin sign-in refused", ErrForbidden)
	}
	addr := clientAddr(r)
	now := s.now()
	if wait := s.logins.blocked(now, "a:"+addr); wait > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		return Principal{}, fmt.Errorf("%w: try again in %s", ErrTooManyAttempts, wait.Round(time.Second))
	}
	token = strings.TrimSpace(token)
	if token == "" || len(token) > 200 {
		s.logins.fail(now, "a:"+addr)
		return Principal{}, fmt.Errorf("%w: malformed token", ErrUnauthenticated)
	}
	p, err := s.tokenPrincipal(r.Context(), token)
	if err != nil {
		if errors.Is(err, ErrUnauthenticated) {
			s.logins.fail(now, "a:"+addr)
			s.logAccess(r, Principal{}, "login", "", http.StatusUnauthorized, err)
		}
		return Principal{}, err
	}
	p, err = s.newSession(w, r, p, "token")
	if err == nil {
		s.logAccess(r, p, "login", "", http.StatusOK, nil)
	}
	return p, err
}

// newSession stores a session for p and sets its cookie.
func (s *Server) newSession(w http.ResponseWriter, r *http.Request, p Principal, via string) (Principal, error) {
	id, err := randomToken()
	if err != nil {
		return Principal{}, err
	}
	now := s.now().UTC()
	if err := s.creds.PutSession(r.Context(), HashToken(id), Session{User: p.User, Created: now, LastSeen: now, Via: via}); err != nil {
		return Principal{}, fmt.Errorf("start session: %w", err)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true,
		Secure: r.TLS != nil || s.cfg.SecureCookies, SameSite: http.SameSiteLaxMode, MaxAge: int(s.cfg.SessionMax.Seconds())})
	p.Via, p.csrf, p.TokenID = "session", csrfOf(id), ""
	return p, nil
}

// endSession ends r's session, if any, and clears the cookie.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil && s.creds != nil {
		_ = s.creds.DeleteSession(r.Context(), HashToken(c.Value))
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true,
		Secure: r.TLS != nil || s.cfg.SecureCookies, SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// sessionPrincipal resolves a session cookie: unknown, forged, idle-expired
// or too old sessions, and sessions of disabled users, are refused.
func (s *Server) sessionPrincipal(r *http.Request, value string) (Principal, error) {
	if value == "" || len(value) > 100 || s.creds == nil {
		return Principal{}, fmt.Errorf("%w: bad session cookie; sign in again", ErrUnauthenticated)
	}
	h := HashToken(value)
	sess, err := s.creds.GetSession(r.Context(), h)
	if errors.Is(err, ErrUnknownToken) {
		return Principal{}, fmt.Errorf("%w: session unknown or ended; sign in again", ErrUnauthenticated)
	}
	if err != nil {
		return Principal{}, fmt.Errorf("check session: %w", err)
	}
	now := s.now()
	if now.Sub(sess.LastSeen) > s.cfg.SessionIdle || now.Sub(sess.Created) > s.cfg.SessionMax {
		_ = s.creds.DeleteSession(r.Context(), h)
		return Principal{}, fmt.Errorf("%w: session timed out; sign in again", ErrUnauthenticated)
	}
	p, err := s.userPrincipal(sess.User)
	if err != nil {
		_ = s.creds.DeleteSession(r.Context(), h)
		return Principal{}, err
	}
	if now.Sub(sess.LastSeen) > time.Minute {
		sess.LastSeen = now.UTC()
		if err := s.creds.PutSession(r.Context(), h, sess); err != nil {
			s.log.WarnContext(r.Context(), "session: could not record activity", "user", sess.User, "err", err)
		}
	}
	p.Via, p.csrf, p.Created = "session", csrfOf(value), sess.Created
	return p, nil
}

// csrfOf derives a session's CSRF token from its cookie value, so that it
// is stored nowhere: only the holder of the cookie can know it, and a page
// of another origin can read neither.
func csrfOf(cookie string) string {
	h := sha256.Sum256([]byte("taizhang csrf\x00" + cookie))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// randomToken returns 256 random bits, base64url.
func randomToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// clientAddr is the request's client IP (the connection's peer: proxies'
// headers are not trusted).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// loginLimiter counts failed sign-ins per key in a sliding window.
type loginLimiter struct {
	mu    sync.Mutex
	fails map[string][]time.Time
}

func newLoginLimiter() *loginLimiter { return &loginLimiter{fails: map[string][]time.Time{}} }

func limitOf(key string) int {
	if strings.HasPrefix(key, "u:") {
		return maxFailsPerAccount
	}
	return maxFailsPerAddress
}

// blocked returns how long until the first of keys is below its limit, or
// 0 if none is at it.
func (l *loginLimiter) blocked(now time.Time, keys ...string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		ts := l.prune(now, k)
		if n := limitOf(k); len(ts) >= n {
			if w := ts[len(ts)-n].Add(loginWindow).Sub(now); w > wait {
				wait = w
			}
		}
	}
	return wait
}

func (l *loginLimiter) fail(now time.Time, keys ...string) {
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

func (l *loginLimiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, key)
}

func (l *loginLimiter) prune(now time.Time, key string) []time.Time {
	ts := l.fails[key]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) > loginWindow {
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

// signIn answers POST /api/v1/session {"user","password"} or {"token"}: it
// starts a web session (the cookie) and answers the principal and the
// session's CSRF token, which scripts send as X-CSRF-Token.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	var in struct {
		User     string `json:"user"`
		Password string `json:"password"`
		Token    string `json:"token"`
	}
	if err := decodeJSON(r, w, &in, 4<<10); err != nil {
		s.fail(w, r, err)
		return
	}
	var p Principal
	var err error
	if in.Token != "" {
		p, err = s.startTokenSession(w, r, in.Token)
	} else {
		p, err = s.startSession(w, r, in.User, in.Password)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"principal": p, "csrf": p.csrf})
}

// signOut answers POST /api/v1/session/end: the session ends at once.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	s.endSession(w, r)
	w.WriteHeader(http.StatusNoContent)
}

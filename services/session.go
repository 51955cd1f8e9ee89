package services

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"taizhang/auth"
	"taizhang/events"
)

// sessionCookie is the name of the web session cookie. Its value is 256
// random bits; the server keeps only its hash.
const sessionCookie = "tz_session"

// Session and sign-in defaults (see Config).
const (
	defaultSessionIdle = 30 * time.Minute
	defaultSessionMax  = 12 * time.Hour
)

// csrfToken returns the CSRF token that every form the web app renders for
// r must carry in a hidden field named "csrf" (the first field of a
// multipart form), or that a script sends as X-CSRF-Token. It is "" for a
// request that did not come with a session (bearer tokens need none).
func (s *Server) csrfToken(r *http.Request) string { return principal(r).CSRF }

// checkCSRF refuses a state-changing session request that is cross-origin
// (Sec-Fetch-Site / Origin, net/http's CrossOriginProtection) or does not
// carry the session's CSRF token. For a multipart form it reads the first
// part, which must be the token, and hands the rest of the form to the
// handler (multipartReader); for a URL-encoded form it parses the form.
func (s *Server) checkCSRF(w http.ResponseWriter, r *http.Request, p auth.Principal) (*http.Request, error) {
	if err := http.NewCrossOriginProtection().Check(r); err != nil {
		return r, fmt.Errorf("%w: cross-origin request refused", auth.ErrForbidden)
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
				return r, fmt.Errorf("%w: the form's first field must be its CSRF token", auth.ErrForbidden)
			}
			b, _ := io.ReadAll(io.LimitReader(part, 256))
			got = string(b)
			r = r.WithContext(context.WithValue(r.Context(), multipartKey{}, mr))
		}
	}
	if got == "" || p.CSRF == "" || subtle.ConstantTimeCompare([]byte(got), []byte(p.CSRF)) != 1 {
		return r, fmt.Errorf("%w: missing or wrong CSRF token; reload the page and try again", auth.ErrForbidden)
	}
	return r, nil
}

type multipartKey struct{}

// startSession checks a user's password and, on success, sets the session
// cookie on w and returns the signed-in principal. Failures are rate
// limited per account and per client address (ErrTooManyAttempts) and
// recorded in the access log; a wrong user and a wrong password answer alike.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, user, password string) (auth.Principal, error) {
	if err := http.NewCrossOriginProtection().Check(r); err != nil {
		return auth.Principal{}, fmt.Errorf("%w: cross-origin sign-in refused", auth.ErrForbidden)
	}
	user = strings.ToLower(strings.TrimSpace(user))
	addr := clientAddr(r)
	now := s.now()
	if wait := s.logins.Blocked(now, "u:"+user, "a:"+addr); wait > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		err := fmt.Errorf("%w: try again in %s", auth.ErrTooManyAttempts, wait.Round(time.Second))
		s.logAccess(r, auth.Principal{User: user}, "login", "", http.StatusTooManyRequests, err)
		return auth.Principal{}, err
	}
	fail := func() (auth.Principal, error) {
		s.logins.Fail(now, "u:"+user, "a:"+addr)
		err := fmt.Errorf("%w: wrong user name or password", auth.ErrUnauthenticated)
		s.logAccess(r, auth.Principal{User: user}, "login", "", http.StatusUnauthorized, err)
		return auth.Principal{}, err
	}
	if events.ValidUserID(user) != nil || len(password) > auth.MaxPasswordLen || s.creds == nil {
		_ = bcrypt.CompareHashAndPassword(auth.DummyHash(), []byte(password))
		return fail()
	}
	hash, err := s.creds.PasswordHash(r.Context(), user)
	if errors.Is(err, auth.ErrUnknownToken) {
		_ = bcrypt.CompareHashAndPassword(auth.DummyHash(), []byte(password))
		return fail()
	}
	if err != nil {
		return auth.Principal{}, fmt.Errorf("sign in: %w", err)
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil {
		return fail()
	}
	p, err := s.userPrincipal(user)
	if err != nil {
		return fail()
	}
	s.logins.Reset("u:" + user)
	p, err = s.newSession(w, r, p, "password")
	if err == nil {
		s.logAccess(r, p, "login", "", http.StatusOK, nil)
	}
	return p, err
}

// startTokenSession signs the browser in with an API token: the session is
// the token's user's, and ends when the session times out (a revoked or
// expired token cannot start one).
func (s *Server) startTokenSession(w http.ResponseWriter, r *http.Request, token string) (auth.Principal, error) {
	if err := http.NewCrossOriginProtection().Check(r); err != nil {
		return auth.Principal{}, fmt.Errorf("%w: cross-origin sign-in refused", auth.ErrForbidden)
	}
	addr := clientAddr(r)
	now := s.now()
	if wait := s.logins.Blocked(now, "a:"+addr); wait > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		return auth.Principal{}, fmt.Errorf("%w: try again in %s", auth.ErrTooManyAttempts, wait.Round(time.Second))
	}
	token = strings.TrimSpace(token)
	if token == "" || len(token) > 200 {
		s.logins.Fail(now, "a:"+addr)
		return auth.Principal{}, fmt.Errorf("%w: malformed token", auth.ErrUnauthenticated)
	}
	p, err := s.tokenPrincipal(r.Context(), token)
	if err != nil {
		if errors.Is(err, auth.ErrUnauthenticated) {
			s.logins.Fail(now, "a:"+addr)
			s.logAccess(r, auth.Principal{}, "login", "", http.StatusUnauthorized, err)
		}
		return auth.Principal{}, err
	}
	p, err = s.newSession(w, r, p, "token")
	if err == nil {
		s.logAccess(r, p, "login", "", http.StatusOK, nil)
	}
	return p, err
}

// newSession stores a session for p and sets its cookie.
func (s *Server) newSession(w http.ResponseWriter, r *http.Request, p auth.Principal, via string) (auth.Principal, error) {
	id, err := auth.RandomToken()
	if err != nil {
		return auth.Principal{}, err
	}
	now := s.now().UTC()
	if err := s.creds.PutSession(r.Context(), auth.HashToken(id), auth.Session{User: p.User, Created: now, LastSeen: now, Via: via}); err != nil {
		return auth.Principal{}, fmt.Errorf("start session: %w", err)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true,
		Secure: r.TLS != nil || s.cfg.SecureCookies, SameSite: http.SameSiteLaxMode, MaxAge: int(s.cfg.SessionMax.Seconds())})
	p.Via, p.CSRF, p.TokenID = "session", auth.CSRFOf(id), ""
	return p, nil
}

// endSession ends r's session, if any, and clears the cookie.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil && s.creds != nil {
		_ = s.creds.DeleteSession(r.Context(), auth.HashToken(c.Value))
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true,
		Secure: r.TLS != nil || s.cfg.SecureCookies, SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// sessionPrincipal resolves a session cookie: unknown, forged, idle-expired
// or too old sessions, and sessions of disabled users, are refused.
func (s *Server) sessionPrincipal(r *http.Request, value string) (auth.Principal, error) {
	if value == "" || len(value) > 100 || s.creds == nil {
		return auth.Principal{}, fmt.Errorf("%w: bad session cookie; sign in again", auth.ErrUnauthenticated)
	}
	h := auth.HashToken(value)
	sess, err := s.creds.GetSession(r.Context(), h)
	if errors.Is(err, auth.ErrUnknownToken) {
		return auth.Principal{}, fmt.Errorf("%w: session unknown or ended; sign in again", auth.ErrUnauthenticated)
	}
	if err != nil {
		return auth.Principal{}, fmt.Errorf("check session: %w", err)
	}
	now := s.now()
	if now.Sub(sess.LastSeen) > s.cfg.SessionIdle || now.Sub(sess.Created) > s.cfg.SessionMax {
		_ = s.creds.DeleteSession(r.Context(), h)
		return auth.Principal{}, fmt.Errorf("%w: session timed out; sign in again", auth.ErrUnauthenticated)
	}
	p, err := s.userPrincipal(sess.User)
	if err != nil {
		_ = s.creds.DeleteSession(r.Context(), h)
		return auth.Principal{}, err
	}
	if now.Sub(sess.LastSeen) > time.Minute {
		sess.LastSeen = now.UTC()
		if err := s.creds.PutSession(r.Context(), h, sess); err != nil {
			s.log.WarnContext(r.Context(), "session: could not record activity", "user", sess.User, "err", err)
		}
	}
	p.Via, p.CSRF, p.Created = "session", auth.CSRFOf(value), sess.Created
	return p, nil
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
	var p auth.Principal
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
	writeJSON(w, http.StatusOK, map[string]any{"principal": p, "csrf": p.CSRF})
}

// signOut answers POST /api/v1/session/end: the session ends at once.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	s.endSession(w, r)
	w.WriteHeader(http.StatusNoContent)
}

package auth_test

import (
	"bytes"
	"context"
	"errors"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"

	"taizhang/auth"
	"taizhang/auth/natskv"
	"taizhang/events"
	"taizhang/internal/testenv"
)

// env is an Authenticator on real credential buckets (embedded NATS), a
// settable clock and a users table the test changes.
type env struct {
	a     *auth.Authenticator
	creds *natskv.Store
	mu    sync.Mutex
	now   time.Time
	users map[string]events.User
	off   map[string]bool // disabled users
	seen  []int           // statuses of the sign-ins recorded
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ns := testenv.StartNATS(t)
	js, err := jetstream.New(ns.Connect(t))
	if err != nil {
		t.Fatal(err)
	}
	creds, err := natskv.Open(context.Background(), js, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{creds: creds, now: time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC),
		users: map[string]events.User{"clerk": {ID: "clerk", Name: "文員", Role: events.RoleSubmitter, Scope: "cun-1"}}, off: map[string]bool{}}
	e.a = &auth.Authenticator{Creds: creds, Now: e.clock, Idle: 30 * time.Minute, Max: 12 * time.Hour, MaxFormSize: 1 << 20, Limiter: auth.NewLoginLimiter(),
		User: func(id string) (events.User, bool, bool) {
			e.mu.Lock()
			defer e.mu.Unlock()
			u, ok := e.users[id]
			return u, e.off[id], ok
		},
		Record: func(r *http.Request, p auth.Principal, status int, err error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.seen = append(e.seen, status)
		}}
	return e
}

func (e *env) clock() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return e.now }
func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

// use authenticates a request with the session cookie.
func (e *env) use(cookie string) (auth.Principal, error) {
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: cookie})
	return e.a.Authenticate(r)
}

// signIn posts a password sign-in and returns the session cookie.
func (e *env) signIn(user, pw string) (string, auth.Principal, error) {
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/login", nil)
	r.RemoteAddr = "10.0.0.7:5555"
	p, err := e.a.StartSession(w, r, user, pw)
	for _, c := range w.Result().Cookies() {
		if c.Name == auth.SessionCookie {
			return c.Value, p, err
		}
	}
	return "", p, err
}

// TestSessionTimeouts: a session unused for longer than Idle ends; a
// session in use ends anyway Max after it started.
func TestSessionTimeouts(t *testing.T) {
	e := newEnv(t)
	start := func() string {
		w := httptest.NewRecorder()
		if _, err := e.a.NewSession(w, httptest.NewRequest("POST", "/", nil), auth.Principal{User: "clerk"}, "password"); err != nil {
			t.Fatal(err)
		}
		return w.Result().Cookies()[0].Value
	}
	idle := start()
	e.advance(29 * time.Minute)
	if _, err := e.use(idle); err != nil {
		t.Fatalf("after 29 minutes: %v", err)
	}
	e.advance(31 * time.Minute)
	if _, err := e.use(idle); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("after 31 idle minutes: %v", err)
	}
	if _, err := e.use(idle); err == nil || !strings.Contains(err.Error(), "unknown or ended") {
		t.Fatalf("a timed-out session is gone: %v", err)
	}
	busy := start()
	for i := 0; i < 12*3; i++ { // used every 20 minutes for 12 hours
		e.advance(20 * time.Minute)
		if _, err := e.use(busy); err != nil {
			t.Fatalf("in use after %d minutes: %v", (i+1)*20, err)
		}
	}
	e.advance(20 * time.Minute)
	if _, err := e.use(busy); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("after 12h20m: %v", err)
	}
}

// TestPasswordSignIn: the right password starts a session whose cookie is
// HttpOnly and SameSite=Lax and whose principal carries the CSRF token
// derived from it; a wrong password and an unknown user are refused alike
// and recorded; five failures block the account (with Retry-After); a
// disabled user's session ends; EndSession ends it at once.
func TestPasswordSignIn(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	h, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.creds.SetPassword(ctx, "clerk", h); err != nil {
		t.Fatal(err)
	}
	cookie, p, err := e.signIn(" Clerk ", "correct horse")
	if err != nil || cookie == "" || p.User != "clerk" || p.Via != "session" || p.CSRF != auth.CSRFOf(cookie) {
		t.Fatalf("sign-in: %+v %q %v", p, cookie, err)
	}
	got, err := e.use(cookie)
	if err != nil || got.User != "clerk" || got.Role != events.RoleSubmitter || got.Unit != "cun-1" || got.CSRF != p.CSRF {
		t.Fatalf("the session's principal: %+v %v", got, err)
	}
	_, _, errWrong := e.signIn("clerk", "wrong password")
	_, _, errNobody := e.signIn("nobody", "wrong password")
	if !errors.Is(errWrong, auth.ErrUnauthenticated) || errWrong.Error() != errNobody.Error() {
		t.Errorf("wrong password %v, unknown user %v: want the same refusal", errWrong, errNobody)
	}
	for range auth.MaxFailsPerAccount - 1 {
		_, _, _ = e.signIn("clerk", "wrong password")
	}
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/login", nil)
	if _, err := e.a.StartSession(w, r, "clerk", "correct horse"); !errors.Is(err, auth.ErrTooManyAttempts) || w.Header().Get("Retry-After") == "" {
		t.Errorf("after %d failures: %v (Retry-After %q)", auth.MaxFailsPerAccount, err, w.Header().Get("Retry-After"))
	}
	e.mu.Lock()
	seen := append([]int(nil), e.seen...)
	e.off["clerk"] = true
	e.mu.Unlock()
	if len(seen) != 2+auth.MaxFailsPerAccount+1 || seen[0] != http.StatusOK || seen[len(seen)-1] != http.StatusTooManyRequests {
		t.Errorf("sign-ins recorded: %v", seen)
	}
	if _, err := e.use(cookie); err == nil || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("a disabled user's session: %v", err)
	}
	e.mu.Lock()
	e.off["clerk"] = false
	e.mu.Unlock()
	if _, err := e.use(cookie); err == nil {
		t.Error("the disabled user's session was not ended")
	}
	w = httptest.NewRecorder()
	r = httptest.NewRequest("POST", "/logout", nil)
	r.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: cookie})
	e.a.EndSession(w, r)
	if c := w.Result().Cookies(); len(c) != 1 || c[0].MaxAge != -1 {
		t.Errorf("EndSession cookies: %v", c)
	}
}

// TestTokens: a bearer token resolves to its user; revoked, expired,
// unknown and malformed ones are refused; a token starts a browser
// session; a cross-site sign-in is refused.
func TestTokens(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	put := func(tok string, rec auth.TokenRecord) {
		rec.User = "clerk"
		if err := e.creds.Put(ctx, auth.HashToken(tok), rec); err != nil {
			t.Fatal(err)
		}
	}
	put("tz_good", auth.TokenRecord{ID: "t1", Expires: e.clock().Add(time.Hour)})
	put("tz_revoked", auth.TokenRecord{ID: "t2", Revoked: e.clock()})
	put("tz_expired", auth.TokenRecord{ID: "t3", Expires: e.clock().Add(-time.Second)})
	bearer := func(h string) (auth.Principal, error) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", h)
		return e.a.Authenticate(r)
	}
	if p, err := bearer("Bearer tz_good"); err != nil || p.User != "clerk" || p.TokenID != "t1" || p.Via != "token" {
		t.Errorf("good token: %+v %v", p, err)
	}
	for h, want := range map[string]string{"Bearer tz_revoked": "revoked", "Bearer tz_expired": "expired", "Bearer tz_never": "unknown token",
		"Basic abc": "malformed", "Bearer": "malformed", "Bearer " + strings.Repeat("x", 201): "malformed"} {
		if _, err := bearer(h); !errors.Is(err, auth.ErrUnauthenticated) || !strings.Contains(err.Error(), want) {
			t.Errorf("%.20s: %v, want %q", h, err, want)
		}
	}
	if _, err := e.a.Authenticate(httptest.NewRequest("GET", "/", nil)); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("no credential: %v", err)
	}
	w := httptest.NewRecorder()
	p, err := e.a.StartTokenSession(w, httptest.NewRequest("POST", "/login", nil), " tz_good ")
	if err != nil || p.Via != "session" || p.TokenID != "" || len(w.Result().Cookies()) != 1 {
		t.Errorf("token sign-in: %+v %v", p, err)
	}
	r := httptest.NewRequest("POST", "/login", nil)
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	if _, err := e.a.StartTokenSession(httptest.NewRecorder(), r, "tz_good"); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("cross-site token sign-in: %v", err)
	}
}

// TestCheckCSRF: a session request that changes something carries the
// session's CSRF token as a header, a URL-encoded field or the first part
// of a multipart form (the rest is handed on through FormReader);
// anything else, and any cross-site request, is refused.
func TestCheckCSRF(t *testing.T) {
	e := newEnv(t)
	p := auth.Principal{User: "clerk", Via: "session", CSRF: auth.CSRFOf("cookie")}
	check := func(r *http.Request) (*http.Request, error) { return e.a.CheckCSRF(httptest.NewRecorder(), r, p) }

	r := httptest.NewRequest("POST", "/x", nil)
	r.Header.Set("X-CSRF-Token", p.CSRF)
	if _, err := check(r); err != nil {
		t.Errorf("header: %v", err)
	}
	r = httptest.NewRequest("POST", "/x", strings.NewReader(url.Values{"csrf": {p.CSRF}, "title": {"端午"}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r, err := check(r); err != nil || r.PostForm.Get("title") != "端午" {
		t.Errorf("URL-encoded form: %v", err)
	}
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	_ = mw.WriteField("csrf", p.CSRF)
	_ = mw.WriteField("title", "端午")
	_ = mw.Close()
	r = httptest.NewRequest("POST", "/x", &b)
	r.Header.Set("Content-Type", mw.FormDataContentType())
	r, err := check(r)
	if err != nil {
		t.Fatalf("multipart form: %v", err)
	}
	mr := auth.FormReader(r.Context())
	if mr == nil {
		t.Fatal("FormReader: no reader after the token")
	}
	if part, err := mr.NextPart(); err != nil || part.FormName() != "title" {
		t.Errorf("the part after the token: %v %v", part, err)
	}
	for name, mk := range map[string]func() *http.Request{
		"no token": func() *http.Request { return httptest.NewRequest("POST", "/x", nil) },
		"wrong token": func() *http.Request {
			r := httptest.NewRequest("POST", "/x", nil)
			r.Header.Set("X-CSRF-Token", auth.CSRFOf("another cookie"))
			return r
		},
		"cross-site": func() *http.Request {
			r := httptest.NewRequest("POST", "/x", nil)
			r.Header.Set("X-CSRF-Token", p.CSRF)
			r.Header.Set("Sec-Fetch-Site", "cross-site")
			return r
		},
		"multipart, token not first": func() *http.Request {
			var b bytes.Buffer
			mw := multipart.NewWriter(&b)
			_ = mw.WriteField("title", "端午")
			_ = mw.WriteField("csrf", p.CSRF)
			_ = mw.Close()
			r := httptest.NewRequest("POST", "/x", &b)
			r.Header.Set("Content-Type", mw.FormDataContentType())
			return r
		},
	} {
		if _, err := check(mk()); !errors.Is(err, auth.ErrForbidden) {
			t.Errorf("%s: %v, want ErrForbidden", name, err)
		}
	}
	r = httptest.NewRequest("POST", "/x", strings.NewReader("x"))
	r.Header.Set("Content-Type", "multipart/form-data")
	if _, err := check(r); !errors.Is(err, auth.ErrBadForm) {
		t.Errorf("multipart without a boundary: %v, want ErrBadForm", err)
	}
}

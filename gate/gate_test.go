package gate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"taizhang/auth"
	"taizhang/blobstore"
	"taizhang/events"
	"taizhang/param"
)

// TestStatusOf checks rows of the error table, wrapped as handlers wrap
// them, and the fallbacks (413 for http.MaxBytesError, 500 otherwise).
func TestStatusOf(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("%w: x", param.ErrBadRequest), 400, "bad_request"},
		{fmt.Errorf("unit: %w", events.ErrInvalid), 400, "invalid"},
		{fmt.Errorf("x: %w", auth.ErrUnauthenticated), 401, "unauthenticated"},
		{auth.ErrForbidden, 403, "forbidden"},
		{fmt.Errorf("%w: no route", ErrNoRoute), 404, "not_found"},
		{ErrMethod, 405, "method_not_allowed"},
		{fmt.Errorf("%w: 2 MB", ErrJSONTooLarge), 413, "too_large"},
		{ErrTooManyFiles, 413, "too_large"},
		{&http.MaxBytesError{Limit: 1}, 413, "too_large"},
		{ErrUnsupportedMedia, 415, "unsupported_media_type"},
		{events.ErrQuarantined, 423, "quarantined"},
		{fmt.Errorf("%w: behind", ErrTooBehind), 503, "behind"},
		{blobstore.ErrUnavailable, 503, "unavailable"},
		{errors.New("something else"), 500, "internal"},
	} {
		if status, code := StatusOf(c.err); status != c.status || code != c.code {
			t.Errorf("StatusOf(%v) = %d %s, want %d %s", c.err, status, code, c.status, c.code)
		}
	}
}

// TestFallbackAndHeaders: a path without a route answers 404, a path with
// routes for other methods 405 with Allow, both as JSON errors carrying
// the request id, with the security headers.
func TestFallbackAndHeaders(t *testing.T) {
	var logged bytes.Buffer
	g := New(nil, Config{Log: WithRequestIDs(slog.New(slog.NewTextHandler(&logged, nil)))})
	g.Handle("GET /healthz", auth.ActHealth, false, func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "alive"})
	})
	do := func(method, path, id string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, nil)
		if id != "" {
			r.Header.Set(HeaderRequestID, id)
		}
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		return w
	}
	if w := do("GET", "/healthz", ""); w.Code != 200 || w.Header().Get("X-Frame-Options") != "DENY" || w.Header().Get("Content-Security-Policy") != CSP {
		t.Fatalf("GET /healthz: %d %v", w.Code, w.Header())
	}
	w := do("GET", "/nothing", "req-1")
	var body errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != 404 || body.Error.Code != "not_found" || body.Error.RequestID != "req-1" {
		t.Fatalf("GET /nothing: %d %s (%v)", w.Code, w.Body, err)
	}
	if !strings.Contains(logged.String(), "request_id=req-1") {
		t.Errorf("the refusal's log line has no request id: %s", logged.String())
	}
	w = do("POST", "/healthz", "")
	if w.Code != 405 || w.Header().Get("Allow") != "GET" {
		t.Fatalf("POST /healthz: %d Allow %q", w.Code, w.Header().Get("Allow"))
	}
	if bad := do("GET", "/nothing", "bad id!"); bad.Header().Get(HeaderRequestID) == "bad id!" || bad.Header().Get(HeaderRequestID) == "" {
		t.Errorf("an insane request id was kept or none made: %q", bad.Header().Get(HeaderRequestID))
	}
	if routes := g.Routes(); len(routes) != 1 || routes[0].Pattern != "GET /healthz" {
		t.Errorf("Routes() = %v", routes)
	}
}

// TestErrorPage: Fail answers through the error page when it takes the
// request, and as JSON when it does not.
func TestErrorPage(t *testing.T) {
	g := New(nil, Config{})
	g.SetErrorPage(func(w http.ResponseWriter, r *http.Request, status int, err error) bool {
		if !strings.HasPrefix(r.URL.Path, "/page") {
			return false
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte("<p>page</p>"))
		return true
	})
	for path, want := range map[string]string{"/page": "<p>page</p>", "/api": `"code":"forbidden"`} {
		w := httptest.NewRecorder()
		g.Fail(w, httptest.NewRequest("GET", path, nil), auth.ErrForbidden)
		if w.Code != 403 || !strings.Contains(w.Body.String(), want) {
			t.Errorf("%s: %d %s, want 403 with %s", path, w.Code, w.Body, want)
		}
	}
}

// TestDecodeJSON: one strict JSON value of the right type, within the
// limit.
func TestDecodeJSON(t *testing.T) {
	type in struct {
		A int `json:"a"`
	}
	for body, want := range map[string]error{
		`{"a":1}`:          nil,
		`{"a":1} {}`:       param.ErrBadRequest,
		`{"b":1}`:          param.ErrBadRequest,
		``:                 param.ErrBadRequest,
		`{"a":1000000000}`: ErrJSONTooLarge,
	} {
		r := httptest.NewRequest("POST", "/x", strings.NewReader(body))
		var v in
		err := DecodeJSON(r, httptest.NewRecorder(), &v, 12)
		if want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Errorf("%q: %v, want %v", body, err, want)
		}
	}
	r := httptest.NewRequest("POST", "/x", strings.NewReader(`{"a":1}`))
	r.Header.Set("Content-Type", "text/plain")
	if err := DecodeJSON(r, httptest.NewRecorder(), &struct{}{}, 100); !errors.Is(err, param.ErrBadRequest) {
		t.Errorf("text/plain body: %v", err)
	}
}

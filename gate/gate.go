// Package gate is the one authorization gate every HTTP route passes
// through, with the router behind it and the error→status table. Handle
// registers a route with the action it is authorised as (the route table
// itself is in package httpserver, in one place); every request to it is
// authenticated with auth.Authenticator, authorised with auth.Decide against
// the route's action (and the unit its path names), CSRF-checked when a
// session changes something, made to wait for min_seq, and written to the
// access log. Every domain error maps to one HTTP status (errorTable, Fail),
// and every error answers as {"error": {"code": ..., "message": ...,
// "request_id": ...}} — or as a web page, for the web app's paths
// (SetErrorPage).
package gate

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"taizhang/auth"
	"taizhang/events"
	"taizhang/internal/metrics"
	"taizhang/projections"
)

// Config is what the gate needs besides the authenticator.
type Config struct {
	// Archive is the live projection: the unit tree scoped principals are
	// authorised against, and the sequence min_seq waits for.
	Archive *projections.Live
	// Index, if set, is waited for too by min_seq (the ledger's id index).
	Index interface {
		WaitIndex(ctx context.Context, seq uint64) error
	}
	// Now is the clock of the access log (default time.Now).
	Now func() time.Time
	// Replica names this process in min_seq refusals.
	Replica string
	// MinSeqWait bounds how long a request with min_seq waits (default 5 s).
	MinSeqWait time.Duration
	// Metrics, if set, records every request by route pattern and status.
	Metrics *metrics.Metrics
	// Log is the logger; wrap it with WithRequestIDs first.
	Log *slog.Logger
}

// ErrorPage answers a refused request to a web page as HTML; it returns
// false for a path that is not a page (which then answers JSON).
type ErrorPage func(w http.ResponseWriter, r *http.Request, status int, err error) bool

// Gate is the router with the one authorization gate in front of it.
type Gate struct {
	cfg     Config
	mux     *http.ServeMux
	routes  []Route
	authn   *auth.Authenticator
	access  auth.AccessLog
	errPage ErrorPage
}

// Route is one route and the action it is authorised as.
type Route struct {
	Pattern string
	Action  auth.Action
	Unit    bool // the path names a unit: authorised against it
}

// New returns a gate with no routes but the fallback, which answers 405
// (with Allow) for a path that takes other methods and 404 otherwise.
func New(authn *auth.Authenticator, cfg Config) *Gate {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MinSeqWait <= 0 {
		cfg.MinSeqWait = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	g := &Gate{cfg: cfg, mux: http.NewServeMux(), authn: authn, access: discardAccess{}}
	g.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if allow := g.allowedMethods(r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			g.Fail(w, r, fmt.Errorf("%w: %s %s; this path takes %s", ErrMethod, r.Method, r.URL.Path, strings.Join(allow, ", ")))
			return
		}
		g.Fail(w, r, fmt.Errorf("%w: no route %s %s", ErrNoRoute, r.Method, r.URL.Path))
	})
	return g
}

// SetErrorPage makes Fail answer the web app's paths with f's pages.
func (g *Gate) SetErrorPage(f ErrorPage) { g.errPage = f }

// Routes lists the routes with their actions, in the order registered.
func (g *Gate) Routes() []Route { return g.routes }

type ctxKey struct{}

// Principal returns the request's authenticated principal (the zero
// Principal outside the gate or on a public route).
func Principal(r *http.Request) auth.Principal {
	p, _ := r.Context().Value(ctxKey{}).(auth.Principal)
	return p
}

// WithPrincipal returns ctx carrying p as its request's principal, as the
// gate passes it to a handler (tests of a handler without the gate use it).
func WithPrincipal(ctx context.Context, p auth.Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// Handle registers h behind the one gate every route passes: it
// authenticates, validates the unit the path names, asks auth.Decide, checks
// CSRF for session requests that change something, and writes the access
// log entry (every request but the public ones, denied or not).
func (g *Gate) Handle(pattern string, act auth.Action, unitScoped bool, h http.HandlerFunc) {
	g.routes = append(g.routes, Route{Pattern: pattern, Action: act, Unit: unitScoped})
	g.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if act == auth.ActHealth || act == auth.ActPublic {
			h(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w, seq: &seqNote{}}
		var p auth.Principal
		var unit string
		var refused error
		defer func() { g.LogAccess(r, p, act, unit, sw.status, refused) }()
		refuse := func(err error) {
			refused = err
			g.Fail(sw, r, err)
		}
		p, err := g.authn.Authenticate(r)
		if err != nil {
			refuse(err)
			return
		}
		if unitScoped {
			unit = r.PathValue("unit")
			if err := events.ValidUnitID(unit); err != nil {
				unit = ""
				refuse(err)
				return
			}
		}
		if err := g.Authorize(p, act, unit); err != nil {
			refuse(err)
			return
		}
		if p.Via == "session" && !safeMethod(r.Method) {
			if r, err = g.authn.CheckCSRF(sw, r, p); err != nil {
				refuse(err)
				return
			}
		}
		if !g.awaitMinSeq(sw, r) {
			return
		}
		ctx := context.WithValue(WithPrincipal(r.Context(), p), seqKey{}, sw.seq)
		h(sw, r.WithContext(ctx))
	})
}

// Authorize asks auth.Decide whether p may do act on unit ("" for a
// route about no unit), with the unit tree for a principal scoped to a
// subtree.
func (g *Gate) Authorize(p auth.Principal, act auth.Action, unit string) error {
	if unit == "" || p.Role == events.RoleAdmin || p.Unit == "" || !p.Subtree {
		return auth.Decide(p, act, unit, nil)
	}
	var err error
	_ = g.cfg.Archive.Lookup(func(a *projections.Archive) error { // on every request: never behind a long read
		err = auth.Decide(p, act, unit, a.Within)
		return nil
	})
	return err
}

// statusWriter remembers the status a handler answered with, and sets
// X-Taizhang-Seq from the request's seqNote (NoteSeq) before the header
// goes out.
type statusWriter struct {
	http.ResponseWriter
	status int
	seq    *seqNote
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		if w.seq != nil && w.seq.seq > 0 && code < 400 {
			w.Header().Set(HeaderSeq, strconv.FormatUint(w.seq.seq, 10))
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flush, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// allowedMethods returns the methods that r's path has routes for, when
// r's own method has none.
func (g *Gate) allowedMethods(r *http.Request) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		rc := r.Clone(r.Context())
		rc.Method = m
		if _, pattern := g.mux.Handler(rc); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	return allow
}

// CSP is the Content-Security-Policy of every answer that does not set
// its own (the web app's pages do): JSON and errors load nothing.
const CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// ServeHTTP serves the routes with security headers on every response
// (errors, 404s, 405s and blobs included): no MIME sniffing, no framing,
// no referrer, a CSP that loads nothing, same-origin opener and resource
// policies, and HSTS over TLS.
func (g *Gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", CSP)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	id := requestIDOf(r)
	h.Set(HeaderRequestID, id)
	g.serve(w, r.WithContext(withRequestID(r.Context(), id)))
}

// serve routes r, recording it in Config.Metrics by the pattern of the
// route that took it (bounded: the route table's patterns, never a raw
// path) and the status answered.
// At debug level it also logs one line per request (method, route,
// status, duration; the path only as its route pattern).
func (g *Gate) serve(w http.ResponseWriter, r *http.Request) {
	debug := g.cfg.Log.Enabled(r.Context(), slog.LevelDebug)
	if g.cfg.Metrics == nil && !debug {
		g.mux.ServeHTTP(w, r)
		return
	}
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	g.mux.ServeHTTP(sw, r) // sets r.Pattern to the matched route's pattern
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	took := time.Since(start)
	g.cfg.Metrics.ObserveHTTP(r.Pattern, status, took)
	if debug {
		g.cfg.Log.DebugContext(r.Context(), "request", "method", r.Method, "route", r.Pattern, "status", status, "took", took.Round(time.Microsecond).String())
	}
}

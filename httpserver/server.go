// Package httpserver is taizhang's HTTP server: it assembles the one
// authorization gate (package gate), the JSON API (package api) and the
// web app's pages (package pages) on the stores, and holds the route table
// that puts every route behind the gate with the action it is authorised
// as (routes.go). Its own routes are the operator's: GET /healthz,
// /readyz, /metrics (ops.go) and /api/v1/status, with the replicas'
// read-your-writes status (status.go). cmd/taizhang builds a Server with
// New from its flags and serves it.
package httpserver

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"taizhang/api"
	"taizhang/auth"
	"taizhang/blobstore"
	"taizhang/events"
	"taizhang/gate"
	"taizhang/internal/metrics"
	"taizhang/pages"
	"taizhang/projections"
)

// Config tunes the server: the API's limits, the sessions, metrics and
// the replica's place among others.
type Config struct {
	// API is the JSON API's (and the pages') limits, clock and zone.
	API api.Config
	// SessionIdle ends a web session unused this long (default 30 min);
	// SessionMax ends any session this old (default 12 h).
	SessionIdle, SessionMax time.Duration
	// SecureCookies marks the session cookie Secure even when the request
	// did not arrive over TLS (behind a TLS-terminating proxy).
	SecureCookies bool
	// Metrics, if set, records every request by route pattern and status
	// (gate.Gate.ServeHTTP); MetricsHandler, if set, serves GET /metrics
	// (else that route answers 404: metrics are off, or served on another
	// address).
	Metrics        *metrics.Metrics
	MetricsHandler http.Handler
	// Replica names this process among the replicas sharing the ledger
	// (shown by GET /api/v1/status and in min_seq refusals).
	Replica string
	// MinSeqWait bounds how long a request with min_seq (or
	// X-Taizhang-Min-Seq) waits for the projections to apply it before it
	// is answered 503 (default 5 s; gate/seq.go).
	MinSeqWait time.Duration
}

// Server is the HTTP server: the gate with every route behind it.
type Server struct {
	ledger  api.Ledger
	blobs   blobstore.Store
	archive *projections.Live
	cfg     Config
	log     *slog.Logger

	gate  *gate.Gate
	api   *api.Service
	pages *pages.Pages

	cpLease LeaseInfo // optional: see SetCheckpointLease
	holds   holds     // what keeps /readyz at 503 besides the ledger (ops.go)
}

// New returns the server on the ledger, the blob store, the live
// projection and the credentials.
func New(l api.Ledger, blobs blobstore.Store, archive *projections.Live, creds auth.Credentials, cfg Config, log *slog.Logger) *Server {
	cfg.API = cfg.API.Defaults()
	if cfg.MinSeqWait <= 0 {
		cfg.MinSeqWait = 5 * time.Second
	}
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = auth.DefaultSessionIdle
	}
	if cfg.SessionMax <= 0 {
		cfg.SessionMax = auth.DefaultSessionMax
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = gate.WithRequestIDs(log)
	s := &Server{ledger: l, blobs: blobs, archive: archive, cfg: cfg, log: log}
	authn := &auth.Authenticator{Creds: creds, User: userLookup(archive), Now: cfg.API.Now, Idle: cfg.SessionIdle, Max: cfg.SessionMax,
		SecureCookies: cfg.SecureCookies, MaxFormSize: cfg.API.MaxRequestSize, Limiter: auth.NewLoginLimiter(), Log: log,
		Record: func(r *http.Request, p auth.Principal, status int, err error) {
			s.gate.LogAccess(r, p, "login", "", status, err)
		}}
	gcfg := gate.Config{Archive: archive, Now: cfg.API.Now, Replica: cfg.Replica, MinSeqWait: cfg.MinSeqWait, Metrics: cfg.Metrics, Log: log}
	if x, ok := l.(interface {
		WaitIndex(context.Context, uint64) error
	}); ok {
		gcfg.Index = x
	}
	s.gate = gate.New(authn, gcfg)
	s.api = api.New(api.Deps{Ledger: l, Blobs: blobs, Archive: archive, Creds: creds, Authn: authn, Gate: s.gate, Log: log}, cfg.API)
	pg, err := pages.New(s.api, s.gate, authn, log)
	if err != nil {
		panic(err) // the templates are embedded: a parse error is a build defect the tests catch
	}
	s.pages = pg
	s.gate.SetErrorPage(pg.Fail)
	s.routes()
	return s
}

// Routes lists the server's routes with their actions, in the route
// table's order.
func (s *Server) Routes() []gate.Route { return s.gate.Routes() }

// ServeHTTP serves every route through the gate (gate.Gate.ServeHTTP:
// security headers, request ids, metrics).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.gate.ServeHTTP(w, r) }

// fail answers err (gate.Gate.Fail).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) { s.gate.Fail(w, r, err) }

// SetAccessLog makes the server record every request but the public ones in
// log; if log is also an AccessReader, GET /api/v1/audit/access reads it.
func (s *Server) SetAccessLog(log auth.AccessLog) { s.gate.SetAccessLog(log) }

// SetCheckpoints gives the API the checkpointer (api.Service.SetCheckpoints).
func (s *Server) SetCheckpoints(c api.Checkpoints) { s.api.SetCheckpoints(c) }

// SetCosignatures gives the API the witnesses' cosignatures
// (api.Service.SetCosignatures).
func (s *Server) SetCosignatures(c api.Cosignatures) { s.api.SetCosignatures(c) }

// IssueToken creates a token directly (api.Service.IssueToken: at first
// start, for the admin token), creating the user if need be.
func (s *Server) IssueToken(ctx context.Context, role events.Role, unit, user string) (string, error) {
	return s.api.IssueToken(ctx, role, unit, user)
}

// EnsureUser creates u (as the system) unless a user with its id exists
// (api.Service.EnsureUser).
func (s *Server) EnsureUser(ctx context.Context, u events.User) error {
	return s.api.EnsureUser(ctx, u)
}

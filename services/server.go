// Package services is taizhang's HTTP side: the JSON API (units, evidence
// with attachments, corrections, history and archive as of any recorded
// time, blobs, findings, plans, compliance, audit views, checkpoints and
// proofs, users and tokens) and the web app's page handlers (page_*.go;
// their templates are in package web). Every route passes through one gate
// (handle): it authenticates with auth.Authenticator, authorises with
// auth.Decide against the route's action (the route table in New), checks
// CSRF and min_seq, and writes the access log. Every domain error maps to
// one HTTP status (errorTable), and every error answers as {"error":
// {"code": ..., "message": ..., "request_id": ...}}.
package services

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"taizhang/auth"
	"taizhang/blobstore"
	"taizhang/closure"
	"taizhang/events"
	"taizhang/internal/metrics"
	"taizhang/media"
	"taizhang/projections"
	"taizhang/thumb"
)

// Ledger is what the API needs of the ledger.
type Ledger interface {
	RegisterUnit(ctx context.Context, id string, u events.UnitRegistered, actor events.Actor, client events.Client) (*events.Record, error)
	SubmitEvidence(ctx context.Context, s events.Submission) (*events.Record, bool, error)
	AmendEvidence(ctx context.Context, c events.Correction) (*events.Record, error)
	RetractEvidence(ctx context.Context, c events.Correction) (*events.Record, error)
	History(ctx context.Context, unit string, asOf time.Time) ([]events.Record, error)
	// Evidence returns one evidence item's events, or events.ErrNotFound.
	Evidence(ctx context.Context, unit string, id uuid.UUID) ([]events.Record, error)
	// UnitHead returns the sequence of the unit's last event; ok is false if
	// the unit has no events.
	UnitHead(ctx context.Context, unit string) (seq uint64, ok bool, err error)
	// LastSeq returns the last sequence in the whole ledger stream (for
	// /readyz: the projection must reach it).
	LastSeq(ctx context.Context) (uint64, error)
	Ping(ctx context.Context) error
	// PublishPlan records a checked plan (as JSON); created is false when
	// the same content was already published.
	PublishPlan(ctx context.Context, planID string, planJSON []byte, source, file string, actor events.Actor, client events.Client) (*events.Record, bool, error)
	RecordFinding(ctx context.Context, f events.NewFinding) (*events.Record, bool, error)
	ResolveFinding(ctx context.Context, d events.FindingDecision) (*events.Record, error)
	ReopenFinding(ctx context.Context, d events.FindingDecision) (*events.Record, error)
	// RecordUser appends a user event (users.go).
	RecordUser(ctx context.Context, c events.UserCommand) (*events.Record, error)
}

// Config tunes the API.
type Config struct {
	// MaxFileSize is the largest accepted attachment (default 64 MiB).
	MaxFileSize int64
	// MaxRequestSize bounds a whole upload request (default 512 MiB).
	MaxRequestSize int64
	// MaxFiles bounds the attachments of one request (default and most
	// events.MaxAttachments).
	MaxFiles int
	// MaxJSONSize bounds a JSON body, or the JSON part of an upload
	// (default 64 KiB, at most 1 MiB).
	MaxJSONSize int64
	// MaxPixels bounds an attached image's width × height, read from its
	// header before any pixel is decoded (default media.DefaultMaxPixels).
	MaxPixels int64
	// DecodeTimeout bounds the decoding of an attached image's pixels
	// (default media.DefaultDecodeTimeout).
	DecodeTimeout time.Duration
	// ClockSkew is how far in the future occurred_at may be (default 5 min).
	ClockSkew time.Duration
	// TempDir is where uploads are spooled while hashed.
	TempDir string
	// Zone interprets dates without a time (default UTC+8, China), and
	// photos' EXIF times.
	Zone *time.Location
	// ClosureDistance is how far in metres a rectification's photo may be
	// from the finding's photos when both carry a position (default
	// closure.DefaultMaxDistance).
	ClosureDistance float64
	// Now is the clock (default time.Now).
	Now func() time.Time
	// SessionIdle ends a web session unused this long (default 30 min);
	// SessionMax ends any session this old (default 12 h).
	SessionIdle, SessionMax time.Duration
	// SecureCookies marks the session cookie Secure even when the request
	// did not arrive over TLS (behind a TLS-terminating proxy).
	SecureCookies bool
	// WaitProjection bounds how long a read waits for the archive
	// projection to catch up with the unit's last event (default 10 s).
	WaitProjection time.Duration
	// ThumbDir caches image thumbnails, derived data that may be deleted
	// (default TempDir/thumbs).
	ThumbDir string
	// Metrics, if set, records every request by route pattern and status
	// (ops.go); MetricsHandler, if set, serves GET /metrics (else that
	// route answers 404: metrics are off, or served on another address).
	Metrics        *metrics.Metrics
	MetricsHandler http.Handler
	// Replica names this process among the replicas sharing the ledger
	// (shown by GET /api/v1/status and in min_seq refusals).
	Replica string
	// MinSeqWait bounds how long a request with min_seq (or
	// X-Taizhang-Min-Seq) waits for the projections to apply it before it
	// is answered 503 (default 5 s; replicas.go).
	MinSeqWait time.Duration
}

// Server is the HTTP API.
type Server struct {
	ledger  Ledger
	blobs   blobstore.Store
	archive *projections.Live
	creds   auth.Credentials
	access  auth.AccessLog
	authn   *auth.Authenticator // authenticates every request; signs in and out
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	routes  []Route
	decodes chan struct{} // bounds the image decodings running at once

	checkpoints Checkpoints  // optional: see SetCheckpoints
	cosigs      Cosignatures // optional: see SetCosignatures
	cpLease     LeaseInfo    // optional: see SetCheckpointLease
	pages       *pages       // the web app's pages (page_web.go)
	thumbs      *thumb.Cache
	holds       holds // what keeps /readyz at 503 besides the ledger (ops.go)
}

// Route is one API route and the action it is authorised as.
type Route struct {
	Pattern string
	Action  auth.Action
	Unit    bool // the path names a unit: authorised against it
}

// New returns the API server.
func New(l Ledger, blobs blobstore.Store, archive *projections.Live, creds auth.Credentials, cfg Config, log *slog.Logger) *Server {
	if cfg.MaxFileSize <= 0 {
		cfg.MaxFileSize = 64 << 20
	}
	if cfg.MaxRequestSize <= 0 {
		cfg.MaxRequestSize = 512 << 20
	}
	if cfg.MaxRequestSize < cfg.MaxFileSize {
		cfg.MaxRequestSize = cfg.MaxFileSize + 1<<20
	}
	if cfg.MaxFiles <= 0 || cfg.MaxFiles > events.MaxAttachments {
		cfg.MaxFiles = events.MaxAttachments
	}
	if cfg.MaxJSONSize <= 0 {
		cfg.MaxJSONSize = maxMetaSize
	}
	cfg.MaxJSONSize = min(cfg.MaxJSONSize, maxJSONCap)
	if cfg.ClockSkew <= 0 {
		cfg.ClockSkew = 5 * time.Minute
	}
	if cfg.Zone == nil {
		cfg.Zone = time.FixedZone("UTC+8", 8*3600)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.WaitProjection <= 0 {
		cfg.WaitProjection = 10 * time.Second
	}
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
	log = slog.New(requestIDHandler{log.Handler()})
	s := &Server{ledger: l, blobs: blobs, archive: archive, creds: creds, cfg: cfg, log: log, mux: http.NewServeMux(),
		access:  discardAccess{},
		decodes: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))}
	s.authn = &auth.Authenticator{Creds: creds, User: s.lookupUser, Now: s.now, Idle: cfg.SessionIdle, Max: cfg.SessionMax,
		SecureCookies: cfg.SecureCookies, MaxFormSize: cfg.MaxRequestSize, Limiter: auth.NewLoginLimiter(), Log: log,
		Record: func(r *http.Request, p auth.Principal, status int, err error) {
			s.logAccess(r, p, "login", "", status, err)
		}}
	s.handle("GET /healthz", auth.ActHealth, false, s.health)
	s.handle("GET /api/v1/status", auth.ActStatus, false, s.status)
	s.handle("GET /readyz", auth.ActHealth, false, s.ready)
	s.handle("GET /metrics", auth.ActHealth, false, s.metrics)
	s.handle("POST /api/v1/units", auth.ActUnitCreate, false, s.createUnit)
	s.handle("GET /api/v1/units", auth.ActUnitList, false, s.listUnits)
	s.handle("GET /api/v1/units/{unit}", auth.ActUnitRead, true, s.showUnit)
	s.handle("POST /api/v1/units/{unit}/evidence", auth.ActEvidenceWrite, true, s.submitEvidence)
	s.handle("POST /api/v1/units/{unit}/evidence/{id}/amend", auth.ActEvidenceWrite, true, s.amendEvidence)
	s.handle("POST /api/v1/units/{unit}/evidence/{id}/retract", auth.ActEvidenceWrite, true, s.retractEvidence)
	s.handle("GET /api/v1/units/{unit}/history", auth.ActUnitRead, true, s.history)
	s.handle("GET /api/v1/units/{unit}/archive", auth.ActUnitRead, true, s.unitArchive)
	s.handle("GET /api/v1/blobs/{sha256}", auth.ActBlobRead, false, s.blob)
	s.handle("POST /api/v1/tokens", auth.ActTokenCreate, false, s.createToken)
	s.handle("GET /api/v1/tokens", auth.ActTokenAdmin, false, s.listTokens)
	s.handle("POST /api/v1/tokens/{id}/revoke", auth.ActTokenAdmin, false, s.revokeToken)
	s.handle("POST /api/v1/users", auth.ActUserWrite, false, s.postUser)
	s.handle("GET /api/v1/users", auth.ActUserRead, false, s.listUsers)
	s.handle("GET /api/v1/users/{user}", auth.ActUserRead, false, s.getUser)
	s.handle("GET /api/v1/users/{user}/can", auth.ActUserRead, false, s.userCan)
	s.handle("POST /api/v1/users/{user}/change", auth.ActUserWrite, false, s.changeUser(events.TypeUserChanged))
	s.handle("POST /api/v1/users/{user}/disable", auth.ActUserWrite, false, s.changeUser(events.TypeUserDisabled))
	s.handle("POST /api/v1/users/{user}/enable", auth.ActUserWrite, false, s.changeUser(events.TypeUserEnabled))
	s.handle("POST /api/v1/users/{user}/password", auth.ActUserWrite, false, s.putPassword)
	s.handle("GET /api/v1/access/who", auth.ActUserRead, false, s.whoCan)
	s.handle("GET /api/v1/audit/access", auth.ActAccessLog, false, s.accessLog)
	s.handle("GET /api/v1/me", auth.ActSession, false, s.me)
	s.handle("POST /api/v1/session", auth.ActPublic, false, s.signIn)
	s.handle("POST /api/v1/session/end", auth.ActSession, false, s.signOut)
	s.handle("POST /api/v1/units/{unit}/findings", auth.ActFindingWrite, true, s.recordFinding)
	s.handle("POST /api/v1/units/{unit}/findings/{id}/resolve", auth.ActFindingWrite, true, s.resolveFinding)
	s.handle("POST /api/v1/units/{unit}/findings/{id}/reopen", auth.ActFindingWrite, true, s.reopenFinding)
	s.handle("GET /api/v1/units/{unit}/findings", auth.ActUnitRead, true, s.listFindings)
	s.handle("GET /api/v1/units/{unit}/compliance", auth.ActUnitRead, true, s.compliance)
	s.handle("GET /api/v1/verify", auth.ActVerify, false, s.verifyUnit)
	s.handle("GET /api/v1/plans/{plan}/ranking", auth.ActPlanRead, false, s.ranking)
	s.handle("POST /api/v1/plans", auth.ActPlanPublish, false, s.publishPlan)
	s.handle("GET /api/v1/plans", auth.ActPlanRead, false, s.listPlans)
	s.handle("GET /api/v1/plans/{plan}", auth.ActPlanRead, false, s.showPlan)
	s.handle("GET /api/v1/audit/corrections", auth.ActAudit, false, s.auditView("corrections"))
	s.handle("GET /api/v1/audit/backfill", auth.ActAudit, false, s.auditView("backfill"))
	s.handle("GET /api/v1/audit/bursts", auth.ActAudit, false, s.auditView("bursts"))
	s.handle("GET /api/v1/audit/reuse", auth.ActAudit, false, s.auditView("reuse"))
	s.handle("GET /api/v1/audit/photo-times", auth.ActAudit, false, s.auditView("photo-times"))
	s.handle("GET /api/v1/audit/actors", auth.ActAudit, false, s.auditView("actors"))
	// Checkpoints over the whole ledger and proofs against them (checkpoints.go).
	s.handle("GET /api/v1/checkpoints/key", auth.ActCheckpointRead, false, s.checkpointKey)
	s.handle("GET /api/v1/checkpoints/latest", auth.ActCheckpointRead, false, s.latestCheckpoint)
	s.handle("GET /api/v1/checkpoints", auth.ActCheckpointRead, false, s.listCheckpoints)
	s.handle("POST /api/v1/checkpoints", auth.ActCheckpointCreate, false, s.createCheckpoint)
	s.handle("GET /api/v1/checkpoints/{seq}", auth.ActCheckpointRead, false, s.showCheckpoint)
	s.handle("POST /api/v1/checkpoints/{seq}/cosignatures", auth.ActCosign, false, s.postCosignature) // cosignatures.go
	s.handle("GET /api/v1/proofs/inclusion", auth.ActCheckpointRead, false, s.inclusionProof)
	s.handle("GET /api/v1/proofs/consistency", auth.ActCheckpointRead, false, s.consistencyProof)
	s.handle("GET /api/v1/units/{unit}/proof", auth.ActUnitRead, true, s.unitProof)
	s.handle("GET /api/v1/units/{unit}/export", auth.ActUnitExport, true, s.exportUnit)
	s.thumbRoutes()
	s.pageRoutes()
	s.auditPageRoutes()
	s.witnessPageRoutes() // page_witness.go
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if allow := s.allowedMethods(r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			s.fail(w, r, fmt.Errorf("%w: %s %s; this path takes %s", errMethod, r.Method, r.URL.Path, strings.Join(allow, ", ")))
			return
		}
		s.fail(w, r, fmt.Errorf("%w: no route %s %s", errNoRoute, r.Method, r.URL.Path))
	})
	return s
}

// Routes lists the API's routes with their actions.
func (s *Server) Routes() []Route { return s.routes }

type ctxKey struct{}

// principal returns the request's authenticated principal.
func principal(r *http.Request) auth.Principal {
	p, _ := r.Context().Value(ctxKey{}).(auth.Principal)
	return p
}

// handle registers h behind the one gate every route passes: it
// authenticates, validates the unit the path names, asks auth.Decide, checks
// CSRF for session requests that change something, and writes the access
// log entry (every request but the public ones, denied or not).
func (s *Server) handle(pattern string, act auth.Action, unitScoped bool, h http.HandlerFunc) {
	s.routes = append(s.routes, Route{Pattern: pattern, Action: act, Unit: unitScoped})
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if act == auth.ActHealth || act == auth.ActPublic {
			h(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w, seq: &seqNote{}}
		var p auth.Principal
		var unit string
		var refused error
		defer func() { s.logAccess(r, p, act, unit, sw.status, refused) }()
		refuse := func(err error) {
			refused = err
			s.fail(sw, r, err)
		}
		p, err := s.authn.Authenticate(r)
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
		if err := s.authorize(p, act, unit); err != nil {
			refuse(err)
			return
		}
		if p.Via == "session" && !safeMethod(r.Method) {
			if r, err = s.authn.CheckCSRF(sw, r, p); err != nil {
				refuse(err)
				return
			}
		}
		if !s.awaitMinSeq(sw, r) {
			return
		}
		ctx := context.WithValue(context.WithValue(r.Context(), ctxKey{}, p), seqKey{}, sw.seq)
		h(sw, r.WithContext(ctx))
	})
}

// statusWriter remembers the status a handler answered with, and sets
// X-Taizhang-Seq from the request's seqNote (noteSeq) before the header
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
func (s *Server) allowedMethods(r *http.Request) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		rc := r.Clone(r.Context())
		rc.Method = m
		if _, pattern := s.mux.Handler(rc); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	return allow
}

// CSP is the Content-Security-Policy of every answer that does not set
// its own (the web app's pages do): JSON and errors load nothing.
const CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// ServeHTTP serves the API with security headers on every response
// (errors, 404s, 405s and blobs included): no MIME sniffing, no framing,
// no referrer, a CSP that loads nothing, same-origin opener and resource
// policies, and HSTS over TLS.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
	s.serve(w, r.WithContext(withRequestID(r.Context(), id)))
}

func (s *Server) now() time.Time { return s.cfg.Now() }

// errNoRoute answers 404 for paths the API does not have; errMethod 405
// for a method a path does not take.
var (
	errNoRoute = errors.New("no such route")
	errMethod  = errors.New("method not allowed")
)

// ErrUnsupportedMedia is an attachment whose bytes are not of an accepted
// media type.
var ErrUnsupportedMedia = errors.New("unsupported media type")

// errBadRequest marks malformed requests that are not domain errors.
var errBadRequest = errors.New("bad request")

// errorTable maps error kinds to HTTP status and code, first match wins.
var errorTable = []struct {
	err    error
	status int
	code   string
}{
	{auth.ErrUnauthenticated, http.StatusUnauthorized, "unauthenticated"},
	{auth.ErrForbidden, http.StatusForbidden, "forbidden"},
	{auth.ErrTooManyAttempts, http.StatusTooManyRequests, "too_many_attempts"},
	{errNoRoute, http.StatusNotFound, "not_found"},
	{errMethod, http.StatusMethodNotAllowed, "method_not_allowed"},
	{errBadRequest, http.StatusBadRequest, "bad_request"},
	{auth.ErrBadForm, http.StatusBadRequest, "bad_request"},
	{ErrUnsupportedMedia, http.StatusUnsupportedMediaType, "unsupported_media_type"},
	{errJSONTooLarge, http.StatusRequestEntityTooLarge, "too_large"},
	{ErrTooManyFiles, http.StatusRequestEntityTooLarge, "too_large"},
	{media.ErrTooManyPixels, http.StatusUnprocessableEntity, "too_many_pixels"},
	{media.ErrDecodeTimeout, http.StatusUnprocessableEntity, "decode_timeout"},
	{events.ErrQuarantined, http.StatusLocked, "quarantined"},
	{closure.ErrNotClosable, http.StatusUnprocessableEntity, "not_closable"},
	{events.ErrInvalid, http.StatusBadRequest, "invalid"},
	{events.ErrNotFound, http.StatusNotFound, "not_found"},
	{events.ErrExists, http.StatusConflict, "exists"},
	{events.ErrConflict, http.StatusConflict, "conflict"},
	{events.ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
	{blobstore.ErrInvalidRef, http.StatusBadRequest, "invalid"},
	{blobstore.ErrNotFound, http.StatusNotFound, "not_found"},
	{blobstore.ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large"},
	{blobstore.ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
	{blobstore.ErrCorrupt, http.StatusInternalServerError, "corrupt"},
	{errTooBehind, http.StatusServiceUnavailable, "behind"},
	{projections.ErrBehind, http.StatusServiceUnavailable, "unavailable"},
	{context.DeadlineExceeded, http.StatusServiceUnavailable, "unavailable"},
}

// statusOf returns the status and code for err.
func statusOf(err error) (int, string) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, "too_large"
	}
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			return e.status, e.code
		}
	}
	if _, ok := outageMessage(err, false); ok {
		return http.StatusServiceUnavailable, "unavailable" // outage.go
	}
	return http.StatusInternalServerError, "internal"
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		// RequestID is the request's X-Request-Id, also on every log
		// line about it.
		RequestID string `json:"request_id,omitempty"`
	} `json:"error"`
}

// fail answers err as a JSON error with the status from errorTable.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code := statusOf(err)
	if s.pages != nil && s.pages.fail(w, r, status, err) {
		s.log.InfoContext(r.Context(), "page refused", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
		return
	}
	var body errorBody
	body.Error.Code = code
	body.Error.Message = err.Error()
	body.Error.RequestID = RequestID(r.Context())
	if code == "unavailable" {
		// An outage: a message the client can act on, not the store's
		// error text (logged below with the request id).
		if msg, ok := outageMessage(err, isWrite(r)); ok {
			body.Error.Message = msg
			w.Header().Set("Retry-After", outageRetryAfter)
		}
	}
	if status == http.StatusInternalServerError {
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		if code == "internal" {
			body.Error.Message = "internal error; see the server log for request " + body.Error.RequestID
		}
	} else {
		s.log.InfoContext(r.Context(), "request refused", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="taizhang"`)
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, `{"error":{"code":"internal","message":"encode response"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errJSONTooLarge is a JSON body over Config.MaxJSONSize (413).
var errJSONTooLarge = errors.New("JSON body too large")

// decodeJSON decodes a strict JSON body into v (see decodeStrict): at most
// Config.MaxJSONSize bytes (413 past that), Content-Type application/json
// or none.
func (s *Server) decodeJSON(r *http.Request, w http.ResponseWriter, v any) error {
	return decodeJSON(r, w, v, s.cfg.MaxJSONSize)
}

// decodeJSON decodes a strict JSON body of at most limit bytes into v
// (413 past that). Every JSON route reads its body through it, most
// through Server.decodeJSON.
func decodeJSON(r *http.Request, w http.ResponseWriter, v any, limit int64) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("%w: want Content-Type application/json, got %q", errBadRequest, ct)
	}
	err := decodeStrict(http.MaxBytesReader(w, r.Body, limit), v)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return fmt.Errorf("%w: over %d bytes", errJSONTooLarge, limit)
	}
	return err
}

type unitInput struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Type      string `json:"type"`
	Parent    string `json:"parent"`
	Headcount int    `json:"headcount"`
}

func (s *Server) createUnit(w http.ResponseWriter, r *http.Request) {
	var in unitInput
	if err := s.decodeJSON(r, w, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if in.Parent != "" {
		if _, err := s.unitSeq(r.Context(), in.Parent); errors.Is(err, events.ErrNotFound) {
			s.fail(w, r, fmt.Errorf("%w: parent unit %q is not registered", events.ErrInvalid, in.Parent))
			return
		} else if err != nil {
			s.fail(w, r, err)
			return
		}
	}
	rec, err := s.ledger.RegisterUnit(r.Context(), in.ID, events.UnitRegistered{Name: in.Name, UnitType: in.Type, Parent: in.Parent, Headcount: in.Headcount},
		principal(r).Actor(), clientOf(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	noteSeq(r.Context(), rec.Seq)
	u, err := s.unitAt(r.Context(), in.ID, rec.Seq)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, u)
}

// unitAt waits until the archive has applied seq and returns the unit.
func (s *Server) unitAt(ctx context.Context, id string, seq uint64) (projections.Unit, error) {
	if err := s.waitApplied(ctx, seq); err != nil {
		return projections.Unit{}, err
	}
	var u projections.Unit
	err := s.archive.Read(func(a *projections.Archive) error {
		ua := a.Unit(id)
		if ua == nil {
			return fmt.Errorf("unit %s: %w", id, events.ErrNotFound)
		}
		u = ua.Unit
		return nil
	})
	return u, err
}

func (s *Server) listUnits(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	var out []projections.Unit
	_ = s.archive.Read(func(a *projections.Archive) error {
		for _, u := range a.Units() {
			if auth.Decide(p, auth.ActUnitRead, u.ID, a.Within) == nil {
				out = append(out, u)
			}
		}
		return nil
	})
	if out == nil {
		out = []projections.Unit{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"units": out})
}

// unitSeq returns the sequence of the unit's last event, or an error
// wrapping events.ErrNotFound if the unit is not registered.
func (s *Server) unitSeq(ctx context.Context, unit string) (uint64, error) {
	seq, ok, err := s.ledger.UnitHead(ctx, unit)
	if err == nil && !ok {
		err = fmt.Errorf("unit %s: %w", unit, events.ErrNotFound)
	}
	return seq, err
}

func (s *Server) showUnit(w http.ResponseWriter, r *http.Request) {
	unit := r.PathValue("unit")
	seq, err := s.unitSeq(r.Context(), unit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	u, err := s.unitAt(r.Context(), unit, seq)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// asOf parses the optional as_of query parameter (RFC 3339, or a date meaning
// the end of that day in the configured zone; see parseAsOf).
func (s *Server) asOf(r *http.Request) (time.Time, error) {
	v, err := param(r, "as_of")
	if err != nil {
		return time.Time{}, err
	}
	return parseAsOf("as_of", v, s.cfg.Zone)
}

// HistoryEntry is one event in a history answer: the event with its ledger
// sequence.
type HistoryEntry struct {
	Seq uint64 `json:"seq"`
	*events.Event
}

func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	unit := r.PathValue("unit")
	asOf, err := s.asOf(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	recs, q, err := s.soundHistory(r.Context(), unit, asOf)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]HistoryEntry, len(recs))
	for i, rec := range recs {
		out[i] = HistoryEntry{Seq: rec.Seq, Event: rec.Event}
	}
	body := map[string]any{"unit": unit, "as_of": optTime(asOf), "events": out}
	if q != nil {
		body["quarantine"] = q // the events shown end before it
	}
	writeJSON(w, http.StatusOK, body)
}

func optTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

func (s *Server) unitArchive(w http.ResponseWriter, r *http.Request) {
	asOf, err := s.asOf(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var body []byte
	err = s.withUnitArchive(r.Context(), r.PathValue("unit"), asOf, func(ua *projections.UnitArchive) error {
		var err error
		body, err = json.Marshal(ua.View(asOf.UTC()))
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(append(body, '\n'))
}

// clientOf names the kind of client from the X-Taizhang-Client header (cli,
// web, import, api); anything else is api.
func clientOf(r *http.Request) events.Client {
	c := events.Client(r.Header.Get("X-Taizhang-Client"))
	if c.Valid() {
		return c
	}
	return events.ClientAPI
}

// Package services is taizhang's HTTP side: the JSON API (units, evidence
// with attachments, corrections, history and archive as of any recorded
// time, blobs, findings, plans, compliance, audit views, checkpoints and
// proofs, users and tokens) and the web app's page handlers (page_*.go;
// their templates are in package web). Every route passes through the one
// gate (package gate): it authenticates with auth.Authenticator, authorises
// with auth.Decide against the route's action (the route table in New),
// checks CSRF and min_seq, and writes the access log; every domain error
// maps to one HTTP status there.
package services

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"github.com/google/uuid"

	"taizhang/auth"
	"taizhang/blobstore"
	"taizhang/events"
	"taizhang/gate"
	"taizhang/internal/metrics"
	"taizhang/openapi"
	"taizhang/param"
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
	// RecordDevice appends a device event (devices.go).
	RecordDevice(ctx context.Context, c events.DeviceCommand) (*events.Record, error)
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
	authn   *auth.Authenticator // authenticates every request; signs in and out
	gate    *gate.Gate          // every route passes it
	cfg     Config
	log     *slog.Logger
	decodes chan struct{} // bounds the image decodings running at once

	checkpoints Checkpoints  // optional: see SetCheckpoints
	cosigs      Cosignatures // optional: see SetCosignatures
	cpLease     LeaseInfo    // optional: see SetCheckpointLease
	pages       *pages       // the web app's pages (page_web.go)
	thumbs      *thumb.Cache
	holds       holds // what keeps /readyz at 503 besides the ledger (ops.go)
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
	log = gate.WithRequestIDs(log)
	s := &Server{ledger: l, blobs: blobs, archive: archive, creds: creds, cfg: cfg, log: log,
		decodes: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))}
	s.authn = &auth.Authenticator{Creds: creds, User: s.lookupUser, Now: s.now, Idle: cfg.SessionIdle, Max: cfg.SessionMax,
		SecureCookies: cfg.SecureCookies, MaxFormSize: cfg.MaxRequestSize, Limiter: auth.NewLoginLimiter(), Log: log,
		Record: func(r *http.Request, p auth.Principal, status int, err error) {
			s.gate.LogAccess(r, p, "login", "", status, err)
		}}
	gcfg := gate.Config{Archive: archive, Now: s.now, Replica: cfg.Replica, MinSeqWait: cfg.MinSeqWait, Metrics: cfg.Metrics, Log: log}
	if x, ok := l.(interface {
		WaitIndex(context.Context, uint64) error
	}); ok {
		gcfg.Index = x
	}
	s.gate = gate.New(s.authn, gcfg)
	s.handle("GET /healthz", auth.ActHealth, false, s.health)
	s.handle("GET /api/v1/status", auth.ActStatus, false, s.status)
	s.handle("GET /api/v1/openapi.json", auth.ActPublic, false, serveOpenAPI)
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
	s.handle("GET /api/v1/audit/devices", auth.ActAudit, false, s.auditView("devices"))
	s.deviceRoutes() // devices.go
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
	return s
}

// serveOpenAPI answers the API's OpenAPI 3.1 document (package openapi).
func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openapi.Document())
}

// Routes lists the API's routes with their actions.
func (s *Server) Routes() []gate.Route { return s.gate.Routes() }

// handle registers h behind the gate (gate.Gate.Handle).
func (s *Server) handle(pattern string, act auth.Action, unitScoped bool, h http.HandlerFunc) {
	s.gate.Handle(pattern, act, unitScoped, h)
}

// ServeHTTP serves the API through the gate (gate.Gate.ServeHTTP).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.gate.ServeHTTP(w, r) }

func (s *Server) now() time.Time { return s.cfg.Now() }

// fail answers err (gate.Gate.Fail).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) { s.gate.Fail(w, r, err) }

// decodeJSON decodes a strict JSON body into v (see gate.DecodeJSON): at
// most Config.MaxJSONSize bytes (413 past that), Content-Type
// application/json or none.
func (s *Server) decodeJSON(r *http.Request, w http.ResponseWriter, v any) error {
	return gate.DecodeJSON(r, w, v, s.cfg.MaxJSONSize)
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
		gate.Principal(r).Actor(), clientOf(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	gate.NoteSeq(r.Context(), rec.Seq)
	u, err := s.unitAt(r.Context(), in.ID, rec.Seq)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	gate.WriteJSON(w, http.StatusCreated, u)
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
	p := gate.Principal(r)
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
	gate.WriteJSON(w, http.StatusOK, map[string]any{"units": out})
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
	gate.WriteJSON(w, http.StatusOK, u)
}

// asOf parses the optional as_of query parameter (RFC 3339, or a date meaning
// the end of that day in the configured zone; see parseAsOf).
func (s *Server) asOf(r *http.Request) (time.Time, error) {
	v, err := param.Get(r, "as_of")
	if err != nil {
		return time.Time{}, err
	}
	return param.AsOf("as_of", v, s.cfg.Zone)
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
	gate.WriteJSON(w, http.StatusOK, body)
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

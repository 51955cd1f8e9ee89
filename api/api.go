// Package api is taizhang's JSON API: units, evidence with attachments
// (upload reading, DecodeEvidence, Receipt), corrections, history and
// archive as of any recorded time, blobs and thumbnails, findings, plans,
// compliance and rankings, audit views, checkpoints, cosignatures and
// proofs, exports, users, tokens and sessions. Its handlers are methods of
// Service; package httpserver registers each behind the one gate (package
// gate) with the action it is authorised as, and package pages reads and
// writes through the same Service. Request parameters are checked by
// package param; errors are answered by gate.Gate.Fail.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/google/uuid"

	"taizhang/auth"
	"taizhang/blobstore"
	"taizhang/events"
	"taizhang/gate"
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

// Config tunes the API: its limits on requests, its clock and zone.
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
	// WaitProjection bounds how long a read waits for the archive
	// projection to catch up with the unit's last event (default 10 s).
	WaitProjection time.Duration
	// ThumbDir caches image thumbnails, derived data that may be deleted
	// (default TempDir/thumbs).
	ThumbDir string
}

// Defaults returns c with every unset field at its default (and MaxFiles,
// MaxJSONSize within their bounds).
func (c Config) Defaults() Config {
	if c.MaxFileSize <= 0 {
		c.MaxFileSize = 64 << 20
	}
	if c.MaxRequestSize <= 0 {
		c.MaxRequestSize = 512 << 20
	}
	if c.MaxRequestSize < c.MaxFileSize {
		c.MaxRequestSize = c.MaxFileSize + 1<<20
	}
	if c.MaxFiles <= 0 || c.MaxFiles > events.MaxAttachments {
		c.MaxFiles = events.MaxAttachments
	}
	if c.MaxJSONSize <= 0 {
		c.MaxJSONSize = maxMetaSize
	}
	c.MaxJSONSize = min(c.MaxJSONSize, maxJSONCap)
	if c.ClockSkew <= 0 {
		c.ClockSkew = 5 * time.Minute
	}
	if c.Zone == nil {
		c.Zone = time.FixedZone("UTC+8", 8*3600)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.WaitProjection <= 0 {
		c.WaitProjection = 10 * time.Second
	}
	return c
}

// Deps are the stores and the gate the API works with.
type Deps struct {
	Ledger  Ledger
	Blobs   blobstore.Store
	Archive *projections.Live
	Creds   auth.Credentials
	// Authn signs in and out (POST /api/v1/session); Gate answers errors
	// and keeps the access log (nil: a gate of the API's own with no
	// routes, for tests that call handlers directly).
	Authn *auth.Authenticator
	Gate  *gate.Gate
	// Log is the logger (gate.WithRequestIDs wraps it; nil: discard).
	Log *slog.Logger
}

// Service is the JSON API: its handlers (registered behind the gate by
// package httpserver's route table) and the reads and writes the web pages
// share with them.
type Service struct {
	ledger  Ledger
	blobs   blobstore.Store
	archive *projections.Live
	creds   auth.Credentials
	authn   *auth.Authenticator // signs in and out
	gate    *gate.Gate          // answers errors, keeps the access log
	cfg     Config
	log     *slog.Logger
	decodes chan struct{} // bounds the image decodings running at once

	checkpoints Checkpoints  // optional: see SetCheckpoints
	cosigs      Cosignatures // optional: see SetCosignatures
	thumbs      *thumb.Cache
}

// New returns the API on d's stores.
func New(d Deps, cfg Config) *Service {
	cfg = cfg.Defaults()
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if d.Gate == nil {
		d.Gate = gate.New(d.Authn, gate.Config{Archive: d.Archive, Now: cfg.Now, Log: log})
	}
	s := &Service{ledger: d.Ledger, blobs: d.Blobs, archive: d.Archive, creds: d.Creds, authn: d.Authn, gate: d.Gate, cfg: cfg, log: log,
		decodes: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))}
	dir := cfg.ThumbDir
	if dir == "" {
		base := cfg.TempDir
		if base == "" {
			base = os.TempDir()
		}
		dir = filepath.Join(base, "thumbs")
	}
	s.thumbs = thumb.New(dir, s.blobs, thumb.Options{MaxBytes: cfg.MaxFileSize, MaxPixels: cfg.MaxPixels, DecodeTimeout: cfg.DecodeTimeout})
	return s
}

// Ledger is the ledger the API writes to and reads from.
func (s *Service) Ledger() Ledger { return s.ledger }

// Blobs is the blob store attachments are kept in.
func (s *Service) Blobs() blobstore.Store { return s.blobs }

// Archive is the live projection the API reads.
func (s *Service) Archive() *projections.Live { return s.archive }

// Checkpoints is the checkpoint log SetCheckpoints set, or nil.
func (s *Service) Checkpoints() Checkpoints { return s.checkpoints }

// Config is the API's configuration, with its defaults applied.
func (s *Service) Config() Config { return s.cfg }

// Now is the API's clock (Config.Now).
func (s *Service) Now() time.Time { return s.cfg.Now() }

func (s *Service) now() time.Time { return s.cfg.Now() }

// fail answers err (gate.Gate.Fail).
func (s *Service) fail(w http.ResponseWriter, r *http.Request, err error) { s.gate.Fail(w, r, err) }

// decodeJSON decodes a strict JSON body into v (see gate.DecodeJSON): at
// most Config.MaxJSONSize bytes (413 past that), Content-Type
// application/json or none.
func (s *Service) decodeJSON(r *http.Request, w http.ResponseWriter, v any) error {
	return gate.DecodeJSON(r, w, v, s.cfg.MaxJSONSize)
}

type unitInput struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Type      string `json:"type"`
	Parent    string `json:"parent"`
	Headcount int    `json:"headcount"`
}

// CreateUnit answers POST /api/v1/units: registers a unit
// ({"id","name","type","parent","headcount"}; the parent must be
// registered) and answers it, 201.
func (s *Service) CreateUnit(w http.ResponseWriter, r *http.Request) {
	var in unitInput
	if err := s.decodeJSON(r, w, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if in.Parent != "" {
		if _, err := s.UnitSeq(r.Context(), in.Parent); errors.Is(err, events.ErrNotFound) {
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
func (s *Service) unitAt(ctx context.Context, id string, seq uint64) (projections.Unit, error) {
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

// ListUnits answers GET /api/v1/units: lists the units the principal may read.
func (s *Service) ListUnits(w http.ResponseWriter, r *http.Request) {
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

// UnitSeq returns the sequence of the unit's last event, or an error
// wrapping events.ErrNotFound if the unit is not registered.
func (s *Service) UnitSeq(ctx context.Context, unit string) (uint64, error) {
	seq, ok, err := s.ledger.UnitHead(ctx, unit)
	if err == nil && !ok {
		err = fmt.Errorf("unit %s: %w", unit, events.ErrNotFound)
	}
	return seq, err
}

// ShowUnit answers GET /api/v1/units/{unit}: the unit as the archive has it
// once it has applied the unit's last event.
func (s *Service) ShowUnit(w http.ResponseWriter, r *http.Request) {
	unit := r.PathValue("unit")
	seq, err := s.UnitSeq(r.Context(), unit)
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

// AsOf parses the optional as_of query parameter (RFC 3339, or a date meaning
// the end of that day in the configured zone; see parseAsOf).
func (s *Service) AsOf(r *http.Request) (time.Time, error) {
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

// History answers GET /api/v1/units/{unit}/history: the unit's events up to
// ?as_of= (a quarantined chain's events end before the quarantine).
func (s *Service) History(w http.ResponseWriter, r *http.Request) {
	unit := r.PathValue("unit")
	asOf, err := s.AsOf(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	recs, q, err := s.SoundHistory(r.Context(), unit, asOf)
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

// UnitArchive answers GET /api/v1/units/{unit}/archive: the unit's archive as of ?as_of=.
func (s *Service) UnitArchive(w http.ResponseWriter, r *http.Request) {
	asOf, err := s.AsOf(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var body []byte
	err = s.WithUnitArchive(r.Context(), r.PathValue("unit"), asOf, func(ua *projections.UnitArchive) error {
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

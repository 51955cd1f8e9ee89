// Package bench is the load generator behind `taizhang bench`: it appends
// evidence to a running taizhang (through its HTTP API and through its
// ledger), stores and reads attachments, reads units' histories and archive
// pages and rebuilds the archive projection, and measures each of these
// beside a raw baseline taken in the same run on the same servers:
// synchronous JetStream publishes of the same bytes to a plain stream,
// bare file or minio-go writes and reads, and ordered consumers. The result
// is a Report of rows, each with its ratio to the baseline, printed as a
// table or JSON. The package holds no global state; the command wires a
// Target (the server's URL and token, and when it runs in this process or
// NATS is reachable, its ledger and blob store) and calls Run.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"taizhang/blobstore"
	tzjs "taizhang/events/jetstream"
)

// Config is what to run. The zero value is not usable; start from
// DefaultConfig.
type Config struct {
	// Units is how many units the run registers and appends to.
	Units int `json:"units"`
	// EventsPerUnit is how many evidence events each append phase (raw
	// publish, ledger, HTTP) appends to each unit, unless Duration ends the
	// phase first.
	EventsPerUnit int `json:"events_per_unit"`
	// Attachments is how many attachments of AttachmentSize bytes the blob
	// rows store and read back (the ledger's events reference them), and
	// how many HTTP submissions upload one each.
	Attachments    int   `json:"attachments"`
	AttachmentSize int64 `json:"attachment_size"`
	// Concurrency is how many goroutines do the appends, blob operations
	// and HTTP requests at once. A unit's appends are serialised by the
	// ledger however many goroutines write to it.
	Concurrency int `json:"concurrency"`
	// Duration, when positive, bounds each append phase.
	Duration time.Duration `json:"duration_ns"`
	// Reads is how many history reads, archive pages and their baselines
	// are measured (cycling over the units).
	Reads int `json:"reads"`
	// Prefix names the run's units (PREFIX-0001, ...) and its raw stream;
	// a random one when empty, so that runs on one server never collide.
	Prefix string `json:"prefix"`
}

// DefaultConfig is a run of about half a minute on a 2-core machine.
func DefaultConfig() Config {
	return Config{Units: 16, EventsPerUnit: 100, Attachments: 32, AttachmentSize: 64 << 10,
		Concurrency: 16, Reads: 32}
}

// Limits of a Config, so that a typo cannot fill a disk.
const (
	MaxUnits          = 100_000
	MaxEventsPerUnit  = 1_000_000
	MaxAttachments    = 100_000
	MaxAttachmentSize = 64 << 20
	MaxConcurrency    = 1024
	MaxReads          = 10_000
)

// Validate reports the first thing wrong with c, phrased for a user who
// typed the flags of `taizhang bench` (--units for Units, --events for
// EventsPerUnit, and so on).
func (c Config) Validate() error {
	switch {
	case c.Units < 1 || c.Units > MaxUnits:
		return fmt.Errorf("--units must be from 1 to %d, not %d", MaxUnits, c.Units)
	case c.EventsPerUnit < 1 || c.EventsPerUnit > MaxEventsPerUnit:
		return fmt.Errorf("--events must be from 1 to %d, not %d", MaxEventsPerUnit, c.EventsPerUnit)
	case c.Attachments < 0 || c.Attachments > MaxAttachments:
		return fmt.Errorf("--attachments must be from 0 to %d, not %d", MaxAttachments, c.Attachments)
	case c.Attachments > 0 && (c.AttachmentSize < 1 || c.AttachmentSize > MaxAttachmentSize):
		return fmt.Errorf("--attachment-size must be from 1 byte to %d MiB, not %d", MaxAttachmentSize>>20, c.AttachmentSize)
	case c.Concurrency < 1 || c.Concurrency > MaxConcurrency:
		return fmt.Errorf("--concurrency must be from 1 to %d, not %d", MaxConcurrency, c.Concurrency)
	case c.Duration < 0:
		return fmt.Errorf("--duration must not be negative")
	case c.Reads < 1 || c.Reads > MaxReads:
		return fmt.Errorf("--reads must be from 1 to %d, not %d", MaxReads, c.Reads)
	case c.Prefix != "" && (len(c.Prefix) > 40 || !slug(c.Prefix)):
		return fmt.Errorf("--prefix %q must be up to 40 characters of a-z, 0-9 and inner '-'", c.Prefix)
	}
	return nil
}

func slug(s string) bool {
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' && i > 0 && i < len(s)-1
		if !ok {
			return false
		}
	}
	return s != ""
}

// Target is the taizhang under load. URL and Token are required; the rest
// is optional, and a row whose parts are missing is reported as skipped
// with the reason.
type Target struct {
	// URL is the server's base URL (http://host:port); Token an admin
	// token (units are registered through the API).
	URL, Token string
	// HTTP is the client for the API; nil makes one sized for Concurrency.
	HTTP *http.Client
	// Ledger is the server's ledger (or one opened on the same stream):
	// needed for the ledger, raw publish, history and rebuild rows.
	Ledger *tzjs.Ledger
	// Blobs is the blob store the server uses and RawBlobs the raw
	// baseline on the same backend (RawDir or RawMinIO); SpoolDir is where
	// blobstore.Receive spools (on the data disk, as the server's).
	Blobs    blobstore.Store
	RawBlobs RawBlobs
	SpoolDir string
	// InProcess says that the server runs in this process, so that this
	// process's resident memory is the server's (the memory row).
	InProcess bool
	// Mode describes the target for the report ("embedded", ...).
	Mode string
	// Log receives warnings; nil discards them.
	Log *slog.Logger
}

// Report is the outcome of a run: its configuration, what it appended, and
// the rows.
type Report struct {
	Config   Config    `json:"config"`
	Mode     string    `json:"mode"`
	Machine  Machine   `json:"machine"`
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	Appended Appended  `json:"appended"`
	// EventBytes is the size of one stored evidence event (the ledger's
	// encoding), which the raw baseline publishes.
	EventBytes int   `json:"event_bytes"`
	Rows       []Row `json:"rows"`
}

// Machine names where the run ran.
type Machine struct {
	CPUs int    `json:"cpus"`
	OS   string `json:"os"`
	Go   string `json:"go"`
}

// Appended counts the events the run appended, per path; Units is the ids
// of the run's units.
type Appended struct {
	Warmup int `json:"warmup"` // one evidence event per unit before the timed phases
	Ledger int `json:"ledger"`
	HTTP   int `json:"http"`
	// Uploads are HTTP submissions carrying one attachment each, spread
	// over the units in turn.
	Uploads int      `json:"uploads"`
	Raw     int      `json:"raw"` // messages on the raw stream (deleted at the end)
	Units   []string `json:"units"`
}

// Evidence is the number of evidence events the run appended to the
// ledger (not counting the raw stream).
func (a Appended) Evidence() int { return a.Warmup + a.Ledger + a.HTTP + a.Uploads }

// Row is one measured figure beside its raw baseline.
type Row struct {
	Key  string `json:"key"`  // stable name: append_http, append_ledger, ...
	What string `json:"what"` // what taizhang did
	Unit string `json:"unit"` // of Value: events/s, blobs/s, ms, B/event
	// Taizhang is the figure through taizhang; Raw the baseline, RawWhat
	// what it did.
	Taizhang *Figure `json:"taizhang,omitempty"`
	RawWhat  string  `json:"raw_what,omitempty"`
	Raw      *Figure `json:"raw,omitempty"`
	// Ratio is Taizhang.Value / Raw.Value: above 1 is better for rates,
	// worse for times and memory.
	Ratio float64 `json:"ratio,omitempty"`
	// RatioRange, for the rows measured in interleaved rounds, is the
	// lowest and highest ratio of one round: how much the machine's noise
	// moved it.
	RatioRange []float64 `json:"ratio_range,omitempty"`
	// Skipped, when set, says why the row was not measured.
	Skipped string `json:"skipped,omitempty"`
}

// Figure is one measurement: Value in the row's unit, the latency of one
// operation at the 50th and 99th percentiles, the number of operations,
// and named extras (bytes, RSS before and after, ...).
type Figure struct {
	Value float64            `json:"value"`
	P50ms float64            `json:"p50_ms,omitempty"`
	P99ms float64            `json:"p99_ms,omitempty"`
	Count int                `json:"count"`
	Extra map[string]float64 `json:"extra,omitempty"`
}

// Progress is told what the run is doing. Start begins a phase of total
// steps (0 when unknown), Add counts steps done, End ends the phase.
type Progress interface {
	Start(phase string, total int)
	Add(n int)
	End()
}

// Run runs cfg against t and returns the report. Everything it creates on
// the server is named by cfg.Prefix; the raw stream is deleted at the end
// and t.RawBlobs closed, the units and their events stay (the ledger
// deletes nothing). Errors:
// an invalid cfg or Target, or the first failed operation, wrapped with
// the phase it failed in.
func Run(ctx context.Context, cfg Config, t Target, p Progress) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if t.URL == "" || t.Token == "" {
		return nil, errors.New("bench: the target needs a URL and an admin token")
	}
	if p == nil {
		p = Quiet{}
	}
	if t.Log == nil {
		t.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Prefix == "" {
		var err error
		if cfg.Prefix, err = NewPrefix(); err != nil {
			return nil, err
		}
	}
	if t.HTTP == nil {
		t.HTTP = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency,
			MaxConnsPerHost: cfg.Concurrency, IdleConnTimeout: time.Minute}}
	}
	r := &runner{cfg: cfg, t: t, p: p, api: &client{base: t.URL, token: t.Token, http: t.HTTP}}
	r.rep = &Report{Config: cfg, Mode: t.Mode, Started: time.Now().UTC(),
		Machine: Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version()}}
	start := time.Now()
	if t.RawBlobs != nil {
		defer t.RawBlobs.Close()
	}
	if err := r.run(ctx); err != nil {
		return nil, err
	}
	r.rep.Seconds = time.Since(start).Seconds()
	return r.rep, nil
}

// NewPrefix returns a fresh run prefix: "bench-" and 6 random hex digits.
func NewPrefix() (string, error) {
	var b [3]byte
	if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
		return "", fmt.Errorf("bench: run prefix: %w", err)
	}
	return "bench-" + hex.EncodeToString(b[:]), nil
}

// Quiet is a Progress that shows nothing.
type Quiet struct{}

func (Quiet) Start(string, int) {}
func (Quiet) Add(int)           {}
func (Quiet) End()              {}

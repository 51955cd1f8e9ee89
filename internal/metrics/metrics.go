// Package metrics is taizhang's Prometheus instrumentation: one registry per
// process (never the client library's global default), passed to what
// records into it. It counts appends by event type and times them, times
// the blob store's operations and counts their errors (Blobs wraps a
// store), counts and times HTTP requests by route pattern and status, and
// at each scrape reads the projection lag and the checkpoint age (Watch).
// Every label's values come from a fixed set (event types, route patterns,
// status codes, operation and error kinds): no unit, user or path is ever a
// label. A nil *Metrics records nothing, so tests and tools need none.
package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"taizhang/blobstore"
	"taizhang/events"
)

// Metrics holds the registry and the instruments recorded into it.
type Metrics struct {
	reg *prometheus.Registry

	appends       *prometheus.CounterVec
	appendErrors  *prometheus.CounterVec
	appendSeconds prometheus.Histogram
	blobSeconds   *prometheus.HistogramVec
	blobErrors    *prometheus.CounterVec
	httpRequests  *prometheus.CounterVec
	httpSeconds   *prometheus.HistogramVec
}

// New returns a fresh registry with the Go runtime and process collectors
// and taizhang's instruments registered.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		appends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taizhang_appends_total", Help: "Events appended to the ledger stream, by event type.",
		}, []string{"type"}),
		appendErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taizhang_append_errors_total", Help: "Appends the ledger stream did not take (unavailable, or concurrent writers outlasted the retries), by event type.",
		}, []string{"type"}),
		appendSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "taizhang_append_duration_seconds", Help: "Time of one successful append, from reading the unit's head to the stream's acknowledgement (fsync included), retries included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 15), // 0.5 ms .. 8 s
		}),
		blobSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "taizhang_blob_duration_seconds", Help: "Time of blob store operations (put: the whole upload; get: until the stored bytes start to flow; stat), by operation, failures included.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"op"}),
		blobErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taizhang_blob_errors_total", Help: "Failed blob store operations by operation and kind (unavailable, corrupt, too_large, invalid, not_found (put and get only), canceled, other).",
		}, []string{"op", "kind"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taizhang_http_requests_total", Help: "HTTP requests by route pattern (\"unmatched\" for paths no route takes) and status code.",
		}, []string{"route", "code"}),
		httpSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "taizhang_http_request_duration_seconds", Help: "Time from a request's arrival to its handler's return, by route pattern.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route"}),
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.appends, m.appendErrors, m.appendSeconds, m.blobSeconds, m.blobErrors, m.httpRequests, m.httpSeconds,
	)
	return m
}

// Registry returns the registry, for tests and further collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats. A
// collector that fails is reported in the answer, the rest still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, ErrorHandling: promhttp.ContinueOnError})
}

// ObserveAppend records one append that reached the ledger stream (the
// signature of jetstream.Config.Observe): counted by type once stored,
// else counted as an error; only stored appends are timed.
func (m *Metrics) ObserveAppend(typ events.Type, took time.Duration, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.appendErrors.WithLabelValues(string(typ)).Inc()
		return
	}
	m.appends.WithLabelValues(string(typ)).Inc()
	m.appendSeconds.Observe(took.Seconds())
}

// ObserveHTTP records one HTTP request: route is the pattern of the route
// that took it ("" or "/" for none: counted as "unmatched"), code the
// status answered.
func (m *Metrics) ObserveHTTP(route string, code int, took time.Duration) {
	if m == nil {
		return
	}
	if route == "" || route == "/" {
		route = "unmatched"
	}
	m.httpRequests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.httpSeconds.WithLabelValues(route).Observe(took.Seconds())
}

// errKind names the kind of a blob store error, from a fixed set.
func errKind(err error) string {
	switch {
	case errors.Is(err, blobstore.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, blobstore.ErrCorrupt):
		return "corrupt"
	case errors.Is(err, blobstore.ErrTooLarge):
		return "too_large"
	case errors.Is(err, blobstore.ErrInvalidRef):
		return "invalid"
	case errors.Is(err, blobstore.ErrNotFound):
		return "not_found"
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	default:
		return "other"
	}
}

// Blobs returns s with its operations timed and their errors counted
// (Stat's not found is an answer, not an error). The result is a
// blobstore.Pinger that passes Ping on to s (nil if s has no Ping). With a
// nil m it returns s.
func (m *Metrics) Blobs(s blobstore.Store) blobstore.Store {
	if m == nil {
		return s
	}
	return &blobs{s: s, m: m}
}

type blobs struct {
	s blobstore.Store
	m *Metrics
}

var _ blobstore.Pinger = (*blobs)(nil)

func (b *blobs) observe(op string, start time.Time, err error) {
	b.m.blobSeconds.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil && !(op == "stat" && errors.Is(err, blobstore.ErrNotFound)) {
		b.m.blobErrors.WithLabelValues(op, errKind(err)).Inc()
	}
}

func (b *blobs) Put(ctx context.Context, ref blobstore.Ref, size int64, r io.Reader) error {
	start := time.Now()
	err := b.s.Put(ctx, ref, size, r)
	b.observe("put", start, err)
	return err
}

func (b *blobs) Get(ctx context.Context, ref blobstore.Ref) (io.ReadCloser, int64, error) {
	start := time.Now()
	rc, n, err := b.s.Get(ctx, ref)
	b.observe("get", start, err)
	return rc, n, err
}

func (b *blobs) Stat(ctx context.Context, ref blobstore.Ref) (blobstore.Info, error) {
	start := time.Now()
	info, err := b.s.Stat(ctx, ref)
	b.observe("stat", start, err)
	return info, err
}

func (b *blobs) Ping(ctx context.Context) error {
	if p, ok := b.s.(blobstore.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

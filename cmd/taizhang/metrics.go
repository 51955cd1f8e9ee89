package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	tzjs "taizhang/events/jetstream"
	"taizhang/internal/metrics"
	"taizhang/projections"
)

// mainMetrics returns the /metrics handler of the main listener: the
// registry's, unless --metrics-addr moves metrics elsewhere or turns them
// off.
func mainMetrics(c serveConfig) http.Handler {
	if c.metricsAddr != "" {
		return nil
	}
	return c.metrics.Handler()
}

// watchMetrics has the registry read, at each scrape, the ledger's last
// sequence, the archive projection's lag and the newest checkpoint.
func watchMetrics(m *metrics.Metrics, ledger *tzjs.Ledger, archive *projections.Live, cps *tzjs.Checkpointer) {
	m.Watch(metrics.State{
		LastSeq: ledger.LastSeq,
		StoredAt: func(ctx context.Context, seq uint64) (time.Time, error) {
			msg, err := ledger.Stream().GetMsg(ctx, seq)
			if err != nil {
				return time.Time{}, err
			}
			return msg.Time, nil
		},
		Applied:     archive.Applied,
		Quarantined: func() int { return len(archive.Quarantined()) },
		LatestCheckpoint: func(ctx context.Context) (time.Time, uint64, error) {
			cp, err := cps.Latest(ctx)
			return cp.Time, cp.Size, err
		},
	})
}

// serveMetrics serves /metrics alone on --metrics-addr (plain HTTP, no
// token: bind it to an address only the monitoring network reaches) when
// that names an address; it returns the stop.
func serveMetrics(c serveConfig, log *slog.Logger) (stop func(), err error) {
	if c.metricsAddr == "" || c.metricsAddr == "off" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", c.metricsAddr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: listen on %s: %w", c.metricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", c.metrics.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener", "addr", ln.Addr().String(), "err", err)
		}
	}()
	log.Info("metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}

// levelOr returns the log level the environment variable env names (debug,
// info, warn, error), or def when it is unset or not a level.
func levelOr(env string, def slog.Level) *slog.Level {
	l := def
	if v := os.Getenv(env); v != "" {
		if err := l.UnmarshalText([]byte(v)); err != nil {
			l = def
		}
	}
	return &l
}

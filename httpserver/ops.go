package httpserver

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"time"

	"taizhang/blobstore"
	"taizhang/events"
	"taizhang/gate"
)

// Probe bounds: /readyz reads the stream's last sequence within
// readyLedgerTimeout and gives the archive projection readyCatchUp to reach
// it (so that a projection a few events behind under write load is not
// reported as not ready), as much to the id index, then pings the blob
// store within readyBlobTimeout: at most 3.5 s in all, so a probe's
// timeout should be 4 s.
const (
	readyLedgerTimeout = 2 * time.Second
	readyCatchUp       = 500 * time.Millisecond
	readyBlobTimeout   = 500 * time.Millisecond
)

// holds are named reasons that keep /readyz at 503 (Server.Hold).
type holds struct {
	mu sync.Mutex
	m  map[string]string
}

// Hold keeps /readyz answering 503 with reason under name until
// Release(name); holding a name again replaces its reason. serve holds
// "demo" while --demo loads its story, whose clock would date a client's
// write in the story's past and refuse it as "in the future" afterwards.
func (s *Server) Hold(name, reason string) {
	s.holds.mu.Lock()
	defer s.holds.mu.Unlock()
	if s.holds.m == nil {
		s.holds.m = map[string]string{}
	}
	s.holds.m[name] = reason
}

// Release ends Hold(name); releasing a name not held does nothing.
func (s *Server) Release(name string) {
	s.holds.mu.Lock()
	defer s.holds.mu.Unlock()
	delete(s.holds.m, name)
}

func (s *Server) held() map[string]string {
	s.holds.mu.Lock()
	defer s.holds.mu.Unlock()
	return maps.Clone(s.holds.m)
}

// health is the liveness probe: 200 while the process serves HTTP, whatever
// its dependencies do (a NATS or MinIO outage must not get every replica
// restarted). Readiness is /readyz.
//
// It also lists the quarantined units (Quarantined: unit, seq, reason):
// a unit stopped at a damaged or forged message does not make the process
// unhealthy or unready, since every other unit is served, but supervisors
// and monitoring must see it.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	gate.WriteJSON(w, http.StatusOK, map[string]any{"status": "alive", "quarantined": s.quarantined()})
}

// quarantined returns the archive's quarantined chains, never nil.
func (s *Server) quarantined() []events.Quarantine {
	if s.archive == nil {
		return []events.Quarantine{}
	}
	return s.archive.Quarantined()
}

// Readiness is the /readyz answer. Ready is true (status 200) when the
// ledger stream answered, the archive projection and the ledger's id
// index have applied its last sequence, and nothing is held (Server.Hold); otherwise 503 and
// NotReady says why, one entry per failing check. The blob store is
// reported but does not make the server unready: every replica shares
// it, and while it is away reads still work and uploads answer a 503 a
// clerk can act on, which a proxy with no ready backend could not give.
type Readiness struct {
	Ready     bool              `json:"ready"`
	NotReady  map[string]string `json:"not_ready,omitempty"`
	LedgerSeq uint64            `json:"ledger_seq"`
	Applied   uint64            `json:"applied_seq"`
	Ledger    string            `json:"ledger"`
	Proj      string            `json:"projection"`
	Blobstore string            `json:"blobstore"`
	// Quarantined lists the quarantined units; they do not make the
	// server unready (see health).
	Quarantined []events.Quarantine `json:"quarantined"`
}

// Readiness runs the readiness checks of /readyz.
func (s *Server) Readiness(ctx context.Context) Readiness {
	rd := Readiness{NotReady: map[string]string{}, Ledger: "ok", Proj: "ok", Blobstore: "ok", Quarantined: s.quarantined()}
	lctx, cancel := context.WithTimeout(ctx, readyLedgerTimeout)
	last, err := s.ledger.LastSeq(lctx)
	cancel()
	rd.LedgerSeq = last
	if err != nil {
		rd.Ledger = "unreachable: " + err.Error()
		rd.NotReady["ledger"] = rd.Ledger
	}
	if s.archive != nil {
		if err == nil {
			wctx, cancel := context.WithTimeout(ctx, readyCatchUp)
			if werr := s.archive.WaitFor(wctx, last); werr != nil {
				rd.Proj = fmt.Sprintf("behind: applied %d of the ledger's %d", s.archive.Applied(), last)
				if perr := s.archive.Err(); perr != nil {
					rd.Proj += ": " + perr.Error()
				}
				rd.NotReady["projection"] = rd.Proj
			}
			cancel()
		}
		rd.Applied = s.archive.Applied()
	}
	if ix, ok := s.ledger.(indexer); ok && err == nil {
		// The id index every append decides on: behind it, writes wait.
		wctx, cancel := context.WithTimeout(ctx, readyCatchUp)
		if werr := ix.WaitIndex(wctx, last); werr != nil {
			rd.NotReady["index"] = fmt.Sprintf("behind: applied %d of the ledger's %d", ix.IndexApplied(), last)
		}
		cancel()
	}
	if p, ok := s.blobs.(blobstore.Pinger); ok {
		bctx, cancel := context.WithTimeout(ctx, readyBlobTimeout)
		if err := p.Ping(bctx); err != nil {
			rd.Blobstore = "unreachable: " + err.Error()
		}
		cancel()
	}
	maps.Copy(rd.NotReady, s.held())
	rd.Ready = len(rd.NotReady) == 0
	return rd
}

// indexer is a ledger with an id index that follows the stream
// (events/jetstream.Ledger).
type indexer interface {
	IndexApplied() uint64
	WaitIndex(ctx context.Context, seq uint64) error
}

// ready is the readiness probe (see Readiness).
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	rd := s.Readiness(r.Context())
	code := http.StatusOK
	if !rd.Ready {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	gate.WriteJSON(w, code, rd)
}

// metrics serves GET /metrics with Config.MetricsHandler; without one it
// answers 404 saying where metrics are.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if s.cfg.MetricsHandler == nil {
		s.fail(w, r, fmt.Errorf("%w: metrics are not served on this address (serve --metrics-addr: off, or another address)", gate.ErrNoRoute))
		return
	}
	s.cfg.MetricsHandler.ServeHTTP(w, r)
}

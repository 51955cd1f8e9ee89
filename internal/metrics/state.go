package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// State is what Watch reads at each scrape. Every function is called with
// a context bounded by scrapeTimeout.
type State struct {
	// LastSeq returns the ledger stream's last sequence.
	LastSeq func(ctx context.Context) (uint64, error)
	// StoredAt returns when the stream stored the event at seq.
	StoredAt func(ctx context.Context, seq uint64) (time.Time, error)
	// Applied returns the last sequence the archive projection applied.
	Applied func() uint64
	// LatestCheckpoint returns the newest signed checkpoint's time and
	// size, or an error wrapping events.ErrNotFound when there is none.
	// Nil: no checkpoint series.
	LatestCheckpoint func(ctx context.Context) (at time.Time, size uint64, err error)
	// Quarantined returns how many units are quarantined (a message in
	// their chain the projection could not apply). Nil: no series.
	Quarantined func() int
	// Now is the real clock (time.Now if nil).
	Now func() time.Time
}

// scrapeTimeout bounds the ledger reads of one scrape.
const scrapeTimeout = 2 * time.Second

var (
	descLedgerUp = prometheus.NewDesc("taizhang_ledger_up",
		"1 if the ledger stream answered at this scrape, else 0.", nil, nil)
	descLastSeq = prometheus.NewDesc("taizhang_ledger_last_seq",
		"The ledger stream's last sequence.", nil, nil)
	descApplied = prometheus.NewDesc("taizhang_projection_applied_seq",
		"The last ledger sequence the archive projection applied.", nil, nil)
	descLagEvents = prometheus.NewDesc("taizhang_projection_lag_events",
		"Events in the ledger stream the archive projection has not applied yet.", nil, nil)
	descLagSeconds = prometheus.NewDesc("taizhang_projection_lag_seconds",
		"How long ago the stream stored the oldest event the archive projection has not applied (0 when caught up).", nil, nil)
	descCheckpointAge = prometheus.NewDesc("taizhang_checkpoint_age_seconds",
		"Seconds since the newest signed checkpoint was made (absent until there is one).", nil, nil)
	descCheckpointSize = prometheus.NewDesc("taizhang_checkpoint_size",
		"Events covered by the newest signed checkpoint.", nil, nil)
	descQuarantined = prometheus.NewDesc("taizhang_quarantined_units",
		"Units quarantined because a message in their chain could not be applied (see /healthz and the audit pages).", nil, nil)
)

// Watch registers a collector that reads st at each scrape: whether the
// ledger answered, its last sequence, the projection's applied sequence
// and lag (events and seconds), and the newest checkpoint's age and size.
// A read that fails leaves its series out of that scrape (taizhang_ledger_up
// says whether the ledger answered). It does nothing on a nil m.
func (m *Metrics) Watch(st State) {
	if m == nil {
		return
	}
	if st.Now == nil {
		st.Now = time.Now
	}
	m.reg.MustRegister(stateCollector{st})
}

type stateCollector struct{ st State }

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLedgerUp, descLastSeq, descApplied, descLagEvents, descLagSeconds, descCheckpointAge, descCheckpointSize, descQuarantined} {
		ch <- d
	}
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	applied := c.st.Applied()
	gauge(descApplied, float64(applied))
	last, err := c.st.LastSeq(ctx)
	if err != nil {
		gauge(descLedgerUp, 0)
	} else {
		gauge(descLedgerUp, 1)
		gauge(descLastSeq, float64(last))
		lag := uint64(0)
		if last > applied {
			lag = last - applied
		}
		gauge(descLagEvents, float64(lag))
		if lag == 0 {
			gauge(descLagSeconds, 0)
		} else if at, err := c.st.StoredAt(ctx, applied+1); err == nil {
			gauge(descLagSeconds, max(0, c.st.Now().Sub(at).Seconds()))
		}
	}
	if c.st.Quarantined != nil {
		gauge(descQuarantined, float64(c.st.Quarantined()))
	}
	if c.st.LatestCheckpoint != nil {
		at, size, err := c.st.LatestCheckpoint(ctx)
		if err == nil {
			gauge(descCheckpointAge, max(0, c.st.Now().Sub(at).Seconds()))
			gauge(descCheckpointSize, float64(size))
		}
		// none yet (events.ErrNotFound), or unreachable: left out
		// of this scrape
	}
}

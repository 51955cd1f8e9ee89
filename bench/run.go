package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"taizhang/blobstore"
	"taizhang/events"
)

// Realistic evidence, as in events/jetstream's benchmarks: a title of about
// 20 Chinese characters and a body of about 300 bytes of UTF-8.
const (
	evTitle = "東村村委會七月廉政文化專欄更新及集中學習"
	evBody  = "七月十二日上午九時，村委會全體幹部在會議室集中學習《廉潔自律準則》，" +
		"由黨支部書記領學並結合本村實際作講解。會後更新了宣傳欄的廉政文化專欄，" +
		"張貼格言警句十二條，參加人數十五人，缺席二人已補學。會議紀要附後。"
	evRequirement = "lianzheng-zhuanlan"
)

var evOccurred = time.Date(2016, 7, 12, 9, 30, 15, 0, time.UTC)

// runner is one Run's state.
type runner struct {
	cfg   Config
	t     Target
	p     Progress
	api   *client
	rep   *Report
	units []string
	blobs []storedBlob // what the blob rows stored, referenced by the ledger's events

}

type storedBlob struct {
	ref  blobstore.Ref
	size int64
}

func (r *runner) run(ctx context.Context) error {
	r.units = make([]string, r.cfg.Units)
	for i := range r.units {
		r.units[i] = fmt.Sprintf("%s-%04d", r.cfg.Prefix, i+1)
	}
	r.rep.Appended.Units = r.units
	if err := r.register(ctx); err != nil {
		return fmt.Errorf("register units: %w", err)
	}
	if err := r.blobRows(ctx); err != nil {
		return err
	}
	if err := r.warmup(ctx); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	before, err := r.memory()
	if err != nil {
		return err
	}
	if err := r.appendRows(ctx); err != nil {
		return err
	}
	if err := r.caughtUp(ctx); err != nil {
		return err
	}
	if err := r.memoryRow(before); err != nil {
		return err
	}
	if err := r.readRows(ctx); err != nil {
		return err
	}
	return r.rebuildRow(ctx)
}

// register registers the run's units through the API.
func (r *runner) register(ctx context.Context) error {
	r.p.Start("register units", len(r.units))
	defer r.p.End()
	_, err := r.load(ctx, len(r.units), 0, func(ctx context.Context, k int) error {
		body := map[string]any{"id": r.units[k], "name": "東村村委會 " + r.units[k], "type": "village", "headcount": 1200}
		return r.api.postJSON(ctx, "/api/v1/units", body)
	})
	return err
}

// submission is the i-th ledger submission to unit: a fresh client id
// (so the ledger's forever-idempotency check runs as in service) and a
// reference to one of the stored attachments, if any.
func (r *runner) submission(unit string, i int) events.Submission {
	s := events.Submission{
		ID:   uuid.Must(uuid.NewV7()),
		Unit: unit,
		Evidence: events.Evidence{Kind: events.KindActivity, Title: evTitle, Body: evBody,
			Requirements: []string{evRequirement}},
		OccurredAt: evOccurred,
		Actor:      events.Actor{ID: "admin", Role: events.RoleAdmin},
		Client:     events.ClientAPI,
	}
	if len(r.blobs) > 0 {
		k := (i%len(r.blobs) + len(r.blobs)) % len(r.blobs) // the warm-up is i = -1
		b := r.blobs[k]
		s.Attachments = []events.Attachment{{SHA256: b.ref.String(), Size: b.size, MediaType: "text/plain",
			Name: fmt.Sprintf("紀要-%d.txt", k)}}
	}
	return s
}

// warmup appends one evidence event to each unit, outside the timing,
// and keeps the encoded size of one: the raw baseline publishes that many
// bytes.
func (r *runner) warmup(ctx context.Context) error {
	r.p.Start("warm-up", len(r.units))
	defer r.p.End()
	var size atomic.Int64
	_, err := r.load(ctx, len(r.units), 0, func(ctx context.Context, k int) error {
		if r.t.Ledger == nil {
			return r.api.submit(ctx, r.units[k], -1, nil)
		}
		rec, _, err := r.t.Ledger.SubmitEvidence(ctx, r.submission(r.units[k], -1))
		if err != nil {
			return err
		}
		data, err := events.Encode(rec.Event)
		if err != nil {
			return err
		}
		size.Store(int64(len(data)))
		return nil
	})
	r.rep.Appended.Warmup = len(r.units)
	r.rep.EventBytes = int(size.Load())
	return err
}

// withRaw sets the row's baseline and ratio; a nil baseline leaves the
// row without (a skipped raw row says why).
func (r *runner) withRaw(row *Row, raw *Figure) {
	if raw == nil || row.Taizhang == nil {
		return
	}
	row.Raw = raw
	if raw.Value > 0 {
		row.Ratio = row.Taizhang.Value / raw.Value
	}
}

// caughtUp waits until the server's projections have applied the last
// event appended: the memory row and the reads measure the loaded server,
// not one still catching up.
func (r *runner) caughtUp(ctx context.Context) error {
	r.p.Start("wait for projections", 0)
	defer r.p.End()
	var last uint64
	if r.t.Ledger != nil {
		var err error
		if last, err = r.t.Ledger.LastSeq(ctx); err != nil {
			return fmt.Errorf("wait for projections: %w", err)
		}
	}
	if err := r.api.waitSeq(ctx, "/api/v1/units/"+r.units[0]+"/archive", last); err != nil {
		return fmt.Errorf("wait for projections: %w", err)
	}
	return nil
}

// timing is what load measured: the operations done, each one's latency
// (sorted), and the wall time of the whole phase.
type timing struct {
	n       int
	lat     []time.Duration
	elapsed time.Duration
}

// rate is the figure of a throughput phase: operations a second.
func (tm timing) rate() *Figure {
	f := tm.latencies()
	if tm.elapsed > 0 {
		f.Value = float64(tm.n) / tm.elapsed.Seconds()
	}
	return f
}

// merge adds o's operations and time to tm (the rounds of a phase).
func (tm *timing) merge(o timing) {
	tm.n += o.n
	tm.elapsed += o.elapsed
	tm.lat = append(tm.lat, o.lat...)
}

// median is the figure of a latency phase: the median in ms.
func (tm timing) median() *Figure {
	f := tm.latencies()
	f.Value = f.P50ms
	return f
}

func (tm timing) latencies() *Figure {
	return &Figure{Count: tm.n, P50ms: ms(percentile(tm.lat, 0.50)), P99ms: ms(percentile(tm.lat, 0.99))}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile is the nearest-rank q-quantile of sorted durations; 0 for none.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*q+0.999999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// load runs op for k = 0..total-1 on Concurrency goroutines, each op timed,
// telling p of each one done. A positive limit ends the phase early: the
// operations begun by then finish and count. The first error stops the
// phase; it is returned with what was done.
func (r *runner) load(ctx context.Context, total int, limit time.Duration, op func(ctx context.Context, k int) error) (timing, error) {
	var deadline time.Time
	if limit > 0 {
		deadline = time.Now().Add(limit)
	}
	workers := min(r.cfg.Concurrency, total)
	lats := make([][]time.Duration, workers)
	var next atomic.Int64
	var done atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	start := time.Now()
	for w := range workers {
		g.Go(func() error {
			for {
				k := int(next.Add(1) - 1)
				if k >= total || gctx.Err() != nil {
					return gctx.Err()
				}
				if !deadline.IsZero() && time.Now().After(deadline) {
					return nil
				}
				t0 := time.Now()
				if err := op(gctx, k); err != nil {
					return err
				}
				lats[w] = append(lats[w], time.Since(t0))
				done.Add(1)
				r.p.Add(1)
			}
		})
	}
	err := g.Wait()
	tm := timing{n: int(done.Load()), elapsed: time.Since(start)}
	tm.lat = slices.Concat(lats...)
	slices.Sort(tm.lat)
	if err == nil && tm.n == 0 {
		err = errors.New("nothing was done (is --duration too short?)")
	}
	return tm, err
}

// maxRounds is how many rounds a phase measured on several paths is cut
// into: raw, ledger, HTTP, raw, ..., so that the disk's drift over the run
// (its fsync rate varies a lot on shared machines) meets all paths alike.
const maxRounds = 8

// path is one way of doing a phase's operations: op does the k-th.
type path struct {
	name string
	op   func(ctx context.Context, k int) error
}

// interleaved runs operations 0..total-1 on each of paths, in up to
// maxRounds rounds: round j does its share of the operations on the
// first path, then on the second, and so on. A positive limit bounds each
// path's time (limit/rounds a round). It returns each path's timing and
// its rate in each round (operations a second), with the first error,
// wrapped with the path's name.
func (r *runner) interleaved(ctx context.Context, total int, limit time.Duration, paths ...path) ([]timing, [][]float64, error) {
	rounds := max(1, min(maxRounds, total))
	tms := make([]timing, len(paths))
	rates := make([][]float64, len(paths))
	for j := range rounds {
		lo, hi := j*total/rounds, (j+1)*total/rounds
		for i, p := range paths {
			name := p.name
			if rounds > 1 {
				name = fmt.Sprintf("%s (round %d of %d)", p.name, j+1, rounds)
			}
			r.p.Start(name, hi-lo)
			tm, err := r.load(ctx, hi-lo, limit/time.Duration(rounds), func(ctx context.Context, k int) error {
				return p.op(ctx, lo+k)
			})
			r.p.End()
			tms[i].merge(tm)
			if err != nil {
				return tms, rates, fmt.Errorf("%s: %w", p.name, err)
			}
			rates[i] = append(rates[i], tm.rate().Value)
		}
	}
	return tms, rates, nil
}

// ratioRange is the lowest and highest of a[j]/b[j] over the rounds j
// where both are positive; nil unless there are two such rounds or more.
func ratioRange(a, b []float64) []float64 {
	var lo, hi float64
	found, n := false, 0
	for j := range min(len(a), len(b)) {
		if a[j] <= 0 || b[j] <= 0 {
			continue
		}
		q := a[j] / b[j]
		if !found || q < lo {
			lo = q
		}
		if !found || q > hi {
			hi = q
		}
		found = true
		n++
	}
	if n < 2 {
		return nil
	}
	return []float64{lo, hi}
}

package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"taizhang/projections"
)

// rss is this process's resident set (VmRSS of /proc/self/status) after a
// collection that returns freed memory to the system, and the live heap.
type rss struct{ resident, heap uint64 }

func (r *runner) memory() (rss, error) {
	if !r.t.InProcess {
		return rss{}, nil
	}
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	res, err := residentBytes()
	if err != nil {
		return rss{}, fmt.Errorf("memory: %w", err)
	}
	return rss{resident: res, heap: m.HeapAlloc}, nil
}

// residentBytes reads VmRSS from /proc/self/status.
func residentBytes() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("/proc/self/status: unexpected VmRSS line %q", sc.Text())
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		return kb << 10, err
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("/proc/self/status has no VmRSS")
}

// memoryRow is resident memory per event: the growth of this process's
// RSS over the ledger and HTTP phases (the server, its projections and the
// embedded NATS all run here), against the size of a stored event. The
// growth of the live heap is given beside it, as an extra: it is steadier
// than RSS for small runs.
func (r *runner) memoryRow(before rss) error {
	row := Row{Key: "memory_per_event", What: "resident memory per appended event (whole process: server, projections, NATS)",
		Unit: "B/event", RawWhat: "the event's stored size"}
	n := r.rep.Appended.Ledger + r.rep.Appended.HTTP + r.rep.Appended.Uploads
	if !r.t.InProcess {
		row.Skipped = "only when the server runs in this process (the embedded default)"
		r.rep.Rows = append(r.rep.Rows, row)
		return nil
	}
	after, err := r.memory()
	if err != nil {
		return err
	}
	grow := float64(after.resident) - float64(before.resident)
	row.Taizhang = &Figure{Value: max(0, grow) / float64(n), Count: n, Extra: map[string]float64{
		"rss_before": float64(before.resident), "rss_after": float64(after.resident),
		"heap_before": float64(before.heap), "heap_after": float64(after.heap),
		"heap_per_event": (float64(after.heap) - float64(before.heap)) / float64(n),
	}}
	if r.rep.EventBytes > 0 {
		r.withRaw(&row, &Figure{Value: float64(r.rep.EventBytes), Count: 1})
	}
	r.rep.Rows = append(r.rep.Rows, row)
	return nil
}

// readRows measures Reads reads of one unit's history through the
// ledger and the HTTP API, and of its archive page, each against a raw
// filtered ordered consumer reading the same unit's events, interleaved so
// that all see the same server.
func (r *runner) readRows(ctx context.Context) error {
	hist := Row{Key: "history_ledger", Unit: "ms", RawWhat: "filtered ordered consumer reading the unit's events"}
	histHTTP := Row{Key: "history_http", Unit: "ms", RawWhat: hist.RawWhat}
	page := Row{Key: "archive_page", Unit: "ms", RawWhat: hist.RawWhat}
	perUnit := r.rep.Appended.Evidence()/len(r.units) + 1 // and the registration
	hist.What = fmt.Sprintf("read one unit's history (~%d events) through the ledger", perUnit)
	histHTTP.What = fmt.Sprintf("read one unit's history (~%d events) via GET .../history", perUnit)
	page.What = fmt.Sprintf("render one unit's archive page (~%d items) via GET /units/{unit}", perUnit-1)

	var counts []int // events of each unit, for the raw reads
	if r.t.Ledger != nil {
		for _, u := range r.units {
			recs, err := r.t.Ledger.History(ctx, u, time.Time{})
			if err != nil {
				return fmt.Errorf("history of %s: %w", u, err)
			}
			counts = append(counts, len(recs))
		}
	}
	n := r.cfg.Reads
	steps := n * 2
	if r.t.Ledger != nil {
		steps = n * 4
	}
	r.p.Start("reads", steps)
	var lh, hh, pg, raw timing
	for k := range n {
		u := r.units[k%len(r.units)]
		if r.t.Ledger != nil {
			d, err := timed(func() error {
				recs, err := r.t.Ledger.History(ctx, u, time.Time{})
				if err == nil && len(recs) != counts[k%len(r.units)] {
					err = fmt.Errorf("history of %s: %d events, want %d", u, len(recs), counts[k%len(r.units)])
				}
				return err
			})
			if err != nil {
				return fmt.Errorf("history through the ledger: %w", err)
			}
			lh.add(d)
			r.p.Add(1)
			d, err = rawOrdered(ctx, r.t.Ledger.Stream(), r.t.Ledger.UnitSubjects(u), counts[k%len(r.units)])
			if err != nil {
				return fmt.Errorf("raw read of %s: %w", u, err)
			}
			raw.add(d)
			r.p.Add(1)
		}
		d, err := timed(func() error { _, err := r.api.get(ctx, "/api/v1/units/"+u+"/history"); return err })
		if err != nil {
			return fmt.Errorf("history via HTTP: %w", err)
		}
		hh.add(d)
		r.p.Add(1)
		d, err = timed(func() error { _, err := r.api.get(ctx, "/units/"+u); return err })
		if err != nil {
			return fmt.Errorf("archive page: %w", err)
		}
		pg.add(d)
		r.p.Add(1)
	}
	r.p.End()
	var rawFig *Figure
	if r.t.Ledger != nil {
		rawFig = raw.done().median()
		hist.Taizhang = lh.done().median()
		r.withRaw(&hist, rawFig)
	} else {
		hist.Skipped = "needs the ledger (NATS)"
	}
	histHTTP.Taizhang = hh.done().median()
	r.withRaw(&histHTTP, rawFig)
	page.Taizhang = pg.done().median()
	r.withRaw(&page, rawFig)
	r.rep.Rows = append(r.rep.Rows, hist, histHTTP, page)
	return nil
}

func timed(f func() error) (time.Duration, error) {
	t0 := time.Now()
	err := f()
	return time.Since(t0), err
}

func (tm *timing) add(d time.Duration) {
	tm.lat = append(tm.lat, d)
	tm.n++
	tm.elapsed += d
}

// done sorts the latencies, for the percentiles.
func (tm timing) done() timing {
	slices.Sort(tm.lat)
	return tm
}

// rebuildRounds is how many times the rebuild and its raw replay are
// measured, alternately; the row gives the medians.
const rebuildRounds = 3

// rebuildRow rebuilds the archive projection from the whole ledger, as a
// starting serve does, against a raw ordered consumer reading the whole
// stream, each rebuildRounds times, alternately (raw first, so that the
// first rebuild is not the one to find the blocks uncached).
func (r *runner) rebuildRow(ctx context.Context) error {
	row := Row{Key: "rebuild", Unit: "ms", RawWhat: "ordered consumer replaying the whole stream"}
	if r.t.Ledger == nil {
		row.What = "rebuild the archive projection from the whole ledger"
		row.Skipped = "needs the ledger (--nats)"
		r.rep.Rows = append(r.rep.Rows, row)
		return nil
	}
	last, err := r.t.Ledger.LastSeq(ctx)
	if err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	row.What = fmt.Sprintf("rebuild the archive projection from the whole ledger (%d events)", last)
	r.p.Start("rebuild the archive projection, and replay", 2*rebuildRounds)
	var raw, rebuild timing
	for range rebuildRounds {
		d, err := rawOrdered(ctx, r.t.Ledger.Stream(), "", int(last))
		if err != nil {
			r.p.End()
			return fmt.Errorf("raw replay: %w", err)
		}
		raw.add(d)
		r.p.Add(1)
		d, err = timed(func() error {
			live := projections.NewLive(r.t.Ledger, nil)
			live.SpoolTexts("") // as serve does
			lctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); live.Run(lctx) }()
			err := live.WaitFor(ctx, last)
			cancel()
			<-done
			return err
		})
		if err != nil {
			r.p.End()
			return fmt.Errorf("rebuild: %w", err)
		}
		rebuild.add(d)
		r.p.Add(1)
	}
	r.p.End()
	fig := func(tm timing) *Figure {
		f := tm.done().median()
		f.Count = int(last)
		f.Extra = map[string]float64{"events/s": float64(last) / (f.Value / 1000), "rounds": rebuildRounds}
		return f
	}
	row.Taizhang = fig(rebuild)
	r.withRaw(&row, fig(raw))
	r.rep.Rows = append(r.rep.Rows, row)
	return nil
}

package projections_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"taizhang/events"
	"taizhang/projections"
)

// chanSource is a Source fed by the test, one record at a time.
type chanSource chan events.Record

func (c chanSource) Follow(ctx context.Context, from uint64, fn func(events.Record) error) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case rec := <-c:
			if rec.Seq < from {
				continue
			}
			if err := fn(rec); err != nil {
				return err
			}
		}
	}
}

// within fails the test unless f returns before a long deadline: a guard
// against a deadlock, not a measure of speed.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not return while a long Read held the archive and an apply waited for it", what)
	}
}

// TestLiveLongReadDoesNotStallPointQueries holds a Read open (a ranking
// that takes its time) with an apply queued behind it, and checks that
// every query on the path of an append or a request's authentication
// (CheckWritable, Lookup, Applied, WaitFor, Err, the quarantine) still
// answers; with one RWMutex they would all wait for the ranking. Then the
// apply goes through once the Read ends.
func TestLiveLongReadDoesNotStallPointQueries(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	recs := script(t)
	src := make(chanSource)
	live := projections.NewLive(src, nil)
	go live.Run(ctx)
	head := len(recs) - 1
	for _, r := range recs[:head] {
		src <- r
	}
	if err := live.WaitFor(ctx, uint64(head)); err != nil {
		t.Fatal(err)
	}

	inRead, release := make(chan struct{}), make(chan struct{})
	readDone := make(chan error, 1)
	go func() {
		readDone <- live.Read(func(a *projections.Archive) error {
			close(inRead)
			<-release
			if a.Unit("dongcun") == nil {
				return fmt.Errorf("dongcun missing")
			}
			return nil
		})
	}()
	<-inRead
	go func() { src <- recs[head] }() // its apply waits for the Read
	for live.ApplyWaiting() == 0 {
		runtime.Gosched()
	}
	for range 100 { // let the apply reach the lock
		runtime.Gosched()
	}

	within(t, "CheckWritable", func() {
		if err := live.CheckWritable("dongcun"); err != nil {
			t.Errorf("CheckWritable: %v", err)
		}
	})
	within(t, "Lookup", func() {
		_ = live.Lookup(func(a *projections.Archive) error {
			if !a.Within("zhen", "dongcun") {
				t.Errorf("Lookup: dongcun is not within zhen")
			}
			return nil
		})
	})
	within(t, "Applied", func() {
		if got := live.Applied(); got != uint64(head) {
			t.Errorf("Applied %d while the apply of %d waits, want %d", got, head+1, head)
		}
	})
	within(t, "WaitFor of an applied sequence", func() {
		if err := live.WaitFor(ctx, uint64(head)); err != nil {
			t.Error(err)
		}
	})
	within(t, "Err, Quarantined, QuarantineOf", func() {
		if live.Err() != nil || len(live.Quarantined()) != 0 || live.QuarantineOf("dongcun") != nil {
			t.Errorf("unexpected error or quarantine: %v %v", live.Err(), live.Quarantined())
		}
	})

	close(release)
	if err := <-readDone; err != nil {
		t.Fatal(err)
	}
	if err := live.WaitFor(ctx, uint64(head+1)); err != nil {
		t.Fatal(err)
	}
}

// TestLiveReadersAndWriterConcurrently runs long Reads, Lookups and point
// queries while records are applied (for the race detector: go test -race),
// and checks that every reader saw a consistent archive.
func TestLiveReadersAndWriterConcurrently(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ledger, err := benchLedger()
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]events.Record, 3000)
	for i := range recs {
		ev, err := events.Decode(ledger[i])
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = events.Record{Seq: uint64(i + 1), Event: ev}
	}
	src := make(chanSource)
	live := projections.NewLive(src, nil)
	go live.Run(ctx)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Go(func() { // long reads: every unit, every item, as a ranking does
		for {
			select {
			case <-stop:
				return
			default:
			}
			err := live.Read(func(a *projections.Archive) error {
				for _, u := range a.Units() {
					ua := a.Unit(u.ID)
					if ua == nil {
						return fmt.Errorf("unit %s listed but missing", u.ID)
					}
					for _, it := range ua.Items() {
						_ = it.UpdatedAt()
					}
				}
				return nil
			})
			if err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Go(func() { // point queries, as every append and request makes
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = live.CheckWritable("unit-007")
			_ = live.Lookup(func(a *projections.Archive) error {
				_, _ = a.User("admin", time.Time{})
				_ = a.Within("zhen", "unit-007")
				return nil
			})
			_ = live.Applied()
		}
	})
	for _, r := range recs {
		src <- r
	}
	if err := live.WaitFor(ctx, uint64(len(recs))); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

// BenchmarkPointQueryUnderLongReads measures what an append waits for in
// the projection: a CheckWritable and a user lookup, made again and again
// while b.N records (at most 50,000) of the 100,000-event ledger are
// applied on top of the first 50,000 and a reader walks every unit's items again and again
// (as a ranking does), against the same with no reader. The
// "one-lock" case makes the same queries through Read, as every query
// was made before Lookup: behind an apply that waits for the ranking.
//
//	go test ./projections/ -run xxx -bench PointQuery -benchtime 20000x
//
// Metrics: p50-µs and p99-µs of one query pair, ns/op a record applied.
func BenchmarkPointQueryUnderLongReads(b *testing.B) {
	ledger, err := benchLedger()
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]events.Record, len(ledger))
	for i, data := range ledger {
		ev, err := events.Decode(data)
		if err != nil {
			b.Fatal(err)
		}
		recs[i] = events.Record{Seq: uint64(i + 1), Event: ev}
	}
	for _, mode := range []string{"no-reader", "ranking-reader", "one-lock-ranking-reader"} {
		b.Run(mode, func(b *testing.B) {
			if b.N > len(recs)/2 {
				b.Skipf("b.N is at most %d records (-benchtime 20000x)", len(recs)/2)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			src := make(chanSource)
			live := projections.NewLive(src, nil)
			go live.Run(ctx)
			half := len(recs) / 2
			for _, r := range recs[:half] {
				src <- r
			}
			if err := live.WaitFor(ctx, uint64(half)); err != nil {
				b.Fatal(err)
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			if mode != "no-reader" {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						_ = live.Read(func(a *projections.Archive) error {
							for _, u := range a.Units() {
								for _, it := range a.Unit(u.ID).Items() {
									_ = it.UpdatedAt()
								}
							}
							return nil
						})
					}
				})
			}
			var lat []time.Duration
			queries := make(chan struct{})
			go func() { // what every append asks of the projection
				defer close(queries)
				for {
					select {
					case <-stop:
						return
					default:
					}
					q0 := time.Now()
					if mode == "one-lock-ranking-reader" {
						_ = live.Read(func(a *projections.Archive) error {
							_, _ = a.User("admin", time.Time{})
							return a.CheckWritable("unit-007")
						})
					} else {
						_ = live.CheckWritable("unit-007")
						_ = live.Lookup(func(a *projections.Archive) error {
							_, _ = a.User("admin", time.Time{})
							return nil
						})
					}
					lat = append(lat, time.Since(q0))
				}
			}()
			b.ResetTimer()
			for i := 0; i < b.N; i++ { // the follower
				src <- recs[half+i]
			}
			if err := live.WaitFor(ctx, uint64(half+b.N)); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			close(stop)
			wg.Wait()
			<-queries
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
			b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Nanoseconds())/1e3, "p99-µs")
			b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds())/1e3, "max-µs")
			b.ReportMetric(float64(len(lat)), "queries")
		})
	}
}

// flakySource delivers recs from from on, but the first Follow fails after
// failAt records, as a lost connection does.
type flakySource struct {
	recs   []events.Record
	failAt int
	calls  int
	mu     sync.Mutex
}

func (f *flakySource) Follow(ctx context.Context, from uint64, fn func(events.Record) error) error {
	f.mu.Lock()
	f.calls++
	first := f.calls == 1
	f.mu.Unlock()
	for i, r := range f.recs[from-1:] {
		if first && i == f.failAt {
			return fmt.Errorf("connection lost")
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return ctx.Err()
}

// TestLiveBatchesGiveTheSameArchive applies 3,000 records while a long
// Read holds the archive, so that they queue and are applied in batches,
// through a source that fails once midway (Run resumes after the last
// applied record), and checks that the state is byte for byte the one a
// plain fold of the same records gives.
func TestLiveBatchesGiveTheSameArchive(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ledger, err := benchLedger()
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]events.Record, 3000)
	want := projections.NewArchive()
	for i := range recs {
		ev, err := events.Decode(ledger[i])
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = events.Record{Seq: uint64(i + 1), Event: ev}
		if err := want.Apply(recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	wantState, err := want.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	live := projections.NewLive(&flakySource{recs: recs, failAt: 1700}, nil)
	release := make(chan struct{})
	inRead := make(chan struct{})
	go live.Read(func(*projections.Archive) error { close(inRead); <-release; return nil })
	<-inRead
	go live.Run(ctx)
	for live.ApplyWaiting() == 0 { // the first records are queued behind the Read
		runtime.Gosched()
	}
	close(release)
	if err := live.WaitFor(ctx, uint64(len(recs))); err != nil {
		t.Fatal(err)
	}
	var got []byte
	_ = live.Read(func(a *projections.Archive) error { got, err = a.MarshalState(); return err })
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, wantState) {
		t.Fatal("the batched, resumed projection differs from a plain fold of the same records")
	}
}

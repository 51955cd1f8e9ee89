package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"taizhang/events"
)

// Source delivers the ledger's records in order from a sequence, and then
// each new one, until ctx is done or fn fails.
type Source interface {
	Follow(ctx context.Context, from uint64, fn func(events.Record) error) error
}

// Live keeps an Archive up to date by following a Source. It starts empty and
// rebuilds from the first event; after a failure it resumes after the last
// sequence it applied.
//
// Two locks guard the archive, so that no read, however long, stalls an
// append. mu is held shared by Read (a ranking of every unit, an archive
// page: milliseconds) and exclusively by apply. small is held shared by
// Lookup and the point queries an append or a request's authentication
// makes (CheckWritable, Applied, WaitFor, Err, the quarantine), and
// exclusively by apply only once apply holds mu, that is while no Read is
// running. A sync.RWMutex makes new readers wait behind a waiting writer:
// with one lock, an apply waiting for a ranking to finish would hold up
// every CheckWritable and user lookup, and so every append, for the rest
// of the ranking. With two, a point query waits at most for one apply of
// one record; what a long Read delays is only the projection itself.
type Live struct {
	src Source
	log *slog.Logger

	mu      sync.RWMutex // Read: shared; apply: exclusive (taken first)
	small   sync.RWMutex // Lookup and point queries: shared; apply: exclusive (taken second)
	arch    *Archive
	changed chan struct{} // closed and replaced after every batch of applies
	err     error         // last follow error, nil while healthy

	// applyWaiting counts applies waiting for mu (for tests: a Read is
	// running and an apply is queued behind it).
	applyWaiting atomic.Int32
}

// NewLive returns a Live projection over src; call Run to start it.
func NewLive(src Source, log *slog.Logger) *Live {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Live{src: src, log: log, arch: NewArchive(), changed: make(chan struct{})}
}

// SpoolTexts makes the archive keep item bodies in an unlinked file in dir
// rather than in memory (Archive.SpoolTexts): at a million events they are
// most of its bytes. Call it before Run.
func (l *Live) SpoolTexts(dir string) { l.arch.SpoolTexts(dir) }

// Run follows the source until ctx is done, restarting after errors with a
// backoff. A payload that does not decode stops the projection with an
// error rather than skip an event; Run then keeps retrying so that an
// operator sees the error in the log and in Err.
func (l *Live) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		from := l.Applied() + 1
		err := l.follow(ctx, from)
		if ctx.Err() != nil {
			return
		}
		l.small.Lock()
		l.err = err
		l.small.Unlock()
		l.log.Warn("archive projection stopped following the ledger; retrying", "from", from, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		if backoff < 5*time.Second {
			backoff *= 2
		}
	}
}

// Batching: the source's records queue up (at most maxQueued) while a
// Read holds the archive, and the next apply takes all of them, up to
// maxBatch, under one hold of mu, so that a ranking delays the projection
// by its own length, not by its length for every record that arrived
// meanwhile. Within a batch small is let go every smallBatch records, so
// that point queries wait for at most that many applies.
const (
	maxQueued  = 4096
	maxBatch   = 4096
	smallBatch = 64
)

// follow runs one Follow of the source from seq from, applying what it
// delivers in order, in batches; it returns the error that ended it.
// Records are applied exactly as they come: batching changes when the
// archive sees them, never what it makes of them.
func (l *Live) follow(ctx context.Context, from uint64) error {
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan events.Record, maxQueued)
	ferr := make(chan error, 1)
	go func() {
		defer close(queue)
		ferr <- l.src.Follow(fctx, from, func(rec events.Record) error {
			select {
			case queue <- rec:
				return nil
			case <-fctx.Done():
				return fctx.Err()
			}
		})
	}()
	for first := range queue {
		if err := l.applyBatch(first, queue); err != nil {
			cancel()
			for range queue { // until Follow has returned
			}
			<-ferr
			return err
		}
	}
	return <-ferr
}

// applyBatch applies first and then whatever else is queued, up to
// maxBatch records, and stops at the first record that fails.
func (l *Live) applyBatch(first events.Record, queue <-chan events.Record) error {
	l.lockAll()
	defer l.unlockAll()
	rec := first
	for n := 1; ; n++ {
		if err := l.arch.Apply(rec); err != nil {
			l.notify()
			return fmt.Errorf("archive projection at seq %d: %w", rec.Seq, err)
		}
		l.err = nil
		if n == maxBatch {
			break
		}
		if n%smallBatch == 0 { // let point queries in
			l.notify()
			l.small.Unlock()
			l.small.Lock()
		}
		var ok bool
		select {
		case rec, ok = <-queue:
		default:
		}
		if !ok {
			break
		}
	}
	l.notify()
	return nil
}

// notify wakes WaitFor; small must be held exclusively.
func (l *Live) notify() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// lockAll takes both locks, mu first: it waits for running Reads, and
// then holds up point queries only for as long as it keeps them.
func (l *Live) lockAll() {
	l.applyWaiting.Add(1)
	l.mu.Lock()
	l.applyWaiting.Add(-1)
	l.small.Lock()
}

func (l *Live) unlockAll() {
	l.small.Unlock()
	l.mu.Unlock()
}

// Applied returns the last sequence applied.
func (l *Live) Applied() uint64 {
	l.small.RLock()
	defer l.small.RUnlock()
	return l.arch.Applied()
}

// Err returns the last error that stopped following, or nil.
func (l *Live) Err() error {
	l.small.RLock()
	defer l.small.RUnlock()
	return l.err
}

// ErrBehind is returned by WaitFor when the projection did not reach the
// sequence in time.
var ErrBehind = errors.New("projection is behind the ledger")

// WaitFor blocks until the projection has applied seq, or ctx is done (then
// it returns an error wrapping ErrBehind).
func (l *Live) WaitFor(ctx context.Context, seq uint64) error {
	for {
		l.small.RLock()
		applied, ch := l.arch.Applied(), l.changed
		l.small.RUnlock()
		if applied >= seq {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: at %d, waiting for %d: %v", ErrBehind, applied, seq, ctx.Err())
		}
	}
}

// Read calls fn with the archive under a read lock; fn must not keep
// references to the archive's items after it returns. fn may take as long
// as it needs: the projection waits for it, appends and Lookups do not.
// fn must not call Read again (a queued apply would deadlock it); it may
// call Lookup and the point queries.
func (l *Live) Read(fn func(*Archive) error) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return fn(l.arch)
}

// Lookup calls fn with the archive under the point-query lock, which a
// running Read does not hold up: for lookups of one thing (a user, a unit's
// place in the tree) on the path of every request and append. fn must be
// short, microseconds: while it runs the projection cannot apply. Like
// Read's, fn must not keep references to the archive's items; it must not
// call Read (an apply holding Read's lock waits for this one).
func (l *Live) Lookup(fn func(*Archive) error) error {
	l.small.RLock()
	defer l.small.RUnlock()
	return fn(l.arch)
}

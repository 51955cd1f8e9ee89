package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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
type Live struct {
	src Source
	log *slog.Logger

	mu      sync.RWMutex
	arch    *Archive
	changed chan struct{} // closed and replaced on every apply
	err     error         // last follow error, nil while healthy
}

// NewLive returns a Live projection over src; call Run to start it.
func NewLive(src Source, log *slog.Logger) *Live {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Live{src: src, log: log, arch: NewArchive(), changed: make(chan struct{})}
}

// Run follows the source until ctx is done, restarting after errors with a
// backoff. A payload that does not decode stops the projection with an
// error rather than skip an event; Run then keeps retrying so that an
// operator sees the error in the log and in Err.
func (l *Live) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		from := l.Applied() + 1
		err := l.src.Follow(ctx, from, l.apply)
		if ctx.Err() != nil {
			return
		}
		l.mu.Lock()
		l.err = err
		l.mu.Unlock()
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

func (l *Live) apply(rec events.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.arch.Apply(rec); err != nil {
		return fmt.Errorf("archive projection at seq %d: %w", rec.Seq, err)
	}
	l.err = nil
	close(l.changed)
	l.changed = make(chan struct{})
	return nil
}

// Applied returns the last sequence applied.
func (l *Live) Applied() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.arch.Applied()
}

// Err returns the last error that stopped following, or nil.
func (l *Live) Err() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.err
}

// ErrBehind is returned by WaitFor when the projection did not reach the
// sequence in time.
var ErrBehind = errors.New("projection is behind the ledger")

// WaitFor blocks until the projection has applied seq, or ctx is done (then
// it returns an error wrapping ErrBehind).
func (l *Live) WaitFor(ctx context.Context, seq uint64) error {
	for {
		l.mu.RLock()
		applied, ch := l.arch.Applied(), l.changed
		l.mu.RUnlock()
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
// references to the archive's items after it returns.
func (l *Live) Read(fn func(*Archive) error) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return fn(l.arch)
}

package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	js "github.com/nats-io/nats.go/jetstream"
)

// Defaults for LeaseConfig.
const (
	DefaultLeaseBucket = "TAIZHANG_LEASES"
	DefaultLeaseTTL    = 10 * time.Second
)

// LeaseConfig configures a Lease.
type LeaseConfig struct {
	// Bucket is the KV bucket of the leases; DefaultLeaseBucket if empty.
	Bucket string
	// Key names the lease in the bucket, e.g. "checkpoint".
	Key string
	// Holder names this process (its replica name); it is the value
	// stored under Key while this process holds the lease.
	Holder string
	// TTL is how long an entry lives without renewal: the bucket's max
	// age when this process creates the bucket (an existing bucket keeps
	// its own, which then applies). DefaultLeaseTTL if zero.
	TTL time.Duration
	// Replicas of the bucket when it is created; the ledger's if zero.
	Replicas int
	// Log receives acquisitions and losses; discarded if nil.
	Log *slog.Logger
}

// Lease is a lease in a JetStream KV bucket that at most one process holds
// at a time: acquired with Create (which succeeds only if the key is absent,
// deleted or expired), renewed every TTL/3 with Update expecting the last
// revision, released on Close with a delete expecting it. The entry expires
// with the bucket's TTL, so a holder that dies or is cut off loses the
// lease after at most TTL. Held is conservative: this process stops
// claiming the lease 2/3 of a TTL after its last successful renewal, before
// the entry can expire and another process can take it (clocks tick at
// the same rate; they need not agree).
//
// A lease narrows who writes; it is not what keeps a stream linear. A
// writer must still publish expecting the stream's last sequence.
type Lease struct {
	kv  js.KeyValue
	cfg LeaseConfig

	mu      sync.Mutex
	rev     uint64    // revision of our entry while held
	renewed time.Time // last successful create or update
	holder  string    // last holder seen
	changed func(held bool)

	cancel context.CancelFunc
	done   sync.WaitGroup
}

// OpenLease opens (creating if needed) the lease bucket on the ledger's
// JetStream and starts trying to acquire cfg.Key and keep it, until Close.
// cfg.Key and cfg.Holder are required. onChange, if not nil, is called
// (from the lease's goroutine) each time this process gains or loses the
// lease.
func OpenLease(ctx context.Context, l *Ledger, cfg LeaseConfig, onChange func(held bool)) (*Lease, error) {
	if cfg.Key == "" || cfg.Holder == "" {
		return nil, errors.New("open lease: a key and a holder name are required")
	}
	if cfg.Bucket == "" {
		cfg.Bucket = DefaultLeaseBucket
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultLeaseTTL
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = max(l.stream.CachedInfo().Config.Replicas, 1)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	kv, err := l.js.CreateKeyValue(actx, js.KeyValueConfig{Bucket: cfg.Bucket, History: 1, TTL: cfg.TTL,
		Description: "taizhang leases: which replica does what only one may do", Storage: js.FileStorage, Replicas: cfg.Replicas})
	if errors.Is(err, js.ErrBucketExists) {
		kv, err = l.js.KeyValue(actx, cfg.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("open lease bucket %s: %w", cfg.Bucket, unavailable(err))
	}
	st, err := kv.Status(actx)
	if err != nil {
		return nil, fmt.Errorf("open lease bucket %s: %w", cfg.Bucket, unavailable(err))
	}
	if st.TTL() <= 0 {
		return nil, fmt.Errorf("lease bucket %s has no TTL: a dead holder would keep its lease forever; recreate it with a TTL", cfg.Bucket)
	}
	cfg.TTL = st.TTL()
	ls := &Lease{kv: kv, cfg: cfg, changed: onChange}
	rctx, stop := context.WithCancel(context.Background())
	ls.cancel = stop
	ls.done.Go(func() { ls.run(rctx) })
	return ls, nil
}

// TTL returns the lease's time to live (the bucket's).
func (ls *Lease) TTL() time.Duration { return ls.cfg.TTL }

// Name returns this process's holder name.
func (ls *Lease) Name() string { return ls.cfg.Holder }

// Held reports whether this process holds the lease now.
func (ls *Lease) Held() bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.heldLocked(time.Now())
}

func (ls *Lease) heldLocked(now time.Time) bool {
	return ls.rev != 0 && now.Sub(ls.renewed) < ls.cfg.TTL*2/3
}

// Holder returns the holder last seen (this process's name while it holds
// the lease), or "" if nobody held it when last looked at.
func (ls *Lease) Holder() string {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.heldLocked(time.Now()) {
		return ls.cfg.Holder
	}
	if ls.holder == ls.cfg.Holder {
		return "" // ours, but no longer sure
	}
	return ls.holder
}

// Close stops renewing and releases the lease if held, so that another
// process takes it over without waiting for the TTL.
func (ls *Lease) Close() {
	ls.cancel()
	ls.done.Wait()
}

func (ls *Lease) run(ctx context.Context) {
	period := max(ls.cfg.TTL/3, 10*time.Millisecond)
	held := false
	for {
		now := ls.step(ctx)
		if h := ls.Held(); h != held {
			held = h
			if held {
				ls.cfg.Log.Info("lease acquired", "lease", ls.cfg.Key, "holder", ls.cfg.Holder)
			} else {
				ls.cfg.Log.Warn("lease lost", "lease", ls.cfg.Key, "holder", ls.cfg.Holder, "now_held_by", ls.Holder())
			}
			if ls.changed != nil {
				ls.changed(held)
			}
		}
		wait := period - time.Since(now)
		select {
		case <-ctx.Done():
			ls.release()
			if held && ls.changed != nil {
				ls.changed(false)
			}
			return
		case <-time.After(wait):
		}
	}
}

// step renews the lease if held, or tries to acquire it; it returns when
// the attempt started.
func (ls *Lease) step(ctx context.Context) time.Time {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, max(ls.cfg.TTL/3, time.Second))
	defer cancel()
	ls.mu.Lock()
	rev := ls.rev
	ls.mu.Unlock()
	val := []byte(ls.cfg.Holder)
	var err error
	var nrev uint64
	if rev != 0 {
		nrev, err = ls.kv.Update(ctx, ls.cfg.Key, val, rev)
	} else {
		nrev, err = ls.kv.Create(ctx, ls.cfg.Key, val)
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if err == nil {
		ls.rev, ls.renewed, ls.holder = nrev, start, ls.cfg.Holder
		return start
	}
	if rev != 0 {
		ls.cfg.Log.Warn("lease renewal failed", "lease", ls.cfg.Key, "err", err)
	}
	// A refused compare-and-swap means someone else wrote the key: ours is
	// gone. Any other error (a timeout) leaves the lease to expire by
	// Held's clock, and the next step tries to renew again.
	var apiErr *js.APIError
	if errors.Is(err, js.ErrKeyExists) || (errors.As(err, &apiErr) && apiErr.ErrorCode == js.JSErrCodeStreamWrongLastSequence) {
		ls.rev = 0
		if e, gerr := ls.kv.Get(ctx, ls.cfg.Key); gerr == nil {
			ls.holder = string(e.Value())
		}
	} else if rev != 0 && !ls.heldLocked(time.Now()) {
		ls.rev = 0 // too late to renew: start over with Create
	}
	return start
}

// release deletes our entry if we still hold it.
func (ls *Lease) release() {
	ls.mu.Lock()
	rev := ls.rev
	ls.rev = 0
	ls.mu.Unlock()
	if rev == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := ls.kv.Delete(ctx, ls.cfg.Key, js.LastRevision(rev)); err != nil {
		ls.cfg.Log.Warn("lease release failed; it expires by itself", "lease", ls.cfg.Key, "err", err)
		return
	}
	ls.cfg.Log.Info("lease released", "lease", ls.cfg.Key, "holder", ls.cfg.Holder)
}

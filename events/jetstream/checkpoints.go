package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"
	"golang.org/x/mod/sumdb/note"

	"taizhang/events"
	"taizhang/events/checkpoint"
)

// Defaults for CheckpointConfig.
const (
	DefaultCheckpointStream  = "TAIZHANG_CHECKPOINTS"
	DefaultCheckpointSubject = "tz.cp"
	// DefaultCheckpointRequestSubject is where a process that does not
	// hold the checkpoint lease asks the one that does for an on-demand
	// checkpoint (core NATS request and reply, nothing stored).
	DefaultCheckpointRequestSubject = "tz.cp.req"
)

const (
	// hdrHash carries the event's Hash (hex) on every ledger message, so
	// that the checkpointer can follow the ledger reading headers only.
	hdrHash = "Tz-Hash"
	// hdrTreeSize carries a checkpoint's tree size on its message.
	hdrTreeSize = "Tz-Tree-Size"
	// HdrWriter names the process (CheckpointConfig.Writer) that appended
	// a checkpoint, on its message; not part of the signed note.
	HdrWriter = "Tz-Writer"
)

// CheckpointConfig configures the checkpoint stream and its writer.
type CheckpointConfig struct {
	// Stream and Subject of the checkpoints; the defaults if empty.
	Stream  string
	Subject string
	// Signer signs new checkpoints. Every writer of the stream must use
	// the same key.
	Signer note.Signer
	// VerifierKey is the public half of Signer: a note verifier key
	// ("<name>+<hash>+<base64 key>") that checks stored checkpoints.
	VerifierKey string
	// Interval between automatic checkpoints; none if zero.
	Interval time.Duration
	// Now is the clock of the checkpoints' time line; time.Now if nil.
	Now func() time.Time
	// Log receives the checkpointer's warnings; discarded if nil.
	Log *slog.Logger
	// Holds reports whether this process may append checkpoints now (it
	// holds the checkpoint lease, see Lease); nil means always. A process
	// that does not hold it follows the ledger and serves proofs, but
	// appends nothing: its interval passes without a checkpoint and an
	// on-demand checkpoint is asked of the holder on RequestSubject.
	Holds func() bool
	// RequestSubject carries on-demand checkpoint requests to the lease
	// holder; DefaultCheckpointRequestSubject if empty.
	RequestSubject string
	// Writer names this process on the checkpoints it appends (the
	// Tz-Writer header), so an operator sees which replica wrote each.
	Writer string
}

// CheckpointLog is the stream of signed checkpoints over the ledger,
// TAIZHANG_CHECKPOINTS: file storage, deletes and purges denied, no limits,
// one subject. Each message is one checkpoint as a C2SP signed note; its
// stream sequence is the checkpoint's number.
type CheckpointLog struct {
	l      *Ledger
	stream js.Stream
	cfg    CheckpointConfig
	origin string
}

// OpenCheckpointLog opens the checkpoint stream of the ledger, creating it
// if create is set; without create a missing stream is events.ErrNotFound.
// Like the ledger, it refuses an existing stream that could lose messages.
func OpenCheckpointLog(ctx context.Context, l *Ledger, cfg CheckpointConfig, create bool) (*CheckpointLog, error) {
	if cfg.Stream == "" {
		cfg.Stream = DefaultCheckpointStream
	}
	if cfg.Subject == "" {
		cfg.Subject = DefaultCheckpointSubject
	}
	if cfg.RequestSubject == "" {
		cfg.RequestSubject = DefaultCheckpointRequestSubject
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	st, err := openAppendOnly(ctx, l, "checkpoint", cfg.Stream, "taizhang checkpoints: signed tree heads over the ledger, append-only",
		cfg.Subject, 64<<10, create)
	if err != nil {
		return nil, err
	}
	return &CheckpointLog{l: l, stream: st, cfg: cfg, origin: checkpoint.Origin(l.cfg.Stream)}, nil
}

// openAppendOnly opens the stream name beside l's ledger (what names it in
// errors): file storage, deletes and purges denied, no limits, as many
// replicas as the ledger, messages of at most maxMsgSize. It creates the
// stream if create is set; without create a missing stream is
// events.ErrNotFound. Like the ledger, it refuses an existing stream that
// could lose messages.
func openAppendOnly(ctx context.Context, l *Ledger, what, name, description, subject string, maxMsgSize int32, create bool) (js.Stream, error) {
	replicas := max(l.stream.CachedInfo().Config.Replicas, 1)
	want := js.StreamConfig{
		Name:        name,
		Description: description,
		Subjects:    []string{subject},
		Storage:     js.FileStorage,
		Retention:   js.LimitsPolicy,
		Discard:     js.DiscardNew,
		MaxMsgs:     -1,
		MaxBytes:    -1,
		MaxMsgSize:  maxMsgSize,
		Replicas:    replicas,
		DenyDelete:  true,
		DenyPurge:   true,
		AllowDirect: replicas == 1,
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := l.js.Stream(actx, name)
	if errors.Is(err, js.ErrStreamNotFound) {
		if !create {
			return nil, fmt.Errorf("%s stream %s: %w", what, name, events.ErrNotFound)
		}
		st, err = l.js.CreateStream(actx, want)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s stream %s: %w", what, name, unavailable(err))
	}
	if err := checkConfig(st.CachedInfo().Config, want); err != nil {
		return nil, fmt.Errorf("open %s stream %s: %w", what, name, err)
	}
	return st, nil
}

// Origin returns the origin line every checkpoint of this ledger carries.
func (c *CheckpointLog) Origin() string { return c.origin }

// List returns the stored checkpoints from sequence from (1 for the first),
// at most limit of them (all if limit <= 0), parsed but with signatures
// unchecked (Problem says if one does not parse).
func (c *CheckpointLog) List(ctx context.Context, from uint64, limit int) ([]checkpoint.Stored, error) {
	from = max(from, 1)
	info, err := c.stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("checkpoint stream info: %w", unavailable(err))
	}
	end := info.State.LastSeq
	if limit > 0 && from+uint64(limit)-1 < end {
		end = from + uint64(limit) - 1
	}
	out := []checkpoint.Stored{}
	if end < from {
		return out, nil
	}
	cfg := js.OrderedConsumerConfig{DeliverPolicy: js.DeliverByStartSequencePolicy, OptStartSeq: from}
	if from == 1 {
		cfg.DeliverPolicy, cfg.OptStartSeq = js.DeliverAllPolicy, 0
	}
	err = c.l.consumeStream(ctx, c.stream, cfg, func(m js.Msg) error {
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("read checkpoints: %w", err)
		}
		seq := md.Sequence.Stream
		if seq > end {
			return errEnough
		}
		out = append(out, stored(seq, m.Data(), nil))
		if seq == end {
			return errEnough
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	return out, nil
}

// stored parses a checkpoint message, checking its signature with v if v
// is not nil.
func stored(seq uint64, data []byte, v note.Verifier) checkpoint.Stored {
	s := checkpoint.Stored{Seq: seq, Note: string(data)}
	var err error
	if v != nil {
		s.Checkpoint, err = checkpoint.Open(data, v)
	} else {
		s.Checkpoint, err = checkpoint.ParseNote(data)
	}
	if err != nil {
		s.Problem = err.Error()
	}
	return s
}

// Checkpointer builds the Merkle tree over the ledger by following the
// stream from its first message (headers only: each message carries its
// event's Hash in Tz-Hash; the body is decoded only where the header is
// missing), keeps it in memory (about 70 bytes an event), serves proofs
// from it, and appends a signed checkpoint to the checkpoint stream at each
// interval and on demand when the tree has grown. Several processes may
// run one on the same streams: a checkpoint is published expecting the
// stream's last sequence, so only one of them writes the next checkpoint
// and the others re-read it, and no two checkpoints have the same size.
// None signs a tree that is inconsistent with the latest checkpoint.
type Checkpointer struct {
	*CheckpointLog
	verifier note.Verifier

	mu      sync.RWMutex
	tree    *checkpoint.Log
	changed chan struct{} // closed on the next append; nil when nobody waits
	fatal   error         // the follower stopped for good

	pub    sync.Mutex    // serialises this process's publishes
	poke   chan struct{} // Poke: checkpoint now (buffered, one)
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// StartCheckpointer opens (creating if needed) the checkpoint stream and
// starts following the ledger and, if cfg.Interval is set, checkpointing.
// cfg.Signer and cfg.VerifierKey are required. Close stops it.
func StartCheckpointer(ctx context.Context, l *Ledger, cfg CheckpointConfig) (*Checkpointer, error) {
	if cfg.Signer == nil || cfg.VerifierKey == "" {
		return nil, errors.New("start checkpointer: a signer and its verifier key are required")
	}
	v, err := checkpoint.NewVerifier(cfg.VerifierKey)
	if err != nil {
		return nil, fmt.Errorf("start checkpointer: %w", err)
	}
	if cfg.Signer.Name() != v.Name() || cfg.Signer.KeyHash() != v.KeyHash() {
		return nil, errors.New("start checkpointer: the verifier key is not the signer's")
	}
	cl, err := OpenCheckpointLog(ctx, l, cfg, true)
	if err != nil {
		return nil, err
	}
	c := &Checkpointer{CheckpointLog: cl, verifier: v, tree: checkpoint.NewLog(), poke: make(chan struct{}, 1)}
	rctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.done.Go(func() { c.follow(rctx) })
	if cl.cfg.Holds != nil {
		sub, err := l.nc.Subscribe(cl.cfg.RequestSubject, func(m *nats.Msg) { c.answer(rctx, m) })
		if err != nil {
			cancel()
			c.done.Wait()
			return nil, fmt.Errorf("start checkpointer: subscribe to %s: %w", cl.cfg.RequestSubject, unavailable(err))
		}
		c.done.Go(func() {
			<-rctx.Done()
			_ = sub.Unsubscribe()
		})
	}
	if cl.cfg.Interval > 0 {
		c.done.Go(func() { c.run(rctx) })
	}
	return c, nil
}

// Close stops the checkpointer and waits for it.
func (c *Checkpointer) Close() {
	c.cancel()
	c.done.Wait()
}

// PublicKey returns the note verifier key of this log's checkpoints.
func (c *Checkpointer) PublicKey() string { return c.cfg.VerifierKey }

// Size returns the number of events in the tree.
func (c *Checkpointer) Size() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.tree.Size()
}

// Err returns why the follower stopped for good, if it did.
func (c *Checkpointer) Err() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.fatal
}

// errSwitch restarts the follower with or without message bodies.
type errSwitch struct{ full bool }

func (e errSwitch) Error() string { return "switch follow mode" }

// follow appends every ledger message's hash to the tree, in stream order,
// until ctx is done or the ledger holds something the tree cannot take.
func (c *Checkpointer) follow(ctx context.Context) {
	full := false
	for ctx.Err() == nil {
		next := c.Size() + 1
		// No subject filter: the stream holds only the ledger's subjects
		// (Open checks), and an unfiltered consumer is cheaper to serve.
		cfg := js.OrderedConsumerConfig{HeadersOnly: !full, DeliverPolicy: js.DeliverByStartSequencePolicy, OptStartSeq: next}
		streak := 0 // messages with the header seen in full mode
		err := c.l.consume(ctx, cfg, func(m js.Msg) error {
			md, err := m.Metadata()
			if err != nil {
				return err
			}
			seq := md.Sequence.Stream
			if seq < next {
				return nil
			}
			if seq > next {
				return &fatalError{fmt.Errorf("ledger message %d follows %d: messages are missing from the stream", seq, next-1)}
			}
			h, err := events.ParseHash(m.Headers().Get(hdrHash))
			if err != nil || h.IsZero() {
				if !full {
					return errSwitch{full: true}
				}
				if ev, err := events.Decode(m.Data()); err == nil {
					h = ev.Hash
				} else {
					// Not an event (its unit is quarantined): the tree
					// holds every message, this one as its digest.
					h = events.StoredDigest(m.Data())
					c.cfg.Log.Warn("checkpointer: a ledger message does not decode; it enters the tree as the SHA-256 of its bytes", "seq", seq, "subject", m.Subject(), "err", err)
				}
				streak = 0
			} else if full {
				streak++
			}
			c.append(strings.TrimPrefix(m.Subject(), c.l.cfg.Prefix+"."), h)
			next++
			if full && streak >= 1024 { // the headers are back: stop reading bodies
				return errSwitch{full: false}
			}
			return nil
		})
		var sw errSwitch
		var fe *fatalError
		switch {
		case ctx.Err() != nil:
			return
		case errors.As(err, &sw):
			full = sw.full
			c.cfg.Log.Debug("checkpointer: switching follow mode", "bodies", full, "from", c.Size()+1)
		case errors.As(err, &fe):
			c.cfg.Log.Error("checkpointer stopped: the ledger cannot be checkpointed", "err", fe.err)
			c.mu.Lock()
			c.fatal = fe.err
			c.wake()
			c.mu.Unlock()
			return
		default:
			c.cfg.Log.Warn("checkpointer: following the ledger", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
}

type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }

func (c *Checkpointer) append(unit string, h events.Hash) {
	c.mu.Lock()
	c.tree.Append(unit, h)
	c.wake()
	c.mu.Unlock()
}

// wake wakes the waiters; c.mu is held.
func (c *Checkpointer) wake() {
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

// wait blocks until the tree holds n events.
func (c *Checkpointer) wait(ctx context.Context, n uint64) error {
	for {
		c.mu.Lock()
		size, fatal := c.tree.Size(), c.fatal
		if size >= n {
			c.mu.Unlock()
			return nil
		}
		if fatal != nil {
			c.mu.Unlock()
			return fmt.Errorf("%w: checkpoint tree stopped at %d events: %v", events.ErrUnavailable, size, fatal)
		}
		if c.changed == nil {
			c.changed = make(chan struct{})
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: checkpoint tree at %d of %d events: %v", events.ErrUnavailable, size, n, ctx.Err())
		}
	}
}

// waitSize waits (at most 10 s) until the tree holds n events; n beyond
// the ledger's end is events.ErrNotFound.
func (c *Checkpointer) waitSize(ctx context.Context, n uint64) error {
	if n <= c.Size() {
		return nil
	}
	last, err := c.l.LastSeq(ctx)
	if err != nil {
		return err
	}
	if n > last {
		return fmt.Errorf("tree size %d: the ledger holds %d events: %w", n, last, events.ErrNotFound)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.wait(wctx, n)
}

// run checkpoints once caught up with the ledger, then at every interval.
func (c *Checkpointer) run(ctx context.Context) {
	if last, err := c.l.LastSeq(ctx); err == nil {
		if err := c.wait(ctx, last); err == nil {
			c.tick(ctx)
		}
	}
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.tick(ctx)
		case <-c.poke:
			if last, err := c.l.LastSeq(ctx); err == nil && c.wait(ctx, last) == nil {
				c.tick(ctx)
			}
		}
	}
}

// Poke makes the interval loop checkpoint now (once caught up with the
// ledger) rather than at the next tick: when this process has just
// acquired the checkpoint lease. Without an interval it does nothing.
func (c *Checkpointer) Poke() {
	select {
	case c.poke <- struct{}{}:
	default:
	}
}

func (c *Checkpointer) tick(ctx context.Context) {
	if !c.holds() {
		return // another process holds the checkpoint lease
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, created, err := c.publish(tctx)
	switch {
	case ctx.Err() != nil:
	case errors.Is(err, events.ErrNotFound): // empty ledger
	case err != nil:
		c.cfg.Log.Error("checkpoint failed", "err", err)
	case created:
		c.cfg.Log.Debug("checkpoint", "seq", s.Seq, "size", s.Size, "root", s.Root.String())
	}
}

// Checkpoint makes a checkpoint now: it waits until the tree holds every
// event appended before the call and publishes a checkpoint of it, unless
// one of that size or larger exists (then it returns that one, with created
// false).
//
// A process that does not hold the checkpoint lease (CheckpointConfig.Holds)
// asks the holder instead and returns its answer; if no holder answers
// within 30 s the error wraps events.ErrUnavailable.
func (c *Checkpointer) Checkpoint(ctx context.Context) (checkpoint.Stored, bool, error) {
	if !c.holds() {
		return c.askHolder(ctx)
	}
	last, err := c.l.LastSeq(ctx)
	if err != nil {
		return checkpoint.Stored{}, false, err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.wait(wctx, last); err != nil {
		return checkpoint.Stored{}, false, err
	}
	return c.publish(ctx)
}

// publish appends a checkpoint of the current tree if it is larger than the
// latest checkpoint.
func (c *Checkpointer) publish(ctx context.Context) (checkpoint.Stored, bool, error) {
	c.pub.Lock()
	defer c.pub.Unlock()
	var lastErr error
	for attempt := 0; attempt < 16; attempt++ {
		lastSeq, latest, err := c.latest(ctx)
		if err != nil {
			return checkpoint.Stored{}, false, err
		}
		cp, err := c.snapshot(latest)
		if err != nil {
			return checkpoint.Stored{}, false, err
		}
		if latest != nil && latest.Size >= cp.Size {
			return *latest, false, nil
		}
		if cp.Size == 0 {
			return checkpoint.Stored{}, false, fmt.Errorf("no checkpoint: the ledger is empty: %w", events.ErrNotFound)
		}
		msg, err := checkpoint.Sign(cp, c.cfg.Signer)
		if err != nil {
			return checkpoint.Stored{}, false, err
		}
		if !c.holds() {
			return checkpoint.Stored{}, false, errNotHolder
		}
		m := &nats.Msg{Subject: c.cfg.Subject, Data: msg, Header: nats.Header{}}
		m.Header.Set(hdrTreeSize, strconv.FormatUint(cp.Size, 10))
		if c.cfg.Writer != "" {
			m.Header.Set(HdrWriter, c.cfg.Writer)
		}
		ack, err := c.l.js.PublishMsg(ctx, m, js.WithExpectLastSequence(lastSeq))
		var apiErr *js.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == js.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == js.JSErrCodeStreamWrongLastSequenceConstant) {
			lastErr = err
			continue // another process wrote a checkpoint: re-read it
		}
		if err != nil {
			return checkpoint.Stored{}, false, fmt.Errorf("publish checkpoint: %w", unavailable(err))
		}
		return checkpoint.Stored{Seq: ack.Sequence, Checkpoint: cp, Note: string(msg)}, true, nil
	}
	return checkpoint.Stored{}, false, fmt.Errorf("publish checkpoint: gave up: %w", lastErr)
}

// snapshot returns the unsigned checkpoint of the current tree, after
// checking that the tree agrees with latest (if any, and not larger).
func (c *Checkpointer) snapshot(latest *checkpoint.Stored) (checkpoint.Checkpoint, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	size := c.tree.Size()
	if latest != nil && latest.Size <= size {
		root, err := c.tree.Root(latest.Size)
		if err != nil {
			return checkpoint.Checkpoint{}, err
		}
		heads, err := c.tree.Heads(latest.Size)
		if err != nil {
			return checkpoint.Checkpoint{}, err
		}
		if root != latest.Root || checkpoint.HeadsRoot(heads) != latest.UnitsRoot || uint64(len(heads)) != latest.Units {
			return checkpoint.Checkpoint{}, fmt.Errorf("%w: the ledger's first %d events do not match checkpoint %d (root %s, ours %s): refusing to sign a fork; run taizhang verify",
				events.ErrConflict, latest.Size, latest.Seq, latest.Root, root)
		}
	}
	cp := checkpoint.Checkpoint{Origin: c.origin, Size: size, Time: c.cfg.Now().UTC()}
	if latest != nil && latest.Size >= size {
		return cp, nil
	}
	var err error
	if cp.Root, err = c.tree.Root(size); err != nil {
		return cp, err
	}
	heads, err := c.tree.Heads(size)
	if err != nil {
		return cp, err
	}
	cp.Units, cp.UnitsRoot = uint64(len(heads)), checkpoint.HeadsRoot(heads)
	return cp, nil
}

// latest returns the checkpoint stream's last sequence and its newest
// checkpoint that verifies with this log's key (nil if there is none).
// Messages after it that do not verify are logged and passed over; a
// checkpoint signed by another key stops it: every writer must share one
// key.
func (c *Checkpointer) latest(ctx context.Context) (uint64, *checkpoint.Stored, error) {
	m, err := c.stream.GetLastMsgForSubject(ctx, c.cfg.Subject)
	if errors.Is(err, js.ErrMsgNotFound) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("latest checkpoint: %w", unavailable(err))
	}
	lastSeq := m.Sequence
	for seq := lastSeq; ; {
		cp, err := checkpoint.Open(m.Data, c.verifier)
		if errors.Is(err, checkpoint.ErrUnknownKey) {
			return 0, nil, fmt.Errorf("%w: checkpoint %d: %v: give every serve process the same --checkpoint-key", events.ErrConflict, seq, err)
		}
		if err == nil && cp.Origin == c.origin {
			return lastSeq, &checkpoint.Stored{Seq: seq, Checkpoint: cp, Note: string(m.Data)}, nil
		}
		problem := fmt.Sprintf("origin %q, want %q", cp.Origin, c.origin)
		if err != nil {
			problem = err.Error()
		}
		c.cfg.Log.Error("checkpoint stream holds a message that is not a valid checkpoint of this log; passing over it (taizhang verify reports it)",
			"seq", seq, "problem", problem)
		if seq == 1 {
			return lastSeq, nil, nil
		}
		if lastSeq-seq >= 64 {
			return 0, nil, fmt.Errorf("%w: the last %d messages of the checkpoint stream are not valid checkpoints", events.ErrConflict, lastSeq-seq+1)
		}
		seq--
		if m, err = c.stream.GetMsg(ctx, seq); err != nil {
			return 0, nil, fmt.Errorf("checkpoint %d: %w", seq, unavailable(err))
		}
	}
}

// Latest returns the newest valid checkpoint, or events.ErrNotFound.
func (c *Checkpointer) Latest(ctx context.Context) (checkpoint.Stored, error) {
	_, s, err := c.latest(ctx)
	if err != nil {
		return checkpoint.Stored{}, err
	}
	if s == nil {
		return checkpoint.Stored{}, fmt.Errorf("no checkpoint yet: %w", events.ErrNotFound)
	}
	return *s, nil
}

// List returns up to limit checkpoints from sequence from, each checked
// with this log's key (Problem says why one does not verify).
func (c *Checkpointer) List(ctx context.Context, from uint64, limit int) ([]checkpoint.Stored, error) {
	list, err := c.CheckpointLog.List(ctx, from, limit)
	if err != nil {
		return nil, err
	}
	for i, s := range list {
		list[i] = stored(s.Seq, []byte(s.Note), c.verifier)
		if list[i].Problem == "" && list[i].Origin != c.origin {
			list[i].Problem = fmt.Sprintf("origin %q, want %q", list[i].Origin, c.origin)
		}
	}
	return list, nil
}

// sizeOrLatest returns size, or the latest checkpoint's size if size is 0.
func (c *Checkpointer) sizeOrLatest(ctx context.Context, size uint64) (uint64, error) {
	if size > 0 {
		return size, nil
	}
	s, err := c.Latest(ctx)
	if err != nil {
		return 0, err
	}
	return s.Size, nil
}

// Inclusion proves that the event at ledger sequence seq is in the tree of
// size events (the latest checkpoint's size if 0).
func (c *Checkpointer) Inclusion(ctx context.Context, seq, size uint64) (checkpoint.InclusionProof, error) {
	size, err := c.sizeOrLatest(ctx, size)
	if err != nil {
		return checkpoint.InclusionProof{}, err
	}
	if seq < 1 || seq > size {
		return checkpoint.InclusionProof{}, fmt.Errorf("%w: seq %d is not in a tree of %d events (1..%d)", events.ErrInvalid, seq, size, size)
	}
	if err := c.waitSize(ctx, size); err != nil {
		return checkpoint.InclusionProof{}, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	p := checkpoint.InclusionProof{Seq: seq, Index: seq - 1, Size: size, EventHash: c.tree.EventHash(seq - 1)}
	p.LeafHash = checkpoint.LeafHash(p.EventHash)
	if p.Root, err = c.tree.Root(size); err != nil {
		return p, err
	}
	p.Hashes, err = c.tree.Inclusion(seq-1, size)
	return p, err
}

// Consistency proves that the tree of from events is a prefix of the tree
// of to events (the latest checkpoint's size if 0).
func (c *Checkpointer) Consistency(ctx context.Context, from, to uint64) (checkpoint.ConsistencyProof, error) {
	to, err := c.sizeOrLatest(ctx, to)
	if err != nil {
		return checkpoint.ConsistencyProof{}, err
	}
	if from > to {
		return checkpoint.ConsistencyProof{}, fmt.Errorf("%w: from %d is larger than to %d", events.ErrInvalid, from, to)
	}
	if err := c.waitSize(ctx, to); err != nil {
		return checkpoint.ConsistencyProof{}, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	p := checkpoint.ConsistencyProof{From: from, To: to}
	if p.FromRoot, err = c.tree.Root(from); err != nil {
		return p, err
	}
	if p.ToRoot, err = c.tree.Root(to); err != nil {
		return p, err
	}
	p.Hashes, err = c.tree.Consistency(from, to)
	return p, err
}

// UnitProof proves unit's head (last event hash and event count) as of the
// tree of size events (the latest checkpoint's size if 0) against that
// size's unit heads root.
func (c *Checkpointer) UnitProof(ctx context.Context, unit string, size uint64) (checkpoint.UnitProof, error) {
	size, err := c.sizeOrLatest(ctx, size)
	if err != nil {
		return checkpoint.UnitProof{}, err
	}
	if err := c.waitSize(ctx, size); err != nil {
		return checkpoint.UnitProof{}, err
	}
	c.mu.RLock()
	heads, err := c.tree.Heads(size)
	c.mu.RUnlock()
	if err != nil {
		return checkpoint.UnitProof{}, err
	}
	i, hashes, ok := checkpoint.HeadsProof(heads, unit)
	if !ok {
		return checkpoint.UnitProof{}, fmt.Errorf("unit %s has no events in the first %d: %w", unit, size, events.ErrNotFound)
	}
	return checkpoint.UnitProof{UnitHead: heads[i], Size: size, Index: i, Units: uint64(len(heads)),
		UnitsRoot: checkpoint.HeadsRoot(heads), Hashes: hashes}, nil
}

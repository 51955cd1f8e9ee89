package jetstream

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"taizhang/events"
)

// Headers every ledger message carries beside its JSON body, so that the
// id index can be built from headers alone.
const (
	hdrType    = "Tz-Type"
	hdrEntity  = "Tz-Entity"  // the evidence or finding the event is about
	hdrVersion = "Tz-Version" // the entity's version after the event
)

// entry is what the index knows of one evidence item or finding.
type entry struct {
	unit    string
	seqs    []uint64 // its events' sequences, in order
	version int
	first   events.Type // the type of its first event: what kind of entity it is
	last    events.Type // the type of its last event: its state
}

// index maps every evidence and finding id in the ledger to its unit and events. It is
// built by following the stream (headers only) and is complete up to
// applied. An append decides only after the index has applied the unit's
// head, and its publish expects that head, so "this id is new" or "this is
// the current version" holds until the event lands: idempotency forever,
// with one literal subject per unit.
type index struct {
	mu      sync.Mutex
	applied uint64
	changed chan struct{}
	ev      map[uuid.UUID]*entry
	err     error
	// strs holds one copy of every unit id and event type the entries
	// name: without it each entry would keep its message's subject and
	// header block alive (about 180 bytes an event).
	strs map[string]string
}

func newIndex() *index {
	return &index{changed: make(chan struct{}), ev: map[uuid.UUID]*entry{}, strs: map[string]string{}}
}

// intern returns the index's own copy of s.
func (x *index) intern(s string) string {
	if c, ok := x.strs[s]; ok {
		return c
	}
	c := strings.Clone(s)
	x.strs[c] = c
	return c
}

// apply adds one message's headers to the index.
func (x *index) apply(seq uint64, subject string, h nats.Header, prefix string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if seq <= x.applied {
		return
	}
	x.applied = seq
	defer func() {
		close(x.changed)
		x.changed = make(chan struct{})
	}()
	idStr := h.Get(hdrEntity)
	if idStr == "" {
		return
	}
	id, err := uuid.Parse(idStr)
	if err != nil {
		return
	}
	unit := x.intern(strings.TrimPrefix(subject, prefix+"."))
	typ := events.Type(x.intern(h.Get(hdrType)))
	e := x.ev[id]
	if e != nil && e.unit != unit {
		// A message on another unit's subject that names this entity: not
		// the ledger's (its appends keep an entity in its unit), but a
		// forged one, whose unit the archive quarantines. It must not
		// become this entity's latest event.
		return
	}
	if e == nil {
		e = &entry{unit: unit, first: typ}
		x.ev[id] = e
	}
	e.last = typ
	e.seqs = append(e.seqs, seq)
	if v, err := strconv.Atoi(h.Get(hdrVersion)); err == nil {
		e.version = v
	}
}

// wait blocks until the index has applied seq.
func (x *index) wait(ctx context.Context, seq uint64) error {
	for {
		x.mu.Lock()
		applied, ch, err := x.applied, x.changed, x.err
		x.mu.Unlock()
		if applied >= seq {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("%w: id index at %d of %d: %v", events.ErrUnavailable, applied, seq, err)
			}
			return fmt.Errorf("id index at %d of %d: %w", applied, seq, ctx.Err())
		}
	}
}

// lookup returns a copy of the id's entry, or nil.
func (x *index) lookup(id uuid.UUID) *entry {
	x.mu.Lock()
	defer x.mu.Unlock()
	e := x.ev[id]
	if e == nil {
		return nil
	}
	c := *e
	c.seqs = append([]uint64(nil), e.seqs...)
	return &c
}

// follow keeps the index up to date until ctx is done, restarting after
// errors.
func (l *Ledger) follow(ctx context.Context) {
	for ctx.Err() == nil {
		l.idx.mu.Lock()
		from := l.idx.applied + 1
		l.idx.mu.Unlock()
		// No subject filter: the stream holds only the ledger's subjects
		// (Open checks), and an unfiltered consumer costs the server less
		// for every message it delivers.
		cfg := js.OrderedConsumerConfig{HeadersOnly: true, DeliverPolicy: js.DeliverByStartSequencePolicy, OptStartSeq: from}
		err := l.consume(ctx, cfg, func(m js.Msg) error {
			md, err := m.Metadata()
			if err != nil {
				return err
			}
			l.idx.apply(md.Sequence.Stream, m.Subject(), m.Headers(), l.cfg.Prefix)
			return nil
		})
		if ctx.Err() != nil {
			return
		}
		l.idx.mu.Lock()
		l.idx.err = err
		l.idx.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// IndexApplied returns the last ledger sequence the id index (the
// idempotency and version index every append decides on) has applied.
func (l *Ledger) IndexApplied() uint64 {
	l.idx.mu.Lock()
	defer l.idx.mu.Unlock()
	return l.idx.applied
}

// WaitIndex waits until the id index has applied seq; when ctx ends first
// the error says how far it got.
func (l *Ledger) WaitIndex(ctx context.Context, seq uint64) error { return l.idx.wait(ctx, seq) }

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

// entry is what the index knows of one evidence item or finding, as
// lookup returns it.
type entry struct {
	unit    string
	seqs    []uint64 // its events' sequences, in order
	version int
	first   events.Type // the type of its first event: what kind of entity it is
	last    events.Type // the type of its last event: its state
}

// slot is how the index holds an entry: 32 bytes in a dense slice, found
// through a map of 20-byte entries (the id and the slot's number), one
// more allocation only for an entity with more than one event, and its
// strings (unit id, event types) as numbers into the index's table of
// names. A province's ledger has millions of entities, a few thousand
// units and a dozen event types; a map holding the slots by value (64
// bytes with the key) was 143 MB at a million entities, since a map runs
// at half to seven eighths full.
type slot struct {
	seq0        uint64 // its first event's sequence
	more        uint32 // 1 + its index in the index's more (0: none; evidence is seldom corrected)
	version     int32
	unit        uint32 // into names
	first, last uint32 // into names
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
	// changed is made by wait only while someone waits, and closed (and
	// dropped) by the next apply: making a new one for every applied
	// message cost an allocation and a close for every event of a start.
	changed chan struct{}
	ev      map[uuid.UUID]uint32 // into slots
	slots   []slot
	more    [][]uint64 // the later events' sequences of entities with more than one
	err     error
	// names holds one copy of every unit id and event type the entries
	// name, codes their numbers: without them each entry would keep its
	// message's subject and header block alive (about 180 bytes an event).
	names []string
	codes map[string]uint32
	// caught, while awaitFeed waits, is closed once applied reaches target.
	caught chan struct{}
	target uint64
}

// newIndex returns an empty index with room for about msgs entities
// (the stream's messages at Open, most of which are evidence): growing a
// map of a million entries one doubling at a time costs a second of CPU
// at start, rehashing. The room is capped at 4M entities (about 290 MB);
// past that the map grows as it needs.
func newIndex(msgs uint64) *index {
	n := min(msgs, 4<<20)
	return &index{ev: make(map[uuid.UUID]uint32, n), slots: make([]slot, 0, n), codes: map[string]uint32{}}
}

// code returns the number of s in the index's names, adding a copy of s
// if it is new.
func (x *index) code(s string) uint32 {
	if c, ok := x.codes[s]; ok {
		return c
	}
	c := uint32(len(x.names))
	s = strings.Clone(s)
	x.names = append(x.names, s)
	x.codes[s] = c
	return c
}

// apply adds one message's headers to the index, unless it has applied
// seq already.
func (x *index) apply(seq uint64, subject string, h nats.Header, prefix string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if seq <= x.applied {
		return
	}
	x.applyLocked(seq, subject, headersOf(h), prefix)
}

// idHeaders are the headers of a message the index reads.
type idHeaders struct{ typ, entity, version string }

func headersOf(h nats.Header) idHeaders {
	return idHeaders{h.Get(hdrType), h.Get(hdrEntity), h.Get(hdrVersion)}
}

// feed is apply for a reader that delivers every message of the stream in
// order but is not the index's own (a projection's Follow): it applies the
// message at seq only if the last one the index applied is prev, the one
// that reader delivered before it, so that the index still takes every
// message once and in order whichever of its feeders is ahead. It reports
// whether it applied.
func (x *index) feed(prev, seq uint64, subject string, h idHeaders, prefix string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.applied != prev || seq <= prev {
		return false
	}
	x.applyLocked(seq, subject, h, prefix)
	return true
}

// applyLocked adds the message at seq; x.mu is held and seq > x.applied.
func (x *index) applyLocked(seq uint64, subject string, h idHeaders, prefix string) {
	x.applied = seq
	if x.caught != nil && seq >= x.target {
		close(x.caught)
		x.caught = nil
	}
	defer func() {
		if x.changed != nil {
			close(x.changed)
			x.changed = nil
		}
	}()
	idStr := h.entity
	if idStr == "" {
		return
	}
	id, err := uuid.Parse(idStr)
	if err != nil {
		return
	}
	unit := x.code(strings.TrimPrefix(subject, prefix+"."))
	typ := x.code(h.typ)
	i, ok := x.ev[id]
	if ok && x.slots[i].unit != unit {
		// A message on another unit's subject that names this entity: not
		// the ledger's (its appends keep an entity in its unit), but a
		// forged one, whose unit the archive quarantines. It must not
		// become this entity's latest event.
		return
	}
	if !ok {
		i = uint32(len(x.slots))
		x.slots = append(x.slots, slot{seq0: seq, unit: unit, first: typ})
		x.ev[id] = i
	} else if e := &x.slots[i]; e.more == 0 {
		x.more = append(x.more, []uint64{seq})
		e.more = uint32(len(x.more))
	} else {
		x.more[e.more-1] = append(x.more[e.more-1], seq)
	}
	e := &x.slots[i]
	e.last = typ
	if v, err := strconv.ParseInt(h.version, 10, 32); err == nil {
		e.version = int32(v)
	}
}

// wait blocks until the index has applied seq.
func (x *index) wait(ctx context.Context, seq uint64) error {
	for {
		x.mu.Lock()
		applied, err := x.applied, x.err
		if applied >= seq {
			x.mu.Unlock()
			return nil
		}
		if x.changed == nil {
			x.changed = make(chan struct{})
		}
		ch := x.changed
		x.mu.Unlock()
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
	i, ok := x.ev[id]
	if !ok {
		return nil
	}
	e := &x.slots[i]
	var more []uint64
	if e.more != 0 {
		more = x.more[e.more-1]
	}
	seqs := make([]uint64, 0, 1+len(more))
	seqs = append(append(seqs, e.seq0), more...)
	return &entry{unit: x.names[e.unit], seqs: seqs, version: int(e.version),
		first: events.Type(x.names[e.first]), last: events.Type(x.names[e.last])}
}

// awaitFeed returns once the index has applied target, no feeder has
// advanced it for a whole patience, or ctx is done.
func (x *index) awaitFeed(ctx context.Context, target uint64, patience time.Duration) {
	x.mu.Lock()
	if x.applied >= target {
		x.mu.Unlock()
		return
	}
	caught := make(chan struct{})
	x.caught, x.target = caught, target
	last := x.applied
	x.mu.Unlock()
	defer func() {
		x.mu.Lock()
		if x.caught == caught {
			x.caught = nil
		}
		x.mu.Unlock()
	}()
	tick := time.NewTicker(patience)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-caught:
			return
		case <-tick.C:
		}
		x.mu.Lock()
		applied := x.applied
		x.mu.Unlock()
		if applied == last { // no feeder for a whole patience
			return
		}
		last = applied
	}
}

// follow keeps the index up to date until ctx is done, restarting after
// errors. With Config.IndexFeed set it first lets a projection's Follow
// feed the index through the catch-up to the stream's last sequence at
// Open (see index.feed), so that the server delivers each message of a
// long ledger once at start, not twice, and starts its own consumer from
// there; if the Follow stalls for IndexFeed, the own consumer takes over
// at once from where the index stands.
func (l *Ledger) follow(ctx context.Context) {
	if l.cfg.IndexFeed > 0 {
		if info := l.stream.CachedInfo(); info != nil {
			l.idx.awaitFeed(ctx, info.State.LastSeq, l.cfg.IndexFeed)
		}
	}
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

package jetstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	js "github.com/nats-io/nats.go/jetstream"

	"taizhang/events"
	"taizhang/internal/parallel"
)

// History returns a unit's events in ledger order. If asOf is not zero, only
// the events recorded at or before asOf are returned: what the ledger held
// then. A unit with no events gives an error wrapping events.ErrNotFound.
// A message that does not decode ends the history with an error wrapping
// events.ErrQuarantined and events.ErrInvalid, returned together with the
// events before it (which a caller may serve as the unit's sound prefix).
func (l *Ledger) History(ctx context.Context, unit string, asOf time.Time) ([]events.Record, error) {
	if err := checkChain(unit); err != nil {
		return nil, err
	}
	recs, err := l.read(ctx, l.UnitSubjects(unit), asOf)
	if err != nil {
		return recs, fmt.Errorf("history of unit %s: %w", unit, err)
	}
	if len(recs) == 0 {
		if _, ok, err := l.UnitHead(ctx, unit); err != nil && !errors.Is(err, events.ErrInvalid) {
			return nil, err
		} else if !ok {
			return nil, fmt.Errorf("unit %s: %w", unit, events.ErrNotFound)
		}
	}
	return recs, nil
}

// checkChain returns an error wrapping events.ErrInvalid unless unit is a
// unit id or one of the ledger's own chains (plans, users).
func checkChain(unit string) error {
	if unit == events.PlansChain || unit == events.UsersChain {
		return nil
	}
	return events.ValidUnitID(unit)
}

// StoredHistory hands a chain's events to fn as they are stored, in
// ledger order, without decoding them: each message's stream sequence and
// bytes (fn may keep data), up to the chain's last event at the time of
// the call, until fn returns an error. It is for checks that read the
// stored bytes themselves (events.CheckStored); History is the decoded
// view of the same messages. A chain with no events gives an error
// wrapping events.ErrNotFound, as History does.
func (l *Ledger) StoredHistory(ctx context.Context, unit string, fn func(seq uint64, data []byte) error) error {
	if err := checkChain(unit); err != nil {
		return err
	}
	filter := l.UnitSubjects(unit)
	last, err := l.stream.GetLastMsgForSubject(ctx, filter)
	if errors.Is(err, js.ErrMsgNotFound) {
		return fmt.Errorf("unit %s: %w", unit, events.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("history of unit %s: %w", unit, unavailable(err))
	}
	err = l.scanChain(ctx, filter, 1, last.Sequence, func(seq uint64, data []byte) (bool, error) {
		return true, fn(seq, data)
	})
	if err != nil {
		return fmt.Errorf("history of unit %s: %w", unit, err)
	}
	return nil
}

// Units returns the id of every chain in the ledger, sorted: the units
// and events.PlansChain and events.UsersChain if any plan was published or
// user recorded.
func (l *Ledger) Units(ctx context.Context) ([]string, error) {
	info, err := l.stream.Info(ctx, js.WithSubjectFilter(l.cfg.Prefix+".>"))
	if err != nil {
		return nil, fmt.Errorf("list chains: %w", unavailable(err))
	}
	out := make([]string, 0, len(info.State.Subjects))
	for subj := range info.State.Subjects {
		out = append(out, strings.TrimPrefix(subj, l.cfg.Prefix+"."))
	}
	slices.Sort(out)
	return out, nil
}

// read returns the events on filter in order, up to the filter's last
// message at the time of the call; with asOf set it stops at the first event
// recorded after asOf (recorded_at is monotonic along a unit's chain).
func (l *Ledger) read(ctx context.Context, filter string, asOf time.Time) ([]events.Record, error) {
	last, err := l.stream.GetLastMsgForSubject(ctx, filter)
	if errors.Is(err, js.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filter, unavailable(err))
	}
	end := last.Sequence
	var recs []events.Record
	if asOf.IsZero() {
		// Everything up to end: read the raw messages, then decode them on
		// all cores (decoding costs more than reading).
		var raws []raw
		err = l.scanChain(ctx, filter, 1, end, func(seq uint64, data []byte) (bool, error) {
			raws = append(raws, raw{seq, data})
			return true, nil
		})
		if err != nil {
			return nil, err
		}
		return decodeAll(raws)
	}
	err = l.scanChain(ctx, filter, 1, end, func(seq uint64, data []byte) (bool, error) {
		ev, err := events.Decode(data)
		if err != nil {
			return false, undecodable(seq, data, err)
		}
		if ev.RecordedAt.After(asOf) {
			return false, nil // recorded_at is monotonic along a chain
		}
		recs = append(recs, events.Record{Seq: seq, Event: ev})
		return true, nil
	})
	return recs, err
}

// undecodable is the error of a read that met a message at seq that does
// not decode.
func undecodable(seq uint64, data []byte, err error) error {
	return &events.UndecodableError{Seq: seq, Err: err, Digest: events.StoredDigest(data)}
}

type raw struct {
	seq  uint64
	data []byte
}

// decodeAll decodes raws in order, on all cores for long reads. At the
// first message that does not decode it returns the records before it and
// the error (see undecodable).
func decodeAll(raws []raw) ([]events.Record, error) {
	recs := make([]events.Record, len(raws))
	errs := make([]error, len(raws))
	parallel.Chunks(len(raws), 256, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			ev, err := events.Decode(raws[k].data)
			if err != nil {
				errs[k] = undecodable(raws[k].seq, raws[k].data, err)
				continue
			}
			recs[k] = events.Record{Seq: raws[k].seq, Event: ev}
		}
	})
	for k, err := range errs {
		if err != nil {
			return recs[:k:k], err
		}
	}
	return recs, nil
}

// errEnough stops consume without an error.
var errEnough = errors.New("enough")

// scan delivers the messages on filter from sequence from up to and
// including end to fn in order with an ordered consumer, until fn returns
// false or an error.
func (l *Ledger) scan(ctx context.Context, filter string, from, end uint64, fn func(seq uint64, data []byte) (bool, error)) error {
	cfg := js.OrderedConsumerConfig{FilterSubjects: []string{filter}, DeliverPolicy: js.DeliverByStartSequencePolicy, OptStartSeq: from}
	if from <= 1 {
		cfg.DeliverPolicy, cfg.OptStartSeq = js.DeliverAllPolicy, 0
	}
	err := l.consume(ctx, cfg, func(m js.Msg) error {
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("read %s: %w", filter, err)
		}
		seq := md.Sequence.Stream
		if seq > end {
			return errEnough
		}
		more, err := fn(seq, m.Data())
		if err != nil {
			return err
		}
		if !more || seq == end {
			return errEnough
		}
		return nil
	})
	if errors.Is(err, errEnough) {
		return nil
	}
	return err
}

// scanChain is scan for a chain's own subject (filter is
// UnitSubjects(chain)): from the history cache if it holds the read, else
// from the stream.
func (l *Ledger) scanChain(ctx context.Context, filter string, from, end uint64, fn func(seq uint64, data []byte) (bool, error)) error {
	if l.hist != nil {
		if chain, ok := strings.CutPrefix(filter, l.cfg.Prefix+"."); ok {
			if err := l.hist.scan(chain, from, end, fn); !errors.Is(err, errNotCached) {
				return err
			}
		}
	}
	return l.scan(ctx, filter, from, end, fn)
}

// consume runs an ordered consumer with cfg and hands each message to fn
// until ctx is done (its error is returned) or fn returns an error. The
// consumer is deleted when it ends.
func (l *Ledger) consume(ctx context.Context, cfg js.OrderedConsumerConfig, fn func(js.Msg) error) error {
	return l.consumeStream(ctx, l.stream, cfg, fn)
}

// consumeStream is consume on any of the ledger's streams (the ledger's or
// the checkpoints').
func (l *Ledger) consumeStream(ctx context.Context, st js.Stream, cfg js.OrderedConsumerConfig, fn func(js.Msg) error) error {
	// The consumer is deleted when consume ends; the inactivity threshold
	// only catches one whose delete was lost. The server allows a limited
	// number of consumers per stream, so none may linger for minutes.
	cfg.InactiveThreshold = 10 * time.Second
	what := fmt.Sprint(cfg.FilterSubjects)
	if info := st.CachedInfo(); len(cfg.FilterSubjects) == 0 && info != nil {
		what = "stream " + info.Config.Name
	}
	cons, err := st.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("read %s: %w", what, unavailable(err))
	}
	// A short expiry means frequent heartbeats, so a consumer lost with a
	// cluster node is noticed and recreated within seconds.
	it, err := cons.Messages(js.PullMaxMessages(512), js.PullExpiry(5*time.Second))
	if err != nil {
		return fmt.Errorf("read %s: %w", what, unavailable(err))
	}
	defer func() {
		it.Stop()
		if info := cons.CachedInfo(); info != nil {
			l.reap(st, info.Name)
		}
	}()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("read %s: %w", what, unavailable(err))
		}
		if err := fn(m); err != nil {
			return err
		}
	}
}

// reap deletes a finished read's consumer in the background, so that reads
// never pile up consumers on the stream.
func (l *Ledger) reap(st js.Stream, name string) {
	l.reaping.Add(1)
	go func() {
		defer l.reaping.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = st.DeleteConsumer(ctx, name)
	}()
}

// Follow delivers every message of the ledger from sequence from (1 for
// all) in order to fn, and then each new one as it is appended, until ctx
// is done or fn returns an error. It is how projections keep up.
//
// Each message is checked as it is delivered (see check): one that is not
// a sound event of the chain its subject names comes with Record.Damage
// set instead of stopping Follow, so that a projection can quarantine that
// chain and go on with the others. Whether an event links to its chain's
// previous one is for the fold to check: it knows the chain's head.
//
// Follow also feeds the ledger's id index with what it delivers, where the
// index has not applied it yet (see Config.IndexFeed).
//
// With Config.HistoryDir and a copy of the stream kept by the last run
// that Open found sound, the messages the copy holds come from local disk
// instead of the server (histCache.replay), checked on all cores the same
// way; a message the check finds damaged is read from the stream too, and
// if the two differ the copy is dropped and Follow goes on from the
// server at that message. What Follow delivers is the same either way.
func (l *Ledger) Follow(ctx context.Context, from uint64, fn func(events.Record) error) error {
	prev := max(from, 1) - 1 // the sequence delivered before the next message
	if l.hist != nil {
		// What the history copy kept from the last run, from local disk.
		last, err := l.hist.replay(ctx, from, prev, func(batch []copied) {
			parallel.Chunks(len(batch), 64, func(lo, hi int) {
				for i := range batch[lo:hi] {
					m := &batch[lo+i]
					m.rec = l.check(m.seq, m.subject, m.data)
					m.rec.Predecode() // off the fold's goroutine
				}
			})
		}, func(m *copied) error {
			if m.rec.Damage != nil {
				// The stream's own damage, or the copy's? Only the
				// stream's is the ledger's to report.
				if err := l.sameAsStream(ctx, m); err != nil {
					return err
				}
			}
			l.idx.feed(prev, m.seq, m.subject, m.h, l.cfg.Prefix)
			prev = m.seq
			return fn(m.rec)
		})
		if err != nil {
			return err
		}
		from, prev = last+1, last
	}
	// Unfiltered, as the id index's follow (see there).
	cfg := js.OrderedConsumerConfig{DeliverPolicy: js.DeliverByStartSequencePolicy, OptStartSeq: from}
	if from <= 1 {
		cfg.DeliverPolicy, cfg.OptStartSeq = js.DeliverAllPolicy, 0
	}
	return l.consume(ctx, cfg, func(m js.Msg) error {
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("follow the ledger: %w", err)
		}
		seq := md.Sequence.Stream
		h := headersOf(m.Headers())
		l.idx.feed(prev, seq, m.Subject(), h, l.cfg.Prefix) // the id index too, if it is here (see index.feed)
		if l.hist != nil {
			l.hist.feed(prev, seq, m.Subject(), h, m.Data()) // and the history cache
		}
		prev = seq
		return fn(l.check(seq, m.Subject(), m.Data()))
	})
}

// sameAsStream reports whether a message the history copy holds is the
// one the stream holds at its sequence: nil if so, an error wrapping
// errCopyUnsound if not, or the error of the read.
func (l *Ledger) sameAsStream(ctx context.Context, m *copied) error {
	gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sm, err := l.msgs.GetMsg(gctx, m.seq)
	if err != nil {
		return fmt.Errorf("follow the ledger: read message %d: %w", m.seq, unavailable(err))
	}
	if sm.Subject != m.subject || !bytes.Equal(sm.Data, m.data) || headersOf(sm.Header) != m.h {
		return fmt.Errorf("message %d: %w", m.seq, errCopyUnsound)
	}
	return nil
}

// check returns the record of the message stored at seq on subject: its
// event, or Damage if the message is not a sound event of the chain its
// subject names. That is: its subject is a chain's own (prefix.<chain>,
// nothing below it), it decodes, its hash matches its content
// (events.CheckStored, one SHA-256 over the stored bytes for events in
// canonical form) and it names that chain. The event's data may alias
// data.
func (l *Ledger) check(seq uint64, subject string, data []byte) events.Record {
	chain, ok := strings.CutPrefix(subject, l.cfg.Prefix+".")
	if !ok {
		return events.Record{Seq: seq, Damage: &events.Damage{Unit: subject, Reason: "stored outside the ledger's subjects"}}
	}
	if unit, rest, below := strings.Cut(chain, "."); below {
		return events.Record{Seq: seq, Damage: &events.Damage{Unit: unit,
			Reason: fmt.Sprintf("stored on subject %s, below the unit's own subject (%q is not a chain)", subject, unit+"."+rest)}}
	}
	ev, err := events.CheckStored(data)
	if ev == nil {
		return events.Record{Seq: seq, Damage: &events.Damage{Unit: chain, Reason: fmt.Sprintf("does not decode as an event (%d bytes): %v", len(data), err)}}
	}
	if err != nil {
		return events.Record{Seq: seq, Event: ev, Damage: &events.Damage{Unit: chain, Reason: err.Error()}}
	}
	if ev.Unit != chain {
		return events.Record{Seq: seq, Event: ev, Damage: &events.Damage{Unit: chain,
			Reason: fmt.Sprintf("event %s names unit %q but is stored on %q's subject", ev.ID, ev.Unit, chain)}}
	}
	return events.Record{Seq: seq, Event: ev}
}

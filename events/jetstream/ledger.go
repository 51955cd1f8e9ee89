// Package jetstream is taizhang's ledger on NATS JetStream: one file-storage
// stream that denies deletes and purges and has no limits, with one subject
// per unit (tz.ev.<unit>) so that a unit's history is a subject-filtered
// read. Appends to a unit are serialised with the expected-last-subject-
// sequence check on that subject, so the per-unit hash chain cannot fork.
// Evidence creation is idempotent forever: an index of every evidence id,
// built from the stream's headers, is consulted after the unit's head is
// read and before a publish that expects that head.
package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"taizhang/events"
)

// Defaults for Config.
const (
	DefaultStream = "TAIZHANG_LEDGER"
	DefaultPrefix = "tz.ev"
)

// Config configures a Ledger.
type Config struct {
	// Stream is the stream name; DefaultStream if empty.
	Stream string
	// Prefix is the subject prefix; DefaultPrefix if empty.
	Prefix string
	// Replicas is the stream's replica count: 1 embedded, 3 in a cluster.
	Replicas int
	// Now returns the time used for recorded_at; time.Now if nil.
	Now func() time.Time
	// MaxAttempts bounds the retries of one append on concurrent
	// modification (64 if zero); past it the append fails with an error
	// wrapping events.ErrUnavailable.
	MaxAttempts int
	// Observe, if set, is told of every append that reached the stream:
	// the event's type, how long the append took (retries included) and
	// nil once it is stored, or the error that kept it out (the stream
	// unavailable, or giving up on concurrent writers). Refusals decided
	// before publishing (invalid, exists, already done) are not told.
	Observe func(typ events.Type, took time.Duration, err error)
	// IndexFeed, if set, says a projection will Follow the ledger from its
	// start at once (serve's archive does): the id index then takes the
	// catch-up to the stream's end at Open from that Follow's messages
	// instead of reading the stream a second time, and starts its own
	// consumer once caught up, or as soon as no Follow has fed it for
	// IndexFeed. Appends are decided exactly as without it.
	IndexFeed time.Duration
	// HistoryDir, if set, has the ledger keep a local copy of the
	// stream's messages in a file there, fed by a projection's Follow of
	// the stream from its start (as IndexFeed), and read a chain's history
	// (History, StoredHistory and the reads of the plans and users chains)
	// from it whenever it holds every message up to the chain's last;
	// otherwise from the stream, as without it. It costs about the
	// stream's size on disk and 16 bytes of memory an event; what it
	// returns is what the stream holds.
	//
	// The copy is kept for the next Open (saved every 30 s and at Close),
	// which checks it against the stream and, if it holds, has a Follow
	// from the start read the messages it holds from the file rather than
	// from the server: a restart at a million events replays the ledger
	// from local disk. A copy that does not hold is rebuilt.
	HistoryDir string
	// Log is told what became of the history copy; nil for none.
	Log *slog.Logger
}

// Ledger appends events to and reads them from the ledger stream. It is safe
// for concurrent use, also by several processes sharing one stream.
type Ledger struct {
	nc     *nats.Conn
	js     js.JetStream
	stream js.Stream
	cfg    Config

	mu      sync.Mutex
	units   map[string]*unitState
	reaping sync.WaitGroup // consumer deletions in flight

	idx          *index
	hist         *histCache                               // nil unless Config.HistoryDir
	saving       sync.WaitGroup                           // the history copy's saver
	loadPatience time.Duration                            // see loadSeq
	msgs         msgGetter                                // stream, unless a test injects faults
	writeCheck   atomic.Pointer[func(chain string) error] // see SetWriteCheck
	stopFollow   context.CancelFunc
	followDone   chan struct{}
}

// unitState caches a unit's chain head; mu serialises this process's appends
// to the unit (the stream's sequence check serialises across processes).
type unitState struct {
	mu    sync.Mutex
	known bool // head below is valid
	head  Head
}

// Head is the last event of a unit's chain.
type Head struct {
	Seq        uint64
	Hash       events.Hash
	RecordedAt time.Time
}

// Open creates the ledger stream, or checks that an existing one keeps the
// ledger's promises (file storage, deletes and purges denied, no rollups, no
// limits that would evict events), and returns a Ledger on it. The first
// stream call is retried for a while because JetStream may become ready
// after the connection does.
func Open(ctx context.Context, nc *nats.Conn, cfg Config) (*Ledger, error) {
	if cfg.Stream == "" {
		cfg.Stream = DefaultStream
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 64
	}
	j, err := js.New(nc)
	if err != nil {
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	want := js.StreamConfig{
		Name:        cfg.Stream,
		Description: "taizhang evidence ledger: append-only, never delete",
		Subjects:    []string{cfg.Prefix + ".>"},
		Storage:     js.FileStorage,
		Retention:   js.LimitsPolicy,
		Discard:     js.DiscardNew,
		MaxMsgs:     -1,
		MaxBytes:    -1,
		MaxAge:      0,
		MaxMsgSize:  events.MaxEventSize,
		Replicas:    cfg.Replicas,
		DenyDelete:  true,
		DenyPurge:   true,
		AllowRollup: false,
		Duplicates:  2 * time.Minute,
		// Direct gets skip the JetStream API queue (GOMAXPROCS workers
		// shared with every other API call). Only for one replica: with
		// more, followers answer too and may not yet hold the last write.
		AllowDirect: cfg.Replicas == 1,
	}
	var st js.Stream
	deadline := time.Now().Add(30 * time.Second)
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err = j.Stream(actx, cfg.Stream)
		if errors.Is(err, js.ErrStreamNotFound) {
			st, err = j.CreateStream(actx, want)
		}
		cancel()
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			break
		}
		var apiErr *js.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode != js.JSErrCodeJetStreamNotEnabled && apiErr.ErrorCode != js.JSErrCodeJetStreamNotEnabledForAccount {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open ledger stream %s: %w", cfg.Stream, unavailable(err))
	}
	if err := checkConfig(st.CachedInfo().Config, want); err != nil {
		return nil, fmt.Errorf("open ledger stream %s: %w", cfg.Stream, err)
	}
	l := &Ledger{nc: nc, js: j, stream: st, cfg: cfg, units: map[string]*unitState{}, idx: newIndex(st.CachedInfo().State.Msgs), loadPatience: loadSeqPatience, msgs: st, followDone: make(chan struct{})}
	fctx, stop := context.WithCancel(context.Background())
	l.stopFollow = stop
	if cfg.HistoryDir != "" {
		l.hist = openHistCache(ctx, cfg.HistoryDir, cfg.Prefix, st, l.msgs, cfg.Log)
		l.saving.Go(func() { l.hist.keepSaving(fctx, cfg.Log) })
	}
	go func() { defer close(l.followDone); l.follow(fctx) }()
	return l, nil
}

// checkConfig refuses a stream that could lose or rewrite events.
func checkConfig(got, want js.StreamConfig) error {
	var bad []string
	if got.Storage != js.FileStorage {
		bad = append(bad, "storage is not file")
	}
	if !got.DenyDelete {
		bad = append(bad, "deletes are not denied")
	}
	if !got.DenyPurge {
		bad = append(bad, "purges are not denied")
	}
	if got.AllowRollup {
		bad = append(bad, "rollups are allowed")
	}
	if got.MaxMsgs > 0 || got.MaxBytes > 0 || got.MaxAge > 0 || got.MaxMsgsPerSubject > 0 {
		bad = append(bad, "it has limits that evict events")
	}
	if got.AllowDirect && got.Replicas > 1 {
		bad = append(bad, "direct gets are allowed on a replicated stream (followers may answer with stale reads)")
	}
	if got.Retention != js.LimitsPolicy {
		bad = append(bad, "retention is not limits")
	}
	if len(got.Subjects) != 1 || got.Subjects[0] != want.Subjects[0] {
		bad = append(bad, fmt.Sprintf("subjects are %v, want %v", got.Subjects, want.Subjects))
	}
	if len(bad) > 0 {
		return fmt.Errorf("existing stream is unsafe for a ledger: %s", strings.Join(bad, "; "))
	}
	return nil
}

// Close stops the id index, waits for background consumer deletions to
// finish and saves the history copy (Config.HistoryDir) for the next
// Open. The connection stays the caller's to close.
func (l *Ledger) Close() {
	l.stopFollow()
	<-l.followDone
	l.reaping.Wait()
	if l.hist != nil {
		l.saving.Wait()
		if err := l.hist.save(); err != nil {
			l.cfg.Log.Warn("history copy not saved: the next start reads the stream from the server", "err", err)
		}
		l.hist.close()
	}
}

// Stream returns the underlying JetStream stream (for tests and tools).
func (l *Ledger) Stream() js.Stream { return l.stream }

// JetStream returns the JetStream context the ledger uses.
func (l *Ledger) JetStream() js.JetStream { return l.js }

// UnitSubjects returns the subject of a unit's events.
func (l *Ledger) UnitSubjects(unit string) string { return l.cfg.Prefix + "." + unit }

func (l *Ledger) unit(unit string) *unitState {
	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.units[unit]
	if u == nil {
		u = &unitState{}
		l.units[unit] = u
	}
	return u
}

// errCodeMsgIDInProcess is JetStream's "duplicate message id is in
// process" (10158): a publish with the same Nats-Msg-Id is still being
// proposed to the stream's replicas.
const errCodeMsgIDInProcess js.ErrorCode = 10158

// unavailable marks transport failures as events.ErrUnavailable.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrConnectionClosed) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, js.ErrNoStreamResponse) || errors.Is(err, nats.ErrDisconnected) ||
		errors.Is(err, nats.ErrConnectionDraining) || errors.Is(err, nats.ErrNoServers) {
		return fmt.Errorf("%w: %w", events.ErrUnavailable, err)
	}
	return err
}

// loadSeq returns the record at seq, a sequence the id index has seen, so
// one that exists: the stream denies deletes. A stream leader elected a
// moment ago may not have applied it to its store yet and answer "message
// not found"; loadSeq asks again for up to loadSeqPatience and then fails
// with an error wrapping events.ErrUnavailable, never with a 404 for an event
// that is recorded.
func (l *Ledger) loadSeq(ctx context.Context, seq uint64) (*events.Record, error) {
	deadline := time.Now().Add(l.loadPatience)
	wait := 20 * time.Millisecond
	for {
		m, err := l.msgs.GetMsg(ctx, seq)
		if err == nil {
			return decodeRaw(m)
		}
		if !errors.Is(err, js.ErrMsgNotFound) {
			return nil, fmt.Errorf("load ledger message %d: %w", seq, unavailable(err))
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("load ledger message %d: the stream's leader has not applied it yet: %w: %w", seq, events.ErrUnavailable, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("load ledger message %d: %w", seq, unavailable(ctx.Err()))
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// msgGetter is the part of a stream loadSeq reads through.
type msgGetter interface {
	GetMsg(ctx context.Context, seq uint64, opts ...js.GetMsgOpt) (*js.RawStreamMsg, error)
}

// loadSeqPatience bounds how long loadSeq waits for a new stream leader to
// apply a message the index has seen.
const loadSeqPatience = 5 * time.Second

func decodeRaw(m *js.RawStreamMsg) (*events.Record, error) {
	ev, err := events.Decode(m.Data)
	if err != nil {
		return nil, fmt.Errorf("ledger message %d: %w", m.Sequence, err)
	}
	return &events.Record{Seq: m.Sequence, Event: ev}, nil
}

// head returns the unit's chain head, from the cache or the stream. ok is
// false if the unit has no events. A head read from the stream must be a
// sound event of the unit (see check): an append never links to a damaged
// or forged message, it fails with an error wrapping events.ErrQuarantined.
func (l *Ledger) head(ctx context.Context, unit string, u *unitState) (Head, bool, error) {
	if u.known {
		return u.head, u.head.Seq > 0, nil
	}
	m, err := l.stream.GetLastMsgForSubject(ctx, l.UnitSubjects(unit))
	if errors.Is(err, js.ErrMsgNotFound) {
		u.known, u.head = true, Head{}
		return u.head, false, nil
	}
	if err != nil {
		return Head{}, false, fmt.Errorf("load last on %s: %w", l.UnitSubjects(unit), unavailable(err))
	}
	r := l.check(m.Sequence, m.Subject, m.Data)
	if r.Damage != nil {
		return Head{}, false, &events.QuarantinedError{Quarantine: events.Quarantine{Unit: unit, Seq: r.Seq, Reason: r.Damage.Reason, Good: -1}}
	}
	u.known = true
	u.head = Head{Seq: r.Seq, Hash: r.Event.Hash, RecordedAt: r.Event.RecordedAt}
	return u.head, true, nil
}

// Head returns the unit's chain head; ok is false if it has no events. It
// fails with an error wrapping events.ErrQuarantined if the unit's last
// message is not a sound event of it.
func (l *Ledger) Head(ctx context.Context, unit string) (h Head, ok bool, err error) {
	if err := events.ValidUnitID(unit); err != nil {
		return Head{}, false, err
	}
	u := l.unit(unit)
	u.mu.Lock()
	defer u.mu.Unlock()
	u.known = false // always read the stream: another process may have appended
	return l.head(ctx, unit, u)
}

// UnitHead returns the sequence of the unit's last message; ok is false if
// the unit has none. It does not decode the message, so that reads of a
// quarantined unit still find where its chain ends.
func (l *Ledger) UnitHead(ctx context.Context, unit string) (seq uint64, ok bool, err error) {
	if err := events.ValidUnitID(unit); err != nil {
		return 0, false, err
	}
	m, err := l.stream.GetLastMsgForSubject(ctx, l.UnitSubjects(unit))
	if errors.Is(err, js.ErrMsgNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("load last on %s: %w", l.UnitSubjects(unit), unavailable(err))
	}
	return m.Sequence, true, nil
}

// LastSeq returns the last sequence in the whole stream.
func (l *Ledger) LastSeq(ctx context.Context) (uint64, error) {
	info, err := l.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("ledger stream info: %w", unavailable(err))
	}
	return info.State.LastSeq, nil
}

// Ping reports whether the stream answers.
func (l *Ledger) Ping(ctx context.Context) error {
	_, err := l.LastSeq(ctx)
	return err
}

// tx is what a decide function sees of the state it decides on.
type tx struct {
	l          *Ledger
	ctx        context.Context
	unitExists bool
}

// op is one append: decide looks at the current state and returns the event
// to append, or an error. It may be called more than once if another writer
// appends to the unit in between.
type op struct {
	unit   string
	entity uuid.UUID // the evidence item or finding the event is about, if any
	decide func(t *tx) (*events.Event, error)
}

// errDone is returned by a decide function that found its work already done;
// done is what to answer.
type errDone struct{ rec *events.Record }

func (e *errDone) Error() string { return "already done" }

// SetWriteCheck makes every append first ask check about the chain (a
// unit, events.PlansChain or events.UsersChain) it would append to; an
// error from check refuses the append and is returned as it is. serve
// passes the archive's CheckWritable, so that a quarantined unit takes no
// writes (an error wrapping events.ErrQuarantined). nil removes the check.
func (l *Ledger) SetWriteCheck(check func(chain string) error) {
	if check == nil {
		l.writeCheck.Store(nil)
		return
	}
	l.writeCheck.Store(&check)
}

func (l *Ledger) append(ctx context.Context, o op) (*events.Record, bool, error) {
	if check := l.writeCheck.Load(); check != nil {
		if err := (*check)(o.unit); err != nil {
			return nil, false, err
		}
	}
	start := time.Now()
	u := l.unit(o.unit)
	u.mu.Lock()
	defer u.mu.Unlock()
	var lastErr error
	var typ events.Type
	for attempt := 0; attempt < l.cfg.MaxAttempts; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		h, exists, err := l.head(ctx, o.unit, u)
		if err != nil {
			return nil, false, err
		}
		if err := l.waitIndex(ctx, h.Seq); err != nil {
			return nil, false, err
		}
		ev, err := o.decide(&tx{l: l, ctx: ctx, unitExists: exists})
		var done *errDone
		if errors.As(err, &done) {
			return done.rec, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		now := l.cfg.Now().UTC()
		if now.Before(h.RecordedAt) { // keep recorded_at monotonic along the chain
			now = h.RecordedAt
		}
		ev.RecordedAt = now
		typ = ev.Type
		ev.Schema = events.SchemaVersion
		ev.Unit = o.unit
		data, err := ev.SealStored(h.Hash)
		if err != nil {
			return nil, false, err
		}
		if err := ev.Validate(); err != nil {
			return nil, false, err
		}
		if len(data) > events.MaxEventSize {
			return nil, false, fmt.Errorf("%w: event of %d bytes exceeds %d", events.ErrInvalid, len(data), events.MaxEventSize)
		}
		msg := &nats.Msg{Subject: l.UnitSubjects(o.unit), Data: data, Header: nats.Header{}}
		msg.Header.Set(hdrType, string(ev.Type))
		msg.Header.Set(hdrHash, ev.Hash.String())
		if o.entity != uuid.Nil {
			msg.Header.Set(hdrEntity, o.entity.String())
			msg.Header.Set(hdrVersion, strconv.Itoa(ev.EntityVersion()))
		}
		ack, err := l.js.PublishMsg(ctx, msg,
			js.WithMsgID(ev.ID.String()),
			js.WithExpectLastSequencePerSubject(h.Seq),
		)
		if err == nil {
			if ack.Duplicate {
				// The same event id was published moments ago (a lost ack);
				// re-read the head and let decide find its work done.
				u.known = false
				lastErr = fmt.Errorf("duplicate publish of %s", ev.ID)
				continue
			}
			u.head = Head{Seq: ack.Sequence, Hash: ev.Hash, RecordedAt: ev.RecordedAt}
			u.known = true
			l.observe(typ, start, nil)
			return &events.Record{Seq: ack.Sequence, Event: ev}, true, nil
		}
		u.known = false
		var apiErr *js.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == js.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == js.JSErrCodeStreamWrongLastSequenceConstant) {
			// Another writer appended to this unit, or a stream leader
			// elected a moment ago answered the head read before applying
			// what it had: decide again, after a pause that grows from the
			// third attempt on, so that a lagging leader has time to catch up.
			lastErr = err
			if err := retryPause(ctx, attempt); err != nil {
				return nil, false, err
			}
			continue
		}
		if errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeMsgIDInProcess {
			// A publish of this same event id (an earlier attempt that
			// timed out while the stream changed leader) is still being
			// replicated: wait a moment, then re-read the head, so that
			// decide finds it recorded or the publish is tried again.
			lastErr = err
			select {
			case <-ctx.Done():
				return nil, false, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		if errors.As(err, &apiErr) && apiErr.ErrorCode == js.JSErrCodeStreamMessageExceedsMaximum {
			return nil, false, fmt.Errorf("%w: event too large", events.ErrInvalid)
		}
		err = fmt.Errorf("append %s %s: %w", ev.Type, ev.ID, unavailable(err))
		l.observe(typ, start, err)
		return nil, false, err
	}
	// Still contended or still catching up: a passing state, answered as
	// unavailable (try again), never as an internal error.
	err := fmt.Errorf("%w: append to unit %s: gave up after %d attempts: %w", events.ErrUnavailable, o.unit, l.cfg.MaxAttempts, lastErr)
	if typ != "" {
		l.observe(typ, start, err)
	}
	return nil, false, err
}

// retryPause waits before attempt+1 of an append that lost a race on the
// unit's head: not at all for the first two attempts (plain contention
// resolves at once), then 5 ms doubling to at most 200 ms, so that 64
// attempts span several seconds of a leader election rather than a few
// milliseconds. It returns ctx's error if ctx ends first.
func retryPause(ctx context.Context, attempt int) error {
	if attempt < 2 {
		return nil
	}
	d := 5 * time.Millisecond << min(attempt-2, 6)
	d = min(d, 200*time.Millisecond)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// observe tells Config.Observe, if set, of an append that began at start.
func (l *Ledger) observe(typ events.Type, start time.Time, err error) {
	if l.cfg.Observe != nil {
		l.cfg.Observe(typ, time.Since(start), err)
	}
}

// RegisterUnit appends a unit.registered event. It returns an error wrapping
// events.ErrExists if the unit already has events, and events.ErrInvalid
// for a bad id or payload.
func (l *Ledger) RegisterUnit(ctx context.Context, id string, u events.UnitRegistered, actor events.Actor, client events.Client) (*events.Record, error) {
	if err := events.ValidUnitID(id); err != nil {
		return nil, err
	}
	if err := u.Validate(); err != nil {
		return nil, err
	}
	evID, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	rec, _, err := l.append(ctx, op{
		unit: id,
		decide: func(t *tx) (*events.Event, error) {
			if t.unitExists {
				return nil, fmt.Errorf("register unit %s: %w", id, events.ErrExists)
			}
			ev := &events.Event{ID: evID, Type: events.TypeUnitRegistered, Actor: actor, Client: client, OccurredAt: l.cfg.Now()}
			return ev, ev.SetData(u)
		},
	})
	return rec, err
}

// SubmitEvidence appends an evidence.submitted event whose id is the
// evidence id. If that evidence id was already submitted to this unit, at any
// time, it appends nothing and returns the original record with created
// false. It returns events.ErrNotFound if the unit is not registered,
// events.ErrExists if the id is used by an evidence item of another unit, and
// events.ErrInvalid for bad content, and also events.ErrBadSignature for a
// device signature that is malformed or does not verify over the content
// (see checkDevice).
func (l *Ledger) SubmitEvidence(ctx context.Context, s events.Submission) (rec *events.Record, created bool, err error) {
	if err := events.ValidUnitID(s.Unit); err != nil {
		return nil, false, err
	}
	if err := s.Evidence.Validate(); err != nil {
		return nil, false, err
	}
	if s.Device != nil {
		if err := checkDevice(&s); err != nil {
			return nil, false, err
		}
	}
	if s.ID == uuid.Nil {
		if s.ID, err = uuid.NewV7(); err != nil {
			return nil, false, err
		}
	}
	return l.append(ctx, op{
		unit:   s.Unit,
		entity: s.ID,
		decide: func(t *tx) (*events.Event, error) {
			// The index has applied the unit's head, and the publish
			// expects that head, so "no event with this id" holds up to the
			// moment the event lands.
			if e := l.idx.lookup(s.ID); e != nil {
				if e.unit != s.Unit || e.first != events.TypeEvidenceSubmitted { // an id is global
					return nil, fmt.Errorf("submit evidence %s: id already used in another unit or for a finding: %w", s.ID, events.ErrExists)
				}
				first, err := l.loadSeq(t.ctx, e.seqs[0])
				if err != nil {
					return nil, err
				}
				return nil, &errDone{rec: first} // already submitted: answer with the submission
			}
			if !t.unitExists {
				return nil, fmt.Errorf("unit %s: %w", s.Unit, events.ErrNotFound)
			}
			if err := l.checkFinding(s.Unit, s.Evidence.Finding); err != nil {
				return nil, err
			}
			ev := &events.Event{ID: s.ID, Type: events.TypeEvidenceSubmitted, Actor: s.Actor, Client: s.Client,
				OccurredAt: s.OccurredAt, Attachments: s.Attachments}
			return ev, ev.SetData(events.EvidenceSubmitted{Evidence: s.Evidence, Version: 1, Device: s.Device})
		},
	})
}

// AmendEvidence appends an evidence.amended event. It returns
// events.ErrNotFound if the unit or the evidence does not exist,
// events.ErrConflict if ExpectedVersion is not the current version or the
// evidence is retracted, and events.ErrInvalid for a missing reason or bad
// changes.
func (l *Ledger) AmendEvidence(ctx context.Context, c events.Correction) (*events.Record, error) {
	if c.Changes.Empty() && len(c.Attachments) == 0 {
		return nil, fmt.Errorf("%w: an amendment must change something", events.ErrInvalid)
	}
	if err := c.Changes.Validate(); err != nil {
		return nil, err
	}
	return l.correct(ctx, c, events.TypeEvidenceAmended)
}

// RetractEvidence appends an evidence.retracted event; errors as for
// AmendEvidence. The retracted item stays in the ledger and the archive,
// marked as retracted.
func (l *Ledger) RetractEvidence(ctx context.Context, c events.Correction) (*events.Record, error) {
	return l.correct(ctx, c, events.TypeEvidenceRetracted)
}

func (l *Ledger) correct(ctx context.Context, c events.Correction, typ events.Type) (*events.Record, error) {
	if err := events.ValidUnitID(c.Unit); err != nil {
		return nil, err
	}
	if strings.TrimSpace(c.Reason) == "" {
		return nil, fmt.Errorf("%w: a reason is required", events.ErrInvalid)
	}
	if len([]rune(c.Reason)) > events.MaxReasonLen {
		return nil, fmt.Errorf("%w: reason longer than %d characters", events.ErrInvalid, events.MaxReasonLen)
	}
	if c.ExpectedVersion < 1 {
		return nil, fmt.Errorf("%w: expected_version is required", events.ErrInvalid)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	rec, _, err := l.append(ctx, op{
		unit:   c.Unit,
		entity: c.Evidence,
		decide: func(t *tx) (*events.Event, error) {
			if !t.unitExists {
				return nil, fmt.Errorf("unit %s: %w", c.Unit, events.ErrNotFound)
			}
			e := l.idx.lookup(c.Evidence)
			if e == nil || e.unit != c.Unit || e.first != events.TypeEvidenceSubmitted {
				return nil, fmt.Errorf("evidence %s in unit %s: %w", c.Evidence, c.Unit, events.ErrNotFound)
			}
			last, err := l.loadSeq(t.ctx, e.seqs[len(e.seqs)-1])
			if err != nil {
				return nil, err
			}
			if last.Event.ID == id { // our own earlier attempt landed
				return nil, &errDone{rec: last}
			}
			if last.Event.Type == events.TypeEvidenceRetracted {
				return nil, fmt.Errorf("evidence %s is retracted: %w", c.Evidence, events.ErrConflict)
			}
			cur := last.Event.EntityVersion()
			if cur != c.ExpectedVersion {
				return nil, fmt.Errorf("evidence %s is at version %d, not %d: %w", c.Evidence, cur, c.ExpectedVersion, events.ErrConflict)
			}
			corrects := c.Evidence
			ev := &events.Event{ID: id, Type: typ, Actor: c.Actor, Client: c.Client, OccurredAt: l.cfg.Now(),
				Corrects: &corrects, Reason: c.Reason}
			if typ == events.TypeEvidenceAmended {
				ev.Attachments = c.Attachments
				return ev, ev.SetData(events.EvidenceAmended{Changes: c.Changes, Version: cur + 1})
			}
			return ev, ev.SetData(events.EvidenceRetracted{Version: cur + 1})
		},
	})
	return rec, err
}

// Evidence returns the records of one evidence item in order (its
// submission and every correction), or events.ErrNotFound.
func (l *Ledger) Evidence(ctx context.Context, unit string, id uuid.UUID) ([]events.Record, error) {
	head, ok, err := l.UnitHead(ctx, unit)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("unit %s: %w", unit, events.ErrNotFound)
	}
	if err := l.waitIndex(ctx, head); err != nil {
		return nil, err
	}
	e := l.idx.lookup(id)
	if e == nil || e.unit != unit {
		return nil, fmt.Errorf("%s in unit %s: %w", id, unit, events.ErrNotFound)
	}
	recs := make([]events.Record, 0, len(e.seqs))
	for _, seq := range e.seqs {
		r, err := l.loadSeq(ctx, seq)
		if err != nil {
			return nil, err
		}
		recs = append(recs, *r)
	}
	return recs, nil
}

// waitIndex waits, for at most 30 seconds, until the id index has applied
// seq.
func (l *Ledger) waitIndex(ctx context.Context, seq uint64) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return l.idx.wait(ctx, seq)
}

// Package natsaccess keeps taizhang's access log on its own JetStream
// stream, apart from the evidence ledger: one JSON entry per request (who,
// what, which unit, when, from where, and how it ended), stored as JSON
// lines, several entries per message under load. Entries are published in
// the background, so that recording a read does not slow it
// down, and everything recorded is published before Close returns.
package natsaccess

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"taizhang/auth"
)

// Stream and Subject are where the access log lives.
const (
	Stream  = "TAIZHANG_ACCESS"
	Subject = "tz.access"
)

// Log is a auth.AccessLog and auth.AccessReader on JetStream.
type Log struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	log    *slog.Logger

	mu     sync.RWMutex
	closed bool
	ch     chan auth.AccessEntry
	done   chan struct{}
}

// Open creates or opens the access log stream (file storage, no deletes or
// purges, kept as long as the ledger) and starts the background writer.
func Open(ctx context.Context, js jetstream.JetStream, replicas int, log *slog.Logger) (*Log, error) {
	if replicas == 0 {
		replicas = 1
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: Stream, Description: "taizhang access log", Subjects: []string{Subject},
		Storage: jetstream.FileStorage, Replicas: replicas, DenyDelete: true, DenyPurge: true,
	})
	if err != nil {
		return nil, fmt.Errorf("open access log stream: %w", err)
	}
	l := &Log{js: js, stream: st, log: log, ch: make(chan auth.AccessEntry, 8192), done: make(chan struct{})}
	go l.run()
	return l, nil
}

// Record queues e. If thousands of entries are already waiting (NATS has
// been away for a while) it waits a moment, then writes the entry to the
// process log instead, so that requests do not hang on the access log and
// no entry vanishes silently.
func (l *Log) Record(e auth.AccessEntry) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		l.log.Error("access log closed; entry written to the log instead", "entry", e)
		return
	}
	select {
	case l.ch <- e:
		return
	default:
	}
	t := time.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	select {
	case l.ch <- e:
	case <-t.C:
		l.log.Error("access log backlog full; entry written to the log instead", "entry", e)
	}
}

// Close publishes what is queued and stops the writer. If NATS does not
// take the entries within closeWait, those still queued are written to the
// process log instead, so that shutdown neither hangs nor loses them.
func (l *Log) Close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.ch)
	}
	l.mu.Unlock()
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-l.done:
		return
	case <-t.C:
	}
	n := 0
	for e := range l.ch { // shares the rest with the writer, which may still be retrying a batch
		l.log.Error("access log: entry not stored at shutdown; it is here instead", "entry", e)
		n++
	}
	l.log.Error("access log: NATS did not take the queued entries before shutdown", "written_to_log", n)
}

// closeWait is how long Close waits for NATS to take the queued entries.
var closeWait = 20 * time.Second

// run publishes queued entries in batches: one message holds the entries
// (JSON lines) that arrived within batchWait of the first, up to batchMax,
// so that under load the log costs one stored message per batch, not per
// request. A batch whose publish fails is retried, and after that written
// to the process log so it is not lost silently.
func (l *Log) run() {
	defer close(l.done)
	var buf bytes.Buffer
	for e := range l.ch {
		buf.Reset()
		n := 0
		add := func(e auth.AccessEntry) {
			b, err := json.Marshal(e)
			if err != nil {
				l.log.Error("access log: encode", "err", err)
				return
			}
			buf.Write(b)
			buf.WriteByte('\n')
			n++
		}
		add(e)
		deadline := time.NewTimer(batchWait)
	gather:
		for n < batchMax && buf.Len() < batchBytes {
			select {
			case e, ok := <-l.ch:
				if !ok {
					break gather
				}
				add(e)
			case <-deadline.C:
				break gather
			}
		}
		deadline.Stop()
		l.publish(buf.Bytes())
	}
}

// Batching limits.
const (
	batchWait  = 20 * time.Millisecond
	batchMax   = 512
	batchBytes = 512 << 10
)

func (l *Log) publish(b []byte) {
	var err error
	for try := 0; try < 4; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = l.js.Publish(ctx, Subject, b)
		cancel()
		if err == nil {
			return
		}
		time.Sleep(time.Duration(try+1) * 200 * time.Millisecond)
	}
	l.log.Error("access log: entries not stored; they are here instead", "entries", string(b), "err", err)
}

// ListAccess returns the entries f selects, oldest first, at most f.Limit
// of them (the newest).
func (l *Log) ListAccess(ctx context.Context, f auth.AccessFilter) ([]auth.AccessEntry, error) {
	info, err := l.stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("access log: %w", err)
	}
	end := info.State.LastSeq
	if info.State.Msgs == 0 {
		return nil, nil
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{Subject}, InactiveThreshold: 10 * time.Second}
	if !f.Since.IsZero() {
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &f.Since
	}
	cons, err := l.stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("access log: %w", err)
	}
	defer func() {
		if ci := cons.CachedInfo(); ci != nil {
			dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = l.stream.DeleteConsumer(dctx, ci.Name)
			cancel()
		}
	}()
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	var out []auth.AccessEntry
	for {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, fmt.Errorf("access log: %w", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return nil, fmt.Errorf("access log: %w", err)
			}
			var e auth.AccessEntry
			for line := range bytes.Lines(m.Data()) {
				e = auth.AccessEntry{} // fields an entry omits must not come from the one before
				if json.Unmarshal(line, &e) == nil && f.Match(e) {
					out = append(out, e)
					if len(out) > 2*limit {
						out = append(out[:0], out[len(out)-limit:]...)
					}
				}
			}
			if md.Sequence.Stream >= end || (!f.Until.IsZero() && e.Time.After(f.Until.Add(time.Minute))) {
				return tail(out, limit), nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, fmt.Errorf("access log: %w", err)
		}
		if n == 0 {
			return tail(out, limit), nil // nothing after Since
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

func tail(es []auth.AccessEntry, n int) []auth.AccessEntry {
	if len(es) > n {
		return es[len(es)-n:]
	}
	return es
}

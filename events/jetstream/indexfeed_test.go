package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
	tzjs "taizhang/events/jetstream"
	"taizhang/internal/testenv"
)

// feedLedger writes a unit with n pieces of evidence through a plain
// ledger and returns their ids, in order, with their sequences and the
// stream's last sequence.
func feedLedger(t *testing.T, n *testenv.NATS, count int) ([]uuid.UUID, map[uuid.UUID]uint64, uint64) {
	t.Helper()
	l := openLedger(t, n)
	register(t, l, "dongcun")
	ids := make([]uuid.UUID, count)
	seqs := map[uuid.UUID]uint64{}
	for i := range ids {
		ids[i] = uuid.New()
		rec, _ := submit(t, l, "dongcun", ids[i], fmt.Sprintf("活動 %d", i))
		seqs[ids[i]] = rec.Seq
	}
	last, err := l.LastSeq(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ids, seqs, last
}

func openFed(t *testing.T, n *testenv.NATS, patience time.Duration) *tzjs.Ledger {
	t.Helper()
	l, err := tzjs.Open(context.Background(), n.Connect(t), tzjs.Config{IndexFeed: patience})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

// follow runs l.Follow from from until the returned stop is called.
func follow(t *testing.T, l *tzjs.Ledger, from uint64) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Follow(ctx, from, func(events.Record) error { return nil }) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("follow: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// resubmitAll checks that the index knows every id: a second submission
// of each appends nothing and answers with the first one's sequence.
func resubmitAll(t *testing.T, l *tzjs.Ledger, ids []uuid.UUID, seqs map[uuid.UUID]uint64) {
	t.Helper()
	for _, id := range ids {
		rec, created := submit(t, l, "dongcun", id, "again")
		if created || rec.Seq != seqs[id] {
			t.Fatalf("resubmit of %s: created=%v seq %d, want the first at %d", id, created, rec.Seq, seqs[id])
		}
	}
}

// TestIndexFedByFollow: with Config.IndexFeed, a projection's Follow
// brings the id index up to the stream's end at Open (the index's own
// consumer waits an hour here, so only the feed can have done it); the
// index then knows every id exactly as if it had read the stream itself,
// and once caught up its own consumer keeps it current without the
// Follow.
func TestIndexFedByFollow(t *testing.T) {
	n := testenv.StartNATS(t)
	ids, seqs, last := feedLedger(t, n, 40)
	l := openFed(t, n, time.Hour)
	if got := l.IndexApplied(); got != 0 {
		t.Fatalf("index applied %d before any Follow", got)
	}
	stop := follow(t, l, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := l.WaitIndex(ctx, last); err != nil {
		t.Fatalf("the Follow did not feed the index: %v", err)
	}
	resubmitAll(t, l, ids, seqs)

	// Without the Follow, the index's own consumer goes on from there: an
	// append by another process reaches it.
	stop()
	other := openLedger(t, n)
	id := uuid.New()
	rec, created := submit(t, other, "dongcun", id, "另一個進程")
	if !created {
		t.Fatal("new evidence not created")
	}
	if err := l.WaitIndex(ctx, rec.Seq); err != nil {
		t.Fatalf("the index's own consumer did not take over after the catch-up: %v", err)
	}
	seqs[id] = rec.Seq
	resubmitAll(t, l, append(ids, id), seqs)
}

// TestIndexFeedFallsBack: with no Follow, or one that starts in the
// middle of the stream (it cannot feed an index that has not reached its
// start), the index's own consumer starts after the patience and the
// index is complete.
func TestIndexFeedFallsBack(t *testing.T) {
	n := testenv.StartNATS(t)
	ids, seqs, last := feedLedger(t, n, 30)
	for _, from := range []uint64{0, last / 2} {
		t.Run(fmt.Sprint("follow from ", from), func(t *testing.T) {
			l := openFed(t, n, 200*time.Millisecond)
			if from > 0 {
				follow(t, l, from)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := l.WaitIndex(ctx, last); err != nil {
				t.Fatalf("index did not catch up by itself: %v", err)
			}
			resubmitAll(t, l, ids, seqs)
		})
	}
}

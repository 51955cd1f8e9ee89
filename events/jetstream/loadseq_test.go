package jetstream_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	js "github.com/nats-io/nats.go/jetstream"

	"taizhang/events"
	tzjs "taizhang/events/jetstream"
	"taizhang/internal/testenv"
)

// TestLoadSeqWaitsForNewLeader: a stream leader elected a moment ago can
// answer "message not found" for an event the ledger's index has already
// seen (the partition fault test met it as a 500 on a resubmission). The
// ledger asks again and answers with the event; if the stream never has it,
// the answer is ErrUnavailable (a 503 a client retries), never ErrNotFound
// or an internal error.
func TestLoadSeqWaitsForNewLeader(t *testing.T) {
	ctx := context.Background()
	n := testenv.StartNATS(t)
	l := openLedger(t, n)
	register(t, l, "v-1")
	id := uuid.New()
	first, _ := submit(t, l, "v-1", id, "學習記錄")

	var misses atomic.Int64 // how many more GetMsg calls answer not found
	var calls atomic.Int64
	tzjs.InjectGetMsgForTest(l, func(ctx context.Context, seq uint64) (*js.RawStreamMsg, error) {
		calls.Add(1)
		if misses.Add(-1) >= 0 {
			return nil, js.ErrMsgNotFound
		}
		return l.Stream().GetMsg(ctx, seq)
	}, 2*time.Second)

	// A resubmission of the same id answers with the original after the
	// stream "catches up".
	misses.Store(3)
	rec, created := submit(t, l, "v-1", id, "學習記錄")
	if created || rec.Seq != first.Seq || rec.Event.ID != id {
		t.Fatalf("resubmission: created %v seq %d id %s, want the original at %d", created, rec.Seq, rec.Event.ID, first.Seq)
	}
	if got := calls.Load(); got != 4 {
		t.Fatalf("GetMsg called %d times, want 3 misses and 1 hit", got)
	}

	// Reads of the item's history wait the same way.
	misses.Store(2)
	recs, err := l.Evidence(ctx, "v-1", id)
	if err != nil || len(recs) != 1 || recs[0].Seq != first.Seq {
		t.Fatalf("Evidence after misses: %v, %v", recs, err)
	}

	// A stream that never has it: unavailable, after the bound.
	misses.Store(1 << 40)
	_, _, err = l.SubmitEvidence(ctx, events.Submission{
		ID: id, Unit: "v-1", Evidence: events.Evidence{Kind: events.KindActivity, Title: "學習記錄"},
		OccurredAt: time.Date(2016, 7, 10, 9, 0, 0, 0, time.UTC), Actor: clerk, Client: events.ClientCLI,
	})
	if !errors.Is(err, events.ErrUnavailable) || errors.Is(err, events.ErrNotFound) {
		t.Fatalf("resubmission against a stream that lost the message: %v, want ErrUnavailable", err)
	}
	_, err = l.Evidence(ctx, "v-1", id)
	if !errors.Is(err, events.ErrUnavailable) {
		t.Fatalf("Evidence against a stream that lost the message: %v, want ErrUnavailable", err)
	}
	// A cancelled request stops waiting.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.Evidence(cctx, "v-1", id); err == nil {
		t.Fatal("Evidence with a cancelled context succeeded")
	}
}

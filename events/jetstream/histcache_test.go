package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
	tzjs "taizhang/events/jetstream"
	"taizhang/internal/testenv"
)

// followTo runs l.Follow from from until it has delivered seq, then stops
// it.
func followTo(t *testing.T, l *tzjs.Ledger, from, seq uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reached := errors.New("reached")
	err := l.Follow(ctx, from, func(r events.Record) error {
		if r.Seq >= seq {
			return reached
		}
		return nil
	})
	if !errors.Is(err, reached) {
		t.Fatalf("follow to %d: %v", seq, err)
	}
}

type storedMsg struct {
	Seq  uint64
	Data string
}

// reads is every read of a chain's history the cache can serve, as
// values to compare: History (whole and as of a time), StoredHistory.
func reads(t *testing.T, l *tzjs.Ledger, chain string, asOf time.Time) []any {
	t.Helper()
	ctx := context.Background()
	whole, err := l.History(ctx, chain, time.Time{})
	cut, errCut := l.History(ctx, chain, asOf)
	var stored []storedMsg
	errStored := l.StoredHistory(ctx, chain, func(seq uint64, data []byte) error {
		stored = append(stored, storedMsg{seq, string(data)})
		return nil
	})
	str := func(err error) string { return fmt.Sprint(err) }
	return []any{whole, str(err), cut, str(errCut), stored, str(errStored)}
}

// sameReads checks that l reads each chain's history as plain does.
func sameReads(t *testing.T, what string, l, plain *tzjs.Ledger, chains []string, asOf time.Time) {
	t.Helper()
	for _, c := range chains {
		if want, got := reads(t, plain, c, asOf), reads(t, l, c, asOf); !reflect.DeepEqual(got, want) {
			t.Errorf("%s, %s:\n%v\nfrom the stream:\n%v", c, what, got, want)
		}
	}
}

// TestHistoryCache: a ledger with Config.HistoryDir, once a Follow from
// the stream's start has fed its cache, answers every chain's history
// from it, and what it answers is what a ledger without the cache reads
// from the stream: sound events, a message that does not decode on a
// unit's subject (with the error and the events before it), a message
// below a unit's subject (no part of its history), an as-of cut, an
// unknown unit. A read past what the cache holds (an append after the
// Follow stopped), and every read of a ledger whose Follow started in the
// middle of the stream, go to the stream and are as complete.
func TestHistoryCache(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := context.Background()
	writer := openLedger(t, n)
	register(t, writer, "dongcun")
	register(t, writer, "xicun")
	for i := range 12 {
		submit(t, writer, []string{"dongcun", "xicun"}[i%2], uuid.New(), fmt.Sprintf("活動 %d", i))
	}
	asOf := time.Now()
	submit(t, writer, "dongcun", uuid.New(), "後來的")
	nc := n.Connect(t)
	if _, err := nc.Request("tz.ev.xicun", []byte("not an event"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Request("tz.ev.dongcun.below", []byte(`{"forged":true}`), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	last, err := writer.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}

	plain := openLedger(t, n)
	cached, err := tzjs.Open(ctx, n.Connect(t), tzjs.Config{HistoryDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cached.Close)
	followTo(t, cached, 1, last)

	chains := []string{"dongcun", "xicun", "nanshan"}
	sameReads(t, "from the cache", cached, plain, chains, asOf)
	if recs, err := cached.History(ctx, "xicun", time.Time{}); len(recs) != 7 || !errors.Is(err, events.ErrQuarantined) {
		t.Errorf("xicun: %d events, %v; want the registration and six submissions, then the damage", len(recs), err)
	}
	if recs, err := cached.History(ctx, "dongcun", asOf); err != nil || len(recs) != 7 {
		t.Errorf("dongcun as of the cut: %d events, %v; want 7", len(recs), err)
	}
	// Two Histories and a StoredHistory of each unit with events, and the
	// two Histories just above; the unknown unit's reads have no last
	// message and go nowhere.
	if hits := tzjs.HistoryCacheHitsForTest(cached); hits != 8 {
		t.Errorf("the cache served %d reads, want 8", hits)
	}

	// Past what the cache holds: from the stream, with the new event.
	rec, _ := submit(t, writer, "dongcun", uuid.New(), "Follow 停了以後")
	hits := tzjs.HistoryCacheHitsForTest(cached)
	recs, err := cached.History(ctx, "dongcun", time.Time{})
	if err != nil || recs[len(recs)-1].Seq != rec.Seq {
		t.Fatalf("history after an append the cache has not seen: %v, last %+v", err, recs[len(recs)-1])
	}
	if got := tzjs.HistoryCacheHitsForTest(cached); got != hits {
		t.Errorf("the cache served a read past what it holds")
	}

	// A Follow from the middle of the stream feeds nothing.
	middle, err := tzjs.Open(ctx, n.Connect(t), tzjs.Config{HistoryDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(middle.Close)
	followTo(t, middle, last/2, rec.Seq)
	sameReads(t, "cache fed from the middle", middle, plain, chains, asOf)
	if hits := tzjs.HistoryCacheHitsForTest(middle); hits != 0 {
		t.Errorf("a cache fed from the middle of the stream served %d reads", hits)
	}

	// A cache that cannot write its file serves nothing; the reads go to
	// the stream.
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	broken, err := tzjs.Open(ctx, n.Connect(t), tzjs.Config{HistoryDir: notDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broken.Close)
	followTo(t, broken, 1, rec.Seq)
	sameReads(t, "cache that cannot write", broken, plain, chains, asOf)
	if hits := tzjs.HistoryCacheHitsForTest(broken); hits != 0 {
		t.Errorf("a cache that cannot write served %d reads", hits)
	}
}

// TestHistoryCacheWhileFollowing reads a unit's history from the cache
// over and over while appends go on and a Follow feeds the cache (run it
// with -race): every read is a sound chain, never shorter than one before
// it, and holds every event appended before the read began; the cache
// serves reads, and the last read, once the Follow has caught up, is the
// stream's history.
func TestHistoryCacheWhileFollowing(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := context.Background()
	writer := openLedger(t, n)
	register(t, writer, "dongcun")
	cached, err := tzjs.Open(ctx, n.Connect(t), tzjs.Config{HistoryDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cached.Close)
	fctx, stop := context.WithCancel(ctx)
	var followed atomic.Uint64
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		_ = cached.Follow(fctx, 1, func(r events.Record) error {
			followed.Store(r.Seq)
			return nil
		})
	}()
	const appends = 60
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range appends {
			submit(t, writer, "dongcun", uuid.New(), fmt.Sprintf("活動 %d", i))
		}
	}()
	prev := 0
	for reading := true; reading; {
		select {
		case <-done:
			reading = false
		default:
		}
		before, err := writer.LastSeq(ctx) // every event up to here must be in the read
		if err != nil {
			t.Fatal(err)
		}
		recs, err := cached.History(ctx, "dongcun", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if err := events.VerifyChain(recs); err != nil {
			t.Fatalf("a read of %d events is not a sound chain: %v", len(recs), err)
		}
		if len(recs) < prev || recs[len(recs)-1].Seq < before {
			t.Fatalf("read %d events ending at %d, after %d events and with the stream at %d", len(recs), recs[len(recs)-1].Seq, prev, before)
		}
		prev = len(recs)
	}
	last, err := writer.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); followed.Load() < last; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the Follow reached %d, not %d", followed.Load(), last)
		}
	}
	stop()
	<-stopped
	hits := tzjs.HistoryCacheHitsForTest(cached)
	got, err := cached.History(ctx, "dongcun", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := openLedger(t, n).History(ctx, "dongcun", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || len(got) != appends+1 {
		t.Fatalf("after the appends: %d events from the cache, %d from the stream", len(got), len(want))
	}
	if tzjs.HistoryCacheHitsForTest(cached) != hits+1 {
		t.Fatal("the last read, with the Follow caught up, did not come from the cache")
	}
}

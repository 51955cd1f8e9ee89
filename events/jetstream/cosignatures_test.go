package jetstream_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"taizhang/events"
	"taizhang/events/checkpoint"
	tzjs "taizhang/events/jetstream"
	"taizhang/internal/testenv"
)

type witnessKey struct {
	c    *checkpoint.Cosigner
	vkey string
}

func newWitnessKey(t *testing.T, name string, at time.Time) witnessKey {
	t.Helper()
	skey, vkey, err := checkpoint.GenerateCosignerKey(nil, name)
	if err != nil {
		t.Fatal(err)
	}
	c, err := checkpoint.NewCosigner(skey, func() time.Time { return at })
	if err != nil {
		t.Fatal(err)
	}
	return witnessKey{c, vkey}
}

func cosignLine(t *testing.T, s checkpoint.Stored, w witnessKey) string {
	t.Helper()
	body, _, err := checkpoint.SplitNote([]byte(s.Note))
	if err != nil {
		t.Fatal(err)
	}
	line, err := checkpoint.Cosign(body, w.c)
	if err != nil {
		t.Fatal(err)
	}
	return line
}

// TestCosignatureLog records cosignatures after checking them, once per
// line even when posted concurrently, and refuses what does not verify, a
// checkpoint that does not exist, a timestamp from the future and more than
// MaxCosignatures per checkpoint.
func TestCosignatureLog(t *testing.T) {
	ctx := context.Background()
	n := testenv.StartNATS(t)
	l := openLedger(t, n)
	c := startCP(t, l, newCPKey(t), 0)
	register(t, l, "dongcun")
	cp1, _, err := c.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	register(t, l, "xicun")
	cp2, _, err := c.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tzjs.OpenCosignatureLog(ctx, c.CheckpointLog, false); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("open without create: %v", err)
	}
	cl, err := tzjs.StartCosignatures(ctx, c, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	a := newWitnessKey(t, "witness.example/a", now)
	b := newWitnessKey(t, "witness.example/b", now)

	// The same line posted eight times at once is recorded once.
	line := cosignLine(t, cp1, a)
	var wg sync.WaitGroup
	created := make(chan bool, 8)
	for range 8 {
		wg.Go(func() {
			_, c, err := cl.Add(ctx, cp1.Seq, line, a.vkey, "sup-a")
			if err != nil {
				t.Error(err)
			}
			created <- c
		})
	}
	wg.Wait()
	close(created)
	nc := 0
	for c := range created {
		if c {
			nc++
		}
	}
	if nc != 1 {
		t.Fatalf("one line recorded %d times", nc)
	}
	if _, created, err := cl.Add(ctx, cp1.Seq, cosignLine(t, cp1, b), b.vkey, "sup-b"); err != nil || !created {
		t.Fatal(created, err)
	}
	bv, _ := checkpoint.NewCosignatureVerifier(b.vkey)
	recs, err := cl.ForCheckpoint(ctx, cp1.Seq)
	if err != nil || len(recs) != 2 || recs[0].By != "sup-a" || recs[1].Witness != bv.String() || recs[0].Size != cp1.Size {
		t.Fatalf("records: %+v %v", recs, err)
	}
	if recs, _ := cl.ForCheckpoint(ctx, cp2.Seq); len(recs) != 0 {
		t.Fatalf("checkpoint 2: %+v", recs)
	}

	for name, c := range map[string]struct {
		seq       uint64
		line, key string
		want      error
	}{
		"another checkpoint's line": {cp2.Seq, line, a.vkey, events.ErrInvalid},
		"another witness's key":     {cp1.Seq, line, b.vkey, events.ErrInvalid},
		"not a witness key":         {cp1.Seq, line, "x+00000000+AAAA", events.ErrInvalid},
		"no such checkpoint":        {99, line, a.vkey, events.ErrNotFound},
	} {
		if _, _, err := cl.Add(ctx, c.seq, c.line, c.key, "x"); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	// A timestamp an hour past the server's clock.
	f := newWitnessKey(t, "witness.example/f", now.Add(time.Hour))
	if _, _, err := cl.Add(ctx, cp2.Seq, cosignLine(t, cp2, f), f.vkey, "x"); !errors.Is(err, events.ErrInvalid) || !strings.Contains(err.Error(), "clock") {
		t.Fatalf("future timestamp: %v", err)
	}

	// At most MaxCosignatures a checkpoint.
	for i := range tzjs.MaxCosignatures {
		w := newWitnessKey(t, "witness.example/many-"+string(rune('a'+i%26))+strings.Repeat("x", i/26), now)
		if _, _, err := cl.Add(ctx, cp2.Seq, cosignLine(t, cp2, w), w.vkey, "x"); err != nil {
			t.Fatalf("cosignature %d: %v", i, err)
		}
	}
	w := newWitnessKey(t, "witness.example/one-too-many", now)
	if _, _, err := cl.Add(ctx, cp2.Seq, cosignLine(t, cp2, w), w.vkey, "x"); !errors.Is(err, events.ErrConflict) {
		t.Fatalf("one too many: %v", err)
	}
	all, err := cl.All(ctx)
	if err != nil || len(all) != 2+tzjs.MaxCosignatures {
		t.Fatalf("all: %d %v", len(all), err)
	}
}

package projections_test

import (
	"testing"

	"taizhang/events"
	"taizhang/projections"
)

// TestDigest: the same events give the same digest whatever the replays;
// one event fewer, or one altered, gives another.
func TestDigest(t *testing.T) {
	recs := script(t)
	whole := projections.NewArchive()
	for _, r := range recs {
		_ = whole.Apply(r)
	}
	want := whole.Digest()
	again := projections.NewArchive()
	for _, r := range recs[:len(recs)/2] {
		_ = again.Apply(r)
	}
	short := again.Digest()
	for _, r := range recs { // replays are ignored
		_ = again.Apply(r)
	}
	if got := again.Digest(); got != want {
		t.Fatalf("digest after replays %s, want %s", got, want)
	}
	if short == want || projections.NewArchive().Digest() == want {
		t.Fatal("a shorter archive has the same digest")
	}
	altered := projections.NewArchive()
	for i, r := range recs {
		if i == len(recs)-1 {
			ev := *r.Event
			ev.Hash[0] ^= 1
			r.Event = &ev
		}
		_ = altered.Apply(r)
	}
	if altered.Digest() == want {
		t.Fatal("an altered last event gives the same digest")
	}

	// A quarantine is part of the digest, the same on every replay.
	damaged := func() *projections.Archive {
		a := projections.NewArchive()
		for _, r := range recs {
			_ = a.Apply(r)
		}
		_ = a.Apply(events.Record{Seq: uint64(len(recs)) + 1, Damage: &events.Damage{Unit: "dongcun", Reason: "does not decode"}})
		return a
	}
	q1, q2 := damaged().Digest(), damaged().Digest()
	if q1 != q2 || q1 == want {
		t.Fatalf("digest with a quarantine: %s and %s (sound: %s)", q1, q2, want)
	}
}

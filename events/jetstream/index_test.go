package jetstream

import (
	"runtime"
	"slices"
	"strconv"
	"testing"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"taizhang/events"
)

func indexHeaders(typ events.Type, id uuid.UUID, version int) nats.Header {
	h := nats.Header{}
	h.Set(hdrType, string(typ))
	h.Set(hdrEntity, id.String())
	if version > 0 {
		h.Set(hdrVersion, strconv.Itoa(version))
	}
	return h
}

// TestIndexEntries: what lookup returns is the entity's unit, every one of
// its sequences in order, its version and its first and last event types;
// a message naming it on another unit's subject changes nothing, and a
// message without an entity only advances applied.
func TestIndexEntries(t *testing.T) {
	x := newIndex(0)
	a, b := uuid.New(), uuid.New()
	x.apply(1, "tz.ev.dongcun", nats.Header{hdrType: {string(events.TypeUnitRegistered)}}, "tz.ev")
	x.apply(2, "tz.ev.dongcun", indexHeaders(events.TypeEvidenceSubmitted, a, 1), "tz.ev")
	x.apply(3, "tz.ev.xicun", indexHeaders(events.TypeFindingRecorded, b, 1), "tz.ev")
	x.apply(4, "tz.ev.dongcun", indexHeaders(events.TypeEvidenceAmended, a, 2), "tz.ev")
	x.apply(5, "tz.ev.xicun", indexHeaders(events.TypeEvidenceRetracted, a, 9), "tz.ev") // forged: another unit
	x.apply(6, "tz.ev.dongcun", indexHeaders(events.TypeEvidenceRetracted, a, 3), "tz.ev")
	x.apply(6, "tz.ev.dongcun", indexHeaders(events.TypeEvidenceAmended, a, 4), "tz.ev") // applied already
	if x.applied != 6 {
		t.Fatalf("applied %d, want 6", x.applied)
	}
	got := x.lookup(a)
	want := entry{unit: "dongcun", seqs: []uint64{2, 4, 6}, version: 3, first: events.TypeEvidenceSubmitted, last: events.TypeEvidenceRetracted}
	if got == nil || got.unit != want.unit || !slices.Equal(got.seqs, want.seqs) || got.version != want.version || got.first != want.first || got.last != want.last {
		t.Fatalf("lookup(a) = %+v, want %+v", got, want)
	}
	got.seqs[0] = 99 // a copy: the index is not changed through it
	if x.lookup(a).seqs[0] != 2 {
		t.Fatal("lookup returned the index's own slice")
	}
	if f := x.lookup(b); f == nil || f.unit != "xicun" || !slices.Equal(f.seqs, []uint64{3}) || f.version != 1 || f.first != events.TypeFindingRecorded || f.last != f.first {
		t.Fatalf("lookup(b) = %+v", f)
	}
	if x.lookup(uuid.New()) != nil {
		t.Fatal("lookup of an unknown id found something")
	}
	// A second entity with more than one event keeps its own list.
	x.apply(7, "tz.ev.xicun", indexHeaders(events.TypeFindingResolved, b, 2), "tz.ev")
	if f := x.lookup(b); f == nil || !slices.Equal(f.seqs, []uint64{3, 7}) || f.version != 2 || f.last != events.TypeFindingResolved {
		t.Fatalf("lookup(b) after its second event = %+v", f)
	}
	if got := x.lookup(a); !slices.Equal(got.seqs, []uint64{2, 4, 6}) {
		t.Fatalf("lookup(a) after b's second event = %+v", got)
	}
}

// BenchmarkIndexApply reports the index's heap per entity (one event
// each, over 1,000 units), after a GC: grown from empty, and sized at the
// start for the messages (as Open sizes it).
func BenchmarkIndexApply(b *testing.B) {
	b.Run("grown", func(b *testing.B) { benchIndexApply(b, false) })
	b.Run("presized", func(b *testing.B) { benchIndexApply(b, true) })
}

func benchIndexApply(b *testing.B, presize bool) {
	const n = 200_000
	hs := make([]nats.Header, n)
	for i := range hs {
		hs[i] = indexHeaders(events.TypeEvidenceSubmitted, uuid.New(), 1)
	}
	subj := make([]string, 1000)
	for u := range subj {
		subj[u] = "tz.ev.unit-" + strconv.Itoa(u)
	}
	var perEntity float64
	for b.Loop() {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		x := newIndex(0)
		if presize {
			x = newIndex(n)
		}
		for i, h := range hs {
			x.apply(uint64(i+1), subj[i%len(subj)], h, "tz.ev")
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		perEntity = float64(m1.HeapAlloc-m0.HeapAlloc) / n
		runtime.KeepAlive(x)
	}
	b.ReportMetric(perEntity, "B/entity")
}

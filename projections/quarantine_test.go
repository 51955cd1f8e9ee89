package projections_test

import (
	"bytes"
	"strings"
	"testing"

	"taizhang/events"
	"taizhang/projections"
)

// TestQuarantine: a damaged record, and an event that does not link to its
// chain, each stop only their own unit at their sequence; the unit keeps
// its good prefix, its later events are ignored, the other unit goes on,
// and a replay in any batches gives the same state.
func TestQuarantine(t *testing.T) {
	recs := script(t) // dongcun: 1,3,5,6,7,8; xicun: 2,4
	n := uint64(len(recs))
	// A forged xicun event that links to nothing, and garbage on dongcun.
	forged := *recs[3].Event
	forged.Prev = events.Hash{9}
	_ = forged.Seal(events.Hash{9})
	poisoned := append(append([]events.Record{}, recs...),
		events.Record{Seq: n + 1, Damage: &events.Damage{Unit: "dongcun", Reason: "does not decode"}},
		events.Record{Seq: n + 2, Event: &forged},
		events.Record{Seq: n + 3, Event: recs[7].Event}, // a dongcun event after its quarantine
	)
	a := projections.NewArchive()
	for _, r := range poisoned {
		if err := a.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
	if a.Applied() != n+3 {
		t.Fatalf("applied %d, want %d", a.Applied(), n+3)
	}
	q := a.Quarantined()
	if len(q) != 2 || q[0].Unit != "dongcun" || q[0].Seq != n+1 || q[0].Good != 6 || q[1].Unit != "xicun" || q[1].Seq != n+2 || q[1].Good != 2 {
		t.Fatalf("quarantined: %+v", q)
	}
	if !strings.Contains(q[1].Reason, "links to previous hash") {
		t.Fatalf("forged link reason: %q", q[1].Reason)
	}
	if a.Unit("dongcun").Unit.Events != 6 || a.Unit("xicun").Unit.Events != 2 {
		t.Fatalf("good prefixes not kept: %+v %+v", a.Unit("dongcun").Unit, a.Unit("xicun").Unit)
	}
	if err := a.CheckWritable("dongcun"); err == nil || !strings.Contains(err.Error(), "sequence 9") {
		t.Fatalf("write to a quarantined unit: %v", err)
	}
	if a.CheckWritable("nancun") != nil || a.QuarantineOf("nancun") != nil {
		t.Fatal("an unknown unit is not quarantined")
	}
	want, _ := a.MarshalState()
	for cut := 0; cut <= len(poisoned); cut++ {
		b := projections.NewArchive()
		for _, r := range poisoned[:cut] {
			_ = b.Apply(r)
		}
		for _, r := range poisoned {
			_ = b.Apply(r)
		}
		if got, _ := b.MarshalState(); !bytes.Equal(got, want) {
			t.Fatalf("cut %d: state differs", cut)
		}
	}
	// A payload that does not decode quarantines too, leaving no partial state.
	bad := *recs[2].Event // dongcun's evidence.submitted
	bad.Data = []byte(`{"version":"one"}`)
	c := projections.NewArchive()
	for _, r := range recs[:2] {
		_ = c.Apply(r)
	}
	_ = bad.Seal(recs[0].Event.Hash)
	_ = c.Apply(events.Record{Seq: 3, Event: &bad})
	if qq := c.QuarantineOf("dongcun"); qq == nil || qq.Seq != 3 || qq.Good != 1 || c.Unit("dongcun").Unit.Events != 1 {
		t.Fatalf("bad payload: %+v %+v", qq, c.Unit("dongcun").Unit)
	}
}

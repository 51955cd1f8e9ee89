package jetstream_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"taizhang/events"
	"taizhang/internal/testenv"
)

// TestFollowDeliversDamage: messages published straight onto the ledger's
// subjects that are not sound events of the chain their subject names
// come out of Follow as records with Damage, and Follow goes on; an append
// never links to such a head; History returns the prefix before garbage.
func TestFollowDeliversDamage(t *testing.T) {
	ctx := context.Background()
	n := testenv.StartNATS(t)
	l := openLedger(t, n)
	register(t, l, "a")
	register(t, l, "b")
	good, _ := submit(t, l, "b", uuid.New(), "x")
	pub := func(subject string, data []byte) {
		t.Helper()
		if _, err := l.JetStream().Publish(ctx, subject, data); err != nil {
			t.Fatal(err)
		}
	}
	pub("tz.ev.a", []byte("not json at all")) // 4: garbage
	forged := *good.Event                     // 5: b's event, stored on a's subject
	forgedJSON, _ := json.Marshal(&forged)
	pub("tz.ev.a", forgedJSON)
	flipped := append([]byte{}, forgedJSON...) // 6: a bit flip in b's own event
	flipped[strings.Index(string(flipped), `"title":"x"`)+9] ^= 0x01
	pub("tz.ev.b", flipped)
	pub("tz.ev.a.extra", []byte("{}")) // 7: below a unit's subject
	// 8: a's subject, with headers naming b's evidence as if it were its
	// latest version.
	hdr := nats.Header{}
	hdr.Set("Tz-Entity", good.Event.ID.String())
	hdr.Set("Tz-Type", string(events.TypeEvidenceRetracted))
	hdr.Set("Tz-Version", "2")
	if _, err := l.JetStream().PublishMsg(ctx, &nats.Msg{Subject: "tz.ev.a", Header: hdr, Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}

	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan events.Record, 16)
	go l.Follow(fctx, 1, func(r events.Record) error { got <- r; return nil })
	var recs []events.Record
	for len(recs) < 8 {
		select {
		case r := <-got:
			recs = append(recs, r)
		case <-time.After(10 * time.Second):
			t.Fatalf("Follow stopped after %d records", len(recs))
		}
	}
	for i, r := range recs[:3] {
		if r.Damage != nil {
			t.Fatalf("record %d damaged: %v", i, r.Damage)
		}
	}
	want := []struct{ unit, reason string }{
		{"a", "does not decode"}, {"a", `names unit "b"`}, {"b", "hash does not match"}, {"a", "below the unit's own subject"}}
	for i, w := range want {
		d := recs[3+i].Damage
		if d == nil || d.Unit != w.unit || !strings.Contains(d.Reason, w.reason) {
			t.Fatalf("record %d: damage %+v, want unit %s and %q", 4+i, d, w.unit, w.reason)
		}
	}

	// b's evidence is still b's alone: its records are its submission.
	if recs, err := l.Evidence(ctx, "b", good.Event.ID); err != nil || len(recs) != 1 || recs[0].Seq != good.Seq {
		t.Fatalf("evidence of b after a forged header on a: %v %v", recs, err)
	}
	// An append to b (head: the bit-flipped message) is refused.
	if _, _, err := l.SubmitEvidence(ctx, events.Submission{Unit: "b", Evidence: events.Evidence{Kind: events.KindActivity, Title: "y"},
		OccurredAt: time.Now(), Actor: clerk, Client: events.ClientCLI}); !errors.Is(err, events.ErrQuarantined) {
		t.Fatalf("append after a damaged head: %v", err)
	}
	// a's history: the registration, then the garbage.
	hist, err := l.History(ctx, "a", time.Time{})
	if !errors.Is(err, events.ErrQuarantined) || len(hist) != 1 || hist[0].Seq != 1 {
		t.Fatalf("history of a: %d records, %v", len(hist), err)
	}
	if seq, ok, err := l.UnitHead(ctx, "a"); err != nil || !ok || seq != 8 {
		t.Fatalf("unit head of a: %d %v %v", seq, ok, err)
	}
}

package verify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
	tzjs "taizhang/events/jetstream"
	"taizhang/internal/testenv"
	"taizhang/verify"
)

// historyOnly hides the ledger's StoredHistory, so that Run decodes the
// history and recomputes each hash from the decoded events.
type historyOnly struct{ l *tzjs.Ledger }

func (h historyOnly) Units(ctx context.Context) ([]string, error) { return h.l.Units(ctx) }
func (h historyOnly) History(ctx context.Context, unit string, asOf time.Time) ([]events.Record, error) {
	return h.l.History(ctx, unit, asOf)
}

// TestVerifyStoredPathAgreesWithHistory: checking the stored bytes (the path
// Run takes for the JetStream ledger) and checking decoded events find the
// same problems, the same heads and counts, on a ledger with an event
// stored in a non-canonical form, a rewritten event, an event linked to
// the wrong previous hash and a message that does not decode.
func TestVerifyStoredPathAgreesWithHistory(t *testing.T) {
	ctx := context.Background()
	n := testenv.StartNATS(t)
	nc := n.Connect(t)
	l, err := tzjs.Open(ctx, nc, tzjs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	var _ verify.StoredLedger = l
	admin := events.Actor{ID: "admin", Role: events.RoleAdmin}
	for _, u := range []string{"cun", "xi", "bad"} {
		if _, err := l.RegisterUnit(ctx, u, events.UnitRegistered{Name: u, UnitType: "village"}, admin, events.ClientAPI); err != nil {
			t.Fatal(err)
		}
	}
	var last *events.Record
	for i := range 3 {
		if last, _, err = l.SubmitEvidence(ctx, events.Submission{Unit: "cun", Evidence: events.Evidence{Kind: events.KindActivity,
			Title: "學習 <" + strings.Repeat("!", i) + ">", Body: "第一行\n第二行"},
			OccurredAt: time.Date(2016, 7, 12, 9, 0, 0, 0, time.UTC), Actor: admin, Client: events.ClientAPI}); err != nil {
			t.Fatal(err)
		}
	}
	head, _, err := l.Head(ctx, "xi")
	if err != nil {
		t.Fatal(err)
	}
	publish := func(unit string, b []byte) uint64 {
		t.Helper()
		ack, err := l.JetStream().Publish(ctx, l.UnitSubjects(unit), b)
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	seal := func(prev events.Hash, title string) *events.Event {
		ev := &events.Event{ID: uuid.New(), Type: events.TypeEvidenceSubmitted, Schema: 1, Unit: "xi", Actor: admin, Client: events.ClientAPI,
			OccurredAt: time.Date(2016, 7, 2, 0, 0, 0, 0, time.UTC), RecordedAt: time.Now()}
		if err := ev.SetData(events.EvidenceSubmitted{Evidence: events.Evidence{Kind: events.KindActivity, Title: title}, Version: 1}); err != nil {
			t.Fatal(err)
		}
		if err := ev.Seal(prev); err != nil {
			t.Fatal(err)
		}
		return ev
	}
	// An event stored re-indented: not canonical, but its hash holds.
	pretty := seal(head.Hash, "縮排")
	b, _ := events.Encode(pretty)
	var indented bytes.Buffer
	_ = json.Indent(&indented, b, "", "  ")
	publish("xi", indented.Bytes())
	// An event rewritten after it was sealed.
	rewritten := seal(pretty.Hash, "原文")
	b, _ = events.Encode(rewritten)
	seqRewritten := publish("xi", bytes.Replace(b, []byte("原文"), []byte("改文"), 1))
	// An event linked to a hash that is not its predecessor's.
	forked := seal(events.Hash{0xde, 0xad}, "分叉")
	b, _ = events.Encode(forked)
	seqForked := publish("xi", b)
	seqBad := publish("bad", []byte(`{"id":"not json`))

	stored, err := verify.Run(ctx, l, nil, verify.Options{NoBlob: true})
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := verify.Run(ctx, historyOnly{l}, nil, verify.Options{NoBlob: true})
	if err != nil {
		t.Fatal(err)
	}
	js1, _ := json.MarshalIndent(stored, "", " ")
	js2, _ := json.MarshalIndent(decoded, "", " ")
	if !bytes.Equal(js1, js2) {
		t.Fatalf("stored path:\n%s\nhistory path:\n%s", js1, js2)
	}
	want := map[string]bool{
		"chain " + rewritten.ID.String(): false, "chain " + forked.ID.String(): false, "chain ": false,
	}
	for _, p := range stored.Problems {
		key := p.Kind + " " + p.Event
		if _, ok := want[key]; !ok {
			t.Errorf("unexpected problem %s", p)
		}
		want[key] = true
		switch {
		case p.Event == rewritten.ID.String() && (p.Seq != seqRewritten || !strings.Contains(p.Msg, "hash does not match")),
			p.Event == forked.ID.String() && (p.Seq != seqForked || !strings.Contains(p.Msg, "links to previous hash")),
			p.Event == "" && (p.Unit != "bad" || p.Seq != seqBad || !strings.Contains(p.Msg, "does not decode")):
			t.Errorf("problem %s", p)
		}
	}
	for k, found := range want {
		if !found {
			t.Errorf("%s not reported: %s", k, js1)
		}
	}
	for _, u := range stored.Units {
		if wantOK := u.Unit == "cun"; u.OK != wantOK {
			t.Errorf("unit %s ok=%v", u.Unit, u.OK)
		}
		if u.Unit == "bad" && (u.Events != 1 || u.Good != 1 || u.BrokenAt != seqBad) {
			t.Errorf("unit bad: %+v", u)
		}
		if u.Unit == "xi" && (u.Good != 2 || u.BrokenAt != seqRewritten) {
			t.Errorf("unit xi: %+v, want broken after 2 good events at %d", u, seqRewritten)
		}
		if u.Unit == "cun" && (u.Events != 4 || u.Head != last.Event.Hash || u.Good != 4) {
			t.Errorf("unit cun: %d events, head %s, want 4 and %s", u.Events, u.Head, last.Event.Hash)
		}
	}
}

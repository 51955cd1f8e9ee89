package verify

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
	"taizhang/events/checkpoint"
)

// memLedger is a ledger in memory: events in stream order.
type memLedger struct{ recs []events.Record }

func (m *memLedger) Units(context.Context) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, r := range m.recs {
		if !seen[r.Event.Unit] {
			seen[r.Event.Unit] = true
			out = append(out, r.Event.Unit)
		}
	}
	return out, nil
}

func (m *memLedger) History(_ context.Context, unit string, _ time.Time) ([]events.Record, error) {
	var out []events.Record
	for _, r := range m.recs {
		if r.Event.Unit == unit {
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *memLedger) append(t *testing.T, unit string) {
	var prev events.Hash
	for _, r := range m.recs {
		if r.Event.Unit == unit {
			prev = r.Event.Hash
		}
	}
	ev := &events.Event{ID: uuid.New(), Type: events.TypeUnitRegistered, Schema: 1, Unit: unit,
		Actor: events.Actor{ID: "a", Role: events.RoleAdmin}, Client: events.ClientAPI,
		OccurredAt: time.Now(), RecordedAt: time.Now()}
	if err := ev.Seal(prev); err != nil {
		t.Fatal(err)
	}
	m.recs = append(m.recs, events.Record{Seq: uint64(len(m.recs) + 1), Event: ev})
}

type memCheckpoints struct{ list []checkpoint.Stored }

func (m *memCheckpoints) Origin() string { return checkpoint.Origin("TAIZHANG_LEDGER") }
func (m *memCheckpoints) List(context.Context, uint64, int) ([]checkpoint.Stored, error) {
	return m.list, nil
}

// checkpointNow appends a signed checkpoint of the ledger as it is.
func (m *memCheckpoints) checkpointNow(t *testing.T, l *memLedger, s interface {
	Name() string
	KeyHash() uint32
	Sign([]byte) ([]byte, error)
}) {
	log := checkpoint.NewLog()
	for _, r := range l.recs {
		log.Append(r.Event.Unit, r.Event.Hash)
	}
	root, _ := log.Root(log.Size())
	heads, _ := log.Heads(log.Size())
	cp := checkpoint.Checkpoint{Origin: m.Origin(), Size: log.Size(), Root: root, Time: time.Now(),
		Units: uint64(len(heads)), UnitsRoot: checkpoint.HeadsRoot(heads)}
	note, err := checkpoint.Sign(cp, s)
	if err != nil {
		t.Fatal(err)
	}
	m.list = append(m.list, checkpoint.Stored{Seq: uint64(len(m.list) + 1), Note: string(note)})
}

func checkpointProblems(rep *Report) string {
	var b strings.Builder
	for _, p := range rep.Problems {
		fmt.Fprintf(&b, "%s\n", p)
	}
	return b.String()
}

func TestCheckpointChecks(t *testing.T) {
	ctx := context.Background()
	skey, vkey, _ := checkpoint.GenerateKey(checkpoint.Origin("TAIZHANG_LEDGER"))
	signer, _ := checkpoint.NewSigner(skey)
	l := &memLedger{}
	cps := &memCheckpoints{}
	for i := 0; i < 3; i++ {
		l.append(t, "dongcun")
		l.append(t, "xicun")
		cps.checkpointNow(t, l, signer)
	}
	opt := Options{NoBlob: true, Checkpoints: cps, CheckpointKey: vkey}
	rep, err := Run(ctx, l, nil, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Checkpoints.Count != 3 || rep.Checkpoints.LatestSize != 6 || rep.Checkpoints.Key != vkey {
		t.Fatalf("clean: %+v %s", rep.Checkpoints, checkpointProblems(rep))
	}
	// Without a key the signatures are not checked, and the report says so.
	if rep, _ := Run(ctx, l, nil, Options{NoBlob: true, Checkpoints: cps}); !rep.OK() || rep.Checkpoints.Key != "" {
		t.Fatalf("no key: %+v", rep.Checkpoints)
	}
	// --unit checks no checkpoints.
	if rep, _ := Run(ctx, l, nil, Options{NoBlob: true, Unit: "dongcun", Checkpoints: cps}); rep.Checkpoints != nil {
		t.Fatal("checkpoints checked with --unit")
	}

	// An event rewritten (and its chain re-sealed) after the checkpoints:
	// the chains are fine, the latest checkpoint is not.
	rewritten := &memLedger{recs: append([]events.Record(nil), l.recs...)}
	ev := *rewritten.recs[4].Event // dongcun's third event, seq 5
	ev.Reason = "rewritten"
	ev.Seal(rewritten.recs[2].Event.Hash)
	rewritten.recs[4].Event = &ev
	rep, _ = Run(ctx, rewritten, nil, opt)
	got := checkpointProblems(rep)
	if len(rep.Problems) != 2 || strings.Count(got, "checkpoint 3: ") != 2 || !strings.Contains(got, "ledger events 5 to 6 were changed after it") ||
		!strings.Contains(got, "events were changed, removed or reordered after this checkpoint") {
		t.Fatalf("rewritten ledger:\n%s", got)
	}

	// Events removed from the end.
	short := &memLedger{recs: l.recs[:5]}
	rep, _ = Run(ctx, short, nil, opt)
	if got := checkpointProblems(rep); len(rep.Problems) != 1 || !strings.Contains(got, "checkpoint 3: commits to 6 events, but the ledger holds 5") {
		t.Fatalf("short ledger:\n%s", got)
	}

	// A forged checkpoint between two good ones is named, and only it.
	forged := &memCheckpoints{list: append([]checkpoint.Stored(nil), cps.list...)}
	cp, _ := checkpoint.ParseNote([]byte(forged.list[1].Note))
	cp.Root[3] ^= 1
	note, _ := checkpoint.Sign(cp, signer)
	forged.list[1].Note = string(note)
	rep, _ = Run(ctx, l, nil, Options{NoBlob: true, Checkpoints: forged, CheckpointKey: vkey})
	got = checkpointProblems(rep)
	if len(rep.Problems) != 2 || strings.Count(got, "checkpoint 2: not consistent with the") != 2 {
		t.Fatalf("forged middle checkpoint:\n%s", got)
	}

	// A checkpoint whose unit heads root is wrong.
	heads := &memCheckpoints{list: append([]checkpoint.Stored(nil), cps.list...)}
	cp, _ = checkpoint.ParseNote([]byte(heads.list[0].Note))
	cp.UnitsRoot[0] ^= 1
	note, _ = checkpoint.Sign(cp, signer)
	heads.list[0].Note = string(note)
	rep, _ = Run(ctx, l, nil, Options{NoBlob: true, Checkpoints: heads, CheckpointKey: vkey})
	if got := checkpointProblems(rep); len(rep.Problems) != 1 || !strings.Contains(got, "checkpoint 1: unit heads root") {
		t.Fatalf("bad unit heads:\n%s", got)
	}
}

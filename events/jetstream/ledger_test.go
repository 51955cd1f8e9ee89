package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"taizhang/events"
	tzjs "taizhang/events/jetstream"
	"taizhang/internal/testenv"
)

var (
	admin = events.Actor{ID: "admin", Role: events.RoleAdmin}
	clerk = events.Actor{ID: "clerk-1", Role: events.RoleSubmitter}
)

func openLedger(t *testing.T, n *testenv.NATS) *tzjs.Ledger {
	t.Helper()
	l, err := tzjs.Open(context.Background(), n.Connect(t), tzjs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

func register(t *testing.T, l *tzjs.Ledger, id string) {
	t.Helper()
	if _, err := l.RegisterUnit(context.Background(), id, events.UnitRegistered{Name: "村委會 " + id, UnitType: "village"}, admin, events.ClientAPI); err != nil {
		t.Fatal(err)
	}
}

func submit(t *testing.T, l *tzjs.Ledger, unit string, id uuid.UUID, title string) (*events.Record, bool) {
	t.Helper()
	rec, created, err := l.SubmitEvidence(context.Background(), events.Submission{
		ID: id, Unit: unit, Evidence: events.Evidence{Kind: events.KindActivity, Title: title},
		OccurredAt: time.Date(2016, 7, 10, 9, 0, 0, 0, time.UTC), Actor: clerk, Client: events.ClientCLI,
	})
	if err != nil {
		t.Fatal(err)
	}
	return rec, created
}

func TestLedgerLifecycle(t *testing.T) {
	ctx := context.Background()
	n := testenv.StartNATS(t)
	l := openLedger(t, n)

	register(t, l, "dongcun")
	if _, err := l.RegisterUnit(ctx, "dongcun", events.UnitRegistered{Name: "x", UnitType: "village"}, admin, events.ClientAPI); !errors.Is(err, events.ErrExists) {
		t.Fatalf("second registration: got %v, want ErrExists", err)
	}

	id := uuid.New()
	first, created := submit(t, l, "dongcun", id, "集中學習")
	if !created || first.Event.ID != id {
		t.Fatalf("submit: created=%v id=%s", created, first.Event.ID)
	}
	again, created := submit(t, l, "dongcun", id, "something else")
	if created || again.Seq != first.Seq || again.Event.Hash != first.Event.Hash {
		t.Fatalf("resubmit appended or answered differently: created=%v seq %d vs %d", created, again.Seq, first.Seq)
	}

	// A fresh ledger (another process, cold cache) still knows the id: idempotency
	// comes from the stream, not from memory or the dedupe window.
	l2 := openLedger(t, n)
	again2, created := submit(t, l2, "dongcun", id, "later")
	if created || again2.Seq != first.Seq {
		t.Fatalf("resubmit through a new ledger appended: seq %d vs %d", again2.Seq, first.Seq)
	}
	register(t, l, "xicun")
	if _, _, err := l.SubmitEvidence(ctx, events.Submission{ID: id, Unit: "xicun", Evidence: events.Evidence{Kind: events.KindActivity, Title: "t"},
		OccurredAt: time.Now(), Actor: clerk, Client: events.ClientCLI}); !errors.Is(err, events.ErrExists) {
		t.Fatalf("same evidence id in another unit: got %v, want ErrExists", err)
	}

	title := "集中學習（第一期）"
	amend := events.Correction{Unit: "dongcun", Evidence: id, ExpectedVersion: 1, Reason: "錯字", Changes: events.Changes{Title: &title}, Actor: clerk, Client: events.ClientWeb}
	if _, err := l.AmendEvidence(ctx, amend); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AmendEvidence(ctx, amend); !errors.Is(err, events.ErrConflict) {
		t.Fatalf("stale amend: got %v, want ErrConflict", err)
	}
	noReason := amend
	noReason.Reason, noReason.ExpectedVersion = " ", 2
	if _, err := l.AmendEvidence(ctx, noReason); !errors.Is(err, events.ErrInvalid) {
		t.Fatalf("amend without reason: got %v, want ErrInvalid", err)
	}
	if _, err := l.RetractEvidence(ctx, events.Correction{Unit: "dongcun", Evidence: id, ExpectedVersion: 2, Reason: "重複", Actor: clerk, Client: events.ClientWeb}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.RetractEvidence(ctx, events.Correction{Unit: "dongcun", Evidence: id, ExpectedVersion: 3, Reason: "again", Actor: clerk, Client: events.ClientWeb}); !errors.Is(err, events.ErrConflict) {
		t.Fatalf("retract of retracted: got %v, want ErrConflict", err)
	}
	if _, err := l.RetractEvidence(ctx, events.Correction{Unit: "dongcun", Evidence: uuid.New(), ExpectedVersion: 1, Reason: "x", Actor: clerk, Client: events.ClientWeb}); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("retract of unknown: got %v, want ErrNotFound", err)
	}
	if _, _, err := l.SubmitEvidence(ctx, events.Submission{Unit: "nowhere", Evidence: events.Evidence{Kind: events.KindActivity, Title: "t"},
		OccurredAt: time.Now(), Actor: clerk, Client: events.ClientCLI}); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("submit to unknown unit: got %v, want ErrNotFound", err)
	}

	hist, err := l.History(ctx, "dongcun", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var types []events.Type
	for _, r := range hist {
		types = append(types, r.Event.Type)
	}
	want := []events.Type{events.TypeUnitRegistered, events.TypeEvidenceSubmitted, events.TypeEvidenceAmended, events.TypeEvidenceRetracted}
	if fmt.Sprint(types) != fmt.Sprint(want) {
		t.Fatalf("history types %v, want %v", types, want)
	}
	if err := events.VerifyChain(hist); err != nil {
		t.Fatal(err)
	}
	// As of the amendment's recorded time: three events.
	asOf, err := l.History(ctx, "dongcun", hist[2].Event.RecordedAt)
	if err != nil {
		t.Fatal(err)
	}
	if len(asOf) != 3 {
		t.Fatalf("history as of amendment: %d events, want 3", len(asOf))
	}
	if _, err := l.History(ctx, "nowhere", time.Time{}); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("history of unknown unit: %v", err)
	}
}

// TestConcurrentAppendsDoNotFork appends to one unit from several ledgers
// (as several processes would) at once and checks the chain is one line.
func TestConcurrentAppendsDoNotFork(t *testing.T) {
	n := testenv.StartNATS(t)
	ledgers := []*tzjs.Ledger{openLedger(t, n), openLedger(t, n), openLedger(t, n)}
	register(t, ledgers[0], "zhen")
	var wg sync.WaitGroup
	const per = 20
	for i, l := range ledgers {
		for g := 0; g < 2; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; k < per; k++ {
					submit(t, l, "zhen", uuid.New(), fmt.Sprintf("l%d g%d #%d", i, g, k))
				}
			}()
		}
	}
	wg.Wait()
	hist, err := ledgers[1].History(context.Background(), "zhen", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1+len(ledgers)*2*per {
		t.Fatalf("got %d events, want %d", len(hist), 1+len(ledgers)*2*per)
	}
	if err := events.VerifyChain(hist); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(hist); i++ {
		if hist[i].Event.RecordedAt.Before(hist[i-1].Event.RecordedAt) {
			t.Fatalf("recorded_at goes back at %d", i)
		}
	}
}

// TestStreamRefusesDeleteAndPurge asks the JetStream API itself to remove
// events, and shows that it refuses.
func TestStreamRefusesDeleteAndPurge(t *testing.T) {
	ctx := context.Background()
	n := testenv.StartNATS(t)
	l := openLedger(t, n)
	register(t, l, "cun")
	rec, _ := submit(t, l, "cun", uuid.New(), "t")
	st := l.Stream()
	if err := st.DeleteMsg(ctx, rec.Seq); err == nil {
		t.Fatal("DeleteMsg succeeded on the ledger")
	}
	if err := st.SecureDeleteMsg(ctx, rec.Seq); err == nil {
		t.Fatal("SecureDeleteMsg succeeded on the ledger")
	}
	if err := st.Purge(ctx); err == nil {
		t.Fatal("Purge succeeded on the ledger")
	}
	if err := st.Purge(ctx, js.WithPurgeSubject(l.UnitSubjects("cun"))); err == nil {
		t.Fatal("subject purge succeeded on the ledger")
	}
	hist, err := l.History(ctx, "cun", time.Time{})
	if err != nil || len(hist) != 2 {
		t.Fatalf("after refused deletes: %d events, %v", len(hist), err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Config.DenyDelete || !info.Config.DenyPurge || info.Config.AllowRollup {
		t.Fatalf("stream config lost its guards: %+v", info.Config)
	}
}

func TestOpenRefusesUnsafeStream(t *testing.T) {
	ctx := context.Background()
	n := testenv.StartNATS(t)
	nc := n.Connect(t)
	j, _ := js.New(nc)
	if _, err := j.CreateStream(ctx, js.StreamConfig{Name: tzjs.DefaultStream, Subjects: []string{tzjs.DefaultPrefix + ".>"}, Storage: js.FileStorage, MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := tzjs.Open(ctx, nc, tzjs.Config{}); err == nil {
		t.Fatal("Open accepted a stream that allows deletes and evicts by age")
	}
}

func TestFollowFromSequence(t *testing.T) {
	n := testenv.StartNATS(t)
	l := openLedger(t, n)
	register(t, l, "a")
	register(t, l, "b")
	submit(t, l, "a", uuid.New(), "x")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan events.Record, 16)
	go l.Follow(ctx, 2, func(r events.Record) error { got <- r; return nil })
	r := <-got
	if r.Seq != 2 || r.Event.Unit != "b" {
		t.Fatalf("first followed record: seq %d unit %s", r.Seq, r.Event.Unit)
	}
	<-got
	submit(t, l, "b", uuid.New(), "live")
	select {
	case r = <-got:
		if r.Seq != 4 {
			t.Fatalf("live record seq %d", r.Seq)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not deliver a new event")
	}
}

// TestClusterR3 runs the ledger on a three-node cluster with three
// replicas, stops one node and keeps appending and reading.
func TestClusterR3(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	ctx := context.Background()
	c := testenv.StartCluster(t, 3)
	nc, err := nats.Connect(c.URLs, nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var l *tzjs.Ledger
	testenv.Eventually(t, 60*time.Second, func() error {
		l, err = tzjs.Open(ctx, nc, tzjs.Config{Replicas: 3})
		return err
	})
	defer l.Close()
	info, err := l.Stream().Info(ctx)
	if err != nil || info.Config.Replicas != 3 {
		t.Fatalf("stream replicas: %v %v", info, err)
	}
	register(t, l, "cun")
	for i := 0; i < 5; i++ {
		submit(t, l, "cun", uuid.New(), fmt.Sprint("before ", i))
	}
	// Stop a node that is not the one we are connected to.
	for _, s := range c.Servers {
		if s.ClientURL() != nc.ConnectedUrl() {
			s.Shutdown()
			break
		}
	}
	testenv.Eventually(t, 60*time.Second, func() error {
		_, _, err := l.SubmitEvidence(ctx, events.Submission{Unit: "cun", Evidence: events.Evidence{Kind: events.KindActivity, Title: "after"},
			OccurredAt: time.Now(), Actor: clerk, Client: events.ClientCLI})
		return err
	})
	var hist []events.Record
	testenv.Eventually(t, 60*time.Second, func() error { // reads may time out while leaders move
		hist, err = l.History(ctx, "cun", time.Time{})
		return err
	})
	if len(hist) < 7 {
		t.Fatalf("%d events after losing a node", len(hist))
	}
	if err := events.VerifyChain(hist); err != nil {
		t.Fatal(err)
	}
}

// TestReadsDoNotPileUpConsumers reads history many times and checks that
// the consumers each read makes are gone afterwards (the server caps them
// per stream, and a leak would make every later read fail).
func TestReadsDoNotPileUpConsumers(t *testing.T) {
	ctx := context.Background()
	n := testenv.StartNATS(t)
	l := openLedger(t, n)
	register(t, l, "cun")
	submit(t, l, "cun", uuid.New(), "x")
	for i := 0; i < 50; i++ {
		if _, err := l.History(ctx, "cun", time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	testenv.Eventually(t, 5*time.Second, func() error { // inactive consumers would linger 10s
		info, err := l.Stream().Info(ctx)
		if err != nil {
			return err
		}
		if info.State.Consumers != 0 {
			return fmt.Errorf("%d consumers left on the stream", info.State.Consumers)
		}
		return nil
	})
}

func TestFindingsLifecycle(t *testing.T) {
	ctx := context.Background()
	n := testenv.StartNATS(t)
	l := openLedger(t, n)
	register(t, l, "cun")
	register(t, l, "other")
	inspector := events.Actor{ID: "insp-zhao", Role: events.RoleInspector}
	fid := uuid.New()
	nf := events.NewFinding{ID: fid, Unit: "cun", Finding: events.Finding{Requirement: "boards", Description: "善行義舉榜未更新", Severity: events.SeverityMedium, Due: "2016-10-15"},
		Actor: inspector, Client: events.ClientWeb}
	rec, created, err := l.RecordFinding(ctx, nf)
	if err != nil || !created {
		t.Fatal(created, err)
	}
	again, created, err := l.RecordFinding(ctx, nf)
	if err != nil || created || again.Seq != rec.Seq {
		t.Fatalf("re-record: %v %v", created, err)
	}
	bad := nf
	bad.ID, bad.Finding.Severity = uuid.New(), "urgent"
	if _, _, err := l.RecordFinding(ctx, bad); !errors.Is(err, events.ErrInvalid) {
		t.Fatalf("bad severity: %v", err)
	}
	// A rectification names the finding; one naming an unknown finding, or one of another unit, is refused.
	rect := events.Submission{Unit: "cun", Evidence: events.Evidence{Kind: events.KindRectification, Title: "已更新善行義舉榜", Finding: fid.String()},
		OccurredAt: time.Now(), Actor: clerk, Client: events.ClientWeb}
	rectRec, _, err := l.SubmitEvidence(ctx, rect)
	if err != nil {
		t.Fatal(err)
	}
	unknown := rect
	unknown.Evidence.Finding = uuid.NewString()
	if _, _, err := l.SubmitEvidence(ctx, unknown); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("rectification of an unknown finding: %v", err)
	}
	elsewhere := rect
	elsewhere.Unit = "other"
	if _, _, err := l.SubmitEvidence(ctx, elsewhere); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("rectification of another unit's finding: %v", err)
	}
	noFinding := rect
	noFinding.Evidence.Finding = ""
	if _, _, err := l.SubmitEvidence(ctx, noFinding); !errors.Is(err, events.ErrInvalid) {
		t.Fatalf("rectification naming no finding: %v", err)
	}

	d := events.FindingDecision{Unit: "cun", Finding: fid, ExpectedVersion: 1, Reason: "照片顯示已更新", Actor: inspector, Client: events.ClientWeb}
	// A resolve names its basis or overrides with a reason: neither, both,
	// or an override without a reason are refused; so is a basis that is
	// not standing evidence of the unit (a finding, an unknown id).
	basis := &events.ClosureBasis{Evidence: rectRec.Event.ID, Photo: strings.Repeat("a", 64), TakenAt: time.Now().UTC(), TakenFrom: events.TakenFromEXIF}
	for name, bad := range map[string]events.FindingDecision{
		"neither":            d,
		"both":               func() events.FindingDecision { x := d; x.Basis, x.Override = basis, true; return x }(),
		"override no reason": func() events.FindingDecision { x := d; x.Override, x.Reason = true, " "; return x }(),
	} {
		if _, err := l.ResolveFinding(ctx, bad); !errors.Is(err, events.ErrInvalid) {
			t.Fatalf("resolve %s: %v", name, err)
		}
	}
	for _, ev := range []uuid.UUID{fid, uuid.New()} {
		x := d
		x.Basis = &events.ClosureBasis{Evidence: ev, Photo: basis.Photo, TakenAt: basis.TakenAt, TakenFrom: basis.TakenFrom}
		if _, err := l.ResolveFinding(ctx, x); !errors.Is(err, events.ErrConflict) {
			t.Fatalf("resolve on basis %s: %v", ev, err)
		}
	}
	d.Basis = basis
	res, err := l.ResolveFinding(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	var changed events.FindingChanged
	if err := res.Event.DecodeData(&changed); err != nil || changed.Basis == nil || changed.Basis.Evidence != rectRec.Event.ID || changed.Override || changed.Version != 2 {
		t.Fatalf("resolve payload %+v: %v", changed, err)
	}
	if _, err := l.ResolveFinding(ctx, d); !errors.Is(err, events.ErrConflict) {
		t.Fatalf("resolve twice: %v", err)
	}
	d.Basis = nil
	d.ExpectedVersion, d.Reason = 2, " "
	if _, err := l.ReopenFinding(ctx, d); !errors.Is(err, events.ErrInvalid) {
		t.Fatalf("reopen without reason: %v", err)
	}
	d.Reason, d.ExpectedVersion = "照片是舊的", 1
	if _, err := l.ReopenFinding(ctx, d); !errors.Is(err, events.ErrConflict) {
		t.Fatalf("stale reopen: %v", err)
	}
	d.ExpectedVersion, d.Override = 2, true
	if _, err := l.ReopenFinding(ctx, d); !errors.Is(err, events.ErrInvalid) {
		t.Fatalf("reopen with an override: %v", err)
	}
	d.Override = false
	if _, err := l.ReopenFinding(ctx, d); err != nil {
		t.Fatal(err)
	}
	// Retracted evidence is no basis; an override with a reason resolves.
	d.ExpectedVersion, d.Reason, d.Basis = 3, "現場核實，照片設備故障", basis
	if _, err := l.RetractEvidence(ctx, events.Correction{Unit: "cun", Evidence: rectRec.Event.ID, ExpectedVersion: 1, Reason: "照片是舊的", Actor: clerk, Client: events.ClientWeb}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ResolveFinding(ctx, d); !errors.Is(err, events.ErrConflict) {
		t.Fatalf("resolve on retracted evidence: %v", err)
	}
	d.Basis, d.Override = nil, true
	if res, err = l.ResolveFinding(ctx, d); err != nil {
		t.Fatal(err)
	}
	changed = events.FindingChanged{}
	if err := res.Event.DecodeData(&changed); err != nil || changed.Basis != nil || !changed.Override || res.Event.Reason != d.Reason {
		t.Fatalf("override payload %+v %q: %v", changed, res.Event.Reason, err)
	}
	// Amending a finding as if it were evidence is refused.
	title := "x"
	if _, err := l.AmendEvidence(ctx, events.Correction{Unit: "cun", Evidence: fid, ExpectedVersion: 4, Reason: "r", Changes: events.Changes{Title: &title}, Actor: clerk, Client: events.ClientWeb}); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("amend a finding: %v", err)
	}
	hist, err := l.History(ctx, "cun", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if err := events.VerifyChain(hist); err != nil {
		t.Fatal(err)
	}
	if len(hist) != 7 {
		t.Fatalf("%d events", len(hist))
	}
}

// TestAppendGivesUpUnavailable: an append that keeps losing the race on
// its unit's head gives up with an error wrapping events.ErrUnavailable
// (a 503, try again), not an internal error, and appends nothing; with
// attempts left it decides again on the new head and succeeds.
func TestAppendGivesUpUnavailable(t *testing.T) {
	n := testenv.StartNATS(t)
	a, err := tzjs.Open(context.Background(), n.Connect(t), tzjs.Config{MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	b := openLedger(t, n)
	register(t, a, "cun")
	submit(t, a, "cun", uuid.New(), "a's first") // a now knows the head
	submit(t, b, "cun", uuid.New(), "b's")       // and that head is stale
	_, _, err = a.SubmitEvidence(context.Background(), events.Submission{ID: uuid.New(), Unit: "cun",
		Evidence: events.Evidence{Kind: events.KindActivity, Title: "a's second"}, OccurredAt: time.Now(), Actor: clerk, Client: events.ClientCLI})
	if !errors.Is(err, events.ErrUnavailable) || !strings.Contains(err.Error(), "gave up after 1 attempts") {
		t.Fatalf("contended append with no attempts left: %v", err)
	}
	hist, err := b.History(context.Background(), "cun", time.Time{})
	if err != nil || len(hist) != 3 {
		t.Fatalf("history: %d events, %v", len(hist), err)
	}
	// The failed attempt re-reads the head next time: a retry succeeds.
	submit(t, a, "cun", uuid.New(), "a's second, again")
	if err := events.VerifyChain(mustHistory(t, b, "cun")); err != nil {
		t.Fatal(err)
	}
}

func mustHistory(t *testing.T, l *tzjs.Ledger, unit string) []events.Record {
	t.Helper()
	h, err := l.History(context.Background(), unit, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

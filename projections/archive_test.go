package projections_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
	tzjs "taizhang/events/jetstream"
	"taizhang/internal/testenv"
	"taizhang/projections"
)

var update = flag.Bool("update", false, "rewrite golden files")

var (
	admin = events.Actor{ID: "admin", Role: events.RoleAdmin}
	clerk = events.Actor{ID: "clerk", Role: events.RoleSubmitter}
	t0    = time.Date(2016, 7, 1, 8, 0, 0, 0, time.UTC)
)

// script builds a fixed, sealed sequence of events for two units.
func script(t *testing.T) []events.Record {
	t.Helper()
	var recs []events.Record
	heads := map[string]events.Hash{}
	add := func(unit string, typ events.Type, id uuid.UUID, corrects *uuid.UUID, reason string, data any, atts ...events.Attachment) {
		n := len(recs)
		ev := &events.Event{ID: id, Type: typ, Schema: 1, Unit: unit, Actor: clerk, Client: events.ClientWeb,
			OccurredAt: t0.Add(time.Duration(n) * time.Hour), RecordedAt: t0.Add(time.Duration(n)*time.Hour + time.Minute),
			Corrects: corrects, Reason: reason, Attachments: atts}
		if typ == events.TypeUnitRegistered {
			ev.Actor = admin
		}
		if err := ev.SetData(data); err != nil {
			t.Fatal(err)
		}
		if err := ev.Seal(heads[unit]); err != nil {
			t.Fatal(err)
		}
		heads[unit] = ev.Hash
		recs = append(recs, events.Record{Seq: uint64(n + 1), Event: ev})
	}
	id := func(i int) uuid.UUID { return uuid.MustParse(fmt.Sprintf("0190a0a0-0000-7000-8000-%012d", i)) }
	photo := func(b byte) events.Attachment {
		return events.Attachment{SHA256: fmt.Sprintf("%064x", b), Size: int64(b) * 100, MediaType: "image/jpeg", Name: fmt.Sprintf("p%d.jpg", b)}
	}
	add("dongcun", events.TypeUnitRegistered, id(1), nil, "", events.UnitRegistered{Name: "東村村委會", UnitType: "village", Parent: "zhen", Headcount: 1200})
	add("xicun", events.TypeUnitRegistered, id(2), nil, "", events.UnitRegistered{Name: "西村村委會", UnitType: "village", Headcount: 800})
	add("dongcun", events.TypeEvidenceSubmitted, id(3), nil, "", events.EvidenceSubmitted{Evidence: events.Evidence{Kind: events.KindStudyNote, Title: "集中學習", Requirements: []string{"r1"}}, Version: 1}, photo(1), photo(2))
	add("xicun", events.TypeEvidenceSubmitted, id(4), nil, "", events.EvidenceSubmitted{Evidence: events.Evidence{Kind: events.KindActivity, Title: "端午活動"}, Version: 1}, photo(3))
	title := "集中學習（七月）"
	e3 := id(3)
	add("dongcun", events.TypeEvidenceAmended, id(5), &e3, "標題寫錯", events.EvidenceAmended{Changes: events.Changes{Title: &title, RemoveAttachments: []string{photo(1).SHA256}}, Version: 2}, photo(5))
	add("dongcun", events.TypeEvidenceRetracted, id(6), &e3, "重複提交", events.EvidenceRetracted{Version: 3})
	add("dongcun", "finding.recorded", id(7), nil, "", map[string]string{"future": "type"})
	add("dongcun", events.TypeEvidenceSubmitted, id(8), nil, "", events.EvidenceSubmitted{Evidence: events.Evidence{Kind: events.KindSummary, Title: "工作總結"}, Version: 1})
	return recs
}

func TestArchiveGolden(t *testing.T) {
	a := projections.NewArchive()
	for _, r := range script(t) {
		if err := a.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := a.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	var pretty bytes.Buffer
	_ = jsonIndent(&pretty, got)
	golden := filepath.Join("testdata", "archive.golden.json")
	if *update {
		if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Fatalf("archive state differs from %s (run with -update after checking):\n%s", golden, pretty.Bytes())
	}
	u := a.Unit("dongcun")
	it := u.Items()[0]
	if it.Status() != projections.StatusRetracted || it.Version != 3 || it.Title != "集中學習（七月）" || len(it.Chain) != 3 || it.Chain[2].Reason() != "重複提交" {
		t.Fatalf("amended+retracted item: %+v", it)
	}
	if len(it.Attachments) != 2 || it.Attachments.Name(0) != "p2.jpg" || it.Attachments.Name(1) != "p5.jpg" {
		t.Fatalf("attachments after amendment: %+v", it.Attachments)
	}
}

// TestArchiveDeterministic folds the same events in different batch sizes,
// with replays and a restart in the middle, and gets identical bytes.
func TestArchiveDeterministic(t *testing.T) {
	recs := script(t)
	whole := projections.NewArchive()
	for _, r := range recs {
		_ = whole.Apply(r)
	}
	want, _ := whole.MarshalState()
	for cut := 0; cut <= len(recs); cut++ {
		a := projections.NewArchive()
		for _, r := range recs[:cut] {
			_ = a.Apply(r)
		}
		// replay everything from the start: already applied records are ignored
		for _, r := range recs {
			if err := a.Apply(r); err != nil {
				t.Fatal(err)
			}
		}
		got, _ := a.MarshalState()
		if !bytes.Equal(got, want) {
			t.Fatalf("cut %d: state differs", cut)
		}
	}
	// FoldUnit over one unit's records equals that unit in the whole fold.
	var dong []events.Record
	for _, r := range recs {
		if r.Event.Unit == "dongcun" {
			dong = append(dong, r)
		}
	}
	u, err := projections.FoldUnit(dong)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(u.View(time.Time{})) == "" || len(u.Items()) != len(whole.Unit("dongcun").Items()) {
		t.Fatal("FoldUnit differs from the whole fold")
	}
}

func TestLiveFollowsLedgerAndRebuilds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := testenv.StartNATS(t)
	l, err := tzjs.Open(ctx, n.Connect(t), tzjs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.RegisterUnit(ctx, "cun", events.UnitRegistered{Name: "村", UnitType: "village"}, admin, events.ClientAPI); err != nil {
		t.Fatal(err)
	}
	live := projections.NewLive(l, nil)
	go live.Run(ctx)
	var last uint64
	for i := 0; i < 30; i++ {
		rec, _, err := l.SubmitEvidence(ctx, events.Submission{Unit: "cun", Evidence: events.Evidence{Kind: events.KindPhoto, Title: fmt.Sprint("p", i)},
			OccurredAt: t0, Actor: clerk, Client: events.ClientAPI})
		if err != nil {
			t.Fatal(err)
		}
		last = rec.Seq
	}
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if err := live.WaitFor(wctx, last); err != nil {
		t.Fatal(err)
	}
	var first []byte
	_ = live.Read(func(a *projections.Archive) error { first, err = a.MarshalState(); return err })

	// A second projection (a restart) rebuilds the same state from the ledger.
	again := projections.NewLive(l, nil)
	go again.Run(ctx)
	if err := again.WaitFor(wctx, last); err != nil {
		t.Fatal(err)
	}
	var second []byte
	_ = again.Read(func(a *projections.Archive) error { second, err = a.MarshalState(); return err })
	if !bytes.Equal(first, second) {
		t.Fatal("rebuilt projection differs")
	}
	// And the per-unit fold of the history gives the same unit view.
	hist, err := l.History(ctx, "cun", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := projections.FoldUnit(hist)
	var fromLive []byte
	_ = live.Read(func(a *projections.Archive) error {
		fromLive, err = jsonMarshal(a.Unit("cun").View(time.Time{}))
		return err
	})
	fromHist, _ := jsonMarshal(u.View(time.Time{}))
	if !bytes.Equal(fromLive, fromHist) {
		t.Fatal("history fold and live projection disagree")
	}
}

// TestRequirementListsShared: items with the same requirements share one
// list, items with another list keep theirs.
func TestRequirementListsShared(t *testing.T) {
	a := projections.NewArchive()
	var prev events.Hash
	add := func(seq uint64, typ events.Type, id uuid.UUID, data any) {
		ev := &events.Event{ID: id, Type: typ, Schema: 1, Unit: "dongcun", Actor: clerk, Client: events.ClientWeb,
			OccurredAt: t0, RecordedAt: t0.Add(time.Duration(seq) * time.Minute)}
		if err := ev.SetData(data); err != nil {
			t.Fatal(err)
		}
		if err := ev.Seal(prev); err != nil {
			t.Fatal(err)
		}
		prev = ev.Hash
		if err := a.Apply(events.Record{Seq: seq, Event: ev}); err != nil {
			t.Fatal(err)
		}
	}
	add(1, events.TypeUnitRegistered, uuid.New(), events.UnitRegistered{Name: "東村", UnitType: "village"})
	ids := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
	reqs := [][]string{{"photos", "study"}, {"photos", "study"}, {"photos"}}
	for i, id := range ids {
		add(uint64(2+i), events.TypeEvidenceSubmitted, id,
			events.EvidenceSubmitted{Evidence: events.Evidence{Kind: events.KindActivity, Title: "t", Requirements: reqs[i]}, Version: 1})
	}
	u := a.Unit("dongcun")
	r0, r1, r2 := u.Item(ids[0]).Requirements, u.Item(ids[1]).Requirements, u.Item(ids[2]).Requirements
	if !slices.Equal(r0, reqs[0]) || !slices.Equal(r1, reqs[1]) || !slices.Equal(r2, reqs[2]) {
		t.Fatalf("requirements %v %v %v", r0, r1, r2)
	}
	if &r0[0] != &r1[0] {
		t.Fatal("two items with the same requirements hold two lists")
	}
	if &r0[0] == &r2[0] {
		t.Fatal("items with different requirements share a list")
	}
}

package projections

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
	"taizhang/internal/spool"
)

// textsScript is a unit's history with bodies: submissions with bodies
// large enough together to pass several of the text file's flushes, an
// amendment of a body, one of the title only, one clearing the body, and
// a retraction.
func textsScript(t *testing.T) []events.Record {
	t.Helper()
	var recs []events.Record
	var head events.Hash
	t0 := time.Date(2016, 7, 1, 8, 0, 0, 0, time.UTC)
	add := func(typ events.Type, id uuid.UUID, corrects *uuid.UUID, data any) {
		n := len(recs)
		ev := &events.Event{ID: id, Type: typ, Schema: events.SchemaVersion, Unit: "dongcun", Client: events.ClientWeb,
			Actor: events.Actor{ID: "clerk", Role: events.RoleSubmitter}, OccurredAt: t0.Add(time.Duration(n) * time.Hour),
			RecordedAt: t0.Add(time.Duration(n)*time.Hour + time.Minute), Corrects: corrects}
		if corrects != nil {
			ev.Reason = "寫錯了"
		}
		if err := ev.SetData(data); err != nil {
			t.Fatal(err)
		}
		if err := ev.Seal(head); err != nil {
			t.Fatal(err)
		}
		head = ev.Hash
		recs = append(recs, events.Record{Seq: uint64(n + 1), Event: ev})
	}
	id := func(i int) uuid.UUID { return uuid.MustParse(fmt.Sprintf("0190a0a0-0000-7000-8000-%012d", i)) }
	add(events.TypeUnitRegistered, id(0), nil, events.UnitRegistered{Name: "東村村委會", UnitType: "village"})
	const n = 120 // 120 bodies of about 6 KB: three flushes of the buffer and a tail in it
	for i := 1; i <= n; i++ {
		body := fmt.Sprintf("第%d次集中學習。", i) + strings.Repeat("學習《廉潔自律準則》。", 200)
		if i%7 == 0 {
			body = "" // no body: held in memory, not written
		}
		add(events.TypeEvidenceSubmitted, id(i), nil, events.EvidenceSubmitted{Evidence: events.Evidence{Kind: events.KindStudyNote,
			Title: fmt.Sprintf("學習 %d", i), Body: body}, Version: 1})
	}
	body, title, none := "改過的內容：七月十二日上午九時。", "改過的標題", ""
	for _, i := range []int{1, 60, n} {
		e := id(i)
		add(events.TypeEvidenceAmended, id(1000+i), &e, events.EvidenceAmended{Changes: events.Changes{Body: &body}, Version: 2})
	}
	e := id(2)
	add(events.TypeEvidenceAmended, id(2000), &e, events.EvidenceAmended{Changes: events.Changes{Title: &title}, Version: 2})
	e = id(3)
	add(events.TypeEvidenceAmended, id(2001), &e, events.EvidenceAmended{Changes: events.Changes{Body: &none}, Version: 2})
	e = id(60)
	add(events.TypeEvidenceRetracted, id(2002), &e, events.EvidenceRetracted{Version: 3})
	return recs
}

func fold(t *testing.T, a *Archive, recs []events.Record) []byte {
	t.Helper()
	for _, r := range recs {
		if err := a.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
	if q := a.Quarantined(); len(q) != 0 {
		t.Fatalf("quarantined: %v", q)
	}
	st, err := a.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestSpooledTextsGiveTheSameArchive folds the same records with bodies in
// memory and in a text file: the states are byte for byte the same
// (bodies, amendments' before values and all), and the spooled archive
// holds its non-empty bodies in the file, not in memory.
func TestSpooledTextsGiveTheSameArchive(t *testing.T) {
	recs := textsScript(t)
	want := fold(t, NewArchive(), recs)
	spooled := NewArchive()
	spooled.SpoolTexts(t.TempDir())
	got := fold(t, spooled, recs)
	if !bytes.Equal(got, want) {
		t.Fatalf("spooled state differs from the in-memory one:\n%s\nwant\n%s", got, want)
	}
	if !bytes.Contains(want, []byte("改過的內容")) || !bytes.Contains(want, []byte("第118次集中學習")) {
		t.Fatal("the state does not hold the bodies: the comparison proves nothing")
	}
	u := spooled.Unit("dongcun")
	var inFile, empty int
	for _, it := range u.Items() {
		switch {
		case it.body.n&inMemory == 0 && it.body.p != nil:
			inFile++
		case it.body.n == inMemory: // an empty text
			empty++
		default:
			t.Errorf("item %s holds its body in memory", it.Title)
		}
	}
	if inFile == 0 || empty == 0 {
		t.Errorf("%d bodies in the file, %d empty: the script should have both", inFile, empty)
	}
	if w, b := spooled.texts.Sizes(); w == 0 || b == 0 {
		t.Errorf("text file holds %d bytes written and %d buffered: the script should reach both", w, b)
	}
	// An amendment's before value is what the body was.
	l := u.Item(uuid.MustParse("0190a0a0-0000-7000-8000-000000000001")).Chain[1]
	if l.Changes == nil || l.Changes.Before == nil || !strings.HasPrefix(*l.Changes.Before.Body, "第1次集中學習。") {
		t.Fatalf("before of the body amendment: %+v", l.Changes)
	}
}

// TestSpoolFailureChangesNothing: when the text file cannot be made, Apply
// says so, applies nothing and quarantines nothing; once it can, applying
// the same records again gives the archive a plain fold gives. A body that
// can no longer be read is an error from Body and from MarshalJSON, never
// an empty body.
func TestSpoolFailureChangesNothing(t *testing.T) {
	recs := textsScript(t)
	a := NewArchive()
	a.SpoolTexts(filepath.Join(t.TempDir(), "missing"))
	if err := a.Apply(recs[0]); err != nil {
		t.Fatalf("a record without a body: %v", err)
	}
	err := a.Apply(recs[1])
	if err == nil {
		t.Fatal("Apply with no text file: no error")
	}
	if a.Applied() != 1 || len(a.Quarantined()) != 0 || a.Unit("dongcun").Unit.Events != 1 || len(a.Unit("dongcun").Items()) != 0 {
		t.Fatalf("after the failure: applied %d, quarantined %v, unit %+v", a.Applied(), a.Quarantined(), a.Unit("dongcun").Unit)
	}
	a.textDir = t.TempDir() // the disk is back
	if got, want := fold(t, a, recs), fold(t, NewArchive(), recs); !bytes.Equal(got, want) {
		t.Fatal("after a retry the state differs from a plain fold")
	}

	// A failed amendment changes nothing either: its new body cannot be
	// written.
	b := NewArchive()
	b.SpoolTexts(t.TempDir())
	n := len(recs) - 6 // before the amendments
	fold(t, b, recs[:n])
	b.texts.Fail(fmt.Errorf("disk full"))
	if err := b.Apply(recs[n]); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("amendment with a failing text file: %v", err)
	}
	it := b.Unit("dongcun").Item(*recs[n].Event.Corrects)
	if body, _ := it.Body(); it.Version != 1 || len(it.Chain) != 1 || !strings.HasPrefix(body, "第1次") || b.Applied() != uint64(n) {
		t.Fatalf("after a failed amendment: version %d, %d links, applied %d, body %.20q", it.Version, len(it.Chain), b.Applied(), body)
	}

	b.texts.Close() // the file is gone
	if _, err := it.Body(); err == nil {
		t.Fatal("Body of an unreadable file: no error")
	}
	if _, err := it.MarshalJSON(); err == nil {
		t.Fatal("MarshalJSON of an item whose body cannot be read: no error")
	}
}

// TestTextForms: a text in memory, in a spool file and empty gives back
// what went in; one in memory keeps no file.
func TestTextForms(t *testing.T) {
	f, err := spool.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, s := range []string{"", "x", "第118次集中學習", strings.Repeat("長", 10_000)} {
		m := memText(strings.Clone(s))
		spooled, err := putText(f, []byte(s))
		if err != nil {
			t.Fatal(err)
		}
		for name, tx := range map[string]text{"memory": m, "spooled": spooled} {
			if got, err := tx.get(); err != nil || got != s {
				t.Fatalf("%s text of %d bytes gave %d bytes (%v)", name, len(s), len(got), err)
			}
		}
		if (spooled.n&inMemory == 0) != (s != "") {
			t.Fatalf("text %q: spooled %v", s, spooled.n&inMemory == 0)
		}
	}
	if got, err := (text{}).get(); err != nil || got != "" {
		t.Fatalf("zero text: %q %v", got, err)
	}
}

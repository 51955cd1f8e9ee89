package audit_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
	"taizhang/projections"
	"taizhang/projections/audit"
	"taizhang/projections/plan"
)

var (
	zone      = time.FixedZone("UTC+8", 8*3600)
	admin     = events.Actor{ID: "admin", Role: events.RoleAdmin}
	inspector = events.Actor{ID: "insp", Role: events.RoleInspector}
)

func clerk(unit string) events.Actor {
	return events.Actor{ID: "clerk-" + unit, Role: events.RoleSubmitter}
}

// at is a time in UTC+8: at("2016-09-08 14:00").
func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, zone)
	if err != nil {
		panic(err)
	}
	return t
}

func id(n int) uuid.UUID { return uuid.MustParse(fmt.Sprintf("0190a0a0-0000-7000-8000-%012d", n)) }

// photo is a JPEG attachment: digest from n, a perceptual hash, and an
// EXIF time ("" for none).
func photo(n int, phash uint64, taken string) events.Attachment {
	a := events.Attachment{SHA256: fmt.Sprintf("%064x", n), Size: 1000 + int64(n), MediaType: "image/jpeg", Name: fmt.Sprintf("p%d.jpg", n),
		Width: 320, Height: 240, TakenAt: taken}
	if phash != 0 {
		a.PHash = fmt.Sprintf("%016x", phash)
	}
	return a
}

func doc(n int) events.Attachment {
	return events.Attachment{SHA256: fmt.Sprintf("%064x", n), Size: 500, MediaType: "application/pdf", Name: fmt.Sprintf("d%d.pdf", n)}
}

// ledger builds sealed events, one hash chain per unit, in order.
type ledger struct {
	t     *testing.T
	recs  []events.Record
	heads map[string]events.Hash
}

func (l *ledger) add(unit string, typ events.Type, eid uuid.UUID, actor events.Actor, occurred, recorded time.Time, corrects *uuid.UUID, reason string, data any, atts ...events.Attachment) {
	l.t.Helper()
	ev := &events.Event{ID: eid, Type: typ, Schema: 1, Unit: unit, Actor: actor, Client: events.ClientWeb,
		OccurredAt: occurred, RecordedAt: recorded, Corrects: corrects, Reason: reason, Attachments: atts}
	if err := ev.SetData(data); err != nil {
		l.t.Fatal(err)
	}
	if err := ev.Seal(l.heads[unit]); err != nil {
		l.t.Fatal(err)
	}
	if err := ev.Validate(); err != nil {
		l.t.Fatal(err)
	}
	l.heads[unit] = ev.Hash
	l.recs = append(l.recs, events.Record{Seq: uint64(len(l.recs) + 1), Event: ev})
}

// submit records an evidence item: claimed at occurred, recorded at recorded.
func (l *ledger) submit(unit string, n int, title, occurred, recorded string, atts ...events.Attachment) {
	l.t.Helper()
	l.add(unit, events.TypeEvidenceSubmitted, id(n), clerk(unit), at(occurred), at(recorded), nil, "",
		events.EvidenceSubmitted{Evidence: events.Evidence{Kind: events.KindPhoto, Title: title, Requirements: []string{"r1"}}, Version: 1}, atts...)
}

// fixture is a small ledger with a story per view: 東村 (dong) amends and
// retracts, and backfills three items just before the 迎接測評 phase; 西村
// (xi) reuses 東村's photo and a near copy of it, has a photo without EXIF,
// backfills two items just before its deadline, and has a finding reopened;
// 南村 (nan) is clean.
func fixture(t *testing.T) *projections.Archive {
	l := &ledger{t: t, heads: map[string]events.Hash{}}
	for i, u := range []string{"dong", "xi", "nan"} {
		l.add(u, events.TypeUnitRegistered, id(900+i), admin, at("2016-01-01 08:00"), at("2016-01-01 08:00"), nil, "",
			events.UnitRegistered{Name: u + "村", UnitType: "village"})
	}
	p := plan.Plan{ID: "p", Title: "方案", TimeZone: "Asia/Shanghai", Period: plan.Span{Start: date(2016, 1, 1), End: date(2016, 12, 31)},
		Phases: []plan.Phase{
			{ID: "mobilize", Name: "宣傳發動階段", Span: plan.Span{Start: date(2016, 7, 1), End: date(2016, 7, 31)}},
			{ID: "evaluate", Name: "迎接測評階段", Span: plan.Span{Start: date(2016, 9, 11), End: date(2016, 10, 31)}},
		},
		AppliesTo: plan.Scope{Types: []string{"village"}},
		Requirements: []plan.Requirement{
			{ID: "r1", Title: "活動", Rule: plan.Rule{Kind: plan.RuleCount, Min: 1}},
			{ID: "survey", Title: "需求調研", AppliesTo: plan.Scope{Units: []string{"xi"}}, Rule: plan.Rule{Kind: plan.RuleDeadline, Min: 1, By: date(2016, 6, 30)}},
		}}
	pj, _ := json.Marshal(p)
	l.add(events.PlansChain, events.TypePlanPublished, id(950), admin, at("2016-01-02 08:00"), at("2016-01-02 08:00"), nil, "",
		events.PlanPublished{PlanID: "p", Version: 1, Plan: pj, Source: "test"})

	const (
		hA = 0x0f0f_3c3c_5a5a_9696 // 東村's board photo …
		hB = hA ^ 0b1011           // … and 西村's shrunk copy: 3 bits away
		hC = 0x7777_0000_ffff_1234 // the others are far apart
		hD = 0xaaaa_5555_aaaa_5555
		hE = 0xfedc_ba98_7654_3210
		hF = 0x0000_ffff_0000_ffff
		hG = 0xcccc_3333_f0f0_0f0f
	)
	// 東村: an item amended (title, date) and another retracted.
	l.submit("dong", 1, "端午活動", "2016-06-19 09:00", "2016-06-19 11:00", photo(1, hA, "2016-06-09T09:10:00"))
	title, right := "端午節活動", at("2016-06-09 09:00")
	l.add("dong", events.TypeEvidenceAmended, id(2), clerk("dong"), at("2016-06-29 10:00"), at("2016-06-29 10:00"), ptr(id(1)), "日期填錯",
		events.EvidenceAmended{Changes: events.Changes{Title: &title, OccurredAt: &right}, Version: 2})
	l.submit("dong", 3, "重複的學習記錄", "2016-07-05 09:00", "2016-07-05 10:00", doc(3))
	l.add("dong", events.TypeEvidenceRetracted, id(4), clerk("dong"), at("2016-07-07 10:00"), at("2016-07-07 10:00"), ptr(id(3)), "重複提交",
		events.EvidenceRetracted{Version: 2})
	// 東村's burst: three items of the spring, recorded 9月5日–8日 with
	// photos taken the day before.
	l.submit("dong", 5, "三月學習", "2016-03-10 09:00", "2016-09-05 15:00", photo(5, hC, "2016-09-04T10:00:00"))
	l.submit("dong", 6, "四月學習", "2016-04-12 09:00", "2016-09-06 15:00", photo(6, hD, "2016-09-05T10:00:00"))
	l.submit("dong", 7, "五月學習", "2016-05-15 09:00", "2016-09-08 15:00", photo(7, hE, "2016-09-07T10:00:00"))

	// 西村: the same bytes as 東村's photo, a near copy, a photo without
	// EXIF, and two items backfilled before its 6月30日 deadline.
	l.submit("xi", 10, "宣傳欄", "2016-06-20 09:00", "2016-06-20 10:00", photo(1, hA, "2016-06-09T09:10:00"))
	l.submit("xi", 11, "善行義舉榜", "2016-06-21 09:00", "2016-06-21 10:00", photo(11, hB, ""))
	l.submit("xi", 12, "一月調研", "2016-01-10 09:00", "2016-06-25 10:00", doc(12))
	l.submit("xi", 13, "二月調研", "2016-02-10 09:00", "2016-06-26 10:00", doc(13))
	l.add("xi", events.TypeFindingRecorded, id(20), inspector, at("2016-09-20 10:00"), at("2016-09-20 10:00"), nil, "",
		events.FindingRecorded{Finding: events.Finding{Description: "宣傳欄破損", Severity: "high", Due: "2016-10-10"}, Version: 1})
	l.add("xi", events.TypeFindingResolved, id(21), inspector, at("2016-09-25 10:00"), at("2016-09-25 10:00"), ptr(id(20)), "同意銷號",
		events.FindingChanged{Version: 2, Override: true})
	l.add("xi", events.TypeFindingReopened, id(22), inspector, at("2016-10-12 10:00"), at("2016-10-12 10:00"), ptr(id(20)), "整改照片是舊照片",
		events.FindingChanged{Version: 3})

	// 南村: on time, photos taken on the day, nothing shared.
	l.submit("nan", 30, "集中學習", "2016-03-08 09:00", "2016-03-08 12:00", photo(30, hF, "2016-03-08T09:05:00"))
	l.submit("nan", 31, "中秋活動", "2016-09-15 20:00", "2016-09-16 09:00", photo(31, hG, "2016-09-15T20:30:00"))

	a := projections.NewArchive()
	for _, r := range l.recs {
		if err := a.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

func date(y int, m time.Month, d int) plan.Date { return plan.Date{Year: y, Month: m, Day: d} }

func ptr(u uuid.UUID) *uuid.UUID { return &u }

func TestCorrections(t *testing.T) {
	a := fixture(t)
	for _, c := range []struct {
		name string
		o    audit.Options
		want []string
	}{
		{"all", audit.Options{}, []string{
			"dong amended 0190a0a0-0000-7000-8000-000000000001 clerk-dong 日期填錯 v2 title:端午活動→端午節活動 occurred_at:2016-06-19T09:00:00+08:00→2016-06-09T09:00:00+08:00",
			"dong retracted 0190a0a0-0000-7000-8000-000000000003 clerk-dong 重複提交 v2 status:current→retracted",
			"xi closure_overridden 0190a0a0-0000-7000-8000-000000000020 insp 同意銷號 v2 status:open→resolved",
			"xi finding_reopened 0190a0a0-0000-7000-8000-000000000020 insp 整改照片是舊照片 v3 status:resolved→open",
		}},
		{"unit", audit.Options{Filter: audit.Filter{Unit: "xi"}}, []string{
			"xi closure_overridden 0190a0a0-0000-7000-8000-000000000020 insp 同意銷號 v2 status:open→resolved",
			"xi finding_reopened 0190a0a0-0000-7000-8000-000000000020 insp 整改照片是舊照片 v3 status:resolved→open",
		}},
		{"actor", audit.Options{Filter: audit.Filter{Actor: "insp"}}, []string{
			"xi closure_overridden 0190a0a0-0000-7000-8000-000000000020 insp 同意銷號 v2 status:open→resolved",
			"xi finding_reopened 0190a0a0-0000-7000-8000-000000000020 insp 整改照片是舊照片 v3 status:resolved→open",
		}},
		{"period", audit.Options{Filter: audit.Filter{From: at("2016-07-01 00:00"), To: at("2016-08-01 00:00")}}, []string{
			"dong retracted 0190a0a0-0000-7000-8000-000000000003 clerk-dong 重複提交 v2 status:current→retracted",
		}},
		{"clean", audit.Options{Filter: audit.Filter{Unit: "nan"}}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, x := range audit.Corrections(a, c.o).Corrections {
				s := fmt.Sprintf("%s %s %s %s %s v%d", x.Unit, x.Kind, x.Target, x.Actor.ID, x.Reason, x.Version)
				for _, ch := range x.Changes {
					s += fmt.Sprintf(" %s:%v→%v", ch.Field, ch.Before, ch.After)
				}
				got = append(got, s)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

func TestBackfill(t *testing.T) {
	a := fixture(t)
	rep := audit.Backfill(a, audit.Options{})
	var units []string
	for _, u := range rep.Units {
		units = append(units, fmt.Sprintf("%s %d/%d max %.2f median %.2f", u.Unit, u.Flagged, u.Items, u.MaxLagDays, u.MedianLagDays))
	}
	want := []string{"dong 3/5 max 179.25 median 116.25", "nan 0/2 max 0.54 median 0.34", "xi 2/4 max 167.04 median 68.54"}
	if !slices.Equal(units, want) {
		t.Errorf("units:\n%s", strings.Join(units, "\n"))
	}
	if len(rep.Items) != 11 || rep.ThresholdDays != 30 {
		t.Errorf("%d items, threshold %d", len(rep.Items), rep.ThresholdDays)
	}
	// The amended item's lag is from its corrected date: 10 days, not flagged.
	for _, it := range rep.Items {
		if it.ID == id(1) && (it.LagDays != 10.08 || it.Flagged) {
			t.Errorf("amended item: %+v", it)
		}
		if it.ID == id(3) && !it.Retracted {
			t.Errorf("retracted item not marked: %+v", it)
		}
	}
	for _, c := range []struct {
		name    string
		o       audit.Options
		flagged []uuid.UUID
	}{
		{"default", audit.Options{FlaggedOnly: true}, []uuid.UUID{id(5), id(6), id(7), id(12), id(13)}},
		{"threshold 170 days", audit.Options{FlaggedOnly: true, ThresholdDays: 170}, []uuid.UUID{id(5)}},
		{"unit", audit.Options{FlaggedOnly: true, Filter: audit.Filter{Unit: "xi"}}, []uuid.UUID{id(12), id(13)}},
		{"recorded in September", audit.Options{FlaggedOnly: true, Filter: audit.Filter{From: at("2016-09-01 00:00"), To: at("2016-09-07 00:00")}}, []uuid.UUID{id(5), id(6)}},
		{"actor", audit.Options{FlaggedOnly: true, Filter: audit.Filter{Actor: "clerk-nan"}}, nil},
	} {
		var got []uuid.UUID
		for _, it := range audit.Backfill(a, c.o).Items {
			got = append(got, it.ID)
		}
		if !slices.Equal(got, c.flagged) {
			t.Errorf("%s: flagged %v, want %v", c.name, got, c.flagged)
		}
	}
}

func TestBursts(t *testing.T) {
	a := fixture(t)
	show := func(r audit.BurstsReport) []string {
		var out []string
		for _, b := range r.Bursts {
			s := fmt.Sprintf("%s before %s %s %s (%s) window %s..%s: %d items occurred %s..%s", b.Unit, b.Before.Kind, b.Before.ID, b.Before.Date,
				b.Before.At.Format(time.RFC3339), b.WindowStart.In(zone).Format("01-02"), b.WindowEnd.In(zone).Format("01-02"), b.Count, b.OccurredFrom, b.OccurredTo)
			for _, x := range b.Also {
				s += " also " + x.Kind + " " + x.ID
			}
			out = append(out, s)
		}
		return out
	}
	for _, c := range []struct {
		name string
		o    audit.Options
		want []string
	}{
		{"default", audit.Options{}, []string{
			"dong before phase_start evaluate 2016-09-11 (2016-09-11T00:00:00+08:00) window 08-28..09-11: 3 items occurred 2016-03-10..2016-05-15"}},
		// 西村's two items are a burst if two make one: before its deadline,
		// which ends when the 宣傳發動 phase starts.
		{"two make one", audit.Options{MinBurst: 2}, []string{
			"dong before phase_start evaluate 2016-09-11 (2016-09-11T00:00:00+08:00) window 08-28..09-11: 3 items occurred 2016-03-10..2016-05-15",
			"xi before phase_start mobilize 2016-07-01 (2016-07-01T00:00:00+08:00) window 06-17..07-01: 2 items occurred 2016-01-10..2016-02-10 also deadline survey"}},
		{"short window", audit.Options{WindowDays: 4}, nil}, // only 9月8日's item is within 4 days
		{"clean unit", audit.Options{Filter: audit.Filter{Unit: "nan"}, MinBurst: 1}, nil},
		{"high threshold", audit.Options{ThresholdDays: 150}, nil},
	} {
		if got := show(audit.Bursts(a, c.o)); !slices.Equal(got, c.want) {
			t.Errorf("%s:\n got %s\nwant %s", c.name, strings.Join(got, "\n"), strings.Join(c.want, "\n"))
		}
	}
}

func TestReuse(t *testing.T) {
	a := fixture(t)
	show := func(r audit.ReuseReport) []string {
		var out []string
		uses := func(us []audit.Use) string {
			var s []string
			for _, u := range us {
				x := u.Unit + "/" + u.ID.String()[33:]
				if u.Retracted {
					x += "(retracted)"
				}
				s = append(s, x)
			}
			return strings.Join(s, ",")
		}
		for _, e := range r.Exact {
			out = append(out, fmt.Sprintf("exact %s… %v %s", e.SHA256[60:], e.Units, uses(e.Uses)))
		}
		for _, n := range r.Near {
			out = append(out, fmt.Sprintf("near %d %s… %s ~ %s… %s", n.Distance, n.A.SHA256[60:], uses(n.A.Uses), n.B.SHA256[60:], uses(n.B.Uses)))
		}
		return out
	}
	for _, c := range []struct {
		name string
		o    audit.Options
		want []string
	}{
		{"all", audit.Options{}, []string{"exact 0001… [dong xi] dong/001,xi/010", "near 3 0001… dong/001,xi/010 ~ 000b… xi/011"}},
		{"unit", audit.Options{Filter: audit.Filter{Unit: "xi"}}, []string{"exact 0001… [dong xi] dong/001,xi/010", "near 3 0001… dong/001,xi/010 ~ 000b… xi/011"}},
		{"strict", audit.Options{NearDistance: 2}, []string{"exact 0001… [dong xi] dong/001,xi/010"}},
		{"before the copies", audit.Options{Filter: audit.Filter{To: at("2016-06-20 00:00")}}, []string{"exact 0001… [dong xi] dong/001,xi/010", "near 3 0001… dong/001,xi/010 ~ 000b… xi/011"}},
		{"clean unit", audit.Options{Filter: audit.Filter{Unit: "nan"}}, nil},
		{"actor", audit.Options{Filter: audit.Filter{Actor: "clerk-nan"}}, nil},
	} {
		if got := show(audit.Reuse(a, c.o)); !slices.Equal(got, c.want) {
			t.Errorf("%s:\n got %s\nwant %s", c.name, strings.Join(got, "\n"), strings.Join(c.want, "\n"))
		}
	}
}

func TestPhotoTimes(t *testing.T) {
	a := fixture(t)
	rep := audit.PhotoTimes(a, audit.Options{})
	var got []string
	for _, p := range rep.Flagged {
		got = append(got, fmt.Sprintf("%s/%s %s taken %s: %s %+d", p.Unit, p.ID.String()[33:], p.Occurred, p.TakenAt, p.Flag, p.Days))
	}
	want := []string{
		"dong/005 2016-03-10 taken 2016-09-04T10:00:00: later +178",
		"dong/006 2016-04-12 taken 2016-09-05T10:00:00: later +146",
		"dong/007 2016-05-15 taken 2016-09-07T10:00:00: later +115",
	}
	if !slices.Equal(got, want) {
		t.Errorf("flagged:\n%s", strings.Join(got, "\n"))
	}
	// The amended item's photo matches its corrected date; 西村's copy of
	// it is 11 days before its claim: within the tolerance.
	if rep.Checked != 7 || len(rep.NoEXIF) != 1 || rep.NoEXIF[0].ID != id(11) || rep.NoEXIF[0].Flag != "" {
		t.Errorf("checked %d, no EXIF %+v", rep.Checked, rep.NoEXIF)
	}
	if r := audit.PhotoTimes(a, audit.Options{PhotoEarlyDays: 10}); len(r.Flagged) != 4 || r.Flagged[3].ID != id(10) || r.Flagged[3].Flag != audit.PhotoEarlier {
		t.Errorf("early 10 days: %+v", r.Flagged)
	}
	if r := audit.PhotoTimes(a, audit.Options{Filter: audit.Filter{Unit: "nan"}}); len(r.Flagged)+len(r.NoEXIF) != 0 || r.Checked != 2 {
		t.Errorf("clean unit: %+v", r)
	}
	// 南村's 中秋 photo at 20:30 on the claimed day, recorded the next
	// morning: the dates are compared, not the hours after.
	if r := audit.PhotoTimes(a, audit.Options{PhotoLateDays: 0, Filter: audit.Filter{Unit: "nan"}}); len(r.Flagged) != 0 {
		t.Errorf("same day: %+v", r.Flagged)
	}
}

func TestActors(t *testing.T) {
	a := fixture(t)
	show := func(r audit.ActorsReport) []string {
		var out []string
		for _, x := range r.Actors {
			out = append(out, fmt.Sprintf("%s/%s sub %d am %d re %d f %d/%d/%d plans %d exp %d %v", x.Actor, x.Role, x.Submitted, x.Amended, x.Retracted,
				x.FindingsRecorded, x.FindingsResolved, x.FindingsReopened, x.PlansPublished, x.Exported, x.Units))
		}
		return out
	}
	want := []string{
		"admin/admin sub 0 am 0 re 0 f 0/0/0 plans 1 exp 0 []",
		"clerk-dong/submitter sub 5 am 1 re 1 f 0/0/0 plans 0 exp 0 [dong]",
		"clerk-nan/submitter sub 2 am 0 re 0 f 0/0/0 plans 0 exp 0 [nan]",
		"clerk-xi/submitter sub 4 am 0 re 0 f 0/0/0 plans 0 exp 0 [xi]",
		"insp/inspector sub 0 am 0 re 0 f 1/1/1 plans 0 exp 0 [xi]",
	}
	if got := show(audit.Actors(a, audit.Options{})); !slices.Equal(got, want) {
		t.Errorf("all:\n%s", strings.Join(got, "\n"))
	}
	if got := show(audit.Actors(a, audit.Options{Filter: audit.Filter{Unit: "dong", From: at("2016-06-25 00:00")}})); !slices.Equal(got, []string{
		"clerk-dong/submitter sub 4 am 1 re 1 f 0/0/0 plans 0 exp 0 [dong]"}) {
		t.Errorf("dong from 06-25:\n%s", strings.Join(got, "\n"))
	}
	if got := show(audit.Actors(a, audit.Options{Filter: audit.Filter{Actor: "insp"}})); !slices.Equal(got, want[4:]) {
		t.Errorf("insp:\n%s", strings.Join(got, "\n"))
	}
}

// TestDeterministic: the views of two folds of the same events encode to
// the same bytes, every time.
func TestDeterministic(t *testing.T) {
	views := func(a *projections.Archive) []byte {
		o := audit.Options{MinBurst: 2, PhotoEarlyDays: 5}
		b, err := json.Marshal([]any{audit.Corrections(a, o), audit.Backfill(a, o), audit.Bursts(a, o), audit.Reuse(a, o), audit.PhotoTimes(a, o), audit.Actors(a, o)})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	want := views(fixture(t))
	for i := 0; i < 5; i++ {
		if got := views(fixture(t)); string(got) != string(want) {
			t.Fatal("views differ between folds")
		}
	}
}

// TestReuseScope: with a scope, uses outside it are not shown, not even as
// the other half of a reuse.
func TestReuseScope(t *testing.T) {
	a := fixture(t)
	all := audit.Reuse(a, audit.Options{})
	if len(all.Exact) == 0 {
		t.Fatal("the story has no reuse")
	}
	for _, ex := range all.Exact {
		scope := ex.Units[0]
		r := audit.Reuse(a, audit.Options{Filter: audit.Filter{Scope: func(u string) bool { return u == scope }}})
		for _, e := range r.Exact {
			for _, u := range e.Uses {
				if u.Unit != scope {
					t.Errorf("scope %s shows a use in %s", scope, u.Unit)
				}
			}
		}
		for _, n := range r.Near {
			for _, u := range append(n.A.Uses, n.B.Uses...) {
				if u.Unit != scope {
					t.Errorf("scope %s shows a near duplicate in %s", scope, u.Unit)
				}
			}
		}
	}
}

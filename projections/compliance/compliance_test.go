package compliance_test

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/google/uuid"

	"taizhang/events"
	"taizhang/projections"
	"taizhang/projections/compliance"
	"taizhang/projections/plan"
)

var update = flag.Bool("update", false, "rewrite golden files")

var cstZone = func() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return l
}()

// cst is a time in China Standard Time (UTC+8).
func cst(y int, m time.Month, d, hh, mm int) time.Time {
	return time.Date(y, m, d, hh, mm, 0, 0, cstZone)
}

// utc is a time in UTC.
func utc(y int, m time.Month, d, hh, mm int) time.Time {
	return time.Date(y, m, d, hh, mm, 0, 0, time.UTC)
}

func date(y int, m time.Month, d int) plan.Date { return plan.Date{Year: y, Month: m, Day: d} }

func span(a, b plan.Date) plan.Span { return plan.Span{Start: a, End: b} }

// testPlan is the 雙創 plan, cut down to one requirement per rule kind and
// calendar period.
func testPlan() *plan.Plan {
	return &plan.Plan{
		ID: "sc-2016", Title: "創建全國文明城市和國家衛生城市工作實施方案", Issuer: "××鎮黨委、鎮政府",
		Period: span(date(2016, 7, 1), date(2016, 12, 31)),
		Phases: []plan.Phase{
			{ID: "mobilize", Name: "宣傳發動", Span: span(date(2016, 7, 1), date(2016, 7, 31))},
			{ID: "implement", Name: "全面落實", Span: span(date(2016, 8, 1), date(2016, 9, 10))},
			{ID: "inspect", Name: "迎接測評", Span: span(date(2016, 9, 11), date(2016, 9, 30))},
			{ID: "consolidate", Name: "整改鞏固", Span: span(date(2016, 10, 1), date(2016, 12, 31))},
		},
		AppliesTo: plan.Scope{Types: []string{"village", "community"}, Units: []string{"town-school"}},
		Requirements: []plan.Requirement{
			{ID: "study", Ref: "三（一）1", Title: "至少組織兩次集中學習", Accepts: plan.Accepts{Kinds: []string{"study_note", "activity"}, Tags: []string{"集中學習"}},
				Requires: []string{"document"}, Rule: plan.Rule{Kind: plan.RuleCount, Min: 2}},
			{ID: "dream", Ref: "三（一）2", Title: "中國夢學習教育", Requires: []string{"document", "photo"},
				Rule: plan.Rule{Kind: plan.RuleCount, Min: 1, Phase: "implement"}},
			{ID: "monthly", Ref: "四（二）", Title: "副組長每月至少召開一次推進會", Requires: []string{"photo"},
				Rule: plan.Rule{Kind: plan.RuleEvery, Min: 1, Every: plan.EveryMonth}},
			{ID: "weekly", Ref: "四（四）", Title: "內設組每週例會", Rule: plan.Rule{Kind: plan.RuleEvery, Min: 1, Every: plan.EveryWeek,
				From: date(2016, 8, 1), To: date(2016, 8, 31)}},
			{ID: "bimonthly", Ref: "四（一）", Title: "領導小組每兩個月聽取一次匯報", Rule: plan.Rule{Kind: plan.RuleEvery, Min: 1, Every: plan.EveryTwoMonths}},
			{ID: "quarterly", Ref: "四（五）", Title: "每季度督查", Rule: plan.Rule{Kind: plan.RuleEvery, Min: 1, Every: plan.EveryQuarter}},
			{ID: "festivals", Ref: "三（二）", Title: "我們的節日主題活動", Accepts: plan.Accepts{Kinds: []string{"activity"}},
				Rule: plan.Rule{Kind: plan.RuleWindows, Min: 1, Windows: []plan.Window{
					{Name: "中秋", Span: span(date(2016, 9, 13), date(2016, 9, 17))},
					{Name: "重陽", Span: span(date(2016, 10, 7), date(2016, 10, 11))},
				}}},
			{ID: "model-community", Ref: "三（三）", Title: "九月中旬前建成雙創宣傳示範社區", Rule: plan.Rule{Kind: plan.RuleDeadline, Min: 1, By: date(2016, 9, 15)}},
			{ID: "volunteers", Ref: "三（四）", Title: "志願者人數達到人口的10%以上", Rule: plan.Rule{Kind: plan.RuleRatio, Figure: "volunteers", MinRatio: 0.10}},
			{ID: "boards", Ref: "三（五）", Title: "道德模範宣傳欄", Rule: plan.Rule{Kind: plan.RulePresence}},
			{ID: "column", Ref: "二（一）", Title: "廉政文化專欄定期更新", Rule: plan.Rule{Kind: plan.RulePresence, Renew: plan.EveryQuarter}},
			{ID: "menu", Ref: "3+1+N", Title: "每月從選課菜單中選 3 項活動", AppliesTo: plan.Scope{Types: []string{"community"}},
				Accepts: plan.Accepts{Tags: []string{"親子閱讀", "法律講座", "健康講座"}}, Rule: plan.Rule{Kind: plan.RuleEvery, Min: 3, Every: plan.EveryMonth}},
			{ID: "school-only", Title: "學校專項", AppliesTo: plan.Scope{Units: []string{"town-school"}}, Rule: plan.Rule{Kind: plan.RulePresence}},
		},
	}
}

// Attachments.
func photo(n int) events.Attachment {
	return events.Attachment{SHA256: fmt.Sprintf("1%063x", n), Size: 1000, MediaType: "image/jpeg", Name: fmt.Sprintf("IMG_%d.jpg", n)}
}

func pdf(n int) events.Attachment {
	return events.Attachment{SHA256: fmt.Sprintf("2%063x", n), Size: 1000, MediaType: "application/pdf", Name: fmt.Sprintf("記錄%d.pdf", n)}
}

func docx(n int) events.Attachment {
	return events.Attachment{SHA256: fmt.Sprintf("3%063x", n), Size: 1000, MediaType: "application/zip", Name: fmt.Sprintf("學習記錄%d.docx", n)}
}

func txt(n int) events.Attachment {
	return events.Attachment{SHA256: fmt.Sprintf("4%063x", n), Size: 10, MediaType: "text/plain; charset=utf-8", Name: "note.txt"}
}

func zipFile(n int) events.Attachment {
	return events.Attachment{SHA256: fmt.Sprintf("5%063x", n), Size: 10, MediaType: "application/zip", Name: "photos.zip"}
}

func itemID(n int) uuid.UUID { return uuid.MustParse(fmt.Sprintf("0190a0a0-0000-7000-8000-%012d", n)) }

// history builds one unit's sealed events. Events are put in recorded
// order (stable), then sealed into a hash chain and numbered, as the
// ledger would have them.
type history struct {
	t      testing.TB
	unit   string
	evs    []*events.Event
	serial int
}

func newHistory(t testing.TB, unit, unitType string, headcount int) *history {
	h := &history{t: t, unit: unit}
	h.add(&events.Event{ID: uuid.MustParse("0190a0a0-0000-7000-8000-999999999999"), Type: events.TypeUnitRegistered,
		Actor: events.Actor{ID: "admin", Role: events.RoleAdmin}, OccurredAt: utc(2016, 6, 1, 0, 0), RecordedAt: utc(2016, 6, 1, 0, 0)},
		events.UnitRegistered{Name: "東村村委會", UnitType: unitType, Headcount: headcount})
	return h
}

func (h *history) add(ev *events.Event, data any) {
	ev.Schema, ev.Unit, ev.Client = 1, h.unit, events.ClientWeb
	if ev.Actor.ID == "" {
		ev.Actor = events.Actor{ID: "clerk", Role: events.RoleSubmitter}
	}
	if err := ev.SetData(data); err != nil {
		h.t.Fatal(err)
	}
	h.evs = append(h.evs, ev)
}

// submit records item n, claimed to occur at occurred, one hour later
// (or at recorded[0]).
func (h *history) submit(n int, occurred time.Time, e events.Evidence, atts ...events.Attachment) *history {
	return h.submitAt(n, occurred, occurred.Add(time.Hour), e, atts...)
}

func (h *history) submitAt(n int, occurred, recorded time.Time, e events.Evidence, atts ...events.Attachment) *history {
	if e.Kind == "" {
		e.Kind = events.KindActivity
	}
	if e.Title == "" {
		e.Title = fmt.Sprint("item ", n)
	}
	h.add(&events.Event{ID: itemID(n), Type: events.TypeEvidenceSubmitted, OccurredAt: occurred, RecordedAt: recorded, Attachments: atts},
		events.EvidenceSubmitted{Evidence: e, Version: 1})
	return h
}

func (h *history) amend(n int, recorded time.Time, c events.Changes, atts ...events.Attachment) *history {
	h.serial++
	id := itemID(n)
	h.add(&events.Event{ID: itemID(500000 + h.serial), Type: events.TypeEvidenceAmended, Corrects: &id, Reason: "更正",
		OccurredAt: recorded, RecordedAt: recorded, Attachments: atts}, events.EvidenceAmended{Changes: c})
	return h
}

func (h *history) retract(n int, recorded time.Time) *history {
	h.serial++
	id := itemID(n)
	h.add(&events.Event{ID: itemID(500000 + h.serial), Type: events.TypeEvidenceRetracted, Corrects: &id, Reason: "重複提交",
		OccurredAt: recorded, RecordedAt: recorded}, events.EvidenceRetracted{})
	return h
}

// records returns the sealed history in recorded order.
func (h *history) records() []events.Record {
	evs := slices.Clone(h.evs)
	slices.SortStableFunc(evs, func(a, b *events.Event) int { return a.RecordedAt.Compare(b.RecordedAt) })
	var prev events.Hash
	recs := make([]events.Record, len(evs))
	for i, ev := range evs {
		c := *ev
		if err := c.Seal(prev); err != nil {
			h.t.Fatal(err)
		}
		prev = c.Hash
		recs[i] = events.Record{Seq: uint64(i + 1), Event: &c}
	}
	return recs
}

// cut returns the records recorded at or before t: the ledger as of t.
func cut(recs []events.Record, t time.Time) []events.Record {
	var out []events.Record
	for _, r := range recs {
		if !r.Event.RecordedAt.After(t) {
			out = append(out, r)
		}
	}
	return out
}

// fold folds recs into a unit archive.
func fold(t testing.TB, recs []events.Record) (compliance.Unit, []*projections.Item) {
	t.Helper()
	u, err := projections.FoldUnit(recs)
	if err != nil {
		t.Fatal(err)
	}
	return compliance.UnitOf(u.Unit), u.Items()
}

// evaluateAsOf evaluates the plan over the history cut at asOf.
func evaluateAsOf(t testing.TB, p *plan.Plan, recs []events.Record, asOf time.Time) compliance.Report {
	t.Helper()
	u, items := fold(t, cut(recs, asOf))
	rep, err := compliance.Evaluate(p, u, items, asOf)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func result(t testing.TB, rep compliance.Report, req string) compliance.Result {
	t.Helper()
	for _, r := range rep.Requirements {
		if r.Requirement == req {
			return r
		}
	}
	t.Fatalf("requirement %s not in the report", req)
	return compliance.Result{}
}

func ev(reqs ...string) events.Evidence { return events.Evidence{Requirements: reqs} }

func tagged(kind events.Kind, tags []string, reqs ...string) events.Evidence {
	return events.Evidence{Kind: kind, Tags: tags, Requirements: reqs}
}

func figures(v float64, reqs ...string) events.Evidence {
	return events.Evidence{Requirements: reqs, Figures: map[string]float64{"volunteers": v}}
}

func ptr[T any](v T) *T { return &v }

func ids(ns ...int) []uuid.UUID {
	out := []uuid.UUID{}
	for _, n := range ns {
		out = append(out, itemID(n))
	}
	return out
}

func countedIDs(r compliance.Result) []uuid.UUID {
	out := []uuid.UUID{}
	for _, c := range r.Counted {
		out = append(out, c.ID)
	}
	return out
}

// period is what a test expects of one period or window.
type period struct {
	name   string
	count  int
	status string
}

func TestEvaluate(t *testing.T) {
	study := []string{"集中學習"}
	cases := []struct {
		name     string
		req      string
		asOf     time.Time
		build    func(h *history)
		status   string
		counted  []int
		rejected map[int][]string
		periods  []period // checked as a prefix of Periods when set
		due      plan.Date
		missing  string // a substring of Missing
	}{
		// Month edges in the plan's zone.
		{name: "month edge: 23:59 CST on the 31st is July, 00:00 CST on the 1st is August", req: "monthly", asOf: cst(2016, 8, 15, 12, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 7, 31, 23, 59), ev("monthly"), photo(1))
				h.submit(2, cst(2016, 8, 1, 0, 0), ev("monthly"), photo(2))
			},
			status: compliance.StatusMet, counted: []int{1, 2},
			periods: []period{{"2016年7月", 1, compliance.StatusMet}, {"2016年8月", 1, compliance.StatusMet}, {"2016年9月", 0, compliance.StatusNotDue}},
			due:     date(2016, 8, 31)},
		{name: "month edge in UTC: 2016-07-31T16:00Z is August, 15:59Z is July", req: "monthly", asOf: cst(2016, 8, 15, 12, 0),
			build: func(h *history) {
				h.submit(1, utc(2016, 7, 31, 15, 59), ev("monthly"), photo(1))
				h.submit(2, utc(2016, 7, 31, 16, 0), ev("monthly"), photo(2))
			},
			status: compliance.StatusMet, counted: []int{1, 2},
			periods: []period{{"2016年7月", 1, compliance.StatusMet}, {"2016年8月", 1, compliance.StatusMet}}},
		{name: "period start in UTC: 2016-06-30T16:30Z is July 1 in CST", req: "monthly", asOf: cst(2016, 7, 10, 12, 0),
			build: func(h *history) {
				h.submit(1, utc(2016, 6, 30, 16, 30), ev("monthly"), photo(1))
				h.submit(2, utc(2016, 6, 30, 15, 59), ev("monthly"), photo(2))
			},
			status: compliance.StatusMet, counted: []int{1}, rejected: map[int][]string{2: {compliance.ReasonOutside}},
			periods: []period{{"2016年7月", 1, compliance.StatusMet}}},
		{name: "period end in UTC: 2016-12-31T16:00Z is 2017 in CST", req: "study", asOf: cst(2017, 1, 2, 12, 0),
			build: func(h *history) {
				h.submit(1, utc(2016, 12, 31, 15, 59), tagged(events.KindStudyNote, study, "study"), pdf(1))
				h.submit(2, utc(2016, 12, 31, 16, 0), tagged(events.KindStudyNote, study, "study"), pdf(2))
			},
			status: compliance.StatusOverdue, counted: []int{1}, rejected: map[int][]string{2: {compliance.ReasonOutside}},
			due: date(2016, 12, 31), missing: "只有 1 次"},
		// Festival windows.
		{name: "festival windows: first and last day count, the day before and after do not", req: "festivals", asOf: cst(2016, 10, 20, 0, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 9, 12, 23, 59), ev("festivals"))
				h.submit(2, cst(2016, 9, 13, 0, 0), ev("festivals"))
				h.submit(3, cst(2016, 9, 17, 23, 59), ev("festivals"))
				h.submit(4, cst(2016, 9, 18, 0, 0), ev("festivals"))
				h.submit(5, cst(2016, 10, 6, 12, 0), ev("festivals"))
				h.submit(6, cst(2016, 10, 7, 12, 0), ev("festivals"))
				h.submit(7, cst(2016, 10, 11, 12, 0), ev("festivals"))
				h.submit(8, cst(2016, 10, 12, 12, 0), ev("festivals"))
			},
			status: compliance.StatusMet, counted: []int{2, 3, 6, 7},
			rejected: map[int][]string{1: {compliance.ReasonOutside}, 4: {compliance.ReasonOutside}, 5: {compliance.ReasonOutside}, 8: {compliance.ReasonOutside}},
			periods:  []period{{"中秋", 2, compliance.StatusMet}, {"重陽", 2, compliance.StatusMet}}},
		{name: "festival window missed is overdue, the next one not due", req: "festivals", asOf: cst(2016, 9, 20, 0, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 9, 12, 12, 0), ev("festivals"))
			},
			status: compliance.StatusOverdue, rejected: map[int][]string{1: {compliance.ReasonOutside}},
			periods: []period{{"中秋", 0, compliance.StatusOverdue}, {"重陽", 0, compliance.StatusNotDue}},
			due:     date(2016, 9, 17), missing: "「中秋」"},
		{name: "festival window current and empty is missing", req: "festivals", asOf: cst(2016, 9, 14, 0, 0),
			status: compliance.StatusMissing, periods: []period{{"中秋", 0, compliance.StatusMissing}, {"重陽", 0, compliance.StatusNotDue}},
			due: date(2016, 9, 17), missing: "還需 1 次活動，截止 2016-09-17"},
		{name: "festival windows: kind not accepted", req: "festivals", asOf: cst(2016, 9, 14, 0, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 9, 13, 12, 0), events.Evidence{Kind: events.KindSummary, Requirements: []string{"festivals"}})
			},
			status: compliance.StatusMissing, rejected: map[int][]string{1: {compliance.ReasonKind}}},
		// ISO weeks.
		{name: "ISO week: Sunday 23:59 ends a week, Monday 00:00 starts the next", req: "weekly", asOf: cst(2016, 8, 10, 12, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 8, 7, 23, 59), ev("weekly"))
				h.submit(2, cst(2016, 8, 8, 0, 0), ev("weekly"))
			},
			status: compliance.StatusMet, counted: []int{1, 2},
			periods: []period{{"2016年第31週（2016-08-01 起）", 1, compliance.StatusMet}, {"2016年第32週（2016-08-08 起）", 1, compliance.StatusMet},
				{"2016年第33週（2016-08-15 起）", 0, compliance.StatusNotDue}},
			due: date(2016, 8, 14)},
		{name: "ISO week: current week short is partial", req: "weekly", asOf: cst(2016, 8, 16, 12, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 8, 7, 23, 59), ev("weekly"))
				h.submit(2, cst(2016, 8, 8, 0, 0), ev("weekly"))
			},
			status: compliance.StatusPartial, counted: []int{1, 2}, due: date(2016, 8, 21), missing: "2016年第33週（2016-08-15 起）還需 1 件材料"},
		{name: "ISO week: a past week short is overdue; weekly rule outside From/To", req: "weekly", asOf: cst(2016, 8, 22, 12, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 8, 7, 23, 59), ev("weekly"))
				h.submit(2, cst(2016, 8, 8, 0, 0), ev("weekly"))
				h.submit(3, cst(2016, 7, 31, 23, 59), ev("weekly")) // a Sunday, before From
			},
			status: compliance.StatusOverdue, counted: []int{1, 2}, rejected: map[int][]string{3: {compliance.ReasonOutside}},
			periods: []period{{"2016年第31週（2016-08-01 起）", 1, compliance.StatusMet}, {"2016年第32週（2016-08-08 起）", 1, compliance.StatusMet},
				{"2016年第33週（2016-08-15 起）", 0, compliance.StatusOverdue}, {"2016年第34週（2016-08-22 起）", 0, compliance.StatusMissing},
				{"2016年第35週（2016-08-29 起）", 0, compliance.StatusNotDue}},
			due: date(2016, 8, 21), missing: "已逾期：2016年第33週（2016-08-15 起）（0/1）未達每週 1 件"},
		// Two-month periods and quarters.
		{name: "two months: Aug 31 23:59 is Jul-Aug, Sep 1 00:00 is Sep-Oct", req: "bimonthly", asOf: cst(2016, 9, 2, 0, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 8, 31, 23, 59), ev("bimonthly"))
				h.submit(2, cst(2016, 9, 1, 0, 0), ev("bimonthly"))
			},
			status: compliance.StatusMet, counted: []int{1, 2},
			periods: []period{{"2016年7–8月", 1, compliance.StatusMet}, {"2016年9–10月", 1, compliance.StatusMet}, {"2016年11–12月", 0, compliance.StatusNotDue}}},
		{name: "two months: Jul-Aug empty is overdue once September starts", req: "bimonthly", asOf: cst(2016, 9, 1, 12, 0),
			build: func(h *history) {
				h.submit(2, cst(2016, 9, 1, 0, 0), ev("bimonthly"))
			},
			status: compliance.StatusOverdue, counted: []int{2}, due: date(2016, 8, 31)},
		{name: "two months: Aug 31 23:59 still current", req: "bimonthly", asOf: cst(2016, 8, 31, 23, 59),
			status: compliance.StatusMissing, due: date(2016, 8, 31)},
		{name: "quarter: Sep 30 23:59 is Q3, Oct 1 00:00 is Q4", req: "quarterly", asOf: cst(2016, 10, 1, 12, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 9, 30, 23, 59), ev("quarterly"))
				h.submit(2, cst(2016, 10, 1, 0, 0), ev("quarterly"))
			},
			status: compliance.StatusMet, counted: []int{1, 2},
			periods: []period{{"2016年第3季度", 1, compliance.StatusMet}, {"2016年第4季度", 1, compliance.StatusMet}}, due: date(2016, 12, 31)},
		// Deadlines.
		{name: "deadline: the day itself counts, the day after does not", req: "model-community", asOf: cst(2016, 9, 20, 0, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 9, 15, 23, 59), ev("model-community"))
				h.submit(2, cst(2016, 9, 16, 0, 0), ev("model-community"))
			},
			status: compliance.StatusMet, counted: []int{1}, rejected: map[int][]string{2: {compliance.ReasonOutside}}, due: date(2016, 9, 15)},
		{name: "deadline: only after it is overdue", req: "model-community", asOf: cst(2016, 9, 20, 0, 0),
			build: func(h *history) {
				h.submit(2, cst(2016, 9, 16, 0, 0), ev("model-community"))
			},
			status: compliance.StatusOverdue, rejected: map[int][]string{2: {compliance.ReasonOutside}}, due: date(2016, 9, 15), missing: "已逾期"},
		{name: "deadline: on the day, not yet met is missing", req: "model-community", asOf: cst(2016, 9, 15, 23, 59),
			status: compliance.StatusMissing, due: date(2016, 9, 15), missing: "還需 1 件材料，截止 2016-09-15"},
		{name: "deadline: evidence from before the plan period counts", req: "model-community", asOf: cst(2016, 7, 2, 0, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 6, 20, 10, 0), ev("model-community"))
			},
			status: compliance.StatusMet, counted: []int{1}},
		// Attachments, kinds and tags.
		{name: "attachments: document required; docx sniffed as zip, text and pdf count; photo and zip do not", req: "study", asOf: cst(2016, 8, 1, 0, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 7, 5, 9, 0), tagged(events.KindStudyNote, study, "study"), photo(1))
				h.submit(2, cst(2016, 7, 6, 9, 0), tagged(events.KindStudyNote, study, "study"), docx(2))
				h.submit(3, cst(2016, 7, 7, 9, 0), tagged(events.KindStudyNote, study, "study"), txt(3))
				h.submit(4, cst(2016, 7, 8, 9, 0), tagged(events.KindStudyNote, study, "study"), zipFile(4))
				h.submit(5, cst(2016, 7, 9, 9, 0), tagged(events.KindActivity, study, "study"), pdf(5), photo(5))
			},
			status: compliance.StatusMet, counted: []int{2, 3, 5},
			rejected: map[int][]string{1: {compliance.ReasonNoDocument}, 4: {compliance.ReasonNoDocument}}, due: date(2016, 12, 31)},
		{name: "kind, tag and attachment all wrong: every reason listed", req: "study", asOf: cst(2016, 8, 1, 0, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 7, 5, 9, 0), tagged(events.KindSummary, []string{"其他"}, "study"), photo(1))
				h.submit(2, cst(2016, 7, 6, 9, 0), tagged(events.KindStudyNote, nil, "study"), pdf(2))
			},
			status:   compliance.StatusMissing,
			rejected: map[int][]string{1: {compliance.ReasonKind, compliance.ReasonTag, compliance.ReasonNoDocument}, 2: {compliance.ReasonTag}},
			missing:  "還需 2 次集中學習（附文件），截止 2016-12-31"},
		{name: "photo and document required: a pdf alone lacks the photo", req: "dream", asOf: cst(2016, 8, 20, 0, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 8, 5, 9, 0), ev("dream"), pdf(1))
				h.submit(2, cst(2016, 8, 6, 9, 0), ev("dream"))
			},
			status:   compliance.StatusMissing,
			rejected: map[int][]string{1: {compliance.ReasonNoPhoto}, 2: {compliance.ReasonNoPhoto, compliance.ReasonNoDocument}},
			due:      date(2016, 9, 10), missing: "還需 1 件材料（附照片及文件），截止 2016-09-10"},
		// Phases.
		{name: "phase not started: not due", req: "dream", asOf: cst(2016, 7, 20, 0, 0), status: compliance.StatusNotDue, due: date(2016, 9, 10),
			missing: "「全面落實」階段 2016-08-01 起計"},
		{name: "phase: an item in another phase does not count", req: "dream", asOf: cst(2016, 8, 20, 0, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 7, 31, 23, 59), ev("dream"), pdf(1), photo(1))
				h.submit(2, cst(2016, 8, 1, 0, 0), ev("dream"), pdf(2), photo(2))
			},
			status: compliance.StatusMet, counted: []int{2}, rejected: map[int][]string{1: {compliance.ReasonOutside}}},
		{name: "phase ended short: overdue", req: "dream", asOf: cst(2016, 9, 11, 0, 0), status: compliance.StatusOverdue, due: date(2016, 9, 10)},
		// Corrections and the as-of cut.
		{name: "retracted at or before T never counts", req: "monthly", asOf: cst(2016, 7, 20, 0, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 7, 5, 9, 0), ev("monthly"), photo(1))
				h.retract(1, cst(2016, 7, 20, 0, 0))
			},
			status: compliance.StatusMissing, rejected: map[int][]string{1: {compliance.ReasonRetracted}}},
		{name: "retracted after T counts as it stood", req: "monthly", asOf: cst(2016, 7, 19, 23, 59),
			build: func(h *history) {
				h.submit(1, cst(2016, 7, 5, 9, 0), ev("monthly"), photo(1))
				h.retract(1, cst(2016, 7, 20, 0, 0))
			},
			status: compliance.StatusMet, counted: []int{1}},
		{name: "amended occurred date, before the amendment: counts in its window", req: "festivals", asOf: cst(2016, 9, 19, 0, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 9, 14, 9, 0), ev("festivals"))
				h.amend(1, cst(2016, 9, 20, 0, 0), events.Changes{OccurredAt: ptr(cst(2016, 9, 19, 9, 0))})
			},
			status: compliance.StatusMet, counted: []int{1}},
		{name: "amended occurred date, after the amendment: outside the window", req: "festivals", asOf: cst(2016, 9, 21, 0, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 9, 14, 9, 0), ev("festivals"))
				h.amend(1, cst(2016, 9, 20, 0, 0), events.Changes{OccurredAt: ptr(cst(2016, 9, 19, 9, 0))})
			},
			status: compliance.StatusOverdue, rejected: map[int][]string{1: {compliance.ReasonOutside}}},
		{name: "amended to name the requirement: not before", req: "boards", asOf: cst(2016, 7, 9, 0, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 7, 5, 9, 0), ev(), photo(1))
				h.amend(1, cst(2016, 7, 10, 0, 0), events.Changes{Requirements: &[]string{"boards"}})
			},
			status: compliance.StatusMissing},
		{name: "amended to name the requirement: counts after", req: "boards", asOf: cst(2016, 7, 10, 0, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 7, 5, 9, 0), ev(), photo(1))
				h.amend(1, cst(2016, 7, 10, 0, 0), events.Changes{Requirements: &[]string{"boards"}})
			},
			status: compliance.StatusMet, counted: []int{1}},
		{name: "amended to remove its only photo: no longer counts", req: "boards", asOf: cst(2016, 7, 10, 0, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 7, 5, 9, 0), ev("boards"), photo(1))
				h.amend(1, cst(2016, 7, 10, 0, 0), events.Changes{RemoveAttachments: []string{photo(1).SHA256}}, pdf(1))
			},
			status: compliance.StatusMissing, rejected: map[int][]string{1: {compliance.ReasonNoPhoto}}},
		{name: "recorded after T: absent", req: "monthly", asOf: cst(2016, 7, 15, 0, 0),
			build: func(h *history) {
				h.submitAt(1, cst(2016, 7, 10, 9, 0), cst(2016, 7, 15, 0, 1), ev("monthly"), photo(1))
			},
			status: compliance.StatusMissing},
		{name: "recorded exactly at T: present", req: "monthly", asOf: cst(2016, 7, 15, 0, 1),
			build: func(h *history) {
				h.submitAt(1, cst(2016, 7, 10, 9, 0), cst(2016, 7, 15, 0, 1), ev("monthly"), photo(1))
			},
			status: compliance.StatusMet, counted: []int{1}},
		{name: "a claimed date after T does not count yet", req: "monthly", asOf: cst(2016, 7, 15, 0, 0),
			build: func(h *history) {
				h.submitAt(1, cst(2016, 7, 16, 9, 0), cst(2016, 7, 14, 0, 0), ev("monthly"), photo(1))
			},
			status: compliance.StatusMissing, rejected: map[int][]string{1: {compliance.ReasonFuture}}},
		// Before and after the plan period.
		{name: "before the period: not due", req: "model-community", asOf: cst(2016, 6, 30, 23, 59),
			build: func(h *history) {
				h.submit(1, cst(2016, 6, 20, 10, 0), ev("model-community"))
			},
			status: compliance.StatusNotDue, counted: []int{1}, missing: "方案自 2016-07-01 起實施"},
		{name: "after the period: monthly overdue", req: "monthly", asOf: cst(2017, 1, 5, 0, 0),
			build: func(h *history) {
				for m := time.July; m <= time.November; m++ {
					h.submit(int(m), cst(2016, m, 10, 9, 0), ev("monthly"), photo(int(m)))
				}
			},
			status: compliance.StatusOverdue, counted: []int{7, 8, 9, 10, 11}, due: date(2016, 12, 31), missing: "2016年12月（0/1）"},
		{name: "monthly: all months met so far, current one empty: partial", req: "monthly", asOf: cst(2016, 8, 5, 0, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 7, 10, 9, 0), ev("monthly"), photo(1))
			},
			status: compliance.StatusPartial, counted: []int{1}, due: date(2016, 8, 31), missing: "2016年8月還需 1 件材料（附照片），截止 2016-08-31"},
		{name: "monthly: first month empty: missing", req: "monthly", asOf: cst(2016, 7, 5, 0, 0), status: compliance.StatusMissing, due: date(2016, 7, 31)},
		// Presence.
		{name: "presence: needs a photo by default", req: "boards", asOf: cst(2016, 8, 1, 0, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 7, 5, 9, 0), ev("boards"), pdf(1))
			},
			status: compliance.StatusMissing, rejected: map[int][]string{1: {compliance.ReasonNoPhoto}}, missing: "還需 1 件材料（附照片）"},
		{name: "presence: a standing board photographed before the period counts", req: "boards", asOf: cst(2016, 8, 1, 0, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 5, 5, 9, 0), ev("boards"), photo(1))
			},
			status: compliance.StatusMet, counted: []int{1}},
		{name: "presence: none by the end of the period is overdue", req: "boards", asOf: cst(2017, 1, 1, 0, 0), status: compliance.StatusOverdue},
		{name: "presence renewed each quarter: Q4 not yet", req: "column", asOf: cst(2016, 10, 5, 0, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 7, 5, 9, 0), ev("column"), photo(1))
			},
			status: compliance.StatusPartial, counted: []int{1},
			periods: []period{{"2016年第3季度", 1, compliance.StatusMet}, {"2016年第4季度", 0, compliance.StatusMissing}}, due: date(2016, 12, 31)},
		// Ratio.
		{name: "ratio: 130 of 1200 is met", req: "volunteers", asOf: cst(2016, 8, 20, 0, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 8, 1, 9, 0), figures(130, "volunteers"))
			},
			status: compliance.StatusMet, counted: []int{1}},
		{name: "ratio: the latest by occurred date decides, not the latest recorded", req: "volunteers", asOf: cst(2016, 8, 20, 0, 0),
			build: func(h *history) {
				h.submitAt(1, cst(2016, 8, 1, 9, 0), cst(2016, 8, 10, 0, 0), figures(130, "volunteers"))
				h.submitAt(2, cst(2016, 7, 20, 9, 0), cst(2016, 8, 15, 0, 0), figures(100, "volunteers"))
				h.submit(3, cst(2016, 8, 2, 9, 0), ev("volunteers"))
			},
			status: compliance.StatusMet, counted: []int{2, 1}, rejected: map[int][]string{3: {compliance.ReasonNoFigure}}},
		{name: "ratio: a later lower figure is partial", req: "volunteers", asOf: cst(2016, 8, 20, 0, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 8, 1, 9, 0), figures(130, "volunteers"))
				h.submit(2, cst(2016, 8, 5, 9, 0), figures(100, "volunteers"))
			},
			status: compliance.StatusPartial, counted: []int{1, 2}, missing: "volunteers 最新填報 100，佔單位人數 1200 的 8.3%，未達 10%（還差約 20）"},
		{name: "ratio: nothing reported", req: "volunteers", asOf: cst(2016, 8, 20, 0, 0), status: compliance.StatusMissing, missing: "尚未填報 volunteers"},
		{name: "ratio: exactly 10% is met", req: "volunteers", asOf: cst(2016, 8, 20, 0, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 8, 1, 9, 0), figures(120, "volunteers"))
			},
			status: compliance.StatusMet, counted: []int{1}},
		// Naming the requirement.
		{name: "named with the plan id counts; another plan's does not; named twice counts once", req: "boards", asOf: cst(2016, 8, 1, 0, 0),
			build: func(h *history) {
				h.submit(1, cst(2016, 7, 5, 9, 0), ev("sc-2016/boards"), photo(1))
				h.submit(2, cst(2016, 7, 6, 9, 0), ev("other-2016/boards"), photo(2))
				h.submit(3, cst(2016, 7, 7, 9, 0), ev("boards", "sc-2016/boards"), photo(3))
			},
			status: compliance.StatusMet, counted: []int{1, 3}},
	}
	p := testPlan()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHistory(t, "dongcun", "village", 1200)
			if c.build != nil {
				c.build(h)
			}
			rep := evaluateAsOf(t, p, h.records(), c.asOf)
			r := result(t, rep, c.req)
			defer func() {
				if t.Failed() {
					b, _ := json.MarshalIndent(r, "", "  ")
					t.Logf("result: %s", b)
				}
			}()
			if r.Status != c.status {
				t.Errorf("status %s, want %s", r.Status, c.status)
			}
			if got, want := countedIDs(r), ids(c.counted...); !slices.Equal(got, want) {
				t.Errorf("counted %v, want %v", got, want)
			}
			gotRej := map[uuid.UUID][]string{}
			for _, rj := range r.Rejected {
				gotRej[rj.ID] = rj.Reasons
				if rj.Why == "" {
					t.Errorf("rejected %s without words", rj.ID)
				}
			}
			wantRej := map[uuid.UUID][]string{}
			for n, rs := range c.rejected {
				wantRej[itemID(n)] = rs
			}
			if !reflect.DeepEqual(gotRej, wantRej) {
				t.Errorf("rejected %v, want %v", gotRej, wantRej)
			}
			for k, want := range c.periods {
				if k >= len(r.Periods) {
					t.Fatalf("%d periods, want at least %d", len(r.Periods), len(c.periods))
				}
				got := r.Periods[k]
				if got.Name != want.name || got.Count != want.count || got.Status != want.status {
					t.Errorf("period %d: %s %d %s, want %s %d %s", k, got.Name, got.Count, got.Status, want.name, want.count, want.status)
				}
			}
			if !c.due.IsZero() && r.Due != c.due {
				t.Errorf("due %s, want %s", r.Due, c.due)
			}
			if !strings.Contains(r.Missing, c.missing) {
				t.Errorf("missing %q, want it to contain %q", r.Missing, c.missing)
			}
			if (r.Status == compliance.StatusMet) != (r.Missing == "") {
				t.Errorf("status %s with missing %q", r.Status, r.Missing)
			}
		})
	}
}

func TestPeriodsTileTheRange(t *testing.T) {
	p := testPlan()
	h := newHistory(t, "dongcun", "village", 1200)
	rep := evaluateAsOf(t, p, h.records(), cst(2016, 8, 1, 0, 0))
	want := map[string]struct {
		n          int
		first, end plan.Date
	}{
		"monthly":   {6, date(2016, 7, 1), date(2016, 12, 31)},
		"weekly":    {5, date(2016, 8, 1), date(2016, 8, 31)}, // W31..W35, the last clipped at Aug 31
		"bimonthly": {3, date(2016, 7, 1), date(2016, 12, 31)},
		"quarterly": {2, date(2016, 7, 1), date(2016, 12, 31)},
		"column":    {2, date(2016, 7, 1), date(2016, 12, 31)},
		"festivals": {2, date(2016, 9, 13), date(2016, 10, 11)},
	}
	for req, w := range want {
		r := result(t, rep, req)
		if len(r.Periods) != w.n || r.Periods[0].Start != w.first || r.Periods[len(r.Periods)-1].End != w.end {
			t.Errorf("%s: %d periods from %s to %s, want %d from %s to %s", req, len(r.Periods), r.Periods[0].Start,
				r.Periods[len(r.Periods)-1].End, w.n, w.first, w.end)
		}
		if r.Rule == plan.RuleWindows {
			continue
		}
		for k := 1; k < len(r.Periods); k++ {
			prev := r.Periods[k-1].End.End(time.UTC)
			if !prev.Equal(r.Periods[k].Start.Start(time.UTC)) {
				t.Errorf("%s: period %d starts %s, previous ends %s", req, k, r.Periods[k].Start, r.Periods[k-1].End)
			}
		}
	}
	// A week rule across a year boundary: ISO week 52 of 2016 ends on
	// Sunday 2017-01-01, week 1 of 2017 starts on Monday 2017-01-02.
	p.Period = span(date(2016, 12, 20), date(2017, 1, 10))
	p.Requirements = []plan.Requirement{{ID: "w", Rule: plan.Rule{Kind: plan.RuleEvery, Min: 1, Every: plan.EveryWeek}}}
	h = newHistory(t, "dongcun", "village", 1200)
	h.submit(1, cst(2017, 1, 1, 23, 59), ev("w"))
	h.submit(2, cst(2017, 1, 2, 0, 0), ev("w"))
	r := result(t, evaluateAsOf(t, p, h.records(), cst(2017, 1, 20, 0, 0)), "w")
	var names []string
	for _, pr := range r.Periods {
		names = append(names, fmt.Sprintf("%s %s..%s %d", pr.Name, pr.Start, pr.End, pr.Count))
	}
	wantNames := []string{
		"2016年第51週（2016-12-19 起） 2016-12-20..2016-12-25 0",
		"2016年第52週（2016-12-26 起） 2016-12-26..2017-01-01 1",
		"2017年第1週（2017-01-02 起） 2017-01-02..2017-01-08 1",
		"2017年第2週（2017-01-09 起） 2017-01-09..2017-01-10 0",
	}
	if !slices.Equal(names, wantNames) {
		t.Errorf("weeks:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(wantNames, "\n"))
	}
}

func TestScopeAndTotals(t *testing.T) {
	p := testPlan()
	reqs := func(rep compliance.Report) []string {
		var out []string
		for _, r := range rep.Requirements {
			out = append(out, r.Requirement)
		}
		return out
	}
	all := []string{"study", "dream", "monthly", "weekly", "bimonthly", "quarterly", "festivals", "model-community", "volunteers", "boards", "column"}
	for _, c := range []struct {
		unit, typ string
		want      []string
	}{
		{"dongcun", "village", all},
		{"shequ", "community", append(slices.Clone(all), "menu")},
		{"town-school", "school", append(slices.Clone(all), "school-only")},
		{"bureau", "bureau", nil},
	} {
		rep, err := compliance.Evaluate(p, compliance.Unit{ID: c.unit, Type: c.typ}, nil, cst(2016, 7, 15, 0, 0))
		if err != nil {
			t.Fatal(err)
		}
		if got := reqs(rep); !slices.Equal(got, c.want) {
			t.Errorf("%s: requirements %v, want %v", c.unit, got, c.want)
		}
	}

	// Totals before, during and after the period.
	h := newHistory(t, "dongcun", "village", 1200)
	h.submit(1, cst(2016, 7, 5, 9, 0), ev("boards", "column", "monthly", "quarterly", "bimonthly"), photo(1))
	recs := h.records()
	before := evaluateAsOf(t, p, recs, cst(2016, 6, 30, 0, 0))
	if before.Due != 0 || before.Met != 0 {
		t.Errorf("before the period: due %d met %d, want 0 0", before.Due, before.Met)
	}
	for _, r := range before.Requirements {
		if r.Status != compliance.StatusNotDue {
			t.Errorf("before the period: %s is %s", r.Requirement, r.Status)
		}
	}
	during := evaluateAsOf(t, p, recs, cst(2016, 7, 10, 0, 0))
	// Due: all but weekly (from Aug 1), dream (phase from Aug 1) and
	// festivals (from Sep 13). Met: boards, column, monthly, quarterly, bimonthly.
	if during.Due != 8 || during.Met != 5 || during.Today != date(2016, 7, 10) {
		t.Errorf("during: due %d met %d today %s, want 8 5 2016-07-10", during.Due, during.Met, during.Today)
	}
}

func TestUnitWithoutHeadcount(t *testing.T) {
	p := testPlan()
	h := newHistory(t, "dongcun", "village", 0)
	h.submit(1, cst(2016, 8, 1, 9, 0), figures(130, "volunteers"))
	r := result(t, evaluateAsOf(t, p, h.records(), cst(2016, 8, 20, 0, 0)), "volunteers")
	if r.Status != compliance.StatusPartial || !strings.Contains(r.Missing, "單位人數未登記") || r.Ratio == nil || r.Ratio.Value != 130 {
		t.Fatalf("headcount 0: %+v", r)
	}
	r = result(t, evaluateAsOf(t, p, h.records(), cst(2017, 1, 20, 0, 0)), "volunteers")
	if r.Status != compliance.StatusOverdue {
		t.Fatalf("headcount 0 after the period: %s", r.Status)
	}
}

// TestNotAsOf checks that an archive folded past the as-of time is refused
// when it holds a correction recorded after it, and that items first
// recorded after it are left out.
func TestNotAsOf(t *testing.T) {
	p := testPlan()
	h := newHistory(t, "dongcun", "village", 1200)
	h.submit(1, cst(2016, 7, 5, 9, 0), ev("boards"), photo(1))
	h.submitAt(2, cst(2016, 7, 6, 9, 0), cst(2016, 7, 20, 0, 0), ev("monthly"), photo(2))
	recs := h.records()
	u, items := fold(t, recs)
	asOf := cst(2016, 7, 10, 0, 0)
	got, err := compliance.Evaluate(p, u, items, asOf)
	if err != nil {
		t.Fatal(err)
	}
	if want := evaluateAsOf(t, p, recs, asOf); !reflect.DeepEqual(got, want) {
		t.Fatal("an item recorded after the as-of time was not left out")
	}
	h.retract(1, cst(2016, 7, 15, 0, 0))
	u, items = fold(t, h.records())
	if _, err := compliance.Evaluate(p, u, items, asOf); !errors.Is(err, compliance.ErrNotAsOf) {
		t.Fatalf("a retraction after the as-of time: %v, want ErrNotAsOf", err)
	}
}

func TestPlanErrors(t *testing.T) {
	u := compliance.Unit{ID: "dongcun", Type: "village"}
	for name, mutate := range map[string]func(p *plan.Plan){
		"time zone":       func(p *plan.Plan) { p.TimeZone = "Mars/Olympus" },
		"rule kind":       func(p *plan.Plan) { p.Requirements[0].Rule.Kind = "sometimes" },
		"phase":           func(p *plan.Plan) { p.Requirements[1].Rule.Phase = "nope" },
		"calendar":        func(p *plan.Plan) { p.Requirements[2].Rule.Every = "fortnight" },
		"attachment kind": func(p *plan.Plan) { p.Requirements[0].Requires = []string{"video"} },
		"no period":       func(p *plan.Plan) { p.Period = plan.Span{} },
		"no deadline":     func(p *plan.Plan) { p.Requirements[7].Rule.By = plan.Date{} },
		"no windows":      func(p *plan.Plan) { p.Requirements[6].Rule.Windows = nil },
		"no figure":       func(p *plan.Plan) { p.Requirements[8].Rule.Figure = "" },
	} {
		p := testPlan()
		mutate(p)
		if _, err := compliance.Evaluate(p, u, nil, cst(2016, 8, 1, 0, 0)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := compliance.Evaluate(nil, u, nil, time.Now()); err == nil {
		t.Error("nil plan: no error")
	}
	// A plan in another zone: the same instant is another day.
	p := testPlan()
	p.TimeZone = "America/New_York"
	h := newHistory(t, "dongcun", "village", 1200)
	h.submit(1, utc(2016, 8, 1, 3, 0), ev("monthly"), photo(1)) // July 31 in New York
	r := result(t, evaluateAsOf(t, p, h.records(), utc(2016, 8, 10, 0, 0)), "monthly")
	if r.Periods[0].Count != 1 || r.Periods[1].Count != 0 {
		t.Errorf("New York plan: July %d, August %d, want 1, 0", r.Periods[0].Count, r.Periods[1].Count)
	}
}

// TestReportGolden evaluates a realistic village over the plan and keeps
// the report, words and all, in testdata for review.
func TestReportGolden(t *testing.T) {
	p := testPlan()
	h := newHistory(t, "dongcun", "village", 1200)
	h.submit(1, cst(2016, 7, 12, 9, 0), events.Evidence{Kind: events.KindStudyNote, Title: "七月集中學習《廉潔自律準則》", Tags: []string{"集中學習"},
		Requirements: []string{"study"}}, docx(1), photo(1))
	h.submit(2, cst(2016, 7, 28, 15, 0), events.Evidence{Kind: events.KindSummary, Title: "學習體會匯總", Requirements: []string{"study"}}, pdf(2))
	h.submit(3, cst(2016, 7, 20, 10, 0), events.Evidence{Kind: events.KindActivity, Title: "七月推進會", Requirements: []string{"monthly", "bimonthly", "quarterly"}}, photo(3))
	h.submit(4, cst(2016, 8, 18, 10, 0), events.Evidence{Kind: events.KindActivity, Title: "中國夢主題教育", Requirements: []string{"dream"}}, photo(4), pdf(4))
	h.submit(5, cst(2016, 8, 2, 9, 0), events.Evidence{Kind: events.KindActivity, Title: "第一週例會", Requirements: []string{"weekly"}})
	h.submit(6, cst(2016, 8, 10, 9, 0), events.Evidence{Kind: events.KindActivity, Title: "第二週例會", Requirements: []string{"weekly"}})
	h.submit(7, cst(2016, 8, 1, 9, 0), events.Evidence{Kind: events.KindDocument, Title: "志願者名冊", Requirements: []string{"volunteers"},
		Figures: map[string]float64{"volunteers": 100}}, pdf(7))
	h.submit(8, cst(2016, 7, 3, 9, 0), events.Evidence{Kind: events.KindPhoto, Title: "道德模範宣傳欄", Requirements: []string{"boards"}}, photo(8))
	h.retract(8, cst(2016, 7, 30, 0, 0))
	h.submit(9, cst(2016, 7, 8, 9, 0), events.Evidence{Kind: events.KindPhoto, Title: "廉政文化專欄", Requirements: []string{"column"}}, photo(9))
	rep := evaluateAsOf(t, p, h.records(), cst(2016, 8, 20, 18, 0))
	got, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden := filepath.Join("testdata", "report.golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("report differs from %s (run with -update after checking):\n%s", golden, got)
	}
}

// randomHistory appends n random events to h: submissions, amendments and
// retractions of the unit's items, with random claimed dates around the
// plan period and recorded times increasing from *clock by up to three days.
func randomHistory(h *history, rng *rand.Rand, n int, clock *time.Time, live *[]int) {
	reqNames := []string{"study", "monthly", "weekly", "festivals", "model-community", "volunteers", "boards", "column",
		"sc-2016/monthly", "sc-2016/study", "other/monthly", "nonesuch"}
	kinds := []events.Kind{events.KindActivity, events.KindStudyNote, events.KindSummary, events.KindPhoto}
	tagPool := []string{"集中學習", "其他", "親子閱讀"}
	attPool := []func(int) events.Attachment{photo, pdf, docx, txt, zipFile}
	start := cst(2016, 6, 25, 0, 0)
	occurred := func() time.Time {
		// Minutes over 2016-06-25 .. 2017-01-05, with a bias to the
		// last and first minutes of a day.
		t := start.Add(time.Duration(rng.IntN(195*24*60)) * time.Minute)
		switch rng.IntN(4) {
		case 0:
			t = time.Date(t.Year(), t.Month(), t.Day(), 23, 59, 0, 0, cstZone)
		case 1:
			t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, cstZone)
		}
		return t
	}
	pick := func(pool []string) []string {
		var out []string
		for _, s := range pool {
			if rng.IntN(3) == 0 {
				out = append(out, s)
			}
		}
		return out
	}
	atts := func(serial int) []events.Attachment {
		var out []events.Attachment
		for k, f := range attPool {
			if rng.IntN(3) == 0 {
				out = append(out, f(serial*10+k))
			}
		}
		return out
	}
	for range n {
		*clock = clock.Add(time.Duration(rng.IntN(72*60)) * time.Minute)
		switch r := rng.IntN(10); {
		case r < 6 || len(*live) == 0:
			num := len(h.evs) + 1
			e := events.Evidence{Kind: kinds[rng.IntN(len(kinds))], Requirements: pick(reqNames), Tags: pick(tagPool)}
			if rng.IntN(3) == 0 {
				e.Figures = map[string]float64{"volunteers": float64(rng.IntN(200))}
			}
			h.submitAt(num, occurred(), *clock, e, atts(num)...)
			*live = append(*live, num)
		case r < 9:
			num := (*live)[rng.IntN(len(*live))]
			var c events.Changes
			if rng.IntN(2) == 0 {
				c.OccurredAt = ptr(occurred())
			}
			if rng.IntN(2) == 0 {
				c.Requirements = ptr(pick(reqNames))
			}
			if rng.IntN(3) == 0 {
				c.Kind = ptr(kinds[rng.IntN(len(kinds))])
			}
			if rng.IntN(3) == 0 {
				c.Tags = ptr(pick(tagPool))
			}
			if rng.IntN(3) == 0 {
				c.RemoveAttachments = []string{photo(num*10 + 0).SHA256, pdf(num*10 + 1).SHA256}
			}
			h.amend(num, *clock, c, atts(len(h.evs)+1000)...)
		default:
			k := rng.IntN(len(*live))
			h.retract((*live)[k], *clock)
			*live = slices.Delete(*live, k, k+1)
		}
	}
}

// oracle replays the events recorded at or before asOf naively and counts,
// per month of the plan period, the items that count for the monthly rule
// (names it, not retracted, has an image, occurred in the month in CST and
// not after asOf's date), and lists the items that count for the study
// rule.
func oracle(recs []events.Record, asOf time.Time) (months [6]int, study []uuid.UUID) {
	type state struct {
		e         events.Evidence
		occurred  time.Time
		atts      []events.Attachment
		retracted bool
	}
	items := map[uuid.UUID]*state{}
	var order []uuid.UUID
	for _, r := range recs {
		ev := r.Event
		if ev.RecordedAt.After(asOf) {
			continue
		}
		switch ev.Type {
		case events.TypeEvidenceSubmitted:
			var p events.EvidenceSubmitted
			_ = ev.DecodeData(&p)
			items[ev.ID] = &state{e: p.Evidence, occurred: ev.OccurredAt, atts: ev.Attachments}
			order = append(order, ev.ID)
		case events.TypeEvidenceAmended:
			var p events.EvidenceAmended
			_ = ev.DecodeData(&p)
			s := items[*ev.Corrects]
			s.e, s.occurred = p.Changes.Apply(s.e, s.occurred)
			var atts []events.Attachment
			for _, a := range s.atts {
				if !slices.Contains(p.Changes.RemoveAttachments, a.SHA256) {
					atts = append(atts, a)
				}
			}
			s.atts = append(atts, ev.Attachments...)
		case events.TypeEvidenceRetracted:
			items[*ev.Corrects].retracted = true
		}
	}
	y, m, d := asOf.In(cstZone).Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	names := func(s *state, req string) bool {
		return slices.Contains(s.e.Requirements, req) || slices.Contains(s.e.Requirements, "sc-2016/"+req)
	}
	has := func(s *state, ok func(a events.Attachment) bool) bool { return slices.ContainsFunc(s.atts, ok) }
	type dated struct {
		id uuid.UUID
		at time.Time
	}
	var st []dated
	for _, id := range order {
		s := items[id]
		if s.retracted {
			continue
		}
		y, m, d := s.occurred.In(cstZone).Date()
		day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		if day.After(today) || y != 2016 || m < time.July {
			continue
		}
		if names(s, "monthly") && has(s, func(a events.Attachment) bool { return strings.HasPrefix(a.MediaType, "image/") }) {
			months[m-time.July]++
		}
		if names(s, "study") && (s.e.Kind == events.KindStudyNote || s.e.Kind == events.KindActivity) && slices.Contains(s.e.Tags, "集中學習") &&
			has(s, func(a events.Attachment) bool {
				return a.MediaType == "application/pdf" || strings.HasPrefix(a.MediaType, "text/plain") || strings.HasSuffix(a.Name, ".docx")
			}) {
			st = append(st, dated{id, s.occurred})
		}
	}
	slices.SortFunc(st, func(a, b dated) int {
		return cmp.Or(a.at.Compare(b.at), strings.Compare(a.id.String(), b.id.String()))
	})
	for _, x := range st {
		study = append(study, x.id)
	}
	return months, study
}

// TestAsOfProperty checks, over random histories, that the report as of T
// depends only on the events recorded at or before T: appending events
// recorded after T changes nothing; that folding the whole history and
// evaluating as of T gives the same report when no item was corrected
// after T (and ErrNotAsOf when one was); that Evaluate is deterministic
// and independent of the order of the items; and that the monthly and
// study counts agree with a naive replay of the events.
func TestAsOfProperty(t *testing.T) {
	p := testPlan()
	var corrections, wholeFolds, monthsCounted, studyCounted int
	defer func() {
		// Guard against a vacuous property: the histories must exercise
		// both paths and count something.
		if !t.Failed() && (corrections == 0 || wholeFolds == 0 || monthsCounted == 0 || studyCounted == 0) {
			t.Errorf("random histories too thin: %d corrected after T, %d whole folds, %d monthly items, %d study items",
				corrections, wholeFolds, monthsCounted, studyCounted)
		}
	}()
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 2016))
		h := newHistory(t, "dongcun", "village", 100+rng.IntN(2000))
		clock := cst(2016, 6, 20, 0, 0)
		var live []int
		randomHistory(h, rng, 1+rng.IntN(60), &clock, &live)
		recs := h.records()
		first, last := recs[0].Event.RecordedAt, recs[len(recs)-1].Event.RecordedAt
		asOf := first.Add(time.Duration(rng.Int64N(int64(last.Sub(first)) + int64(30*24*time.Hour))))
		if rng.IntN(5) == 0 {
			asOf = recs[rng.IntN(len(recs))].Event.RecordedAt // exactly at an event
		}
		want := evaluateAsOf(t, p, recs, asOf)

		// More events recorded after T.
		if clock.Before(asOf) {
			clock = asOf
		}
		clock = clock.Add(time.Minute)
		randomHistory(h, rng, 1+rng.IntN(30), &clock, &live)
		longer := h.records()
		if got := evaluateAsOf(t, p, longer, asOf); !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: appending events after T changed the report as of T", seed)
		}

		// The whole fold evaluated as of T.
		u, all := fold(t, longer)
		corrected := slices.ContainsFunc(all, func(it *projections.Item) bool {
			return !it.RecordedAt().After(asOf) && it.UpdatedAt().After(asOf)
		})
		got, err := compliance.Evaluate(p, u, all, asOf)
		switch {
		case corrected && !errors.Is(err, compliance.ErrNotAsOf):
			t.Fatalf("seed %d: item corrected after T: %v, want ErrNotAsOf", seed, err)
		case !corrected && err != nil:
			t.Fatalf("seed %d: %v", seed, err)
		case !corrected && !reflect.DeepEqual(got, want):
			t.Fatalf("seed %d: whole fold as of T differs from the fold cut at T", seed)
		case corrected:
			corrections++
		default:
			wholeFolds++
		}

		// Deterministic, and independent of item order.
		u, items := fold(t, cut(recs, asOf))
		a, _ := compliance.Evaluate(p, u, items, asOf)
		b, _ := compliance.Evaluate(p, u, items, asOf)
		shuffled := slices.Clone(items)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		c, _ := compliance.Evaluate(p, u, shuffled, asOf)
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		jc, _ := json.Marshal(c)
		if !bytes.Equal(ja, jb) || !bytes.Equal(ja, jc) || !reflect.DeepEqual(a, want) {
			t.Fatalf("seed %d: Evaluate not deterministic or depends on item order", seed)
		}

		// Against a naive replay.
		months, study := oracle(recs, asOf)
		for _, n := range months {
			monthsCounted += n
		}
		studyCounted += len(study)
		if rep := result(t, want, "monthly"); len(rep.Periods) == 6 {
			for k := range 6 {
				if rep.Periods[k].Count != months[k] {
					t.Fatalf("seed %d: monthly period %d: %d items, oracle %d", seed, k, rep.Periods[k].Count, months[k])
				}
			}
		} else {
			t.Fatalf("seed %d: %d monthly periods", seed, len(rep.Periods))
		}
		if got := countedIDs(result(t, want, "study")); !slices.Equal(got, append([]uuid.UUID{}, study...)) {
			t.Fatalf("seed %d: study counted %v, oracle %v", seed, got, study)
		}
	}
}

// BenchmarkEvaluate5000Items50Requirements evaluates a unit with 5,000
// items against a plan of 50 requirements of every rule kind.
func BenchmarkEvaluate5000Items50Requirements(b *testing.B) {
	p, names := bench50()
	rng := rand.New(rand.NewPCG(1, 2))
	items := make([]*projections.Item, 5000)
	t0 := cst(2016, 6, 25, 0, 0)
	kinds := []events.Kind{events.KindActivity, events.KindStudyNote, events.KindSummary, events.KindPhoto}
	for i := range items {
		occ := t0.Add(time.Duration(rng.IntN(190*24*60)) * time.Minute).UTC()
		rec := occ.Add(time.Duration(rng.IntN(72*60)) * time.Minute)
		it := &projections.Item{ID: itemID(i + 1), Kind: kinds[rng.IntN(len(kinds))], Title: benchTitle, Version: 1,
			Requirements: []string{names[rng.IntN(50)], names[rng.IntN(50)]},
			Attachments:  projections.NewAttachments([]events.Attachment{photo(i), pdf(i)}[:1+rng.IntN(2)]),
			Chain:        []projections.Link{projections.NewLink(0, itemID(i+1), events.TypeEvidenceSubmitted, events.Actor{}, "", occ, rec, 1)}}
		it.SetOccurredAt(occ)
		it.SetExtra([]string{"集中學習"}, map[string]float64{"volunteers": float64(rng.IntN(300))}, "")
		if rng.IntN(30) == 0 {
			it.Retracted = true
		}
		items[i] = it
	}
	u := compliance.Unit{ID: "dongcun", Type: "village", Headcount: 1200}
	asOf := cst(2017, 3, 1, 0, 0)
	rep, err := compliance.Evaluate(p, u, items, asOf)
	if err != nil || len(rep.Requirements) != 50 {
		b.Fatal(err, len(rep.Requirements))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := compliance.Evaluate(p, u, items, asOf); err != nil {
			b.Fatal(err)
		}
	}
}

const benchTitle = "東村村委會七月廉政文化專欄更新及集中學習"

package compliance_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"taizhang/events"
	"taizhang/projections/compliance"
	"taizhang/projections/plan"
	"taizhang/web"
)

func TestSay(t *testing.T) {
	m := compliance.Message{Key: "owed.count_short", Args: []any{2, compliance.Message{Key: "measure.times"},
		compliance.Message{Key: "noun.with_photo", Args: []any{compliance.Message{Key: "list.or", Args: []any{"集中學習", "專題討論"}}}},
		date(2016, 9, 30)}}
	for _, c := range []struct {
		lang string
		date func(plan.Date) string
		want string
	}{
		{"zh-Hant", nil, "還需 2 次集中學習或專題討論（附照片），截止 2016-09-30"},
		{"zh-Hans", nil, "还需 2 次集中學習或專題討論（附照片），截止 2016-09-30"},
		{"en", func(d plan.Date) string { return "30 Sep" }, "2 more needed by 30 Sep: 集中學習 or 專題討論 (with a photo)"},
		{"xx", nil, "還需 2 次集中學習或專題討論（附照片），截止 2016-09-30"}, // an unknown language is the default
	} {
		if got := compliance.Say(c.lang, []compliance.Message{m}, c.date); got != c.want {
			t.Errorf("%s: %q, want %q", c.lang, got, c.want)
		}
	}
	two := []compliance.Message{{Key: "reason.no_photo"}, {Key: "reason.no_figure", Args: []any{"志願者人數"}}}
	if got := compliance.Say("en", two, nil); got != "no photo; 志願者人數 not reported" {
		t.Errorf("clauses: %q", got)
	}
	// A missing key shows as itself; a brace that is not a placeholder of
	// the message (too few arguments) stays as it is.
	if got := compliance.Say("en", []compliance.Message{{Key: "no.such"}, {Key: "reason.no_figure"}}, nil); got != "[no.such]; {0} not reported" {
		t.Errorf("defects: %q", got)
	}
}

var placeholder = regexp.MustCompile(`\{(\d+)\}`)

// TestCatalogues checks the three catalogues hold the same keys, that no
// translation takes an argument the reference (zh-Hant, which says every
// argument) does not, and that each is in one script: no simplified-only
// character in zh-Hant, no traditional-only one in zh-Hans, no Han at all
// in English.
func TestCatalogues(t *testing.T) {
	ref := compliance.Catalogue(compliance.DefaultLang)
	if len(ref) == 0 {
		t.Fatal("no default catalogue")
	}
	for _, lang := range compliance.Langs {
		c := compliance.Catalogue(lang)
		for k := range ref {
			if _, ok := c[k]; !ok {
				t.Errorf("%s: no %s", lang, k)
			}
		}
		for k, text := range c {
			r, ok := ref[k]
			if !ok {
				t.Errorf("%s: %s is not in %s", lang, k, compliance.DefaultLang)
				continue
			}
			if most(text) > most(r) {
				t.Errorf("%s: %s uses {%d}, the reference only up to {%d}", lang, k, most(text), most(r))
			}
			for _, ch := range text {
				switch {
				case lang == "zh-Hant" && web.SimplifiedOnly(ch), lang == "zh-Hans" && web.TraditionalOnly(ch), lang == "en" && unicode.Is(unicode.Han, ch):
					t.Errorf("%s: %s = %q has %q, not of its script", lang, k, text, ch)
				}
			}
		}
	}
}

func most(text string) int {
	n := -1
	for _, m := range placeholder.FindAllStringSubmatch(text, -1) {
		i, _ := strconv.Atoi(m[1])
		n = max(n, i)
	}
	return n
}

// TestEveryMessageSays renders every message of reports over the test plan
// (before it starts, during it, after it ends, with items rejected for
// every reason) in every language, and checks each rendering is whole: no
// missing key, no placeholder left unfilled. (That the zh-Hant words are
// those the engine always said is TestReportGolden's: its Missing, Why and
// Name strings did not change when the words became Messages.)
func TestEveryMessageSays(t *testing.T) {
	p := testPlan()
	h := newHistory(t, "dongcun", "village", 0)
	h.submit(1, cst(2016, 7, 12, 9, 0), events.Evidence{Kind: events.KindStudyNote, Title: "學習", Tags: []string{"集中學習"}, Requirements: []string{"study"}}, photo(1))
	h.submit(2, cst(2016, 7, 20, 10, 0), events.Evidence{Kind: events.KindSummary, Title: "錯的類型", Requirements: []string{"dream", "monthly", "weekly", "column", "festivals"}})
	h.submit(3, cst(2015, 1, 3, 9, 0), events.Evidence{Kind: events.KindPhoto, Title: "太早", Requirements: []string{"boards", "bimonthly", "quarterly", "study"}}, photo(3))
	h.submit(4, cst(2016, 8, 1, 9, 0), events.Evidence{Kind: events.KindDocument, Title: "名冊", Requirements: []string{"volunteers"},
		Figures: map[string]float64{"volunteers": 100}}, pdf(4))
	h.submitAt(5, cst(2016, 12, 30, 9, 0), cst(2016, 8, 1, 9, 0), events.Evidence{Kind: events.KindActivity, Title: "將來", Requirements: []string{"monthly", "volunteers"}})
	h.submit(6, cst(2016, 7, 8, 9, 0), events.Evidence{Kind: events.KindPhoto, Title: "撤回", Requirements: []string{"column"}}, photo(6))
	h.retract(6, cst(2016, 7, 30, 0, 0))
	seen := map[string]bool{}
	var walk func(m compliance.Message)
	walk = func(m compliance.Message) {
		seen[m.Key] = true
		for _, a := range m.Args {
			if n, ok := a.(compliance.Message); ok {
				walk(n)
			}
		}
	}
	check := func(where string, ms []compliance.Message) {
		for _, m := range ms {
			walk(m)
		}
		for _, lang := range compliance.Langs {
			s := compliance.Say(lang, ms, nil)
			if strings.Contains(s, "[") || placeholder.MatchString(s) {
				t.Errorf("%s in %s: %q is not whole", where, lang, s)
			}
		}
	}
	for _, at := range []struct {
		m    time.Month
		y, d int
	}{{6, 2016, 20}, {8, 2016, 20}, {1, 2017, 10}} {
		rep := evaluateAsOf(t, p, h.records(), cst(at.y, at.m, at.d, 23, 0))
		for _, r := range rep.Requirements {
			if (len(r.Owed) == 0) != (r.Missing == "") {
				t.Errorf("%s: owed %v, missing %q", r.Requirement, r.Owed, r.Missing)
			}
			check(r.Requirement+" owed", r.Owed)
			for _, rj := range r.Rejected {
				if len(rj.Because) != len(rj.Reasons) {
					t.Errorf("%s: %d reasons, %d messages", r.Requirement, len(rj.Reasons), len(rj.Because))
				}
				check(r.Requirement+" rejected", rj.Because)
			}
			for _, pr := range r.Periods {
				check(r.Requirement+" period", []compliance.Message{pr.Label})
			}
		}
	}
	for _, k := range []string{"owed.plan_starts", "owed.count_overdue", "owed.slots_overdue", "owed.ratio_no_headcount",
		"reason.kind", "reason.outside", "reason.future", "reason.retracted_because", "slot.window", "period.month"} {
		if !seen[k] {
			t.Errorf("the reports never said %s: the test misses a case", k)
		}
	}
}

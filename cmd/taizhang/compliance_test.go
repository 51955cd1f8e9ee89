package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"taizhang/gate"
)

// TestComplianceAndRanking publishes a plan, submits evidence for two
// villages, and reads compliance (now and as of a date) and the monthly
// ranking through the API and the CLI; a correction recorded after the
// period leaves the period's ranking as it was.
func TestComplianceAndRanking(t *testing.T) {
	s := startServer(t, "")
	if r := s.do(t, s.Admin, "POST", "/api/v1/plans?file=test-plan.yaml", "application/yaml", bytes.NewReader([]byte(minimalPlan))); r.Status != 201 {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	for _, u := range []string{"dongcun", "xicun", "nancun"} {
		s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": u, "name": u, "type": "village", "headcount": 1000})
	}
	// Reads after a write ask for its sequence (min_seq), as any client
	// must to read its writes: an answer to a write does not wait for the
	// projection.
	var written string
	study := func(unit, date string, withDoc bool) string {
		id := uuid.NewString()
		var files []file
		if withDoc {
			files = append(files, file{"學習記錄.txt", []byte("集中學習記錄：" + date)})
		} else {
			files = append(files, file{"p.png", pngPhoto(t, 1)})
		}
		r := s.submit(t, s.Admin, unit, map[string]any{"id": id, "kind": "study_note", "title": "集中學習", "occurred_at": date, "requirements": []string{"study"}}, files...)
		if r.Status != 201 {
			t.Fatalf("submit: %d %s", r.Status, r.Body)
		}
		if written = r.Header.Get(gate.HeaderSeq); written == "" {
			t.Fatalf("submit: no %s in the answer", gate.HeaderSeq)
		}
		return id
	}
	study("dongcun", "2016-07-05", true)
	cut := time.Now().UTC()
	time.Sleep(2 * time.Millisecond) // distinct recorded times; not a timing assertion
	second := study("dongcun", "2016-08-05", true)
	study("xicun", "2016-07-06", true)
	study("xicun", "2016-07-20", false) // no study record attached: does not count

	type report struct {
		Plans []struct {
			Plan         string
			Met, Due     int
			Requirements []struct {
				Status, Missing string
				Counted         []struct{ ID string }
				Rejected        []struct{ Why string }
			}
		}
	}
	var rep report
	s.get(t, s.Admin, "/api/v1/units/dongcun/compliance?min_seq="+written).decode(t, &rep)
	if len(rep.Plans) != 1 || rep.Plans[0].Requirements[0].Status != "met" || len(rep.Plans[0].Requirements[0].Counted) != 2 {
		t.Fatalf("dongcun now: %+v", rep)
	}
	s.get(t, s.Admin, "/api/v1/units/dongcun/compliance?as_of="+cut.Format(time.RFC3339Nano)).decode(t, &rep)
	if r := rep.Plans[0].Requirements[0]; r.Status != "overdue" || len(r.Counted) != 1 || !strings.Contains(r.Missing, "1") {
		t.Fatalf("dongcun as of the first item: %+v", rep)
	}
	s.get(t, s.Admin, "/api/v1/units/xicun/compliance").decode(t, &rep)
	if r := rep.Plans[0].Requirements[0]; r.Status == "met" || len(r.Counted) != 1 || len(r.Rejected) != 1 {
		t.Fatalf("xicun: %+v", rep)
	}
	// The words in another language: the API's ?lang= and the CLI's --lang;
	// an unknown language is refused, not ignored.
	s.get(t, s.Admin, "/api/v1/units/xicun/compliance?lang=en").decode(t, &rep)
	if r := rep.Plans[0].Requirements[0]; !strings.Contains(r.Rejected[0].Why, "no document") || strings.ContainsAny(r.Missing+r.Rejected[0].Why, "還需缺少") {
		t.Errorf("xicun in English: missing %q, why %q", r.Missing, r.Rejected[0].Why)
	}
	if code, out, errs := cli(t, s, s.Admin, "compliance", "--unit", "xicun", "--lang", "zh-Hans"); code != 0 || !strings.Contains(out, "已逾期：须在") {
		t.Errorf("compliance --lang zh-Hans: %d\n%s%s", code, out, errs)
	}
	if code, _, errs := cli(t, s, s.Admin, "compliance", "--unit", "xicun", "--lang", "fr"); code == 0 || !strings.Contains(errs, `lang "fr" must be one of zh-Hant, zh-Hans, en`) {
		t.Errorf("compliance --lang fr: %d %s", code, errs)
	}

	type ranking struct {
		Units []struct {
			Rank     int
			Unit     string
			Met, Due int
		}
	}
	// The ranking is as the ledger stood at the period's end; every event of
	// this test is recorded now, so rank the current month.
	month := time.Now().Format("2006-01")
	var rk ranking
	s.get(t, s.Admin, "/api/v1/plans/test-plan/ranking?period="+month).decode(t, &rk)
	if len(rk.Units) != 3 || rk.Units[0].Unit != "dongcun" || rk.Units[0].Rank != 1 || rk.Units[1].Unit != "nancun" || rk.Units[1].Rank != 2 || rk.Units[2].Rank != 2 {
		t.Fatalf("ranking: %+v", rk)
	}
	// Retracting dongcun's second item drops it to a shared second place... of
	// three units that now all miss the requirement: a three-way tie, in id order.
	r := s.postJSON(t, s.Admin, "/api/v1/units/dongcun/evidence/"+second+"/retract", map[string]any{"reason": "重複", "expected_version": 1})
	if r.Status != 200 {
		t.Fatalf("retract: %d %s", r.Status, r.Body)
	}
	s.get(t, s.Admin, "/api/v1/plans/test-plan/ranking?period="+month+"&min_seq="+r.Header.Get(gate.HeaderSeq)).decode(t, &rk)
	if len(rk.Units) != 3 || rk.Units[0].Unit != "dongcun" || rk.Units[0].Rank != 1 || rk.Units[2].Rank != 1 || rk.Units[0].Met != 0 {
		t.Fatalf("ranking after the retraction: %+v", rk)
	}
	// As of 2016 the ledger held nothing: no unit was registered yet.
	s.get(t, s.Admin, "/api/v1/plans/test-plan/ranking?period=2016-12").decode(t, &rk)
	if len(rk.Units) != 0 {
		t.Fatalf("ranking as of 2016-12: %+v", rk)
	}
	if r := s.get(t, s.Admin, "/api/v1/plans/test-plan/ranking?period=2016-13"); r.Status != 400 {
		t.Fatalf("bad period: %d", r.Status)
	}
	if r := s.get(t, s.Admin, "/api/v1/units/dongcun/compliance?plan=nothing"); r.Status != 404 {
		t.Fatalf("unknown plan: %d", r.Status)
	}

	code, out, errs := cli(t, s, s.Admin, "compliance", "--unit", "xicun")
	if code != 0 || !strings.Contains(out, "test-plan") || !strings.Contains(out, "study") {
		t.Fatalf("compliance CLI: %d %q %q", code, out, errs)
	}
	code, out, errs = cli(t, s, s.Admin, "ranking", "--plan", "test-plan", "--period", month)
	if code != 0 || !strings.Contains(out, "dongcun") {
		t.Fatalf("ranking CLI: %d %q %q", code, out, errs)
	}
}

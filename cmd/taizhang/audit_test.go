package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"taizhang/projections/audit"
)

// TestDemoAudit reads every audit view of the demo as its supervisor and
// finds the demo's stories: 下洋村 (cun-6)'s backfill burst before 迎接測評,
// its photos taken months after the dates they claim, 南塘村 (cun-3)'s
// photo in 北港村 (cun-4)'s archive byte for byte and again resized,
// 東坡村 (cun-1)'s amendment with its date before and after, 西嶺村
// (cun-2)'s retraction, 上林村 (cun-5)'s reopened finding; a unit in no
// story has no flag. The answers, compacted, are checked against
// testdata/audit.golden (rewrite with -update after reviewing). A
// submitter may not read the views.
func TestDemoAudit(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole demo")
	}
	s := startServer(t, "", "--demo")
	s.waitDemo(t)
	r := s.postJSON(t, s.Admin, "/api/v1/tokens", map[string]any{"role": "supervisor", "user": "supervisor-audit"})
	if r.Status != 201 {
		t.Fatalf("supervisor token: %d %s", r.Status, r.Body)
	}
	var tok struct{ Token string }
	r.decode(t, &tok)
	sup := tok.Token
	view := func(name, query string, v any) {
		t.Helper()
		r := s.get(t, sup, "/api/v1/audit/"+name+query)
		if r.Status != 200 {
			t.Fatalf("%s%s: %d %s", name, query, r.Status, r.Body)
		}
		r.decode(t, v)
	}
	zone := testZone
	day := func(tm time.Time) string { return tm.In(zone).Format(time.DateOnly) }
	var g bytes.Buffer // the golden text

	// Corrections: the amendment with its date before and after, the
	// retraction, the reopened finding; each with who, when and why.
	var corr audit.CorrectionsReport
	view("corrections", "", &corr)
	fmt.Fprintf(&g, "== corrections: %d\n", len(corr.Corrections))
	kinds := map[string]string{}
	for _, c := range corr.Corrections {
		fmt.Fprintf(&g, "%s %s %s by %s/%s v%d: %s\n", day(c.RecordedAt), c.Unit, c.Kind, c.Actor.ID, c.Actor.Role, c.Version, c.Reason)
		for _, ch := range c.Changes {
			fmt.Fprintf(&g, "  %s: %s -> %s\n", ch.Field, auditValue(ch.Before), auditValue(ch.After))
		}
		kinds[c.Unit+" "+c.Kind] = fmt.Sprint(c.Changes)
		if c.Reason == "" || c.Actor.ID == "" || c.RecordedAt.IsZero() {
			t.Errorf("correction without who, when or why: %+v", c)
		}
	}
	if ch := kinds["cun-1 amended"]; !strings.Contains(ch, "occurred_at 2016-06-19") || !strings.Contains(ch, "2016-06-09") {
		t.Errorf("cun-1's amendment: %s", ch)
	}
	if _, ok := kinds["cun-2 retracted"]; !ok {
		t.Error("cun-2's retraction not found")
	}
	if ch := kinds["cun-5 finding_reopened"]; !strings.Contains(ch, "resolved open") {
		t.Errorf("cun-5's reopened finding: %q", ch)
	}

	// Backfill: only cun-6 has items over the threshold.
	var bf audit.BackfillReport
	view("backfill", "?flagged=true", &bf)
	fmt.Fprintf(&g, "\n== backfill over %d days\n", bf.ThresholdDays)
	for _, u := range bf.Units {
		if u.Flagged > 0 {
			fmt.Fprintf(&g, "%s %d of %d items, max %.0f days, median %.1f\n", u.Unit, u.Flagged, u.Items, u.MaxLagDays, u.MedianLagDays)
		}
	}
	var flaggedUnits []string
	for _, it := range bf.Items {
		if !slices.Contains(flaggedUnits, it.Unit) {
			flaggedUnits = append(flaggedUnits, it.Unit)
		}
	}
	if !slices.Equal(flaggedUnits, []string{"cun-6"}) || len(bf.Items) < 10 {
		t.Errorf("backfilled units %v (%d items), want cun-6's", flaggedUnits, len(bf.Items))
	}

	// Bursts: cun-6's, before 迎接測評 (from 2016-09-11); none elsewhere.
	var bu audit.BurstsReport
	view("bursts", "", &bu)
	fmt.Fprintf(&g, "\n== bursts: %d\n", len(bu.Bursts))
	for _, b := range bu.Bursts {
		fmt.Fprintf(&g, "%s: %d items recorded %s..%s before %s %s (%s, %s), claiming %s..%s\n", b.Unit, b.Count, day(b.Items[0].RecordedAt),
			day(auditLatest(b.Items)), b.Before.Kind, b.Before.ID, b.Before.Date, b.Before.Plan, b.OccurredFrom, b.OccurredTo)
	}
	if len(bu.Bursts) != 1 || bu.Bursts[0].Unit != "cun-6" || bu.Bursts[0].Before.ID != "evaluate" || bu.Bursts[0].Before.Date.String() != "2016-09-11" ||
		bu.Bursts[0].Count != len(bf.Items) {
		t.Errorf("bursts: %+v", bu.Bursts)
	}
	var clean audit.BurstsReport
	view("bursts", "?unit=cun-2&threshold_days=1", &clean)
	if len(clean.Bursts) != 0 {
		t.Errorf("cun-2 has bursts: %+v", clean.Bursts)
	}

	// Reuse: cun-3's board photo in cun-4's archive, the same bytes, and
	// cun-3's good-deeds photo there again, resized.
	var ru audit.ReuseReport
	view("reuse", "", &ru)
	uses := func(us []audit.Use) string {
		var out []string
		for _, u := range us {
			x := fmt.Sprintf("%s %s %s", u.Unit, day(u.OccurredAt), u.Title)
			if u.Retracted {
				x += " (retracted)"
			}
			out = append(out, x)
		}
		return strings.Join(out, " | ")
	}
	fmt.Fprintf(&g, "\n== reuse: %d exact\n", len(ru.Exact))
	crossUnit := 0
	for _, e := range ru.Exact {
		fmt.Fprintf(&g, "%.12s %s: %s\n", e.SHA256, e.MediaType, uses(e.Uses))
		if slices.Equal(e.Units, []string{"cun-3", "cun-4"}) {
			crossUnit++
		}
	}
	if crossUnit != 1 {
		t.Errorf("%d contents shared by cun-3 and cun-4, want 1", crossUnit)
	}
	fmt.Fprintf(&g, "== reuse: %d near (within %d bits)\n", len(ru.Near), ru.NearDistance)
	for _, n := range ru.Near {
		fmt.Fprintf(&g, "%d bits: %.12s %dx%d %s ~ %.12s %dx%d %s\n", n.Distance, n.A.SHA256, n.A.Width, n.A.Height, uses(n.A.Uses), n.B.SHA256, n.B.Width, n.B.Height, uses(n.B.Uses))
	}
	if len(ru.Near) != 1 || ru.Near[0].A.Uses[0].Unit != "cun-3" || ru.Near[0].B.Uses[0].Unit != "cun-4" || ru.Near[0].B.Width != 200 {
		t.Errorf("near duplicates: %+v", ru.Near)
	}

	// Photo times: cun-6's backfilled photos were taken months after the
	// dates their items claim; the resized copy has no EXIF (listed, not
	// flagged).
	var pt audit.PhotoTimesReport
	view("photo-times", "", &pt)
	fmt.Fprintf(&g, "\n== photo-times: %d checked, %d flagged, %d without EXIF\n", pt.Checked, len(pt.Flagged), len(pt.NoEXIF))
	perUnit := map[string]int{}
	for _, p := range pt.Flagged {
		perUnit[p.Unit+" "+p.Flag]++
	}
	for _, k := range sortedKeysOf(perUnit) {
		fmt.Fprintf(&g, "%s: %d\n", k, perUnit[k])
	}
	for _, p := range pt.Flagged {
		if p.Unit != "cun-6" {
			fmt.Fprintf(&g, "%s claimed %s taken %s (%+d days): %s\n", p.Unit, p.Occurred, p.TakenAt, p.Days, p.Title)
		}
	}
	for _, p := range pt.NoEXIF {
		fmt.Fprintf(&g, "no EXIF: %s claimed %s %s: %s\n", p.Unit, p.Occurred, p.Name, p.Title)
	}
	if perUnit["cun-6 later"] < 10 {
		t.Errorf("cun-6's backfilled photos: %d flagged later", perUnit["cun-6 later"])
	}
	if len(pt.NoEXIF) != 1 || pt.NoEXIF[0].Unit != "cun-4" || pt.NoEXIF[0].Flag != "" {
		t.Errorf("no EXIF: %+v", pt.NoEXIF)
	}

	// Actors.
	var ac audit.ActorsReport
	view("actors", "", &ac)
	fmt.Fprintf(&g, "\n== actors: %d\n", len(ac.Actors))
	for _, x := range ac.Actors {
		if x.Role != "submitter" || x.Amended+x.Retracted > 0 || x.Actor == "clerk-cun-6" {
			fmt.Fprintf(&g, "%s/%s submitted %d (%d rectifications), amended %d, retracted %d, findings %d/%d/%d, plans %d, exported %d, %s..%s, %d units\n",
				x.Actor, x.Role, x.Submitted, x.Rectifications, x.Amended, x.Retracted, x.FindingsRecorded, x.FindingsResolved, x.FindingsReopened,
				x.PlansPublished, x.Exported, day(x.First), day(x.Last), len(x.Units))
		}
	}

	// A unit in no story: no flag in any view.
	const quiet = "juweihui"
	var qc audit.CorrectionsReport
	var qb audit.BackfillReport
	var qbu audit.BurstsReport
	var qr audit.ReuseReport
	var qp audit.PhotoTimesReport
	view("corrections", "?unit="+quiet, &qc)
	view("backfill", "?flagged=true&unit="+quiet, &qb)
	view("bursts", "?unit="+quiet, &qbu)
	view("reuse", "?unit="+quiet, &qr)
	view("photo-times", "?unit="+quiet, &qp)
	if len(qc.Corrections)+len(qb.Items)+len(qbu.Bursts)+len(qr.Exact)+len(qr.Near)+len(qp.Flagged)+len(qp.NoEXIF) != 0 || len(qb.Units) != 1 || qp.Checked < 10 {
		t.Errorf("%s is flagged: %+v %+v %+v %+v %+v", quiet, qc, qb, qbu, qr, qp)
	}
	// Filters: the burst is in early September's recorded time, not August's.
	var sept, aug audit.BackfillReport
	view("backfill", "?flagged=true&from=2016-09-01&to=2016-09-10&actor=clerk-cun-6", &sept)
	view("backfill", "?flagged=true&from=2016-08-01&to=2016-08-31", &aug)
	if len(sept.Items) != len(bf.Items) || len(aug.Items) != 0 {
		t.Errorf("filtered backfill: %d in September, %d in August", len(sept.Items), len(aug.Items))
	}

	golden := filepath.Join("testdata", "audit.golden")
	if *update {
		if err := os.WriteFile(golden, g.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g.Bytes(), want) {
		t.Errorf("demo audit differs from %s (go test ./cmd/taizhang -run DemoAudit -update, then review the diff):\n%s", golden, g.String())
	}

	// The CLI prints the same views as tables.
	code, out, errs := cli(t, s, sup, "audit", "bursts")
	if code != 0 || !strings.Contains(out, "cun-6") || !strings.Contains(out, "evaluate") {
		t.Errorf("audit bursts: %d %q %q", code, out, errs)
	}
	code, out, errs = cli(t, s, sup, "audit", "corrections", "--unit", "cun-1")
	if code != 0 || !strings.Contains(out, "occurred_at") || !strings.Contains(out, "amended") {
		t.Errorf("audit corrections: %d %q %q", code, out, errs)
	}
	code, out, errs = cli(t, s, sup, "audit", "reuse", "--json", "--unit", "cun-4")
	if code != 0 || !strings.Contains(out, `"near"`) {
		t.Errorf("audit reuse --json: %d %q %q", code, out, errs)
	}
	if code, _, errs = cli(t, s, sup, "audit", "nonsense"); code != 2 {
		t.Errorf("audit nonsense: %d %q", code, errs)
	}

	// Only supervisors and admins.
	r = s.postJSON(t, s.Admin, "/api/v1/tokens", map[string]any{"role": "submitter", "unit": "cun-1", "user": "clerk-audit"})
	r.decode(t, &tok)
	for _, v := range []string{"corrections", "backfill", "bursts", "reuse", "photo-times", "actors"} {
		if r := s.get(t, tok.Token, "/api/v1/audit/"+v+"?unit=cun-1"); r.Status != 403 || r.errCode(t) != "forbidden" {
			t.Errorf("submitter reads %s: %d %s", v, r.Status, r.Body)
		}
		if r := s.get(t, s.Admin, "/api/v1/audit/"+v); r.Status != 200 {
			t.Errorf("admin reads %s: %d", v, r.Status)
		}
	}
	if r := s.get(t, sup, "/api/v1/audit/backfill?unit=no-such-unit"); r.Status != 404 {
		t.Errorf("unknown unit: %d %s", r.Status, r.Body)
	}
	if r := s.get(t, sup, "/api/v1/audit/backfill?from=2016-9-1"); r.Status != 400 {
		t.Errorf("bad date: %d %s", r.Status, r.Body)
	}
}

func sortedKeysOf(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

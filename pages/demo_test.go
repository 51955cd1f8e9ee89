package pages_test

import (
	"context"
	"io/fs"
	"regexp"
	"strings"
	"testing"

	plans "taizhang/deploy/plans"
	"taizhang/httpserver/servertest"
	"taizhang/internal/demo"
)

// TestPagesOnDemo renders the pages of the three roles on the demo's data
// (29 units, three plans, ~1,500 items): every page well-formed and
// accessible (checkPage), the stories visible where a user would look.
func TestPagesOnDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo takes a while")
	}
	clock := demo.NewClock()
	e := servertest.Start(t, clock.Now)
	files := map[string][]byte{}
	names, _ := fs.Glob(plans.FS, "*.yaml")
	for _, n := range names {
		files[n], _ = fs.ReadFile(plans.FS, n)
	}
	res, err := demo.RunAt(context.Background(), e.URL, e.Tokens["admin"], files, nil, clock)
	if err != nil {
		t.Fatal(err)
	}
	e.Tokens["inspector"], e.Tokens["supervisor"] = res.Inspector.Token, res.Supervisor.Token
	for _, u := range res.Units {
		e.Tokens[u.ID] = u.Submitter.Token
	}
	for _, lang := range []string{"", "?lang=en"} {
		e.Page("cun-5", "/"+lang, 200)
		e.Page("inspector", "/"+lang, 200)
		e.Page("supervisor", "/"+lang, 200)
		e.Page("inspector", "/units"+lang, 200)
	}
	// The supervisor's home finds cun-6's burst before the inspection and the reused photos.
	sh := e.Page("supervisor", "/", 200)
	if b := section(t, sh, `id="todo-bursts"`); !strings.Contains(b, `href="/units/cun-6/timeline"`) {
		t.Errorf("supervisor home: no burst of cun-6:\n%s", b)
	}
	if r := section(t, sh, `id="todo-reuse"`); !strings.Contains(r, `href="/audit/reuse"`) {
		t.Errorf("supervisor home: no reused photos:\n%s", r)
	}
	// The backfill chart puts cun-6, whose median hides its burst, first and marks its row.
	bf := e.Page("supervisor", "/audit/backfill", 200)
	svg := bf[strings.Index(bf, "<svg"):]
	first := regexp.MustCompile(`<g class="bar"><title>([^<]*)</title>`).FindStringSubmatch(svg)
	if first == nil || !strings.HasPrefix(first[1], "cun-6 ") || !strings.Contains(first[1], "條突擊補錄，在“") || strings.Count(svg, `class="marked"`) != 1 {
		t.Errorf("the backfill chart does not put and mark cun-6's burst first: %q", first)
	}
	for _, pl := range res.Plans {
		hm := e.Page("supervisor", "/units?plan="+pl.ID, 200)
		if !strings.Contains(hm, `class="cell st-`) {
			t.Errorf("heat map of %s has no cells", pl.ID)
		}
	}
	// cun-1's 端午 item was amended with a reason; cun-2 has a retraction;
	// cun-5 a reopened finding; cun-6 backfilled before the inspection.
	for _, u := range []string{"cun-1", "cun-2", "cun-5", "cun-6"} {
		e.Page("inspector", "/units/"+u, 200)
		e.Page("inspector", "/units/"+u+"/timeline", 200)
		e.Page(u, "/units/"+u+"/submit", 200)
	}
	if p := e.Page("inspector", "/units/cun-2", 200); !strings.Contains(p, "已撤回") {
		t.Error("cun-2: no retracted item shown")
	}
	if p := e.Page("inspector", "/units/cun-5", 200); !strings.Contains(p, "問題重新打開") {
		t.Error("cun-5: the reopened finding is not shown with its decision")
	}
	before, after := e.Page("inspector", "/units/cun-6?as_of=2016-09-05", 200), e.Page("inspector", "/units/cun-6?as_of=2016-09-15", 200)
	if strings.Count(after, `<article class="item`) <= strings.Count(before, `<article class="item`) {
		t.Error("cun-6: the backfilled items do not appear between 5 and 15 September")
	}
	if tl := e.Page("inspector", "/units/cun-6/timeline", 200); !strings.Contains(tl, "補錄") {
		t.Error("cun-6: the timeline does not mark the backfills")
	}
	e.Page("inspector", "/units/cun-1/dossier?as_of=2016-12-31", 200)
}

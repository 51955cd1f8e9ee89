package pages_test

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"taizhang/auth/natsaccess"
	"taizhang/httpserver/servertest"
)

// submitForm fills in the submit form of unit as who and posts it with
// files; it returns the status, the redirect and the form's id.
func submitForm(e *servertest.Env, who, unit string, vals url.Values, files []servertest.FormFile) (int, string, string) {
	e.T.Helper()
	form := e.Page(who, "/units/"+unit+"/submit", 200)
	id := servertest.FormID(e.T, form)
	vals.Set("id", id)
	vals.Set("csrf", "")
	st, h, body := e.Post(who, "/units/"+unit+"/submit", vals, files, true)
	if st != 303 {
		e.T.Logf("submit answered %d:\n%s", st, body)
	}
	return st, h.Get("Location"), id
}

var hashRE = regexp.MustCompile(`<code class="hash">([0-9a-f]{64})</code>`)

// TestSubmitFlow: a submitter submits evidence with two photos through the
// form and sees the receipt; a title with <script> shows as text; the
// inspector finds the item under its requirement with thumbnails; as of a
// date before the submission it is absent, and after an amendment it is
// marked as corrected later; the timeline and the dossier show it.
func TestSubmitFlow(t *testing.T) {
	e := servertest.New(t)
	e.Clock.Set(time.Date(2016, 6, 9, 10, 0, 0, 0, servertest.Zone))
	title := `端午<script>alert(1)</script>活動`
	st, loc, id := submitForm(e, "clerk", "cun-1", url.Values{"kind": {"activity"}, "title": {title}, "occurred": {"2016-06-09"},
		"requirement": {"festival"}, "body": {"包粽子 & 賽龍舟"}},
		[]servertest.FormFile{{Field: "photo", Name: "dragon-boat.png", Data: servertest.PNG(1)}, {Field: "photo", Name: "zongzi.png", Data: servertest.PNG(2)}, {Field: "document", Name: "", Data: nil}})
	if st != 303 || !strings.HasPrefix(loc, "/units/cun-1/receipts/"+id) || !strings.Contains(loc, "new=1") {
		t.Fatalf("submit: %d %q", st, loc)
	}
	rc := e.Page("clerk", loc, 200)
	h := hashRE.FindStringSubmatch(rc)
	if h == nil || !strings.Contains(rc, id) || !strings.Contains(rc, "dragon-boat.png") || !strings.Contains(rc, "zongzi.png") {
		t.Fatalf("receipt:\n%s", rc)
	}
	// The receipt shows the photos as thumbnails and the hash only under 技術詳情.
	if strings.Count(rc, `<img src="/thumbs/`) != 2 || !strings.Contains(rc, "PNG 圖片") || strings.Index(rc, "<summary>技術詳情</summary>") > strings.Index(rc, h[1]) {
		t.Errorf("receipt: thumbnails, media type in words, or the hash outside the technical details:\n%s", rc)
	}
	recs, err := e.Ledger.History(context.Background(), "cun-1", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	last := recs[len(recs)-1].Event
	if last.Hash.String() != h[1] || last.ID.String() != id || len(last.Attachments) != 2 || last.Client != "web" {
		t.Fatalf("receipt hash %s, ledger %s %s %d attachments, client %s", h[1], last.Hash, last.ID, len(last.Attachments), last.Client)
	}

	e.Clock.Set(time.Date(2016, 6, 20, 10, 0, 0, 0, servertest.Zone))
	page := e.Page("inspector", "/units/cun-1", 200)
	if strings.Contains(page, "<script>alert") || !strings.Contains(page, "端午&lt;script&gt;alert(1)&lt;/script&gt;活動") {
		t.Fatal("the title is not escaped")
	}
	// Grouped by requirement, each group a disclosure; the export under 技術詳情.
	if !strings.Contains(page, `<details class="req" id="r-cun-1-`) {
		t.Error("the archive's requirements are not collapsible groups")
	}
	if i := strings.Index(page, "/export"); i < 0 || i < strings.LastIndex(page, "<summary>技術詳情</summary>") {
		t.Error("the BagIt export is not under the technical details")
	}
	// Under its requirement, with both thumbnails linking to the originals.
	sec := section(t, page, `id="r-cun-1-festival"`)
	if !strings.Contains(sec, "ev-"+id) {
		t.Fatalf("the item is not under its requirement:\n%s", sec)
	}
	for _, a := range last.Attachments {
		if !strings.Contains(sec, `src="/thumbs/`+a.SHA256+`?w=240&amp;unit=cun-1"`) || !strings.Contains(sec, `href="/api/v1/blobs/`+a.SHA256+`?unit=cun-1"`) {
			t.Errorf("no thumbnail or link for %s", a.Name)
		}
	}
	if strings.Contains(page, "/evidence/"+id+"/amend") {
		t.Error("an inspector is offered the amend form")
	}
	if !strings.Contains(e.Page("clerk", "/units/cun-1", 200), "/evidence/"+id+"/amend") {
		t.Error("the submitter is not offered the amend form")
	}

	// As of the day before: absent. As of the day: present.
	before := e.Page("inspector", "/units/cun-1?as_of=2016-06-08", 200)
	if strings.Contains(before, id) || !strings.Contains(before, `value="2016-06-08"`) {
		t.Fatal("as of the day before, the item is there")
	}
	if !strings.Contains(before, "此後") {
		t.Errorf("no notice of later items")
	}
	if !strings.Contains(e.Page("inspector", "/units/cun-1?as_of=2016-06-09", 200), id) {
		t.Fatal("as of the day, the item is missing")
	}

	// Amend on the 25th: as of the 20th the item is marked as corrected later.
	e.Clock.Set(time.Date(2016, 6, 25, 10, 0, 0, 0, servertest.Zone))
	st, hd, body := e.Post("clerk", "/units/cun-1/evidence/"+id+"/amend", url.Values{"csrf": {""}, "expected_version": {"1"},
		"title": {"端午節包粽子活動"}, "occurred": {"2016-06-09"}, "body": {"包粽子 & 賽龍舟"}, "reason": {"標題不準確"}}, nil, false)
	if st != 303 || hd.Get("Location") != "/units/cun-1#ev-"+id {
		t.Fatalf("amend: %d %s", st, body)
	}
	if st, _, _ := e.Post("clerk", "/units/cun-1/evidence/"+id+"/amend", url.Values{"expected_version": {"2"}, "title": {"x"}}, nil, false); st != 400 {
		t.Errorf("an amendment without a reason: %d", st)
	}
	past := e.Page("inspector", "/units/cun-1?as_of=2016-06-20&lang=en", 200)
	if !strings.Contains(past, "corrected after this date") || !strings.Contains(past, "端午&lt;script&gt;") {
		t.Errorf("no later-correction marker as of the 20th")
	}
	if strings.Contains(past, "<form method=\"post\"") && strings.Contains(past, "/amend") {
		t.Error("correction forms on a past view")
	}
	now := e.Page("inspector", "/units/cun-1?lang=en", 200)
	if !strings.Contains(now, "端午節包粽子活動") || !strings.Contains(now, "version 2") {
		t.Error("the amendment is not shown")
	}

	tl := e.Page("inspector", "/units/cun-1/timeline", 200)
	if strings.Count(tl, `<img src="/thumbs/`) != 2 || !strings.Contains(tl, "<summary>技術詳情</summary>") || !strings.Contains(tl, "(填報人, 網頁)") {
		t.Errorf("timeline: no thumbnails, technical details or client in words:\n%s", tl)
	}
	if !strings.Contains(tl, "標題不準確") || !strings.Contains(tl, last.Hash.String()) || strings.Index(tl, "提交材料") > strings.Index(tl, "更正材料") {
		t.Errorf("timeline:\n%s", tl)
	}
	if tl := e.Page("inspector", "/units/cun-1/timeline?as_of=2016-06-20", 200); strings.Contains(tl, "標題不準確") || !strings.Contains(tl, id) {
		t.Errorf("timeline as of the 20th shows the amendment or misses the item")
	}
	d := e.Page("inspector", "/units/cun-1/dossier?as_of=2016-06-30", 200)
	if !strings.Contains(d, `class="dfoot"`) || !strings.Contains(d, `src="/thumbs/`) || !strings.Contains(d, "<figcaption>dragon-boat.png") {
		t.Errorf("dossier:\n%s", d)
	}

	// Retract with a reason.
	if st, _, body := e.Post("clerk", "/units/cun-1/evidence/"+id+"/retract", url.Values{"expected_version": {"2"}, "reason": {"重複"}}, nil, false); st != 303 {
		t.Fatalf("retract: %d %s", st, body)
	}
	if !strings.Contains(e.Page("clerk", "/units/cun-1", 200), "已撤回") {
		t.Error("the retraction is not shown")
	}
}

// section returns the HTML from the element with marker to the end of its
// <section>.
func section(t *testing.T, page, marker string) string {
	t.Helper()
	i := strings.Index(page, marker)
	if i < 0 {
		t.Fatalf("no %s in the page", marker)
	}
	rest := page[i:]
	if j := strings.Index(rest, "</section>"); j >= 0 {
		return rest[:j]
	}
	return rest
}

// TestSubmitRetry: the form sent again after a lost answer (same id) is
// answered with the original receipt and records nothing more, even with
// its files; a refused form keeps its id.
func TestSubmitRetry(t *testing.T) {
	e := servertest.New(t)
	e.Clock.Set(time.Date(2016, 6, 9, 10, 0, 0, 0, servertest.Zone))
	form := e.Page("clerk", "/units/cun-1/submit", 200)
	id := servertest.FormID(t, form)
	vals := url.Values{"id": {id}, "kind": {"activity"}, "title": {"端午"}, "occurred": {"2016-06-09"}, "requirement": {"festival"}}
	files := []servertest.FormFile{{Field: "photo", Name: "a.png", Data: servertest.PNG(3)}, {Field: "photo", Name: "b.png", Data: servertest.PNG(4)}}
	st, h1, _ := e.Post("clerk", "/units/cun-1/submit", vals, files, true)
	st2, h2, _ := e.Post("clerk", "/units/cun-1/submit", vals, files, true)
	if st != 303 || st2 != 303 || !strings.HasSuffix(h1.Get("Location"), "?new=1") || h2.Get("Location") != "/units/cun-1/receipts/"+id {
		t.Fatalf("%d %s, %d %s", st, h1.Get("Location"), st2, h2.Get("Location"))
	}
	if !strings.Contains(e.Page("clerk", h2.Get("Location"), 200), "沒有重複登記") {
		t.Error("the retry's receipt does not say it was already recorded")
	}
	recs, _ := e.Ledger.History(context.Background(), "cun-1", time.Time{})
	n := 0
	for _, r := range recs {
		if r.Event.ID.String() == id {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d events for one form", n)
	}

	// Refused (no title, a future date, a bad file): 400/415 with the form again, same id.
	form = e.Page("clerk", "/units/cun-1/submit", 200)
	id = servertest.FormID(t, form)
	for _, c := range []struct {
		vals  url.Values
		files []servertest.FormFile
		want  int
	}{
		{url.Values{"id": {id}, "kind": {"activity"}, "title": {""}, "occurred": {"2016-06-09"}}, nil, 400},
		{url.Values{"id": {id}, "kind": {"activity"}, "title": {"x"}, "occurred": {"2017-01-01"}}, nil, 400},
		{url.Values{"id": {id}, "kind": {"activity"}, "title": {"x"}, "occurred": {"2016-06-09"}}, []servertest.FormFile{{Field: "photo", Name: "x.exe", Data: []byte("MZ\x90\x00binary")}}, 415},
		{url.Values{"id": {id}, "kind": {"rectification"}, "title": {"x"}, "occurred": {"2016-06-09"}}, nil, 400},
	} {
		st, _, body := e.Post("clerk", "/units/cun-1/submit", c.vals, c.files, true)
		if st != c.want || servertest.FormID(t, body) != id || !strings.Contains(body, `role="alert"`) {
			t.Errorf("%v: %d, want %d with the same form", c.vals, st, c.want)
		}
		servertest.CheckPage(t, "refused submit", body)
	}
}

// TestPageAuthorization: pages go through the one decision point: no token
// 401, another unit's submitter 403, an inspector may not submit nor a
// submitter record findings; errors answer as HTML pages.
func TestPageAuthorization(t *testing.T) {
	e := servertest.New(t)
	for _, c := range []struct {
		who, method, path string
		want              int
	}{
		{"", "GET", "/", 401},
		{"", "GET", "/units", 401},
		{"", "GET", "/units/cun-1", 401},
		{"clerk2", "GET", "/units/cun-1", 403},
		{"clerk2", "GET", "/units/cun-1/timeline", 403},
		{"clerk2", "GET", "/units/cun-1/dossier", 403},
		{"clerk2", "GET", "/units/cun-1/submit", 403},
		{"inspector", "GET", "/units/cun-1/submit", 403},
		{"supervisor", "POST", "/units/cun-1/submit", 403},
		{"clerk", "POST", "/units/cun-1/findings", 403},
		{"clerk", "POST", "/units/cun-1/findings/0190a0a0-0000-7000-8000-000000000001/resolve", 403},
		{"inspector", "POST", "/units/cun-1/evidence/0190a0a0-0000-7000-8000-000000000001/retract", 403},
		{"inspector", "GET", "/units/Bad_Unit", 400},
		{"inspector", "GET", "/units/nowhere", 404},
		{"inspector", "GET", "/units/cun-1?as_of=yesterday", 400},
		{"inspector", "GET", "/units?plan=nope", 400},
		{"inspector", "GET", "/units?phase=nope", 400},
		{"inspector", "GET", "/units?town=cun-1", 400},
		{"inspector", "GET", "/no/such/page", 404},
		{"", "GET", "/login", 200},
		{"", "GET", "/static/app.css", 200},
		{"", "GET", "/sw.js", 200},
	} {
		st, h, body := e.DoH(c.who, c.method, c.path, "", nil, nil)
		if st != c.want {
			t.Errorf("%s %s as %q: %d, want %d", c.method, c.path, c.who, st, c.want)
			continue
		}
		if st >= 400 {
			if !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
				t.Errorf("%s %s: error as %s", c.method, c.path, h.Get("Content-Type"))
			}
			servertest.CheckPage(t, c.path, body)
		}
	}
	// The API still answers JSON errors.
	if _, h, _ := e.DoH("", "GET", "/api/v1/units", "", nil, nil); !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Error("an API error is not JSON")
	}
	// The clerk's own unit is fine; the unit list shows it only.
	e.Page("clerk", "/units/cun-1", 200)
	if l := e.Page("clerk", "/units", 200); strings.Contains(l, `href="/units/cun-2"`) || !strings.Contains(l, `href="/units/cun-1"`) {
		t.Error("a submitter's unit list shows other units")
	}
	// Sign-in forms: both posted forms carry csrf; the stubs refuse for now.
	lp := e.Page("", "/login", 200)
	if !strings.Contains(lp, `action="/login/token"`) || !strings.Contains(lp, `action="/login"`) {
		t.Error("login page lacks a form")
	}
	if st, _, body := e.Post("", "/login/token", url.Values{"token": {"tz_nope"}, "next": {"//evil.example"}}, nil, false); st != 401 || !strings.Contains(body, "tz_") {
		t.Errorf("token sign-in with a bad token: %d", st)
	}
}

// TestPageCSP: pages allow only the app's own scripts, styles and images.
func TestPageCSP(t *testing.T) {
	e := servertest.New(t)
	_, h, _ := e.DoH("inspector", "GET", "/units", "", nil, nil)
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "style-src 'self'", "img-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("gate.CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "*") {
		t.Errorf("gate.CSP %q is too open", csp)
	}
}

// TestHomeAndHeatMap: the submitter's home lists what is due, nearest
// deadline first; the inspector's the ways in; the heat map filters by
// plan, phase and town, colours every cell with a text label.
func TestHomeAndHeatMap(t *testing.T) {
	e := servertest.New(t)
	e.Clock.Set(time.Date(2016, 6, 9, 10, 0, 0, 0, servertest.Zone))
	home := e.Page("clerk", "/", 200)
	i, j := strings.Index(home, "年中總結"), strings.Index(home, "節日活動")
	if i < 0 || j < 0 || i > j {
		t.Errorf("home: the 30 June deadline should come before the year-end count:\n%s", home)
	}
	if !strings.Contains(home, `href="/units/cun-1/submit?requirement=midyear"`) {
		t.Error("home: no link to submit for a gap")
	}
	ih := e.Page("inspector", "/", 200)
	if !strings.Contains(ih, `href="/units"`) || strings.Contains(ih, `href="/audit/"`) {
		t.Error("inspector home: wrong links")
	}
	if !strings.Contains(e.Page("supervisor", "/", 200), `href="/audit/"`) {
		t.Error("supervisor home: no audit link")
	}
	// The inspector's home: the units behind, with what they owe.
	behind := section(t, ih, `id="todo-behind"`)
	if !strings.Contains(behind, `href="/units/cun-1"`) || !strings.Contains(behind, `href="/units/cun-2"`) || !strings.Contains(behind, "尚缺 ") {
		t.Errorf("inspector home: the villages owing evidence are not listed:\n%s", behind)
	}
	if strings.Count(ih, "月度考核排名") != 1 {
		t.Error("inspector home: the ranking heading is not shown once")
	}
	// The supervisor's: findings, bursts, reuse, denied reads (this server keeps no access log).
	sh := e.Page("supervisor", "/", 200)
	for _, want := range []string{`id="todo-findings"`, `id="todo-bursts"`, `id="todo-reuse"`, "沒有發現重複使用的照片", "本服務沒有保存訪問記錄"} {
		if !strings.Contains(sh, want) {
			t.Errorf("supervisor home: no %q", want)
		}
	}
	hm := e.Page("inspector", "/units?plan=test-plan", 200)
	if !strings.Contains(hm, `<td class="cell st-missing">`) || !strings.Contains(hm, "○ 缺") || strings.Count(hm, `<tr><th scope="row">`) != 2 {
		t.Errorf("heat map:\n%s", hm)
	}
	first := e.Page("inspector", "/units?plan=test-plan&phase=first&town=zhen", 200)
	if strings.Contains(first, "秋季活動") || !strings.Contains(first, "年中總結") {
		t.Error("phase filter: the second half's requirement is shown, or the first's is not")
	}
	en := e.Page("inspector", "/units?lang=en", 200)
	if !strings.Contains(en, `<html lang="en">`) || !strings.Contains(en, "Compliance heat map") {
		t.Error("?lang=en does not switch")
	}
}

// TestFindingsPages: an inspector records a finding with a photo, the
// submitter sees it and answers with a rectification, the inspector
// resolves it and reopens it with a reason.
func TestFindingsPages(t *testing.T) {
	e := servertest.New(t)
	e.Clock.Set(time.Date(2016, 6, 9, 10, 0, 0, 0, servertest.Zone))
	up := e.Page("inspector", "/units/cun-1", 200)
	fid := servertest.FormID(t, up[strings.Index(up, `action="/units/cun-1/findings"`):])
	st, h, body := e.Post("inspector", "/units/cun-1/findings", url.Values{"id": {fid}, "csrf": {""}, "description": {"善行義舉榜未更新"},
		"severity": {"medium"}, "due": {"2016-06-30"}, "requirement": {"test-plan/festival"}}, []servertest.FormFile{{Field: "photo", Name: "board.png", Data: servertest.PNG(9)}}, true)
	if st != 303 || h.Get("Location") != "/units/cun-1#f-"+fid {
		t.Fatalf("record finding: %d %s", st, body)
	}
	// Nothing filed yet: the closure rules refuse, in the clerk's words.
	if st, _, body := e.Post("inspector", "/units/cun-1/findings/"+fid+"/resolve", url.Values{"expected_version": {"1"}, "reason": {"已核實"}}, nil, false); st != 422 || !strings.Contains(body, "還沒有提交整改材料") {
		t.Fatalf("resolve with no rectification: %d %s", st, body)
	}
	if f := section(t, e.Page("inspector", "/", 200), `id="todo-findings"`); !strings.Contains(f, "善行義舉榜未更新") || !strings.Contains(f, `href="/units/cun-1#f-`+fid+`"`) {
		t.Errorf("the inspector's home does not list the open finding:\n%s", f)
	}
	home := e.Page("clerk", "/", 200)
	if !strings.Contains(home, "善行義舉榜未更新") || !strings.Contains(home, "/units/cun-1/submit?finding="+fid) {
		t.Fatal("the submitter's home does not show the open finding")
	}
	form := e.Page("clerk", "/units/cun-1/submit?finding="+fid, 200)
	if !strings.Contains(form, `name="finding" value="`+fid+`"`) || !strings.Contains(form, `value="rectification" selected`) {
		t.Fatal("the rectification form does not carry the finding")
	}
	st, _, body = e.Post("clerk", "/units/cun-1/submit", url.Values{"id": {servertest.FormID(t, form)}, "finding": {fid}, "kind": {"rectification"},
		"title": {"已更新榜單"}, "occurred": {"2016-06-09"}}, []servertest.FormFile{{Field: "photo", Name: "new-board.png", Data: servertest.PNG(10)}}, true)
	if st != 303 {
		t.Fatalf("rectification: %d %s", st, body[strings.Index(body, `role="alert"`):])
	}
	up = e.Page("inspector", "/units/cun-1", 200)
	f := section(t, up, `id="f-`+fid+`"`)
	if !strings.Contains(f, "已更新榜單") || !strings.Contains(f, `alt="board.png"`) || !strings.Contains(f, "/findings/"+fid+"/resolve") {
		t.Fatalf("finding:\n%s", f)
	}
	if st, _, _ := e.Post("inspector", "/units/cun-1/findings/"+fid+"/resolve", url.Values{"expected_version": {"1"}, "reason": {"已核實"}}, nil, false); st != 303 {
		t.Fatalf("resolve: %d", st)
	}
	if f := section(t, e.Page("inspector", "/units/cun-1", 200), `id="f-`+fid+`"`); !strings.Contains(f, "銷號依據") || !strings.Contains(f, "· 測試方案 · 一1 節日活動</p>") || !strings.Contains(f, `href="#ev-`) || strings.Contains(f, "未按規則銷號") {
		t.Errorf("the resolve does not show its basis:\n%s", f)
	}
	if st, _, _ := e.Post("inspector", "/units/cun-1/findings/"+fid+"/reopen", url.Values{"expected_version": {"2"}}, nil, false); st != 400 {
		t.Errorf("reopen without a reason: %d", st)
	}
	if st, _, _ := e.Post("inspector", "/units/cun-1/findings/"+fid+"/reopen", url.Values{"expected_version": {"2"}, "reason": {"榜單仍是舊的"}}, nil, false); st != 303 {
		t.Fatalf("reopen: %d", st)
	}
	if f := section(t, e.Page("inspector", "/units/cun-1", 200), `id="f-`+fid+`"`); !strings.Contains(f, "榜單仍是舊的") || !strings.Contains(f, "/reopen") && !strings.Contains(f, "/resolve") {
		t.Errorf("after reopening:\n%s", f)
	}
	// An override needs a reason, and shows as one.
	if st, _, _ := e.Post("inspector", "/units/cun-1/findings/"+fid+"/resolve", url.Values{"expected_version": {"3"}, "override": {"1"}}, nil, false); st != 400 {
		t.Errorf("override without a reason: %d", st)
	}
	if st, _, _ := e.Post("inspector", "/units/cun-1/findings/"+fid+"/resolve", url.Values{"expected_version": {"3"}, "override": {"1"}, "reason": {"現場核實，照片另行補交"}}, nil, false); st != 303 {
		t.Fatalf("override: %d", st)
	}
	if f := section(t, e.Page("inspector", "/units/cun-1", 200), `id="f-`+fid+`"`); !strings.Contains(f, "未按規則銷號") || !strings.Contains(f, "現場核實，照片另行補交") {
		t.Errorf("the override does not show:\n%s", f)
	}
}

// TestSessionFlow: a browser signs in with an API token on the login page,
// reads pages with its session cookie, and submits the form with the
// session's CSRF token as its first field; without it the form is refused.
func TestSessionFlow(t *testing.T) {
	e := servertest.New(t)
	e.Clock.Set(time.Date(2016, 6, 9, 10, 0, 0, 0, servertest.Zone))
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: servertest.NoRedirect.CheckRedirect}
	get := func(path string) (int, string) {
		resp, err := c.Get(e.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	resp, err := c.PostForm(e.URL+"/login/token", url.Values{"token": {e.Tokens["clerk"]}, "next": {"/units/cun-1/submit"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/units/cun-1/submit" {
		t.Fatalf("token sign-in: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	st, form := get("/units/cun-1/submit")
	if st != 200 {
		t.Fatalf("submit form with the session: %d", st)
	}
	servertest.CheckPage(t, "submit (session)", form)
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(form)
	if m == nil {
		t.Fatal("a session's form has no CSRF token")
	}
	send := func(csrf string) (int, string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		if csrf != "" {
			_ = mw.WriteField("csrf", csrf)
		}
		for _, kv := range [][2]string{{"id", servertest.FormID(t, form)}, {"kind", "activity"}, {"title", "會話提交"}, {"occurred", "2016-06-09"}, {"requirement", "festival"}} {
			_ = mw.WriteField(kv[0], kv[1])
		}
		w, _ := mw.CreateFormFile("photo", "p.png")
		_, _ = w.Write(servertest.PNG(7))
		_ = mw.Close()
		resp, err := c.Post(e.URL+"/units/cun-1/submit", mw.FormDataContentType(), &buf)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Location")
	}
	if st, _ := send(""); st != 403 {
		t.Fatalf("a session's form without its CSRF token: %d", st)
	}
	if st, _ := send("wrong"); st != 403 {
		t.Fatalf("a session's form with a wrong CSRF token: %d", st)
	}
	st, loc := send(m[1])
	if st != 303 || !strings.Contains(loc, "/receipts/") {
		t.Fatalf("a session's form: %d %s", st, loc)
	}
	if st, rc := get(loc); st != 200 || !strings.Contains(rc, "會話提交") {
		t.Fatalf("receipt with the session: %d", st)
	}
	if st, _ := get("/units/cun-2"); st != 403 {
		t.Errorf("the session reads another unit: %d", st)
	}
	// Sign out: the session ends.
	st, lo := get("/")
	lm := regexp.MustCompile(`action="/logout"[^>]*>\s*<input type="hidden" name="csrf" value="([^"]+)"`).FindStringSubmatch(lo)
	if st != 200 || lm == nil {
		t.Fatalf("home: %d, logout form with a csrf value: %v", st, lm != nil)
	}
	resp, err = c.PostForm(e.URL+"/logout", url.Values{"csrf": {lm[1]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if st, _ := get("/"); st != 401 {
		t.Errorf("after signing out: %d", st)
	}
}

// TestPageBadUnitIDs: every page route that names a unit answers a unit id
// that is not a slug with 400, as an HTML page, before anything reads it.
func TestPageBadUnitIDs(t *testing.T) {
	e := servertest.New(t)
	n := 0
	for _, rt := range e.Server.Routes() {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		if !rt.Unit || strings.HasPrefix(path, "/api/") {
			continue
		}
		for _, bad := range []string{"*", "%3E", "a.b", "cun.%3E", "a%20b", "Dong", strings.Repeat("a", 65), "a%00"} {
			p := strings.NewReplacer("{unit}", bad, "{id}", "0190a0a0-0000-7000-8000-000000000001").Replace(path)
			st, h, body := e.DoH("admin", method, p, "application/x-www-form-urlencoded", strings.NewReader("x=1"), nil)
			if st != 400 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
				t.Errorf("%s %s: %d %s", method, p, st, h.Get("Content-Type"))
				continue
			}
			servertest.CheckPage(t, p, body)
			n++
		}
	}
	if n < 80 {
		t.Errorf("only %d cases", n)
	}
}

// TestPageLang: the pages default to the script of the published plans
// (traditional for the test plan, simplified for a simplified one, zh-Hans
// with none); ?lang= switches to any of the three and the cookie remembers
// the choice.
func TestPageLang(t *testing.T) {
	e := servertest.New(t)
	home := e.Page("inspector", "/units", 200)
	if !strings.Contains(home, `<html lang="zh-Hant">`) || !strings.Contains(home, "單位與達標情況") {
		t.Fatalf("a deployment of traditional plans does not default to zh-Hant:\n%s", home)
	}
	for l, want := range map[string]string{"zh-Hans": "单位与达标情况", "en": "Compliance heat map", "zh-Hant": "單位與達標情況"} {
		st, h, body := e.DoH("inspector", "GET", "/units?lang="+l, "", nil, nil)
		if st != 200 || !strings.Contains(body, `<html lang="`+l+`">`) || !strings.Contains(body, want) {
			t.Errorf("?lang=%s: %d, no %q", l, st, want)
		}
		servertest.CheckPage(t, "/units?lang="+l, body)
		c := h.Get("Set-Cookie")
		if !strings.HasPrefix(c, "lang="+l+";") {
			t.Errorf("?lang=%s sets cookie %q", l, c)
		}
		// The cookie alone, on another page, keeps the choice.
		_, _, again := e.DoH("inspector", "GET", "/units/cun-1", "", nil, http.Header{"Cookie": {"lang=" + l}})
		if !strings.Contains(again, `<html lang="`+l+`">`) {
			t.Errorf("the cookie lang=%s is not remembered", l)
		}
		// What the compliance engine says is in that language too, dates
		// as the pages write them.
		if owed := map[string]string{"zh-Hant": "還需 2 次活動（附照片），截止 2016年12月31日", "zh-Hans": "还需 2 次活动（附照片），截止 2016年12月31日",
			"en": "2 more needed by 31 Dec 2016: activity (with a photo)"}[l]; !strings.Contains(again, owed) {
			t.Errorf("lang=%s: the unit page does not say %q", l, owed)
		}
	}
	// Every page links to the two other languages, each marked as its language.
	if !strings.Contains(home, `hreflang="zh-Hans" lang="zh-Hans">简体中文</a>`) || !strings.Contains(home, `lang="en">English</a>`) {
		t.Error("the language switch does not offer 简体中文 and English")
	}

	// A deployment whose plans are simplified shows simplified pages; one
	// with no plan too.
	s := servertest.Start(t, servertest.NewClock(time.Date(2016, 5, 1, 9, 0, 0, 0, servertest.Zone)).Now)
	if p := s.Page("admin", "/", 200); !strings.Contains(p, `<html lang="zh-Hans">`) {
		t.Error("with no plan the default is not zh-Hans")
	}
	simplified := strings.NewReplacer("測試方案", "测试方案", "節日活動", "节日活动", "年中總結", "年中总结", "秋季活動", "秋季活动", "測試鎮", "测试镇").Replace(servertest.TestPlan)
	if st, body := s.Do("admin", "POST", "/api/v1/plans?file=test.yaml", "application/yaml", strings.NewReader(simplified)); st != 201 {
		t.Fatalf("publish plan: %d %s", st, body)
	}
	if p := s.Page("admin", "/units", 200); !strings.Contains(p, `<html lang="zh-Hans">`) || !strings.Contains(p, "单位与达标情况") {
		t.Error("a deployment of simplified plans does not default to zh-Hans")
	}
}

// TestHomeDeniedReads: a clerk's refused read of another village's archive
// shows on the supervisor's home, with who and which unit.
func TestHomeDeniedReads(t *testing.T) {
	e := servertest.New(t)
	acc, err := natsaccess.Open(context.Background(), e.Ledger.JetStream(), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(acc.Close)
	e.Server.SetAccessLog(acc)
	if st, _ := e.Do("clerk2", "GET", "/units/cun-1", "", nil); st != 403 && st != 404 {
		t.Fatalf("clerk of cun-2 reads cun-1: %d", st)
	}
	var denied string
	for range 100 { // the log records asynchronously
		denied = section(t, e.Page("supervisor", "/", 200), `id="todo-denied"`)
		if strings.Contains(denied, "clerk-li") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(denied, "clerk-li") || !strings.Contains(denied, `href="/units/cun-1"`) || !strings.Contains(denied, "填報人") {
		t.Errorf("the denied read is not on the supervisor's home:\n%s", denied)
	}
}

// TestFormWritesCarrySeq: every form that writes answers its 303 with the
// sequence of the event it recorded in X-Taizhang-Seq, as the API answers
// a write, so that a client can read its own write on any replica.
func TestFormWritesCarrySeq(t *testing.T) {
	e := servertest.New(t)
	e.Clock.Set(time.Date(2016, 6, 9, 10, 0, 0, 0, servertest.Zone))
	var last uint64
	check := func(what string, st int, h http.Header, body string) {
		t.Helper()
		if st != 303 {
			t.Fatalf("%s: %d %s", what, st, body)
		}
		n, err := strconv.ParseUint(h.Get("X-Taizhang-Seq"), 10, 64)
		if err != nil || n <= last {
			t.Fatalf("%s: X-Taizhang-Seq %q, want a sequence above %d", what, h.Get("X-Taizhang-Seq"), last)
		}
		last = n
	}
	form := e.Page("clerk", "/units/cun-1/submit", 200)
	id := servertest.FormID(t, form)
	st, h, body := e.Post("clerk", "/units/cun-1/submit", url.Values{"id": {id}, "csrf": {""}, "kind": {"activity"}, "title": {"端午活動"},
		"occurred": {"2016-06-09"}, "requirement": {"festival"}}, nil, true)
	check("submit", st, h, body)
	st, h, body = e.Post("clerk", "/units/cun-1/evidence/"+id+"/amend", url.Values{"csrf": {""}, "expected_version": {"1"},
		"title": {"端午節活動"}, "reason": {"標題不準確"}}, nil, false)
	check("amend", st, h, body)
	st, h, body = e.Post("clerk", "/units/cun-1/evidence/"+id+"/retract", url.Values{"expected_version": {"2"}, "reason": {"重複"}}, nil, false)
	check("retract", st, h, body)
	up := e.Page("inspector", "/units/cun-1", 200)
	fid := servertest.FormID(t, up[strings.Index(up, `action="/units/cun-1/findings"`):])
	st, h, body = e.Post("inspector", "/units/cun-1/findings", url.Values{"id": {fid}, "csrf": {""}, "description": {"善行義舉榜未更新"},
		"severity": {"medium"}, "due": {"2016-06-30"}}, nil, true)
	check("record a finding", st, h, body)
}

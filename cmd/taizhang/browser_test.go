package main

// Browser tests: the web app driven in headless Chromium (Debian's
// chromium package) through chromedp against a real `serve --demo`.
// Locally they skip when Chromium is missing; under CI=true they fail
// (scripts/test installs it). Screenshots of every step go to
// $TAIZHANG_ARTIFACTS/browser (or a temporary directory, named in the log);
// with -update-screenshots the three roles' main pages are also written
// to docs/screenshots/ for the README.

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"taizhang/internal/testenv"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "write the README's screenshots into docs/screenshots/")

// chromiumPath finds the browser: $TAIZHANG_CHROMIUM, or Debian's chromium.
func chromiumPath() string {
	if p := os.Getenv("TAIZHANG_CHROMIUM"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return ""
}

// needBrowser skips the test when Chromium is missing, except under
// CI=true, where that is a failure.
func needBrowser(t *testing.T) string {
	t.Helper()
	p := chromiumPath()
	if p == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("browser tests: no chromium (scripts/test installs Debian's chromium under CI=true)")
		}
		t.Skip("browser tests: no chromium at /usr/bin/chromium (apt-get install chromium, or set TAIZHANG_CHROMIUM)")
	}
	if testing.Short() {
		t.Skip("browser tests run the whole demo")
	}
	return p
}

// artifactsDir is where screenshots go: $TAIZHANG_ARTIFACTS/browser, or a
// directory kept after the test (its name is logged).
var artifactsOnce sync.Once
var artifactsPath string

func artifactsDir(t *testing.T) string {
	artifactsOnce.Do(func() {
		if d := os.Getenv("TAIZHANG_ARTIFACTS"); d != "" {
			artifactsPath = filepath.Join(d, "browser")
		} else {
			artifactsPath = filepath.Join(os.TempDir(), fmt.Sprintf("taizhang-browser-%d", os.Getpid()))
		}
	})
	if err := os.MkdirAll(artifactsPath, 0o755); err != nil {
		t.Fatal(err)
	}
	return artifactsPath
}

// chrome is one Chromium tab with its own profile, failing the test on
// any console error, uncaught exception or failed resource load.
type chrome struct {
	t    *testing.T
	ctx  context.Context
	base string
	name string // prefix of screenshot files

	mu       sync.Mutex
	problems []string
	allow    []*regexp.Regexp // console errors expected by the test
	step     int
}

// newChrome starts Chromium with an empty profile and a viewport of w×h
// CSS pixels (mobile emulation when w < 600).
func newChrome(t *testing.T, base, name string, w, h int) *chrome {
	t.Helper()
	exe := needBrowser(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("lang", "zh-CN"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(w, h),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	b := &chrome{t: t, ctx: ctx, base: base, name: name}
	if err := chromedp.Do(ctx); err != nil { // starts the browser and its tab
		t.Fatalf("start chromium: %v", err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			switch {
			case m.IsException():
				b.problem(m.String())
			case m.Type == chromedp.ConsoleError:
				b.problem(fmt.Sprintf("%s %s %s", m.String(), m.Source, m.URL))
			}
		}
	}()
	emulate := chromedp.EmulateViewport(int64(w), int64(h))
	if w < 600 {
		emulate = chromedp.EmulateViewport(int64(w), int64(h), chromedp.EmulateMobile, chromedp.EmulateScale(2))
	}
	if err := chromedp.Do(ctx, emulate); err != nil {
		t.Fatalf("emulate the viewport: %v", err)
	}
	t.Cleanup(b.check)
	return b
}

func (b *chrome) problem(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, re := range b.allow {
		if re.MatchString(s) {
			return
		}
	}
	b.problems = append(b.problems, s)
}

// expectErrors allows console errors matching re (e.g. a request the test
// makes fail on purpose).
func (b *chrome) expectErrors(re string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.allow = append(b.allow, regexp.MustCompile(re))
}

// check fails the test on the console errors seen so far.
func (b *chrome) check() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("%s: browser console: %s", b.name, p)
	}
	b.problems = nil
}

// run runs chromedp actions, failing the test with a screenshot on error.
func (b *chrome) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(what, err)
	}
}

// fail ends the test with a screenshot of where it failed.
func (b *chrome) fail(what string, err error) {
	b.t.Helper()
	b.shot("failed-" + safeName(what))
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	b.t.Fatalf("%s: %s (at %s): %v", b.name, what, loc, err)
}

// navigate runs actions that cause a navigation (a form submission, a
// click on a link) and waits until the new page has loaded.
func (b *chrome) navigate(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if _, err := chromedp.RunResponse(ctx, actions...); err != nil {
		b.fail(what, err)
	}
	b.run(what, chromedp.WaitReady(chromedp.CSS("main")))
}

// eval evaluates a JavaScript expression (awaiting a promise) into T.
func eval[T any](b *chrome, what, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fail(what, err)
	}
	return v
}

// location returns the current URL.
func (b *chrome) location() string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return loc
}

// open navigates to path and waits for the page's main element.
func (b *chrome) open(path string) {
	b.t.Helper()
	b.run("open "+path, chromedp.Navigate(b.base+path), chromedp.WaitReady(chromedp.CSS("main")))
	b.a11y(path)
}

var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

func safeName(s string) string { return strings.Trim(unsafeChars.ReplaceAllString(s, "-"), "-") }

// shot saves a full-page screenshot of the current page as an artifact.
func (b *chrome) shot(label string) string {
	b.t.Helper()
	b.step++
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", label, err)
		return ""
	}
	p := filepath.Join(artifactsDir(b.t), fmt.Sprintf("%s-%02d-%s.png", b.name, b.step, safeName(label)))
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", p)
	return p
}

// readmeShot writes the viewport as docs/screenshots/NAME.png when
// -update-screenshots is given.
func (b *chrome) readmeShot(name string) {
	b.t.Helper()
	if !*updateScreenshots {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.fail("screenshot "+name, err)
	}
	dir := filepath.Join("..", "..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// a11yScript reports the basic accessibility problems of a page: no lang
// attribute, form fields without a label, images without alt text.
const a11yScript = `(() => {
  const out = [];
  if (!document.documentElement.getAttribute('lang')) out.push('html has no lang attribute');
  for (const el of document.querySelectorAll('input, select, textarea')) {
    const type = (el.getAttribute('type') || '').toLowerCase();
    if (['hidden', 'submit', 'button', 'reset', 'image'].includes(type)) continue;
    const named = (el.labels && el.labels.length > 0) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
    if (!named) out.push('field without a label: ' + el.outerHTML.slice(0, 120));
  }
  for (const img of document.querySelectorAll('img')) {
    if (!img.hasAttribute('alt')) out.push('img without alt: ' + img.outerHTML.slice(0, 120));
  }
  for (const svg of document.querySelectorAll('svg[role=img]')) {
    if (!svg.getAttribute('aria-labelledby') && !svg.getAttribute('aria-label')) out.push('svg image without a name');
  }
  return out;
})()`

// a11y checks the current page with a11yScript.
func (b *chrome) a11y(where string) {
	b.t.Helper()
	problems := eval[[]string](b, "accessibility check", a11yScript)
	for _, p := range problems {
		b.t.Errorf("%s %s: accessibility: %s", b.name, where, p)
	}
}

// texts returns the text of every element matching sel.
func (b *chrome) texts(sel string) []string {
	b.t.Helper()
	return eval[[]string](b, "read "+sel, fmt.Sprintf(`[...document.querySelectorAll(%q)].map(e => e.textContent.trim())`, sel))
}

// count returns the number of elements matching sel.
func (b *chrome) count(sel string) int {
	b.t.Helper()
	return eval[int](b, "count "+sel, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel))
}

// imagesLoaded waits until every img matching sel has loaded and reports
// how many did, failing on a broken one.
func (b *chrome) imagesLoaded(sel string) int {
	b.t.Helper()
	js := fmt.Sprintf(`new Promise((resolve, reject) => {
	  const imgs = [...document.querySelectorAll(%q)];
	  const wait = imgs.map(i => i.complete ? Promise.resolve() : new Promise(r => { i.addEventListener('load', r); i.addEventListener('error', r); }));
	  Promise.all(wait).then(() => {
	    const broken = imgs.filter(i => i.naturalWidth === 0).map(i => i.src);
	    if (broken.length) reject(new Error('broken images: ' + broken.join(' ')));
	    else resolve(imgs.length);
	  });
	})`, sel)
	return eval[int](b, "images "+sel, js)
}

// TestBrowserHarness: the checks themselves can fail: a console error, an
// uncaught exception and a missing image are caught, and a field without
// a label and an image without alt are reported.
func TestBrowserHarness(t *testing.T) {
	needBrowser(t)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/favicon.ico" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html><head><title>t</title></head><body><main>
<img src="/missing.png"><input id="x"><label for="y">y</label><input id="y">
</main><script>console.error("boom"); setTimeout(() => { throw new Error("bang") }, 0)</script></body></html>`)
	}))
	defer ts.Close()
	b := newChrome(t, ts.URL, "harness", 360, 640)
	b.run("open", chromedp.Navigate(ts.URL+"/"), chromedp.WaitReady(chromedp.CSS("main")))
	problems := eval[[]string](b, "a11y", a11yScript)
	want := []string{"html has no lang attribute", `field without a label: <input id="x">`, `img without alt: <img src="/missing.png">`}
	if !slices.Equal(problems, want) {
		t.Errorf("a11y problems:\n%q\nwant\n%q", problems, want)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		b.mu.Lock()
		defer b.mu.Unlock()
		all := strings.Join(b.problems, "\n")
		for _, s := range []string{"boom", "bang", "404"} {
			if !strings.Contains(all, s) {
				return fmt.Errorf("console problems lack %q: %s", s, all)
			}
		}
		return nil
	})
	b.mu.Lock()
	b.problems = nil // seen: not a failure of this test
	b.mu.Unlock()
	if p := b.shot("harness"); p == "" {
		t.Error("no screenshot")
	}
}

// token creates a token of role (for unit, if a submitter) with the
// server's admin token.
func (s *server) token(t *testing.T, role, unit, user string) string {
	t.Helper()
	r := s.postJSON(t, s.Admin, "/api/v1/tokens", map[string]any{"role": role, "unit": unit, "user": user})
	if r.Status != 201 {
		t.Fatalf("token %s: %d %s", role, r.Status, r.Body)
	}
	var tok struct{ Token string }
	r.decode(t, &tok)
	return tok.Token
}

// signIn logs in through the /login page's token form; while web sessions
// have not landed (the form refuses), it sends the token as the API's
// bearer header with every request instead, which pages accept too.
func (b *chrome) signIn(token string) {
	b.t.Helper()
	b.open("/login")
	b.expectErrors(`status of 401 .*/login/token`) // a refused sign-in, checked below
	b.navigate("log in with a token", chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Submit(chromedp.CSS("#token")))
	if !strings.Contains(b.location(), "/login") {
		return
	}
	b.t.Logf("%s: the token form did not sign in (no web sessions yet): sending the token as a bearer header", b.name)
	b.run("bearer header", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": "Bearer " + token}})
		return err
	}))
}

// writePhotos writes n distinct JPEG photos and returns their paths.
func writePhotos(t *testing.T, n int, seed uint8) []string {
	dir := t.TempDir()
	var out []string
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("photo-%d.jpg", i+1))
		if err := os.WriteFile(p, jpegPhoto(t, seed+uint8(i)), 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// submitted is what the submit flow left: the evidence id and the
// requirement it answers.
type submitted struct{ ID, Requirement, Title string }

// fillSubmit fills the submit form of the current page with a title, today's
// date, the first requirement offered and two photos, and returns the
// form's evidence id and the requirement.
func (b *chrome) fillSubmit(title string, photos []string) submitted {
	b.t.Helper()
	id := eval[string](b, "evidence id", `document.querySelector('form[data-upload] input[name=id]').value`)
	req := eval[string](b, "first requirement", `[...document.querySelectorAll('#requirement option')].map(o => o.value).find(v => v) || ''`)
	if id == "" || req == "" {
		b.fail("submit form", fmt.Errorf("no evidence id (%q) or no requirement offered (%q)", id, req))
	}
	today := eval[string](b, "today", `document.querySelector('#occurred').max`)
	b.run("fill the form",
		chromedp.SendKeys(chromedp.CSS("#title"), title),
		chromedp.SetValue(chromedp.CSS("#occurred"), today),
		chromedp.SetValue(chromedp.CSS("#requirement"), req),
		chromedp.SetUploadFiles(chromedp.CSS("#photos"), photos),
	)
	return submitted{ID: id, Requirement: req, Title: title}
}

// evidenceEvents counts the events of the unit's history about the
// evidence id: its submission (the event's own id), the corrections naming
// it, and any event whose data names it.
func evidenceEvents(t *testing.T, s *server, unit, id string) int {
	t.Helper()
	n := 0
	for _, e := range s.history(t, s.Admin, unit, "") {
		if e.ID.String() == id || (e.Corrects != nil && e.Corrects.String() == id) || strings.Contains(string(e.Data), id) {
			n++
		}
	}
	return n
}

// TestBrowserFlows: the three roles on the demo in headless Chromium. A
// submitter on a 360 px phone submits an item with two photos and sees the
// receipt; an inspector finds it under its requirement with thumbnails and
// moves the as-of date before it, and it is gone; a supervisor sees the
// demo's reused photo side by side and every audit page. Every page is
// checked for console errors and basic accessibility.
func TestBrowserFlows(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "--demo")
	s.waitDemo(t)
	unit := "cun-1"
	var sub submitted

	t.Run("submitter on a phone", func(t *testing.T) {
		b := newChrome(t, s.URL, "submitter", 360, 740)
		b.signIn(s.token(t, "submitter", unit, "clerk-browser"))
		b.open("/")
		b.shot("home")
		b.readmeShot("submitter")
		b.open("/units/" + unit + "/submit")
		sub = b.fillSubmit("瀏覽器測試：端午節包粽子活動", writePhotos(t, 2, 40))
		b.shot("form-filled")
		b.run("send", chromedp.Click(chromedp.CSS("form[data-upload] button[type=submit]")),
			chromedp.WaitVisible(chromedp.CSS("dl.receipt")))
		b.a11y("receipt")
		b.shot("receipt")
		b.readmeShot("submitter-receipt")
		got := b.texts("dl.receipt dd code, dl.receipt-tech dd code")
		if len(got) < 3 || got[0] != sub.ID || got[1] == "" || len(got[2]) < 40 {
			t.Fatalf("receipt shows %q, want the id %s, a sequence and a hash", got, sub.ID)
		}
		if n := b.count("dl.receipt ul.docs li"); n != 2 {
			t.Errorf("receipt lists %d files, want 2", n)
		}
		if n := b.imagesLoaded("main .photos img"); n != 2 {
			t.Errorf("receipt shows %d thumbnails, want 2", n)
		}
		// The hash is there for who asks, behind the technical details.
		if n := b.count("details.tech:not([open]) dl.receipt-tech"); n != 1 {
			t.Errorf("the receipt's hash is not behind a closed 技術詳情 (%d)", n)
		}
	})
	if sub.ID == "" {
		t.Fatal("nothing submitted")
	}

	t.Run("inspector as of a date", func(t *testing.T) {
		b := newChrome(t, s.URL, "inspector", 1280, 900)
		b.signIn(s.token(t, "inspector", "", "inspector-browser"))
		b.open("/units")
		b.readmeShot("inspector")
		b.shot("units")
		b.open("/units/" + unit)
		b.shot("archive-closed")
		if n, open := b.count("details.req"), b.count("details.req[open]"); n < 3 || open != 0 {
			t.Errorf("the archive shows %d requirement groups, %d open; want them all closed", n, open)
		}
		// A link to the item opens its group.
		item := "#ev-" + sub.ID
		b.open("/units/" + unit + item)
		in := eval[string](b, "the item's requirement", fmt.Sprintf(`(document.querySelector(%q)?.closest('details.req[open]') || {}).id || ''`, "article"+item))
		if in == "" || !strings.HasSuffix(sub.Requirement, strings.TrimPrefix(in, "r-"+unit+"-")) {
			b.fail("item under its requirement", fmt.Errorf("item %s is in section %q, want the requirement %q", sub.ID, in, sub.Requirement))
		}
		b.run("scroll to the item", chromedp.ScrollIntoView(chromedp.CSS("article"+item)))
		if n := b.imagesLoaded("article" + item + " .photos img"); n != 2 {
			t.Errorf("%d thumbnails under the item, want 2", n)
		}
		b.shot("item-with-thumbnails")
		// As the ledger stood yesterday: the item was not there.
		yesterday := time.Now().In(testZone).AddDate(0, 0, -1).Format(time.DateOnly)
		b.navigate("as of yesterday", chromedp.SetValue(chromedp.CSS("#as_of"), yesterday), chromedp.Submit(chromedp.CSS("#as_of")))
		if loc := b.location(); !strings.Contains(loc, "as_of="+yesterday) {
			t.Errorf("the date control went to %s", loc)
		}
		b.a11y("as of")
		b.shot("as-of-yesterday")
		if n := b.count(item); n != 0 {
			t.Errorf("as of %s the item submitted today is still shown", yesterday)
		}
		if n := b.count("details.req"); n == 0 {
			t.Error("as of yesterday the archive shows no requirement")
		}
	})

	t.Run("supervisor audit pages", func(t *testing.T) {
		b := newChrome(t, s.URL, "supervisor", 1280, 900)
		b.signIn(s.token(t, "supervisor", "", "supervisor-browser"))
		b.open("/")
		b.readmeShot("supervisor-home")
		b.shot("home")
		if n := b.count("#todo-bursts li"); n == 0 {
			t.Error("the supervisor's home lists no backfill burst")
		}
		b.open("/audit/reuse")
		b.readmeShot("supervisor")
		b.shot("reuse")
		// The demo's board photo of cun-3 reused by cun-4: one content,
		// both units, side by side, both thumbnails loading.
		pairs := eval[[]string](b, "exact reuse", `[...document.querySelectorAll('section.reuse.exact')].map(s => s.textContent)`)
		found := false
		for _, p := range pairs {
			if strings.Contains(p, "cun-3") && strings.Contains(p, "cun-4") {
				found = true
			}
		}
		if !found {
			t.Errorf("no exact reuse of cun-3's photo by cun-4 on the page: %q", pairs)
		}
		if n := b.imagesLoaded("section.reuse img"); n < 4 {
			t.Errorf("%d reuse thumbnails, want the exact pair and a near pair", n)
		}
		for _, v := range []string{"/audit/", "/audit/corrections", "/audit/backfill", "/audit/bursts", "/audit/photo-times", "/audit/actors",
			"/audit/corrections?unit=cun-1", "/audit/backfill?unit=cun-6&from=2016-01-01&to=2016-12-31", "/audit/verify?unit=cun-1",
			"/plans/shuangchuang-2016/ranking?month=2016-09"} {
			b.open(v)
			b.shot(v)
		}
		if n := b.count("svg[role=img]"); n != 1 {
			t.Errorf("ranking page: %d charts", n)
		}
		b.open("/audit/verify?unit=cun-1")
		if txt := b.texts("#verify-result"); len(txt) != 1 || !strings.Contains(txt[0], "cun-1") {
			t.Errorf("unit check result: %q", txt)
		}
		b.open("/audit/bursts")
		if n := b.count("figure.chart svg[role=img]"); n != 1 {
			t.Errorf("bursts page: %d charts", n)
		}
		if txt := strings.Join(b.texts("section.burst h2"), "\n"); !strings.Contains(txt, "cun-6") {
			t.Errorf("bursts page lacks cun-6's burst: %q", txt)
		}
	})
}

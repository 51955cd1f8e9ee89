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

// browser is one Chromium tab with its own profile, failing the test on
// any console error, uncaught exception or failed resource load.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	name string // prefix of screenshot files

	mu       sync.Mutex
	problems []string
	allow    []*regexp.Regexp // console errors expected by the test
	step     int
}

// newBrowser starts Chromium with an empty profile and a viewport of w×h
// CSS pixels (mobile emulation when w < 600).
func newBrowser(t *testing.T, base, name string, w, h int) *browser {
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
	b := &browser{t: t, ctx: ctx, base: base, name: name}
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

func (b *browser) problem(s string) {
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
func (b *browser) expectErrors(re string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.allow = append(b.allow, regexp.MustCompile(re))
}

// check fails the test on the console errors seen so far.
func (b *browser) check() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("%s: browser console: %s", b.name, p)
	}
	b.problems = nil
}

// run runs chromedp actions, failing the test with a screenshot on error.
func (b *browser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(what, err)
	}
}

// fail ends the test with a screenshot of where it failed.
func (b *browser) fail(what string, err error) {
	b.t.Helper()
	b.shot("failed-" + safeName(what))
	loc, _ := chromedp.Run(b.ctx, chromedp.Location())
	b.t.Fatalf("%s: %s (at %s): %v", b.name, what, loc, err)
}

// eval evaluates a JavaScript expression (awaiting a promise) into T.
func eval[T any](b *browser, what, js string) T {
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
func (b *browser) location() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return loc
}

// open navigates to path and waits for the page's main element.
func (b *browser) open(path string) {
	b.t.Helper()
	b.run("open "+path, chromedp.Navigate(b.base+path), chromedp.WaitReady(chromedp.CSS("main")))
	b.a11y(path)
}

var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

func safeName(s string) string { return strings.Trim(unsafeChars.ReplaceAllString(s, "-"), "-") }

// shot saves a full-page screenshot of the current page as an artifact.
func (b *browser) shot(label string) string {
	b.t.Helper()
	b.step++
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
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
func (b *browser) readmeShot(name string) {
	b.t.Helper()
	if !*updateScreenshots {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
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
func (b *browser) a11y(where string) {
	b.t.Helper()
	problems := eval[[]string](b, "accessibility check", a11yScript)
	for _, p := range problems {
		b.t.Errorf("%s %s: accessibility: %s", b.name, where, p)
	}
}

// loginToken signs in through the /login page's token form.
func (b *browser) loginToken(token string) {
	b.t.Helper()
	b.open("/login")
	b.run("log in with a token",
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitReady(chromedp.CSS("main")),
	)
	if loc := b.location(); strings.Contains(loc, "/login") {
		b.shot("login-failed")
		b.t.Fatalf("%s: still on %s after logging in", b.name, b.location())
	}
}

// texts returns the text of every element matching sel.
func (b *browser) texts(sel string) []string {
	b.t.Helper()
	return eval[[]string](b, "read "+sel, fmt.Sprintf(`[...document.querySelectorAll(%q)].map(e => e.textContent.trim())`, sel))
}

// count returns the number of elements matching sel.
func (b *browser) count(sel string) int {
	b.t.Helper()
	return eval[int](b, "count "+sel, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel))
}

// imagesLoaded waits until every img matching sel has loaded and reports
// how many did, failing on a broken one.
func (b *browser) imagesLoaded(sel string) int {
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
	b := newBrowser(t, ts.URL, "harness", 360, 640)
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

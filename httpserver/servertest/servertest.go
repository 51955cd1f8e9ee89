// Package servertest runs a whole taizhang server for tests: embedded
// NATS, the JetStream ledger, a blob directory, the live projection and
// httpserver.Server with its gate, API and pages, on a settable clock, with
// a town, two villages, a plan and tokens for every role (New). Its
// helpers send requests as a token holder and check what every web page
// must be (CheckPage). The tests of api, pages and httpserver use it.
package servertest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/net/html"

	"taizhang/api"
	"taizhang/auth"
	"taizhang/auth/natsaccess"
	"taizhang/auth/natskv"
	"taizhang/blobstore/dir"
	"taizhang/events"
	tzjs "taizhang/events/jetstream"
	"taizhang/httpserver"
	"taizhang/internal/testenv"
	"taizhang/projections"
	"taizhang/web"
)

// Zone is the test deployment's zone (UTC+8, as the server defaults).
var Zone = time.FixedZone("UTC+8", 8*3600)

// NewClock returns a clock set to t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Clock is a settable clock for the ledger and the server.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time, moved on by a millisecond (recorded
// times move on).
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond) // recorded times move on
	return c.t
}

// Set sets the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Env is a real server for tests of the API and the pages: embedded NATS, the JetStream
// ledger, a blob directory, the live projection and the API with its pages.
type Env struct {
	T      testing.TB
	URL    string
	Server *httpserver.Server
	Ledger *tzjs.Ledger
	Live   *projections.Live
	Access *natsaccess.Log // with Options.AccessLog only
	Clock  *Clock
	Tokens map[string]string // name → token

	// ryw sends every request with the largest X-Taizhang-Seq the server
	// has answered the test's requests with as X-Taizhang-Min-Seq: an
	// answer to a write does not wait for the projection (see DoH).
	ryw ReadYourWrites
}

// TestPlan is the plan New publishes (test-plan, for villages).
const TestPlan = `id: test-plan
title: 測試方案
issuer: 測試鎮
timezone: Asia/Shanghai
period: {start: 2016-01-01, end: 2016-12-31}
phases:
  - {id: first, name: 上半年, start: 2016-01-01, end: 2016-06-30}
  - {id: second, name: 下半年, start: 2016-07-01, end: 2016-12-31}
applies_to: {types: [village]}
requirements:
  - id: festival
    ref: 一1
    title: 節日活動
    accepts: {kinds: [activity]}
    attachments: [photo]
    rule: {kind: count, min: 2}
  - id: midyear
    ref: 一2
    title: 年中總結
    accepts: {kinds: [summary, document]}
    rule: {kind: deadline, by: 2016-06-30, min: 1}
  - id: autumn
    ref: 二1
    title: 秋季活動
    accepts: {kinds: [activity]}
    rule: {kind: count, min: 1, phase: second}
`

// New starts the server at 2016-05-01 (UTC+8) with a town, two
// villages, the test plan, and tokens: admin, clerk (cun-1), clerk2
// (cun-2), inspector, supervisor.
func New(t testing.TB) *Env {
	t.Helper()
	clock := NewClock(time.Date(2016, 5, 1, 9, 0, 0, 0, Zone))
	e := Start(t, clock.Now)
	e.Clock = clock
	e.Seed()
	return e
}

// Seed registers a town (zhen), its two villages (cun-1, cun-2), publishes
// TestPlan and issues tokens for clerk (clerk-wang, cun-1), clerk2
// (clerk-li, cun-2), inspector (insp-zhao) and supervisor (sup-qian).
func (e *Env) Seed() {
	e.T.Helper()
	e.SeedWith(TestPlan)
}

// SeedWith is Seed with plan (YAML) for TestPlan.
func (e *Env) SeedWith(plan string) {
	e.T.Helper()
	for _, u := range []map[string]any{
		{"id": "zhen", "name": "測試鎮", "type": "town"},
		{"id": "cun-1", "name": "東村", "type": "village", "parent": "zhen", "headcount": 800},
		{"id": "cun-2", "name": "西村", "type": "village", "parent": "zhen", "headcount": 600},
	} {
		e.MustJSON("admin", "POST", "/api/v1/units", u, 201)
	}
	if st, body := e.Do("admin", "POST", "/api/v1/plans?file=test.yaml", "application/yaml", strings.NewReader(plan)); st != 201 {
		e.T.Fatalf("publish plan: %d %s", st, body)
	}
	for name, in := range map[string]auth.Principal{
		"clerk": {Role: events.RoleSubmitter, Unit: "cun-1", User: "clerk-wang"}, "clerk2": {Role: events.RoleSubmitter, Unit: "cun-2", User: "clerk-li"},
		"inspector": {Role: events.RoleInspector, User: "insp-zhao"}, "supervisor": {Role: events.RoleSupervisor, User: "sup-qian"},
	} {
		tok, err := e.Server.IssueToken(context.Background(), in.Role, in.Unit, in.User)
		if err != nil {
			e.T.Fatal(err)
		}
		e.Tokens[name] = tok
	}
}

// Start starts the server on a clock with an admin token only.
func Start(t testing.TB, now func() time.Time) *Env {
	t.Helper()
	return StartWith(t, Options{Now: now})
}

// Options say how StartWith builds the server: on which connection, with
// which clock and configuration, and whether with an access log.
type Options struct {
	// Conn is the connection the ledger and the stores use; nil starts an
	// embedded NATS server of the test's own.
	Conn *nats.Conn
	// Now is the ledger's and the API's clock (nil: time.Now).
	Now func() time.Time
	// API configures the API (TempDir, Now and Zone are set when empty).
	API api.Config
	// MinSeqWait is httpserver.Config's (default 200 ms).
	MinSeqWait time.Duration
	// AccessLog gives the server an access log on the ledger's JetStream
	// (Env.Access).
	AccessLog bool
	// Log is the server's logger (default: warnings and errors into the
	// test's log).
	Log *slog.Logger
}

// StartWith starts a whole server as o says, with an admin token only:
// the ledger, a blob directory, the credential buckets, the live
// projection (running until the test ends) and httpserver.Server, served
// on an httptest server.
func StartWith(t testing.TB, o Options) *Env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	nc := o.Conn
	if nc == nil {
		nc = testenv.StartNATS(t).Connect(t)
	}
	l, err := tzjs.Open(ctx, nc, tzjs.Config{Now: o.Now, HistoryDir: t.TempDir()}) // as serve does
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	blobs, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	toks, err := natskv.Open(ctx, l.JetStream(), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	live := projections.NewLive(l, nil)
	live.SpoolTexts(t.TempDir()) // as serve does
	done := make(chan struct{})
	go func() { defer close(done); live.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	log := o.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	cfg := o.API
	if cfg.TempDir == "" {
		cfg.TempDir = t.TempDir()
	}
	if cfg.Now == nil {
		cfg.Now = o.Now
	}
	if cfg.Zone == nil {
		cfg.Zone = Zone
	}
	s := httpserver.New(l, blobs, live, toks, httpserver.Config{API: cfg, MinSeqWait: cmp.Or(o.MinSeqWait, 200*time.Millisecond)}, log)
	e := &Env{T: t, Server: s, Ledger: l, Live: live, Tokens: map[string]string{}}
	if o.AccessLog {
		if e.Access, err = natsaccess.Open(ctx, l.JetStream(), 1, nil); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.Access.Close)
		s.SetAccessLog(e.Access)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	e.URL = hs.URL
	admin, err := s.IssueToken(ctx, events.RoleAdmin, "", "admin")
	if err != nil {
		t.Fatal(err)
	}
	e.Tokens["admin"] = admin
	return e
}

// Do sends a request as the named token holder ("" for none).
func (e *Env) Do(who, method, path, contentType string, body io.Reader) (int, string) {
	e.T.Helper()
	st, _, b := e.DoH(who, method, path, contentType, body, nil)
	return st, b
}

// DoH is Do with request headers hdr, answering the response headers too.
// Unless path or hdr names a minimum sequence itself, or path is a probe
// (/healthz, /readyz, /metrics), the request carries the largest
// X-Taizhang-Seq the server has answered with as X-Taizhang-Min-Seq, so
// that a read after a write sees it; a 503 behind to that minimum is asked
// again, as the CLI does, for up to a minute (each time the server waits
// Options.MinSeqWait). The answer's X-Taizhang-Seq is noted.
func (e *Env) DoH(who, method, path, contentType string, body io.Reader, hdr http.Header) (int, http.Header, string) {
	e.T.Helper()
	req, err := http.NewRequest(method, e.URL+path, body)
	if err != nil {
		e.T.Fatal(err)
	}
	if who != "" {
		req.Header.Set("Authorization", "Bearer "+e.Tokens[who])
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, b := e.ryw.Do(e.T, NoRedirect, req)
	return resp.StatusCode, resp.Header, string(b)
}

// NoteSeq raises the sequence DoH sends as the minimum to the
// X-Taizhang-Seq of h (an answer to a request the test sent itself).
func (e *Env) NoteSeq(h http.Header) { e.ryw.Note(h) }

// NoRedirect is a client that answers redirects instead of following them.
var NoRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// MustJSON sends in as JSON as who and fails the test unless the answer
// has status want.
func (e *Env) MustJSON(who, method, path string, in any, want int) {
	e.T.Helper()
	b, _ := json.Marshal(in)
	if st, body := e.Do(who, method, path, "application/json", bytes.NewReader(b)); st != want {
		e.T.Fatalf("%s %s: %d %s", method, path, st, body)
	}
}

// Page GETs a page and checks it is well-formed, accessible HTML.
func (e *Env) Page(who, path string, want int) string {
	e.T.Helper()
	st, body := e.Do(who, "GET", path, "", nil)
	if st != want {
		e.T.Fatalf("GET %s as %s: %d, want %d\n%s", path, who, st, want, body)
	}
	CheckPage(e.T, path, body)
	return body
}

// FormFile is a file of a posted form: its field, file name and bytes.
type FormFile struct {
	Field, Name string
	Data        []byte
}

// Post sends a form (multipart if files or multi) as who.
func (e *Env) Post(who, path string, vals url.Values, files []FormFile, multi bool) (int, http.Header, string) {
	e.T.Helper()
	if files == nil && !multi {
		return e.DoH(who, "POST", path, "application/x-www-form-urlencoded", strings.NewReader(vals.Encode()), nil)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	// The csrf field first, then the id, as the form renders them.
	_ = mw.WriteField("csrf", vals.Get("csrf"))
	if id := vals.Get("id"); id != "" {
		_ = mw.WriteField("id", id)
	}
	for k, vs := range vals {
		if k == "id" || k == "csrf" {
			continue
		}
		for _, v := range vs {
			_ = mw.WriteField(k, v)
		}
	}
	for _, f := range files {
		w, _ := mw.CreateFormFile(f.Field, f.Name)
		_, _ = w.Write(f.Data)
	}
	_ = mw.Close()
	return e.DoH(who, "POST", path, mw.FormDataContentType(), &buf, nil)
}

// PNG returns a small distinct PNG.
func PNG(seed int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 32, 24))
	for y := range 24 {
		for x := range 32 {
			img.Set(x, y, color.RGBA{uint8(x*8 + seed*37), uint8(y*10 + seed*11), uint8(seed * 53), 255})
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}

// seedSimplified are the simplified-only characters the seed plans' own
// text holds (it writes 并 for 並): data the pages quote, not chrome.
const seedSimplified = "并"

// CheckPage checks what every page must be: <html lang>, a title, alt
// text on every image, a label for every visible form field, a csrf field
// in every form that posts, no inline script or style, no untranslated key,
// and on a zh-Hant page no character written only in simplified Chinese
// (outside an element marked as another language, as the language switch's
// 简体中文 is, and the seed plans' seedSimplified).
func CheckPage(t testing.TB, path, body string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	labels := map[string]bool{}
	var fields []string
	attr := func(n *html.Node, k string) (string, bool) {
		for _, a := range n.Attr {
			if a.Key == k {
				return a.Val, true
			}
		}
		return "", false
	}
	sawLang, sawTitle := false, false
	var walk func(n *html.Node, form *html.Node, lang string)
	simplified := func(lang, where, text string) {
		if lang != web.LangHant {
			return
		}
		for _, r := range text {
			if web.SimplifiedOnly(r) && !strings.ContainsRune(seedSimplified, r) {
				t.Errorf("%s: a zh-Hant page shows simplified %q in %s %q", path, r, where, strings.TrimSpace(text))
				return
			}
		}
	}
	walk = func(n *html.Node, form *html.Node, lang string) {
		if n.Type == html.TextNode {
			simplified(lang, "text", n.Data)
		}
		if n.Type == html.ElementNode {
			if l, ok := attr(n, "lang"); ok {
				lang = l
			}
			for _, a := range n.Attr {
				switch a.Key {
				case "title", "alt", "aria-label", "placeholder", "value", "data-close":
					simplified(lang, "<"+n.Data+" "+a.Key+">", a.Val)
				}
			}
			switch n.Data {
			case "html":
				if l, _ := attr(n, "lang"); l == web.LangZH || l == web.LangHant || l == web.LangEN {
					sawLang = true
				}
			case "title":
				sawTitle = n.FirstChild != nil && strings.TrimSpace(n.FirstChild.Data) != ""
			case "img":
				if alt, ok := attr(n, "alt"); !ok || strings.TrimSpace(alt) == "" {
					t.Errorf("%s: an image without alt text", path)
				}
			case "label":
				if f, ok := attr(n, "for"); ok {
					labels[f] = true
				}
			case "input", "select", "textarea":
				typ, _ := attr(n, "type")
				if typ != "hidden" && typ != "submit" {
					id, _ := attr(n, "id")
					fields = append(fields, id)
				}
			case "form":
				form = n
				if m, _ := attr(n, "method"); m == "post" && !hasCSRF(n) {
					act, _ := attr(n, "action")
					t.Errorf("%s: form %s has no csrf field", path, act)
				}
			case "script":
				if _, ok := attr(n, "src"); !ok {
					t.Errorf("%s: inline script", path)
				}
			case "style":
				t.Errorf("%s: inline style element", path)
			}
			if _, ok := attr(n, "style"); ok {
				t.Errorf("%s: style attribute on <%s>", path, n.Data)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, form, lang)
		}
	}
	walk(doc, nil, "")
	if !sawLang || !sawTitle {
		t.Errorf("%s: lang attribute %v, title %v", path, sawLang, sawTitle)
	}
	for _, f := range fields {
		if f == "" || !labels[f] {
			t.Errorf("%s: form field %q has no label", path, f)
		}
	}
	if i := strings.Index(body, "[title."); i >= 0 || strings.Contains(body, "[error.") {
		t.Errorf("%s: an untranslated key", path)
	}
}

func hasCSRF(form *html.Node) bool {
	found := false
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" {
			var name, typ string
			for _, a := range n.Attr {
				switch a.Key {
				case "name":
					name = a.Val
				case "type":
					typ = a.Val
				}
			}
			if name == "csrf" && typ == "hidden" {
				found = true
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(form)
	return found
}

// FormID returns the value of the hidden id field of a rendered form.
func FormID(t testing.TB, body string) string {
	t.Helper()
	i := strings.Index(body, `name="id" value="`)
	if i < 0 {
		t.Fatalf("no id field in\n%s", body)
	}
	rest := body[i+len(`name="id" value="`):]
	return rest[:strings.IndexByte(rest, '"')]
}

// testLog writes the server's log to the test's.
type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

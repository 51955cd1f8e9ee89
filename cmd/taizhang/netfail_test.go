package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// noisyPhoto writes a deterministic JPEG of noise, w×h pixels (a camera's
// photo compresses about as badly), and returns its path and size.
func noisyPhoto(t *testing.T, w, h int, seed uint64) (string, int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := rng.Uint32()
			img.Set(x, y, color.RGBA{uint8(v), uint8(v >> 8), uint8(v >> 16), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 92}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "board.jpg")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, b.Len()
}

// cutSubmit is the browser's network layer failing the form's POST after
// the server answered it: the first POST to path paused at the Response
// stage is failed with ConnectionReset, so the server has read the whole
// body and recorded the event while the page sees a network error. Every
// later request matching path goes through.
type cutSubmit struct {
	mu     sync.Mutex
	cut    int   // POSTs failed
	passed int   // requests let through
	status int64 // the server's answer to the failed POST
	body   bool  // the failed POST carried a body
	errs   []string
}

// interceptSubmit starts failing the first POST to path (a URL pattern of
// the Fetch domain) in b's tab.
func (b *chrome) interceptSubmit(path string) *cutSubmit {
	b.t.Helper()
	c := &cutSubmit{}
	ctx, cancel := context.WithCancel(b.ctx)
	b.t.Cleanup(cancel)
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			c.mu.Lock()
			first := c.cut == 0 && ev.Request.Method == "POST" && ev.ResponseStatusCode != 0
			if first {
				c.cut++
				c.status, c.body = ev.ResponseStatusCode, ev.Request.HasPostData
			} else {
				c.passed++
			}
			c.mu.Unlock()
			var cerr error
			if first {
				_, cerr = chromedp.Call(ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonConnectionReset})
			} else {
				_, cerr = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
			}
			if cerr != nil && ctx.Err() == nil {
				c.mu.Lock()
				c.errs = append(c.errs, cerr.Error())
				c.mu.Unlock()
			}
		}
	}()
	b.run("intercept the submission", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
			{URLPattern: "*" + path, RequestStage: fetch.RequestStageResponse},
		}})
		return err
	}))
	return c
}

func (c *cutSubmit) state() (cut, passed int, status int64, body bool, errs []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cut, c.passed, c.status, c.body, append([]string(nil), c.errs...)
}

// TestBrowserNetworkFailure: a submitter's form is sent, the server records
// it, and the connection is reset before the browser reads the answer. The
// page says the network failed and keeps the form; pressing Submit again on
// the same form (not reloaded: it keeps its evidence id) answers with the
// original receipt, and the ledger holds exactly one event for the item. The
// photo is large (over the 256 KiB a Go server drains from an unread body),
// so the retry, answered before its body is read, still reaches the
// browser.
func TestBrowserNetworkFailure(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "--demo")
	s.waitDemo(t)
	unit := "cun-2"
	submitPath := "/units/" + unit + "/submit"

	b := newChrome(t, s.URL, "netfail", 360, 740)
	b.signIn(s.token(t, "submitter", unit, "clerk-netfail"))
	b.open(submitPath)
	photo, size := noisyPhoto(t, 1400, 1000, 7)
	if size < 1<<20 {
		t.Fatalf("the photo is %d bytes, want over 1 MiB", size)
	}
	title := "斷網重試測試：村務公開欄更新"
	sub := b.fillSubmit(title, []string{photo})
	b.shot("form-filled")

	// The events about the form's id, and those carrying its title (a
	// retry under a new id would add one of these but not of those).
	ledger := func() (byID, byTitle int) {
		t.Helper()
		for _, e := range s.history(t, s.Admin, unit, "") {
			if strings.Contains(string(e.Data), title) {
				byTitle++
			}
		}
		return evidenceEvents(t, s, unit, sub.ID), byTitle
	}
	if id, tt := ledger(); id != 0 || tt != 0 {
		t.Fatalf("before sending: %d events name the id, %d the title", id, tt)
	}

	// 1. Send; the answer is lost on the way back.
	cut := b.interceptSubmit(submitPath)
	b.expectErrors(`ERR_CONNECTION_RESET`) // the failed POST, on purpose
	b.run("send, and lose the answer",
		chromedp.Click(chromedp.CSS("form[data-upload] button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("form[data-upload] [data-upload-error]")))
	b.shot("network-failed")
	n, passed, status, body, errs := cut.state()
	if n != 1 || passed != 0 || len(errs) > 0 {
		t.Fatalf("interception: %d POSTs failed, %d requests let through, errors %q; want the one POST failed", n, passed, errs)
	}
	if status != 303 || !body {
		t.Fatalf("the failed POST: the server answered %d (body sent: %v); want 303, the event recorded", status, body)
	}
	if loc := b.location(); !strings.HasSuffix(loc, submitPath) {
		t.Fatalf("after the failure the page is %s, want the form still on %s", loc, submitPath)
	}
	msg := b.texts("form[data-upload] [data-upload-error]")
	want := "網絡中斷，未確認提交。請再次點擊“提交”：同一表單重新提交不會重複登記。" // zh-Hant: the demo's plans are traditional
	if len(msg) != 1 || msg[0] != want {
		t.Errorf("after the failure the page says %q, want %q", msg, want)
	}
	if eval[bool](b, "the button", `document.querySelector('form[data-upload] button[type=submit]').disabled`) {
		t.Error("after the failure the submit button stays disabled")
	}
	if id := eval[string](b, "evidence id", `document.querySelector('form[data-upload] input[name=id]').value`); id != sub.ID {
		t.Errorf("after the failure the form's id is %s, want %s", id, sub.ID) // the checks below show what it does
	}
	// The server did record it: the browser just never heard.
	if id, tt := ledger(); id != 1 || tt != 1 {
		t.Fatalf("after the lost answer: %d events name the id, %d the title; want 1 and 1", id, tt)
	}

	// 2. Press Submit again on the same form.
	b.run("send again",
		chromedp.Click(chromedp.CSS("form[data-upload] button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("dl.receipt")))
	b.a11y("receipt after the retry")
	b.shot("receipt-after-retry")
	if n, passed, _, _, errs := cut.state(); n != 1 || passed < 1 || len(errs) > 0 {
		t.Errorf("interception after the retry: %d POSTs failed, %d let through, errors %q", n, passed, errs)
	}
	loc := b.location()
	if !strings.HasSuffix(loc, "/units/"+unit+"/receipts/"+sub.ID) {
		t.Errorf("the retry went to %s, want the original receipt of %s (not a new one)", loc, sub.ID)
	}
	got := b.texts("dl.receipt dd code")
	if len(got) < 1 || got[0] != sub.ID {
		t.Errorf("the receipt shows %q, want the id %s", got, sub.ID)
	}
	if note := b.texts("p.notice.ok"); len(note) != 1 || note[0] != "此材料此前已登記，這是原回執，沒有重複登記。" {
		t.Errorf("the receipt's notice is %q, want the already-recorded one", note)
	}
	if n := b.count("dl.receipt ul.docs li"); n != 1 {
		t.Errorf("the receipt lists %d files, want the one photo", n)
	}
	if id, tt := ledger(); id != 1 || tt != 1 {
		t.Errorf("after the retry: %d events name the id, %d the title; want exactly 1 and 1", id, tt)
	}
}

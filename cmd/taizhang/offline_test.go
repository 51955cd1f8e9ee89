package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/serviceworker"
	"github.com/chromedp/chromedp"

	"taizhang/events"
	"taizhang/internal/testenv"
)

// cutProxy is the network between the browser and the server: a reverse
// proxy on its own port which, while cut, closes every connection without
// an answer, so that the page's requests and the service worker's alike
// fail as on a dead network, whatever the browser's emulation covers. It
// counts the requests it dropped.
type cutProxy struct {
	URL string
	cut atomic.Bool

	mu      sync.Mutex
	dropped []string // method and path of each request dropped
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &cutProxy{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.URL = "http://" + ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.cut.Load() {
			p.mu.Lock()
			p.dropped = append(p.dropped, r.Method+" "+r.URL.Path)
			p.mu.Unlock()
			if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
				c.Close()
				return
			}
			panic(http.ErrAbortHandler)
		}
		rp.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return p
}

// setOffline cuts (or restores) the network in b's tab: the proxy drops
// every request, and the browser's emulation takes the page and its
// service worker offline and sets navigator.onLine (firing offline and
// online).
func (b *chrome) setOffline(p *cutProxy, off bool) {
	b.t.Helper()
	if off {
		p.cut.Store(true)
	}
	b.run(fmt.Sprintf("network offline=%v", off), chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		sw := off
		if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			EmulateOfflineServiceWorker: &sw,
			MatchedNetworkConditions:    []*network.Conditions{{Offline: off, DownloadThroughput: -1, UploadThroughput: -1}},
		}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, network.OverrideNetworkState, network.OverrideNetworkStateParams{Offline: off, DownloadThroughput: -1, UploadThroughput: -1})
		return err
	}))
	if !off {
		p.cut.Store(false)
	}
}

// workerWatch follows the service worker of b's site through CDP: its
// registration, and every error the worker reports (a test problem, as a
// page's console errors are).
type workerWatch struct {
	mu  sync.Mutex
	reg serviceworker.RegistrationID
}

func (b *chrome) watchWorker() *workerWatch {
	b.t.Helper()
	w := &workerWatch{}
	ctx, cancel := context.WithCancel(b.ctx)
	b.t.Cleanup(cancel)
	regs := chromedp.Events(ctx, serviceworker.WorkerRegistrationUpdated)
	go func() {
		for ev, err := range regs {
			if err != nil {
				return
			}
			for _, r := range ev.Registrations {
				if r.ScopeURL == b.base+"/" && !r.IsDeleted {
					w.mu.Lock()
					w.reg = r.RegistrationID
					w.mu.Unlock()
				}
			}
		}
	}()
	errs := chromedp.Events(ctx, serviceworker.WorkerErrorReported)
	go func() {
		for ev, err := range errs {
			if err != nil {
				return
			}
			m := ev.ErrorMessage
			b.problem(fmt.Sprintf("service worker: %s (%s:%d)", m.ErrorMessage, m.SourceURL, m.LineNumber))
		}
	}()
	b.run("watch the service worker", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, serviceworker.Enable, cdp.Empty{})
		return err
	}))
	return w
}

// dispatchSync fires the worker's Background Sync event for tag, as the
// browser does when it decides the network is back.
func (b *chrome) dispatchSync(w *workerWatch, tag string) {
	b.t.Helper()
	var reg serviceworker.RegistrationID
	testenv.Eventually(b.t, 30*time.Second, func() error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if reg = w.reg; reg == "" {
			return errors.New("no service worker registration for the site yet")
		}
		return nil
	})
	b.run("dispatch the sync event", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, serviceworker.DispatchSyncEvent, serviceworker.DispatchSyncEventParams{
			Origin: b.base, RegistrationID: reg, Tag: tag})
		return err
	}))
}

// queueStates reads the device's queue (IndexedDB, through queue.js):
// each item's id and state.
func (b *chrome) queueStates() map[string]string {
	b.t.Helper()
	return eval[map[string]string](b, "the queue", `TaizhangQueue.all().then(a => Object.fromEntries(a.map(i => [i.id, i.state])))`)
}

// shownStates is what the page's queue list shows: each item's id and its
// state's words.
func (b *chrome) shownStates() map[string]string {
	b.t.Helper()
	return eval[map[string]string](b, "the queue list",
		`Object.fromEntries([...document.querySelectorAll('[data-queue] li')].map(li => [li.dataset.id, li.querySelector('.state').textContent.trim()]))`)
}

// waitShown waits until the page's queue list shows each id of want with
// its words (the list is drawn after the page loads, and redrawn as the
// queue changes).
func (b *chrome) waitShown(want map[string]string) {
	b.t.Helper()
	testenv.Eventually(b.t, 60*time.Second, func() error {
		got := b.shownStates()
		for id, w := range want {
			if got[id] != w {
				return fmt.Errorf("the queue list shows %q, want %q", got, want)
			}
		}
		return nil
	})
}

func fileDigest(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// checkDeviceSigned checks that ev carries a device signature that holds
// over its content (as the browser built it: events.SignedContent), by a
// key registered to user before ev was recorded, whose capture time is
// before the recording.
func checkDeviceSigned(t *testing.T, s *server, ev *historyEntry, user string) {
	t.Helper()
	c, sig, err := events.ContentOf(&ev.Event)
	if err != nil || sig == nil {
		t.Errorf("%s: no device signature (%v)", ev.ID, err)
		return
	}
	if err := sig.Verify(c); err != nil {
		t.Errorf("%s: the browser's device signature does not hold: %v\nsigned content:\n%s", ev.ID, err, c.Encode())
	}
	if !sig.CapturedAt.Before(ev.RecordedAt) {
		t.Errorf("%s: captured %s, not before it was recorded (%s)", ev.ID, sig.CapturedAt, ev.RecordedAt)
	}
	r := s.get(t, s.Admin, "/api/v1/devices?user="+user)
	var list struct{ Devices []events.RegisteredDevice }
	r.decode(t, &list)
	for _, d := range list.Devices {
		if d.Key == sig.Key {
			if !d.ActiveAt(ev.Seq) {
				t.Errorf("%s: device key %s registered at %d, revoked at %d: not active at %d", ev.ID, d.Key, d.RegisteredSeq, d.RevokedSeq, ev.Seq)
			}
			return
		}
	}
	t.Errorf("%s: device key %s is not registered to %s (%d devices: %+v)", ev.ID, sig.Key, user, len(list.Devices), list.Devices)
}

// TestBrowserOffline: a submitter opens the submit page online (the service
// worker installs and keeps the page), the network is cut, and two items
// with a photo each are submitted: both show as waiting to send, kept in
// IndexedDB with their evidence ids, and the ledger has neither. A reload
// while offline opens the kept page with both still waiting and a new
// evidence id in the form. The network comes back: both are sent, each
// recorded exactly once (the ledger's history) with its photo's digest, and
// shown as sent. An item the server refuses stays on the device with the
// server's message; an item queued while the session ended waits with
// "sign in to send" and is sent once the clerk has signed in again; an
// item left when the page is closed is sent by the worker's Background
// Sync; on a
// bad connection (the server unreachable, the browser online) the page
// offers to keep the item and sends it when the server answers; signing
// out forgets the kept pages. Each item queued is signed with the
// browser's device key (WebCrypto Ed25519), registered to the clerk when
// the first is sent, and the signature holds over the recorded event. Any
// error the worker reports fails the test.
func TestBrowserOffline(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "--demo")
	s.waitDemo(t)
	link := startCutProxy(t, s.URL)
	unit := "cun-2"
	submitPath := "/units/" + unit + "/submit"
	const (
		waiting = "等待發送" // zh-Hant: the demo's plans are traditional
		sent    = "已發送"
		signin  = "請登錄後發送"
	)

	b := newChrome(t, link.URL, "offline", 360, 740)
	// The browser reports the requests that fail while offline, and the
	// refusals this test provokes.
	b.expectErrors(`ERR_INTERNET_DISCONNECTED|ERR_EMPTY_RESPONSE|ERR_CONNECTION_|Failed to fetch|status of 40[01]`)
	worker := b.watchWorker()
	token := s.token(t, "submitter", unit, "clerk-offline")
	b.signIn(token)
	b.open(submitPath)
	if n := b.count("[data-queue] li"); n != 0 {
		t.Fatalf("a new device's queue shows %d items", n)
	}
	// The worker installs, takes the page over and keeps a copy of it.
	testenv.Eventually(t, 60*time.Second, func() error {
		state := eval[string](b, "the worker", fmt.Sprintf(`(async () => {
		  const reg = await navigator.serviceWorker.getRegistration('/');
		  const keys = await (await caches.open('taizhang-pages')).keys();
		  if (navigator.serviceWorker.controller && keys.some(r => new URL(r.url).pathname === %q)) return 'ok';
		  return 'controller: ' + !!navigator.serviceWorker.controller + ', registration: ' +
		    (reg ? (reg.active ? reg.active.state : 'none active') + (reg.installing ? ', installing' : '') + (reg.waiting ? ', waiting' : '') : 'none') +
		    ', pages kept: ' + keys.map(r => r.url).join(' ');
		})()`, submitPath))
		if state != "ok" {
			return errors.New("the service worker does not control the page or has not kept it yet: " + state)
		}
		return nil
	})

	// 1. Offline: two items, each with a photo.
	b.setOffline(link, true)
	if eval[bool](b, "navigator.onLine", `navigator.onLine`) {
		t.Fatal("the emulation left navigator.onLine true")
	}
	photos := writePhotos(t, 2, 90)
	var subs []submitted
	for i, photo := range photos {
		sub := b.fillSubmit(fmt.Sprintf("離線提交測試 %d：村民議事會", i+1), []string{photo})
		if i == 1 {
			// A title pasted with a byte-order mark in front and a NEL
			// behind: the page must trim it as the server does (strings.
			// TrimSpace keeps U+FEFF and drops U+0085; JavaScript's trim
			// does the opposite), or the device signs another title than
			// the one recorded and the server refuses it (422).
			b.run("a pasted title", chromedp.SetValue(chromedp.CSS("#title"), "\ufeff"+sub.Title+"\u0085"))
		}
		for _, old := range subs {
			if sub.ID == old.ID {
				t.Fatalf("item %d has the id of an earlier item, %s", i+1, sub.ID)
			}
		}
		b.run(fmt.Sprintf("submit item %d offline", i+1),
			chromedp.Click(chromedp.CSS("form[data-upload] button[type=submit]")),
			chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`[data-queue] li[data-id=%q]`, sub.ID))))
		subs = append(subs, sub)
	}
	b.shot("two-waiting")
	b.a11y("queue")
	shown := b.shownStates()
	if len(shown) != 2 || shown[subs[0].ID] != waiting || shown[subs[1].ID] != waiting {
		t.Errorf("offline, the page shows %q, want both items %q", shown, waiting)
	}
	if n := b.count("[data-queue-saved]:not([hidden])"); n != 1 {
		t.Error("offline, the page does not say the item was saved on the device")
	}
	if q := b.queueStates(); len(q) != 2 || q[subs[0].ID] != "waiting" || q[subs[1].ID] != "waiting" {
		t.Errorf("offline, the device's queue holds %v, want both items waiting", q)
	}
	for _, sub := range subs {
		if n := evidenceEvents(t, s, unit, sub.ID); n != 0 {
			t.Errorf("offline, the ledger has %d events of %s", n, sub.ID)
		}
	}

	// 2. A reload while offline: the kept page, the queue, a fresh id.
	b.open(submitPath)
	b.shot("reloaded-offline")
	b.waitShown(map[string]string{subs[0].ID: waiting, subs[1].ID: waiting})
	if shown := b.shownStates(); len(shown) != 2 {
		t.Errorf("reloaded offline, the page shows %q, want the two items", shown)
	}
	id := eval[string](b, "the form's id", `document.querySelector('form[data-upload] input[name=id]').value`)
	if len(id) != 36 || id == subs[0].ID || id == subs[1].ID {
		t.Errorf("reloaded offline, the form's evidence id is %q, want a new UUID", id)
	}

	// 3. Back online: both are sent, once each. A second sync started at
	// the same moment as the online event's must not send anything twice.
	b.setOffline(link, false)
	eval[bool](b, "a second sync", `TaizhangQueue.sync().then(() => true, () => true)`)
	b.waitShown(map[string]string{subs[0].ID: sent, subs[1].ID: sent})
	b.shot("both-sent")
	if q := b.queueStates(); q[subs[0].ID] != "sent" || q[subs[1].ID] != "sent" {
		t.Errorf("online again, the device's queue holds %v, want both sent", q)
	}
	if n := b.count(fmt.Sprintf(`[data-queue] li[data-id=%q] a[href$=%q]`, subs[0].ID, "/receipts/"+subs[0].ID)); n != 1 {
		t.Error("a sent item does not link to its receipt")
	}
	history := s.history(t, s.Admin, unit, "")
	for i, sub := range subs {
		if n := evidenceEvents(t, s, unit, sub.ID); n != 1 {
			t.Errorf("item %d (%s): %d events in the ledger, want exactly 1", i+1, sub.ID, n)
		}
		for _, e := range history {
			if e.ID.String() != sub.ID {
				continue
			}
			var got []string
			for _, a := range e.Attachments {
				got = append(got, a.SHA256)
			}
			if want := fileDigest(t, photos[i]); !slices.Equal(got, []string{want}) {
				t.Errorf("item %d: attachments %v, want the photo's digest %s", i+1, got, want)
			}
			if e.Client != "web" || e.Actor.ID != "clerk-offline" {
				t.Errorf("item %d: recorded from %q by %q, want web and clerk-offline", i+1, e.Client, e.Actor.ID)
			}
			checkDeviceSigned(t, s, &e, "clerk-offline")
		}
	}
	link.mu.Lock()
	t.Logf("requests the browser's emulation let through and the cut network dropped: %d %q", len(link.dropped), link.dropped)
	link.mu.Unlock()

	// 4. A refusal stays on the device with the server's message.
	bad := "0190a0a0-0000-4000-8000-0000000000aa"
	eval[bool](b, "queue a refused item", fmt.Sprintf(`TaizhangQueue.add({id: %q, unit: %q, user: "clerk-offline", kind: "no-such-kind",
	  title: "拒收測試", occurred: document.querySelector('#occurred').max, requirement: "", body: "", finding: "", files: [],
	  state: "waiting", queued: Date.now()}).then(() => TaizhangQueue.sync()).then(() => true)`, bad, unit))
	// Queued without a zone, as here, the item's day is the deployment's
	// (the page's data-zone), not UTC's: else, between midnight and 08:00
	// in China, today's date would be refused as in the future.
	day := eval[string](b, "the form's last day", `document.querySelector('#occurred').max`)
	zone := eval[string](b, "the page's zone", `document.querySelector("[data-zone]").getAttribute("data-zone")`)
	midnight, err := time.Parse("2006-01-02T15:04:05Z07:00", day+"T00:00:00"+zone)
	if err != nil {
		t.Fatalf("day %q zone %q: %v", day, zone, err)
	}
	if got := eval[string](b, "the queued item's occurred_at", fmt.Sprintf(`TaizhangQueue.all().then(q => (q.find(i => i.id === %q) || {}).occurredAt || "")`, bad)); got != midnight.UTC().Format("2006-01-02T15:04:05.000Z") {
		t.Errorf("the item queued for %s has occurred_at %q, want midnight in %s (%s)", day, got, zone, midnight.UTC().Format(time.RFC3339))
	}
	b.open(submitPath)
	b.waitShown(map[string]string{bad: "服務器拒收"})
	if msg := b.texts(fmt.Sprintf(`[data-queue] li.q-refused[data-id=%q] p.error`, bad)); len(msg) != 1 || !strings.Contains(msg[0], "kind") {
		t.Errorf("the refused item shows %q, want the server's message about its kind", msg)
	}
	if q := b.queueStates(); q[bad] != "refused" {
		t.Errorf("the refused item is %q on the device, want refused", q[bad])
	}
	if n := evidenceEvents(t, s, unit, bad); n != 0 {
		t.Errorf("the refused item has %d events", n)
	}

	// 5. The session ends while an item waits: "sign in to send", kept;
	// sent once signed in again.
	b.setOffline(link, true)
	late := b.fillSubmit("離線提交測試 3：會話結束後", photos[:1])
	b.run("submit item 3 offline",
		chromedp.Click(chromedp.CSS("form[data-upload] button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`[data-queue] li[data-id=%q]`, late.ID))))
	b.run("end the session", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{})
		return err
	}))
	b.setOffline(link, false)
	b.waitShown(map[string]string{late.ID: signin})
	b.shot("sign-in-to-send")
	if q := b.queueStates(); q[late.ID] != "signin" {
		t.Errorf("without a session the item is %q on the device, want signin (kept)", q[late.ID])
	}
	if n := evidenceEvents(t, s, unit, late.ID); n != 0 {
		t.Errorf("without a session the ledger has %d events of the item", n)
	}
	b.signIn(token)
	b.open(submitPath)
	b.waitShown(map[string]string{late.ID: sent})
	if n := evidenceEvents(t, s, unit, late.ID); n != 1 {
		t.Errorf("signed in again: %d events of the item, want 1", n)
	}

	// 6. The page is closed before the network comes back: the worker's
	// Background Sync sends the item, with no page open.
	b.setOffline(link, true)
	closed := b.fillSubmit("離線提交測試 5：頁面已關閉", photos[:1])
	b.run("submit item 5 offline",
		chromedp.Click(chromedp.CSS("form[data-upload] button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`[data-queue] li[data-id=%q]`, closed.ID))))
	b.run("close the page", chromedp.Navigate("about:blank"))
	b.setOffline(link, false)
	b.dispatchSync(worker, "taizhang-queue")
	testenv.Eventually(t, 60*time.Second, func() error {
		if n := evidenceEvents(t, s, unit, closed.ID); n != 1 {
			return fmt.Errorf("%d events of the item sent by the worker", n)
		}
		return nil
	})
	b.open(submitPath)
	b.waitShown(map[string]string{closed.ID: sent})

	// 7. A bad connection rather than none: the server cannot be reached
	// but the browser still says it is online. The page says the network
	// failed and offers to keep the item; kept, it is sent by the page's
	// own retry once the server answers again (no online event comes).
	link.cut.Store(true)
	flaky := b.fillSubmit("離線提交測試 4：訊號不穩", photos[1:])
	b.run("submit on a bad connection",
		chromedp.Click(chromedp.CSS("form[data-upload] button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("form[data-upload] [data-queue-offer] button")))
	if n := b.count("form[data-upload] [data-upload-error]:not([hidden])"); n != 1 {
		t.Error("on a bad connection the page does not say the network failed")
	}
	b.run("keep it on the device",
		chromedp.Click(chromedp.CSS("form[data-upload] [data-queue-offer] button")),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`[data-queue] li[data-id=%q]`, flaky.ID))))
	b.waitShown(map[string]string{flaky.ID: waiting}) // not sending: its first try has failed
	link.cut.Store(false)
	b.waitShown(map[string]string{flaky.ID: sent})
	if n := evidenceEvents(t, s, unit, flaky.ID); n != 1 {
		t.Errorf("the item kept on a bad connection has %d events, want 1", n)
	}

	final := s.history(t, s.Admin, unit, "")
	for _, sub := range append(subs, late, closed, flaky) {
		if n := evidenceEvents(t, s, unit, sub.ID); n != 1 {
			t.Errorf("at the end, %s has %d events, want 1", sub.ID, n)
		}
		for i := range final {
			if final[i].ID.String() == sub.ID {
				checkDeviceSigned(t, s, &final[i], "clerk-offline")
			}
		}
	}
	var devices struct{ Devices []events.RegisteredDevice }
	s.get(t, s.Admin, "/api/v1/devices?user=clerk-offline").decode(t, &devices)
	if len(devices.Devices) != 1 {
		t.Errorf("the browser registered %d device keys for the clerk, want 1: %+v", len(devices.Devices), devices.Devices)
	}

	// 8. Signing out forgets the kept pages, not the queue.
	b.navigate("sign out", chromedp.Click(chromedp.CSS("form[action='/logout'] button")))
	if n := eval[int](b, "kept pages", `caches.open('taizhang-pages').then(c => c.keys()).then(k => k.length)`); n != 0 {
		t.Errorf("after signing out the worker still keeps %d pages", n)
	}
	if q := b.queueStates(); q[bad] != "refused" {
		t.Errorf("after signing out the refused item is %q, want it kept", q[bad])
	}
}

package main

// TestScaleServe measures `taizhang serve` on ledgers of a given size, for
// the README's Performance section (issue 12.3 and 12.4). It is opt-in:
//
//	TZ_SCALE=10000,100000,1000000 go test ./cmd/taizhang/ -run TestScaleServe -v -timeout 60m
//
// TZ_SCALE_SERVE_ARGS adds arguments to serve's (e.g. --no-history-cache).
// With TZ_SCALE_HEAP_DIR set, serve writes a heap profile there once ready
// (serve-heap-N.pprof, after a GC) and a CPU profile of its start up to
// then (serve-cpu-N.pprof).
//
// For each size N it writes a ledger of N events over 1,000 units (each a
// registration then evidence of about 1 KiB, no blobs; one plan), then:
//
//   - reads the whole stream once with a raw ordered consumer (bodies, not
//     decoded) on a fresh sync-always server: the baseline;
//   - starts the real serve path in a child process (this test binary run
//     as TestScaleChild, calling Run with `serve`), and measures the time
//     from exec to /readyz answering 200, and the child's resident memory
//     (VmRSS at ready, VmHWM its peak);
//   - measures over HTTP: one unit's history (and as of a date), its
//     archive and compliance, the ranking of the 1,000 units for a month,
//     then evidence submissions from 16 writers, alone and while readers
//     ask for rankings, archives, compliance and histories.
//
// It fails only if something does not work (a request fails, serve does
// not become ready); it asserts no timing. The figures are logged.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"taizhang/events"
	tzjs "taizhang/events/jetstream"
	"taizhang/projections/plan"
)

const (
	scaleUnits   = 1000
	scaleWriters = 16
	scalePeriod  = "2016-07" // every fixture event is recorded in July 2016
)

var scaleBase = time.Date(2016, 7, 1, 0, 0, 0, 0, time.UTC)

func scaleUnit(u int) string { return fmt.Sprintf("unit-%04d", u) }

// TestScaleChild is the serve process of TestScaleServe: it runs only with
// TZ_SCALE_CHILD set to the JSON list of serve's arguments, until SIGTERM.
func TestScaleChild(t *testing.T) {
	spec := os.Getenv("TZ_SCALE_CHILD")
	if spec == "" {
		t.Skip("the child process of TestScaleServe")
	}
	var args []string
	if err := json.Unmarshal([]byte(spec), &args); err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if path := os.Getenv("TZ_SCALE_HEAP"); path != "" { // SIGUSR1: write a heap profile there
		// and a CPU profile of the start, up to that signal
		cpu, err := os.Create(filepath.Join(filepath.Dir(path), strings.Replace(filepath.Base(path), "heap", "cpu", 1)))
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			t.Fatal(err)
		}
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		go func() {
			for range usr1 {
				if cpu != nil {
					pprof.StopCPUProfile()
					cpu.Close()
					cpu = nil
				}
				runtime.GC()
				f, err := os.Create(path + ".tmp")
				if err == nil {
					err = pprof.WriteHeapProfile(f)
					f.Close()
				}
				if err == nil {
					err = os.Rename(path+".tmp", path)
				}
				if err != nil {
					fmt.Fprintln(os.Stderr, "heap profile:", err)
				}
			}
		}()
	}
	if code := Run(ctx, append([]string{"serve"}, args...), nil, os.Stdout, os.Stderr); code != 0 {
		t.Fatalf("serve exited with %d", code)
	}
}

func TestScaleServe(t *testing.T) {
	spec := os.Getenv("TZ_SCALE")
	if spec == "" {
		t.Skip("set TZ_SCALE=10000,100000,1000000 to measure serve at scale")
	}
	var rows []scaleRow
	for _, f := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2*scaleUnits {
			t.Fatalf("TZ_SCALE: %q is not an event count of at least %d", f, 2*scaleUnits)
		}
		t.Run(strconv.Itoa(n), func(t *testing.T) { rows = append(rows, scaleServe(t, n)) })
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n| events | raw replay | serve ready | ready/replay | restart ready | restart/replay | RSS at ready | RSS at restart | peak RSS | appends/s | appends/s with readers | history p99 | as-of history p99 | history p99 after restart | ranking of %d units |\n", scaleUnits)
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %d | %s | %s | %.2f | %s | %.2f | %d MiB | %d MiB | %d MiB | %.0f | %.0f | %s | %s | %s | %s |\n", r.events,
			r.replay.Round(time.Millisecond), r.ready.Round(time.Millisecond), r.ready.Seconds()/r.replay.Seconds(),
			r.restart.Round(time.Millisecond), r.restart.Seconds()/r.replay.Seconds(),
			r.rssReady>>20, r.rssRestart>>20, r.rssPeak>>20, r.appendRate, r.appendRateLoaded,
			r.historyP99.Round(100*time.Microsecond), r.asOfP99.Round(100*time.Microsecond),
			r.restartHistoryP99.Round(100*time.Microsecond), r.rankingP50.Round(time.Millisecond))
	}
	t.Log(b.String())
}

type scaleRow struct {
	events                      int
	natsStart, replay, ready    time.Duration
	rssReady, rssPeak, rssAfter int64
	appendRate                  float64
	appendRateLoaded            float64
	historyP99, asOfP99         time.Duration
	rankingP50                  time.Duration
	restart, restartHistoryP99  time.Duration
	rssRestart                  int64
}

func scaleServe(t *testing.T, n int) scaleRow {
	row := scaleRow{events: n}
	data := t.TempDir()
	natsDir := filepath.Join(data, "nats")
	start := time.Now()
	buildScaleLedger(t, natsDir, n)
	t.Logf("wrote %d events in %s", n, time.Since(start).Round(time.Millisecond))
	row.natsStart, row.replay = rawReplay(t, natsDir, n)
	t.Logf("raw: server start %s, ordered replay of %d messages %s", row.natsStart.Round(time.Millisecond), n, row.replay.Round(time.Millisecond))

	// serve, in a child process of its own so that its memory is its own.
	child := startScaleChild(t, data, fmt.Sprintf("serve-heap-%d.pprof", n))
	defer child.stop(t)
	cmd, url := child.cmd, child.url
	row.ready = child.ready
	row.rssReady, row.rssPeak = procMem(t, cmd.Process.Pid)
	t.Logf("serve ready in %s (%.2f× the raw replay), RSS %d MiB, peak %d MiB", row.ready.Round(time.Millisecond),
		row.ready.Seconds()/row.replay.Seconds(), row.rssReady>>20, row.rssPeak>>20)
	profileAtReady(t, child, fmt.Sprintf("serve-heap-%d.pprof", n))
	tok, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	s := &server{URL: url, Admin: strings.TrimSpace(string(tok)), Data: data}

	perUnit := n / scaleUnits
	mid := scaleBase.Add(time.Duration(n/2) * scaleStep(n)).Format(time.RFC3339Nano)
	reads := map[string]func(u string) string{
		"history":          func(u string) string { return "/api/v1/units/" + u + "/history" },
		"history-as-of":    func(u string) string { return "/api/v1/units/" + u + "/history?as_of=" + mid },
		"archive":          func(u string) string { return "/api/v1/units/" + u + "/archive" },
		"compliance":       func(u string) string { return "/api/v1/units/" + u + "/compliance" },
		"compliance-as-of": func(u string) string { return "/api/v1/units/" + u + "/compliance?as_of=" + mid },
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range reads {
			if !yield(k) {
				return
			}
		}
	})
	lat := map[string][]time.Duration{}
	for _, name := range names {
		for i := 0; i < 100; i++ {
			path := reads[name](scaleUnit(rand.IntN(scaleUnits)))
			d := timedGet(t, s, path)
			lat[name] = append(lat[name], d)
		}
		t.Logf("%s of one unit (%d events): p50 %s p99 %s", name, perUnit, pct(lat[name], 50), pct(lat[name], 99))
	}
	row.historyP99, row.asOfP99 = pct(lat["history"], 99), pct(lat["history-as-of"], 99)
	var rk []time.Duration
	for i := 0; i < 5; i++ {
		rk = append(rk, timedGet(t, s, "/api/v1/plans/scale-plan/ranking?period="+scalePeriod))
	}
	row.rankingP50 = pct(rk, 50)
	t.Logf("ranking of %d units for %s: p50 %s max %s", scaleUnits, scalePeriod, pct(rk, 50), pct(rk, 100))

	// Appends, alone and then with readers running.
	const appends = 1600
	rate, p50, p99 := scaleAppends(t, s, appends, "a")
	row.appendRate = rate
	t.Logf("%d HTTP submissions, %d writers: %.0f/s, p50 %s p99 %s", appends, scaleWriters, rate, p50, p99)
	stop := make(chan struct{})
	var readers sync.WaitGroup
	var readLat sync.Map // name -> *[]time.Duration, one reader a name
	readerPaths := map[string]func() string{
		"ranking":    func() string { return "/api/v1/plans/scale-plan/ranking?period=" + scalePeriod },
		"archive":    func() string { return reads["archive"](scaleUnit(rand.IntN(scaleUnits))) },
		"compliance": func() string { return reads["compliance"](scaleUnit(rand.IntN(scaleUnits))) },
		"history":    func() string { return reads["history"](scaleUnit(rand.IntN(scaleUnits))) },
	}
	for name, path := range readerPaths {
		ds := &[]time.Duration{}
		readLat.Store(name, ds)
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				*ds = append(*ds, timedGet(t, s, path()))
			}
		})
	}
	rate, p50, p99 = scaleAppends(t, s, appends, "b")
	close(stop)
	readers.Wait()
	row.appendRateLoaded = rate
	t.Logf("the same with 4 readers running: %.0f/s, p50 %s p99 %s", rate, p50, p99)
	readLat.Range(func(k, v any) bool {
		ds := *v.(*[]time.Duration)
		t.Logf("  reader %s meanwhile: %d answers, p50 %s p99 %s", k, len(ds), pct(ds, 50), pct(ds, 99))
		return true
	})
	row.rssAfter, row.rssPeak = procMem(t, cmd.Process.Pid)
	t.Logf("RSS after the reads and appends %d MiB, peak %d MiB", row.rssAfter>>20, row.rssPeak>>20)

	// A restart, as after an upgrade: serve stops cleanly and starts
	// again on the same data, with the history copy the first run kept.
	child.stop(t)
	again := startScaleChild(t, data, fmt.Sprintf("serve-heap-%d-restart.pprof", n))
	defer again.stop(t)
	row.restart = again.ready
	row.rssRestart, _ = procMem(t, again.cmd.Process.Pid)
	profileAtReady(t, again, fmt.Sprintf("serve-heap-%d-restart.pprof", n))
	t.Logf("serve ready again after a restart in %s (%.2f× the raw replay), RSS %d MiB", row.restart.Round(time.Millisecond),
		row.restart.Seconds()/row.replay.Seconds(), row.rssRestart>>20)
	s.URL = again.url
	var hist []time.Duration
	for i := 0; i < 100; i++ {
		hist = append(hist, timedGet(t, s, reads["history"](scaleUnit(rand.IntN(scaleUnits)))))
	}
	row.restartHistoryP99 = pct(hist, 99)
	t.Logf("history of one unit after the restart: p50 %s p99 %s", pct(hist, 50), pct(hist, 99))
	return row
}

// scaleChild is a serve started by startScaleChild.
type scaleChild struct {
	cmd     *exec.Cmd
	url     string
	ready   time.Duration // from its start to its first 200 on /readyz
	exited  chan error
	stopped bool
}

// startScaleChild starts serve on data in a child process (so that its
// memory is its own) and waits until it is ready; heap names its heap
// profile (TZ_SCALE_HEAP_DIR).
func startScaleChild(t *testing.T, data, heap string) *scaleChild {
	addrFile := filepath.Join(t.TempDir(), "addr")
	args, _ := json.Marshal(append([]string{"--data", data, "--addr", "127.0.0.1:0", "--addr-file", addrFile},
		strings.Fields(os.Getenv("TZ_SCALE_SERVE_ARGS"))...))
	logf, err := os.Create(filepath.Join(t.TempDir(), "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestScaleChild$", "-test.v")
	cmd.Env = append(os.Environ(), "TZ_SCALE_CHILD="+string(args), "TZ_SCALE=")
	if dir := os.Getenv("TZ_SCALE_HEAP_DIR"); dir != "" {
		cmd.Env = append(cmd.Env, "TZ_SCALE_HEAP="+filepath.Join(dir, heap))
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var url string
	for {
		select {
		case err := <-exited:
			exited <- err
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("serve exited (%v):\n%s", err, log)
		case <-time.After(5 * time.Millisecond):
		}
		if url == "" {
			if b, err := os.ReadFile(addrFile); err == nil && len(b) > 0 {
				url = "http://" + string(b)
			}
			continue
		}
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			break
		}
	}
	return &scaleChild{cmd: cmd, url: url, ready: time.Since(t0), exited: exited}
}

// stop stops the child with SIGTERM, as an operator would, and waits for
// it to exit.
func (c *scaleChild) stop(t *testing.T) {
	if c.stopped {
		return
	}
	c.stopped = true
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.exited:
		if err != nil {
			t.Errorf("serve child: %v", err)
		}
	case <-time.After(2 * time.Minute):
		_ = c.cmd.Process.Kill()
		t.Errorf("serve child did not stop")
	}
}

// profileAtReady has c write its heap profile, after a GC, and its CPU
// profile up to now, as heap in TZ_SCALE_HEAP_DIR, if that is set.
func profileAtReady(t *testing.T, c *scaleChild, heap string) {
	dir := os.Getenv("TZ_SCALE_HEAP_DIR")
	if dir == "" {
		return
	}
	cmd := c.cmd
	// A heap profile of serve at ready, after a GC.
	path := filepath.Join(dir, heap)
	_ = cmd.Process.Signal(syscall.SIGUSR1)
	for {
		if _, err := os.Stat(path); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling for the file; not a timing
	}
	rss, _ := procMem(t, cmd.Process.Pid)
	t.Logf("heap profile at ready: %s (RSS after its GC %d MiB)", path, rss>>20)
}

// scaleStep is the recorded time between two fixture events: N of them
// fill 30 days of July 2016.
func scaleStep(n int) time.Duration { return 30 * 24 * time.Hour / time.Duration(n) }

// timedGet GETs path as the admin and fails unless it answers 200.
func timedGet(t *testing.T, s *server, path string) time.Duration {
	t0 := time.Now()
	req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+s.Admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("GET %s: %d %v", path, resp.StatusCode, err)
	}
	return d
}

// scaleAppends submits n evidence items over HTTP from scaleWriters
// goroutines, each to its own unit, and returns the rate and latencies.
func scaleAppends(t *testing.T, s *server, n int, tag string) (float64, time.Duration, time.Duration) {
	var next atomic.Int64
	var wg sync.WaitGroup
	lat := make([][]time.Duration, scaleWriters)
	t0 := time.Now()
	for g := 0; g < scaleWriters; g++ {
		wg.Go(func() {
			unit := scaleUnit(g * (scaleUnits / scaleWriters))
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				meta, _ := json.Marshal(map[string]any{"id": uuid.NewString(), "kind": "photo", "title": scaleTitle,
					"body": scaleBody, "occurred_at": "2016-07-12", "requirements": []string{"study"}})
				ct, body := multipartOf(t, "evidence", meta)
				req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/v1/units/"+unit+"/evidence", body)
				req.Header.Set("Content-Type", ct)
				req.Header.Set("Authorization", "Bearer "+s.Admin)
				a := time.Now()
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 201 {
					t.Errorf("submit %s/%d: %d %s", tag, i, resp.StatusCode, b)
					return
				}
				lat[g] = append(lat[g], time.Since(a))
			}
		})
	}
	wg.Wait()
	el := time.Since(t0)
	all := slices.Concat(lat...)
	return float64(len(all)) / el.Seconds(), pct(all, 50), pct(all, 99)
}

// pct is the p-th percentile of ds (p 100: the largest).
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := min(len(s)-1, len(s)*p/100)
	return s[i].Round(10 * time.Microsecond)
}

// procMem returns a process's resident memory now and its peak (VmRSS,
// VmHWM) in bytes.
func procMem(t *testing.T, pid int) (rss, peak int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			peak = kb << 10
		}
	}
	return rss, peak
}

// rawReplay starts a sync-always server on dir (timing its start, which
// recovers the stream) and reads all n messages with an ordered consumer,
// bodies included, not decoded.
func rawReplay(t *testing.T, dir string, n int) (startup, replay time.Duration) {
	t0 := time.Now()
	ns, err := tzjs.StartEmbedded(tzjs.EmbeddedConfig{StoreDir: dir, Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	startup = time.Since(t0)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx := context.Background()
	t0 = time.Now()
	j, _ := js.New(nc)
	st, err := j.Stream(ctx, tzjs.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := st.OrderedConsumer(ctx, js.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	it, err := cons.Messages(js.PullMaxMessages(512))
	if err != nil {
		t.Fatal(err)
	}
	var bytes int
	for i := 0; i < n; i++ {
		m, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		bytes += len(m.Data())
	}
	it.Stop()
	replay = time.Since(t0)
	t.Logf("raw replay: %d messages, %d bytes (%d a message)", n, bytes, bytes/n)
	return startup, replay
}

// Realistic evidence, as in the ledger's benchmarks.
const (
	scaleTitle = "東村村委會七月廉政文化專欄更新及集中學習"
	scaleBody  = "七月十二日上午九時，村委會全體幹部在會議室集中學習《廉潔自律準則》，" +
		"由黨支部書記領學並結合本村實際作講解。會後更新了宣傳欄的廉政文化專欄，" +
		"張貼格言警句十二條，參加人數十五人，缺席二人已補學。會議紀要附後。"
	scalePlan = `id: scale-plan
title: 測試方案
issuer: 測試鎮
period: {start: 2016-07-01, end: 2016-12-31}
applies_to: {types: [village]}
requirements:
  - id: study
    ref: 一（一）
    title: 至少組織兩次集中學習
    accepts: {kinds: [study_note]}
    attachments: [document]
    rule: {kind: count, min: 2}
  - id: photos
    ref: 一（二）
    title: 每月更新宣傳欄
    accepts: {kinds: [photo]}
    attachments: [photo]
    rule: {kind: every, every: month, min: 1}
`
)

// buildScaleLedger writes n events to a ledger stream in dir, on a no-sync
// server: a plan and the 1,000 units' registrations through the ledger
// (recorded on 30 June 2016), then the units' evidence, round robin,
// straight to the stream as the ledger stores it (sealed and chained, with
// its headers), recorded through July 2016. Every tenth item is a study
// note with a text document, the rest photos.
func buildScaleLedger(t *testing.T, dir string, n int) {
	ns, err := tzjs.StartEmbedded(tzjs.EmbeddedConfig{StoreDir: dir, Port: -1, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx := context.Background()
	june := time.Date(2016, 6, 30, 9, 0, 0, 0, time.UTC)
	l, err := tzjs.Open(ctx, nc, tzjs.Config{Now: func() time.Time { return june }})
	if err != nil {
		t.Fatal(err)
	}
	admin := events.Actor{ID: "admin", Role: events.RoleAdmin}
	p, err := plan.Parse("scale-plan.yaml", []byte(scalePlan))
	if err != nil {
		t.Fatal(err)
	}
	pj, _ := json.Marshal(p)
	if _, _, err := l.PublishPlan(ctx, p.ID, pj, scalePlan, "scale-plan.yaml", admin, events.ClientAPI); err != nil {
		t.Fatal(err)
	}
	prev := make([]events.Hash, scaleUnits)
	for u := range prev {
		rec, err := l.RegisterUnit(ctx, scaleUnit(u), events.UnitRegistered{Name: "東村村委會 " + scaleUnit(u), UnitType: "village", Headcount: 1200}, admin, events.ClientAPI)
		if err != nil {
			t.Fatal(err)
		}
		prev[u] = rec.Event.Hash
	}
	l.Close()
	j, err := js.New(nc, js.WithPublishAsyncMaxPending(4096))
	if err != nil {
		t.Fatal(err)
	}
	clerk := events.Actor{ID: "clerk", Role: events.RoleSubmitter}
	step := scaleStep(n)
	const batch = 2000
	msgs := make([]*nats.Msg, batch)
	for start := scaleUnits; start < n; start += batch {
		end := min(start+batch, n)
		var wg sync.WaitGroup
		for g := 0; g < 2; g++ { // seal on both cores; each unit's chain on one
			wg.Go(func() {
				for i := start; i < end; i++ {
					u := i % scaleUnits
					if u%2 != g {
						continue
					}
					msgs[i-start] = scaleEvidence(t, scaleUnit(u), i, scaleBase.Add(time.Duration(i)*step), clerk, &prev[u])
				}
			})
		}
		wg.Wait()
		for _, m := range msgs[:end-start] {
			if _, err := j.PublishMsgAsync(m); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case <-j.PublishAsyncComplete():
		case <-time.After(time.Minute):
			t.Fatal("publish stalled")
		}
	}
	st, err := j.Stream(ctx, tzjs.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil || info.State.Msgs != uint64(n+1) {
		t.Fatalf("the ledger holds %v messages (%v), want %d", info.State.Msgs, err, n+1)
	}
}

// scaleEvidence is the i-th event of the fixture, evidence of unit, sealed
// onto *prev, which it advances; the message is what the ledger stores.
func scaleEvidence(t *testing.T, unit string, i int, at time.Time, actor events.Actor, prev *events.Hash) *nats.Msg {
	sum := sha256.Sum256([]byte(unit + "/" + strconv.Itoa(i))) // a blob reference; serve never reads the bytes
	ev := &events.Event{ID: uuid.Must(uuid.NewV7()), Schema: events.SchemaVersion, Unit: unit, Client: events.ClientWeb,
		OccurredAt: at.Add(-time.Hour), RecordedAt: at, Type: events.TypeEvidenceSubmitted, Actor: actor}
	e := events.Evidence{Kind: events.KindPhoto, Title: scaleTitle, Body: scaleBody, Requirements: []string{"photos"}}
	att := events.Attachment{SHA256: hex.EncodeToString(sum[:]), Size: 2_345_678, MediaType: "image/jpeg",
		Name: "IMG_20160712_093015.jpg", Width: 4032, Height: 3024}
	if i%10 == 0 {
		e.Kind, e.Requirements = events.KindStudyNote, []string{"study"}
		att = events.Attachment{SHA256: att.SHA256, Size: 12_345, MediaType: "text/plain", Name: "學習記錄.txt"}
	}
	ev.Attachments = []events.Attachment{att}
	err := ev.SetData(events.EvidenceSubmitted{Evidence: e, Version: 1})
	if err == nil {
		err = ev.Seal(*prev)
	}
	if err != nil {
		t.Fatal(err)
	}
	*prev = ev.Hash
	m := &nats.Msg{Subject: tzjs.DefaultPrefix + "." + unit, Header: nats.Header{}}
	m.Header.Set("Tz-Type", string(ev.Type))
	m.Header.Set("Tz-Hash", ev.Hash.String())
	m.Header.Set("Tz-Entity", ev.ID.String())
	m.Header.Set("Tz-Version", "1")
	if m.Data, err = events.Encode(ev); err != nil {
		t.Fatal(err)
	}
	return m
}

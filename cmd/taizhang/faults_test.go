package main

// Fault tests (issue 11): each runs a bounded concurrent write load, records
// every acknowledgement, injects one fault, and then checks the whole
// history from the ledger stream: every acknowledged event present exactly
// once, nothing present twice, every unit chain intact (verify,
// the code path of `taizhang verify`). Each logs one "fault table" row.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"taizhang/blobstore"
	"taizhang/blobstore/dir"
	tzminio "taizhang/blobstore/minio"
	"taizhang/events"
	tzjs "taizhang/events/jetstream"
	"taizhang/gate"
	"taizhang/internal/testenv"
	"taizhang/verify"
)

// faultAck is one acknowledged submission.
type faultAck struct {
	unit  string
	seq   uint64
	title string
	sent  time.Time // when the acknowledged attempt was sent
	at    time.Time // when its acknowledgement arrived
}

// faultLoad is a bounded concurrent write load: writers each make perWriter
// submissions, each a new evidence id sent until it is acknowledged (201,
// or 200 for a repeat already recorded), the same id on every retry.
type faultLoad struct {
	t         *testing.T
	token     string
	units     []string
	writers   int
	perWriter int
	// target returns the base URL for writer w's attempt n (a retry may go
	// to another replica).
	target func(w, n int) string
	// giveUp bounds how long one submission is retried.
	giveUp time.Duration

	mu       sync.Mutex
	acks     map[string]faultAck // evidence id -> ack
	refusals map[int]int         // status (0: no answer) -> count
	bad      []string            // answers a client must never see
	given    []string            // submissions given up on
	wg       sync.WaitGroup
	client   *http.Client
}

// start launches the writers; wait waits for them.
func (l *faultLoad) start() {
	l.acks, l.refusals = map[string]faultAck{}, map[int]int{}
	l.client = &http.Client{Timeout: 30 * time.Second}
	if l.giveUp == 0 {
		l.giveUp = 3 * time.Minute
	}
	for w := range l.writers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := range l.perWriter {
				l.submitOne(w, i)
			}
		}()
	}
}

func (l *faultLoad) wait() { l.wg.Wait() }

func (l *faultLoad) submitOne(w, i int) {
	unit := l.units[(w+i)%len(l.units)]
	id := uuid.NewString()
	title := fmt.Sprintf("fault load w%d #%d", w, i)
	meta, _ := json.Marshal(map[string]any{"id": id, "kind": "activity", "title": title, "occurred_at": "2016-07-01"})
	photo := []byte(fmt.Sprintf("\x89PNG\r\n\x1a\nfault-%s", id)) // distinct bytes: a new blob each
	deadline := time.Now().Add(l.giveUp)
	backoff := 20 * time.Millisecond
	for n := 0; time.Now().Before(deadline); n++ {
		ct, body := multipartOf(l.t, "evidence", meta, file{"p.png", photo})
		req, _ := http.NewRequest("POST", l.target(w, n)+"/api/v1/units/"+unit+"/evidence", body)
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+l.token)
		sent := time.Now()
		resp, err := l.client.Do(req)
		status := 0
		var b []byte
		if err == nil {
			b, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
		}
		if status == 201 || status == 200 {
			var a submitAnswer
			if err := json.Unmarshal(b, &a); err != nil || a.ID != id || a.Sequence == 0 {
				l.note(fmt.Sprintf("ack of %s without its id and sequence: %s", id, b))
				return
			}
			l.mu.Lock()
			l.acks[id] = faultAck{unit: unit, seq: a.Sequence, title: title, sent: sent, at: time.Now()}
			l.mu.Unlock()
			return
		}
		l.mu.Lock()
		l.refusals[status]++
		l.mu.Unlock()
		if os.Getenv("TZ_FAULT_DEBUG") != "" {
			l.t.Logf("%s w%d attempt %d: %d %v %s", time.Now().Format("15:04:05.000"), w, n, status, err, b)
		}
		if status != 0 {
			l.checkRefusal(status, b)
		}
		time.Sleep(backoff)
		if backoff < 500*time.Millisecond {
			backoff *= 2
		}
	}
	l.mu.Lock()
	l.given = append(l.given, id)
	l.mu.Unlock()
}

// rawMarkers are pieces of store and transport error text that must never
// reach a client.
var rawMarkers = []string{"nats:", "context deadline", "dial tcp", "connection refused", "TAIZHANG_", "blobstore", "no space left",
	"jetstream", "EOF", "minio", "S3"}

// checkRefusal notes an answer other than the clear 503 an outage deserves.
func (l *faultLoad) checkRefusal(status int, body []byte) {
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if status != http.StatusServiceUnavailable || json.Unmarshal(body, &e) != nil || e.Error.Code != "unavailable" || e.Error.Message == "" {
		l.note(fmt.Sprintf("answer %d %s (want 503 unavailable with a message)", status, body))
		return
	}
	for _, m := range rawMarkers {
		if strings.Contains(strings.ToLower(e.Error.Message), strings.ToLower(m)) {
			l.note(fmt.Sprintf("503 with raw error text %q", e.Error.Message))
			return
		}
	}
	l.mu.Lock()
	l.refusals[-1]++ // clear 503s
	l.mu.Unlock()
}

func (l *faultLoad) note(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.bad) < 20 {
		l.bad = append(l.bad, s)
	}
}

// acked returns how many submissions are acknowledged so far.
func (l *faultLoad) acked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acks)
}

// waitAcked waits until at least n submissions are acknowledged.
func (l *faultLoad) waitAcked(n int, timeout time.Duration) {
	l.t.Helper()
	testenv.Eventually(l.t, timeout, func() error {
		if got := l.acked(); got < n {
			return fmt.Errorf("the write load has %d acknowledgements, want %d before the fault", got, n)
		}
		return nil
	})
}

// firstAckAfter returns the time from t0 to the first acknowledgement of
// an attempt sent after t0, and false if there is none.
func (l *faultLoad) firstAckAfter(t0 time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first time.Time
	for _, a := range l.acks {
		if a.sent.After(t0) && (first.IsZero() || a.at.Before(first)) {
			first = a.at
		}
	}
	return first.Sub(t0), !first.IsZero()
}

// faultResult is one row of the fault table.
type faultResult struct {
	fault, load       string
	acked, lost, dup  int
	resume            string
	refusedClear, bad int
	noAnswer          int
}

// checkHistory reads every unit's whole history from the ledger stream at
// natsURL and checks it against the load's acknowledgements: each acked
// evidence present exactly once at its acknowledged sequence, no event id
// or load title twice, and verify finds every chain intact and
// (with blobs) every referenced blob stored and whole.
func (l *faultLoad) checkHistory(natsURL string, blobs blobstore.Store) (lost, dup int) {
	t := l.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nc, err := nats.Connect(natsURL, nats.Timeout(10*time.Second))
	if err != nil {
		t.Fatalf("connect to check the ledger: %v", err)
	}
	defer nc.Close()
	led, err := tzjs.Open(ctx, nc, tzjs.Config{})
	if err != nil {
		t.Fatalf("open the ledger to check it: %v", err)
	}
	defer led.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.bad {
		t.Errorf("during the fault: %s", s)
	}
	if len(l.given) > 0 {
		t.Errorf("%d submissions were never acknowledged within %s (e.g. %s)", len(l.given), l.giveUp, l.given[0])
	}
	byID := map[string][]events.Record{}
	byTitle := map[string]int{}
	for _, u := range l.units {
		h, err := led.History(ctx, u, time.Time{})
		if err != nil {
			t.Fatalf("history of %s: %v", u, err)
		}
		for _, r := range h {
			byID[r.Event.ID.String()] = append(byID[r.Event.ID.String()], r)
			if r.Event.Type == events.TypeEvidenceSubmitted {
				var ev struct {
					Title string `json:"title"`
				}
				if json.Unmarshal(r.Event.Data, &ev) == nil && strings.HasPrefix(ev.Title, "fault load ") {
					byTitle[ev.Title]++
				}
			}
		}
	}
	for id, rs := range byID {
		if len(rs) > 1 {
			dup++
			t.Errorf("event %s is in the ledger %d times", id, len(rs))
		}
	}
	for title, n := range byTitle {
		if n > 1 {
			dup++
			t.Errorf("submission %q is in the ledger %d times", title, n)
		}
	}
	for id, a := range l.acks {
		rs := byID[id]
		if len(rs) == 0 {
			lost++
			t.Errorf("acknowledged evidence %s (unit %s, seq %d) is not in the ledger", id, a.unit, a.seq)
		} else if rs[0].Seq != a.seq || rs[0].Event.Unit != a.unit {
			t.Errorf("acknowledged evidence %s: acked at %s seq %d, the ledger has it at %s seq %d", id, a.unit, a.seq, rs[0].Event.Unit, rs[0].Seq)
		}
	}
	rep, err := verify.Run(ctx, led, blobs, verify.Options{NoBlob: blobs == nil})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	for _, p := range rep.Problems {
		t.Errorf("verify: %s", p)
	}
	return lost, dup
}

// logRow logs the fault table row.
func logRow(t *testing.T, r faultResult) {
	t.Helper()
	t.Logf("fault table | %s | %s | %d | %d | %d | %s | (%d clear 503s, %d attempts without an answer, %d bad answers)",
		r.fault, r.load, r.acked, r.lost, r.dup, r.resume, r.refusedClear, r.noAnswer, r.bad)
}

// row builds the table row of a finished load.
func (l *faultLoad) row(fault string, lost, dup int, resume string) faultResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	return faultResult{fault: fault, load: fmt.Sprintf("%d writers × %d submissions, %d units", l.writers, l.perWriter, len(l.units)),
		acked: len(l.acks), lost: lost, dup: dup, resume: resume, refusedClear: l.refusals[-1], noAnswer: l.refusals[0], bad: len(l.bad)}
}

// registerUnits registers the load's units through s.
func registerUnits(t *testing.T, s *server, units []string) {
	t.Helper()
	for _, u := range units {
		if r := s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": u, "name": u, "type": "village"}); r.Status != 201 {
			t.Fatalf("register %s: %d %s", u, r.Status, r.Body)
		}
	}
}

// waitOutage waits until a submission through s is refused with a 503 whose
// message is want.
func waitOutage(t *testing.T, s *server, unit, want string) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, func() error {
		meta := map[string]any{"id": uuid.NewString(), "kind": "activity", "title": "probe", "occurred_at": "2016-07-01"}
		r := s.submit(t, s.Admin, unit, meta, file{"p.png", []byte("\x89PNG\r\n\x1a\nprobe-" + uuid.NewString())})
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(r.Body, &e)
		if r.Status != 503 || e.Error.Message != want || r.Header.Get("Retry-After") == "" {
			return fmt.Errorf("submission answered %d %s (Retry-After %q), want 503 %q with Retry-After", r.Status, r.Body, r.Header.Get("Retry-After"), want)
		}
		return nil
	})
}

// TestFaultMinIOStopped stops MinIO under a write load: submissions answer
// 503 with the photo store's clerk message (never MinIO's error text), no
// event names a blob that is not stored, and once MinIO is back every
// submission is acknowledged.
func TestFaultMinIOStopped(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test")
	}
	n := testenv.StartNATS(t)
	m := testenv.MinIO(t)
	s := startServer(t, "", append([]string{"--nats", n.URL, "--replicas", "1"}, minioArgs(m)...)...)
	units := []string{"f-a", "f-b", "f-c"}
	registerUnits(t, s, units)
	l := &faultLoad{t: t, token: s.Admin, units: units, writers: 4, perWriter: 15, target: func(int, int) string { return s.URL }}
	l.start()
	l.waitAcked(10, 2*time.Minute)
	m.Stop()
	waitOutage(t, s, units[0], gate.MsgBlobsUnavailable)
	waitRefusals(t, l, 8)
	m.Start(t)
	healed := time.Now()
	l.wait()
	blobs, err := tzminio.New(context.Background(), tzminio.Config{Endpoint: m.Endpoint, Bucket: "evidence", AccessKey: m.AccessKey, SecretKey: m.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	lost, dup := l.checkHistory(n.URL, blobs)
	logRow(t, l.row("MinIO stopped mid-upload (resume: after MinIO is back)", lost, dup, resumeAfter(l, healed)))
}

// TestFaultBlobDiskFull fills the blob directory (a small tmpfs) under a
// write load: submissions answer 503 with the storage-full clerk message,
// nothing half-written is acknowledged (verify re-hashes every blob), and
// once space is freed every submission is acknowledged.
func TestFaultBlobDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test")
	}
	data := t.TempDir()
	blobDir := filepath.Join(data, "blobs")
	if err := os.MkdirAll(blobDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", blobDir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs as the blob directory (needs root): %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", blobDir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", blobDir, err, out)
		}
	})
	n := testenv.StartNATS(t)
	s := startServer(t, data, "--nats", n.URL, "--replicas", "1")
	units := []string{"f-a", "f-b", "f-c"}
	registerUnits(t, s, units)
	l := &faultLoad{t: t, token: s.Admin, units: units, writers: 4, perWriter: 15, target: func(int, int) string { return s.URL }}
	l.start()
	l.waitAcked(10, 2*time.Minute)
	filler := filepath.Join(blobDir, "filler")
	fillFS(t, filler)
	waitOutage(t, s, units[0], gate.MsgStorageFull)
	waitRefusals(t, l, 8)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	healed := time.Now()
	l.wait()
	blobs, err := dir.New(blobDir)
	if err != nil {
		t.Fatal(err)
	}
	lost, dup := l.checkHistory(n.URL, blobs)
	logRow(t, l.row("blob directory disk full (resume: after space is freed)", lost, dup, resumeAfter(l, healed)))
}

// fillFS writes path until the file system is full.
func fillFS(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for i := 0; i < 1<<14; i++ { // bounded: at most 1 GiB
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatalf("fill %s: %v", path, err)
		}
	}
	t.Fatalf("fill %s: the file system did not fill up", path)
}

// waitRefusals waits until the load has seen at least n clear 503s.
func waitRefusals(t *testing.T, l *faultLoad, n int) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, func() error {
		l.mu.Lock()
		got, bad := l.refusals[-1], l.bad
		l.mu.Unlock()
		if got < n {
			return fmt.Errorf("the write load saw %d clear 503s, want %d (bad answers: %q)", got, n, bad)
		}
		return nil
	})
}

// resumeAfter is the time from t0 to the load's first ack after it.
func resumeAfter(l *faultLoad, t0 time.Time) string {
	d, ok := l.firstAckAfter(t0)
	if !ok {
		return "no ack after the fault"
	}
	return d.Round(10 * time.Millisecond).String()
}

// replicaProc is `taizhang serve` as a child process, so that it can be
// killed with SIGKILL; it keeps its data directory and flags for a restart.
type replicaProc struct {
	t    *testing.T
	data string
	args []string
	c    *procChild
}

// procChild is one run of a replicaProc.
type procChild struct {
	cmd  *exec.Cmd
	url  string
	logs *bytes.Buffer
	done chan struct{} // closed when the process has exited
}

// startReplicaProc starts serve as a child on data with args and waits for
// /readyz.
func startReplicaProc(t *testing.T, data string, args ...string) *replicaProc {
	t.Helper()
	p := &replicaProc{t: t, data: data, args: args}
	p.start()
	return p
}

func (p *replicaProc) start() {
	p.t.Helper()
	bin, err := buildBinary()
	if err != nil {
		p.t.Fatal(err)
	}
	addrFile := filepath.Join(p.t.TempDir(), "addr")
	c := &procChild{logs: &bytes.Buffer{}}
	c.cmd = exec.Command(bin, append([]string{"serve", "--data", p.data, "--addr", "127.0.0.1:0", "--addr-file", addrFile}, p.args...)...)
	c.cmd.Stderr = &lockedWriter{w: c.logs}
	if err := c.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	c.done = done
	p.t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		<-done
		if p.t.Failed() {
			p.t.Logf("serve %s output:\n%s", p.args, c.logs)
		}
	})
	p.c = c
	testenv.Eventually(p.t, 90*time.Second, func() error {
		select {
		case <-done:
			p.t.Fatalf("serve exited before it was ready: %s", c.cmd.ProcessState)
		default:
		}
		b, err := os.ReadFile(addrFile)
		if err != nil || len(b) == 0 {
			return fmt.Errorf("no address yet")
		}
		c.url = "http://" + string(b)
		resp, err := http.Get(c.url + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("/readyz %d", resp.StatusCode)
		}
		return nil
	})
}

// url is the replica's base URL (empty while it is down).
func (p *replicaProc) url() string { return p.c.url }

// kill sends SIGKILL and waits for the process to end.
func (p *replicaProc) kill() {
	_ = p.c.cmd.Process.Signal(syscall.SIGKILL)
	<-p.c.done
}

// stop sends SIGTERM and waits (bounded) for a clean exit.
func (p *replicaProc) stop() {
	p.t.Helper()
	_ = p.c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.c.done:
	case <-time.After(60 * time.Second):
		p.t.Fatalf("serve did not stop within 60s of SIGTERM")
	}
	if !p.c.cmd.ProcessState.Success() {
		p.t.Errorf("serve exited with %s after SIGTERM", p.c.cmd.ProcessState)
	}
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// replicaPair starts two serve children (a, b) on one nats-server and one
// MinIO bucket, and returns them with the admin token and the NATS URL.
func replicaPair(t *testing.T) (natsURL string, m *testenv.MinIOServer, reps []*replicaProc, admin string) {
	t.Helper()
	n := testenv.StartNATS(t)
	m = testenv.MinIO(t)
	common := append([]string{"--nats", n.URL, "--replicas", "1", "--min-seq-wait", "10s"}, minioArgs(m)...)
	dataA := t.TempDir()
	reps = append(reps, startReplicaProc(t, dataA, append([]string{"--name", "replica-a"}, common...)...))
	reps = append(reps, startReplicaProc(t, t.TempDir(), append([]string{"--name", "replica-b"}, common...)...))
	tok, err := os.ReadFile(filepath.Join(dataA, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return n.URL, m, reps, strings.TrimSpace(string(tok))
}

// TestFaultServeKilled kills one of two serve replicas with SIGKILL under a
// write load whose clients retry on the other replica with the same
// evidence id: nothing acknowledged is lost, nothing recorded twice.
func TestFaultServeKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test")
	}
	natsURL, m, reps, admin := replicaPair(t)
	s := &server{URL: reps[0].url(), Admin: admin}
	units := []string{"f-a", "f-b", "f-c", "f-d"}
	registerUnits(t, s, units)
	var mu sync.Mutex
	alive := []bool{true, true}
	l := &faultLoad{t: t, token: admin, units: units, writers: 6, perWriter: 25, target: func(w, n int) string {
		mu.Lock()
		defer mu.Unlock()
		i := (w + n) % 2 // each retry goes to the other replica
		if !alive[i] {
			i = 1 - i // a client that knows a replica is gone (a proxy's health check)
		}
		return reps[i].url()
	}}
	l.start()
	l.waitAcked(30, 2*time.Minute)
	killed := time.Now()
	reps[0].kill()
	mu.Lock()
	alive[0] = false
	mu.Unlock()
	l.wait()
	blobs, err := tzminio.New(context.Background(), tzminio.Config{Endpoint: m.Endpoint, Bucket: "evidence", AccessKey: m.AccessKey, SecretKey: m.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	lost, dup := l.checkHistory(natsURL, blobs)
	logRow(t, l.row("kill -9 of one of 2 serve replicas (resume: after the kill)", lost, dup, resumeAfter(l, killed)))
}

// unitArchives reads every unit's archive JSON through s once s has applied
// the ledger up to seq, and the status digest.
func unitArchives(t *testing.T, s *server, units []string, seq uint64) (map[string]string, string) {
	t.Helper()
	out := map[string]string{}
	for _, u := range units {
		r := s.get(t, s.Admin, fmt.Sprintf("/api/v1/units/%s/archive?min_seq=%d", u, seq))
		if r.Status != 200 {
			t.Fatalf("archive of %s through %s: %d %s", u, s.URL, r.Status, r.Body)
		}
		out[u] = string(r.Body)
	}
	st := replicaStatus(t, s)
	return out, st.Digest
}

// TestFaultRestartAllReplicas restarts both serve replicas (SIGTERM, then
// start) in the middle of a write load: clients retry until a replica is
// back; nothing acknowledged is lost or doubled; and after a second restart
// of both, every unit's archive JSON and the status digest are the same as
// before it, and the same on both replicas.
func TestFaultRestartAllReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test")
	}
	natsURL, _, reps, admin := replicaPair(t)
	s := &server{URL: reps[0].url(), Admin: admin}
	units := []string{"f-a", "f-b", "f-c", "f-d"}
	registerUnits(t, s, units)
	var mu sync.Mutex
	l := &faultLoad{t: t, token: admin, units: units, writers: 4, perWriter: 20, target: func(w, n int) string {
		mu.Lock()
		defer mu.Unlock()
		return reps[(w+n)%2].url()
	}}
	l.start()
	l.waitAcked(20, 2*time.Minute)
	var down time.Time // when the last replica was down
	restartAll := func() {
		for _, r := range reps {
			r.stop()
		}
		down = time.Now()
		mu.Lock()
		defer mu.Unlock()
		for _, r := range reps {
			r.start()
		}
	}
	restartAll()
	restarted := down
	l.wait()
	lost, dup := l.checkHistory(natsURL, nil)

	// Projections rebuilt: the same state before and after a restart of
	// every replica, and on both.
	var last uint64
	for _, a := range l.acks {
		last = max(last, a.seq)
	}
	snap := func() ([]map[string]string, []string) {
		var as []map[string]string
		var ds []string
		for _, r := range reps {
			a, d := unitArchives(t, &server{URL: r.url(), Admin: admin}, units, last)
			as, ds = append(as, a), append(ds, d)
		}
		return as, ds
	}
	before, dBefore := snap()
	restartAll()
	after, dAfter := snap()
	for i := range reps {
		for _, u := range units {
			if before[i][u] != after[i][u] {
				t.Errorf("replica %d: archive of %s differs after the restart:\nbefore %s\nafter  %s", i, u, before[i][u], after[i][u])
			}
			if after[i][u] != after[0][u] {
				t.Errorf("archive of %s differs between replicas:\n%s\n%s", u, after[0][u], after[i][u])
			}
		}
		if dBefore[i] == "" || dBefore[i] != dAfter[i] || dAfter[i] != dAfter[0] {
			t.Errorf("status digests: before %q, after %q (want equal, and equal on both)", dBefore, dAfter)
		}
	}
	logRow(t, l.row("restart of both serve replicas (resume: from both being down)", lost, dup, resumeAfter(l, restarted)))
}

// TestFaultNATSLeaderKilled kills (SIGKILL) the nats-server process leading
// the ledger stream of a 3-node R3 cluster under a write load through two
// serve replicas: writes resume (measured), nothing acknowledged is lost or
// doubled, and the restarted node catches up to the same stream state.
func TestFaultNATSLeaderKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test")
	}
	pc := testenv.StartProcCluster(t, 3)
	m := testenv.MinIO(t)
	common := append([]string{"--nats", pc.URLs, "--replicas", "3", "--min-seq-wait", "10s"}, minioArgs(m)...)
	a := startServer(t, "", append([]string{"--name", "replica-a"}, common...)...)
	b := startServer(t, "", append([]string{"--name", "replica-b"}, common...)...)
	units := []string{"f-a", "f-b", "f-c", "f-d"}
	registerUnits(t, a, units)
	reps := []*server{a, b}
	l := &faultLoad{t: t, token: a.Admin, units: units, writers: 4, perWriter: 30, target: func(w, n int) string { return reps[(w+n)%2].URL }}
	l.start()
	l.waitAcked(20, 2*time.Minute)
	leader, err := pc.LeaderOf(tzjs.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	pc.Kill(leader)
	testenv.Eventually(t, 2*time.Minute, func() error {
		if _, ok := l.firstAckAfter(killed); !ok {
			return fmt.Errorf("no write acknowledged since nats-server %s (the ledger's leader) was killed %s ago", pc.Nodes[leader].Name, time.Since(killed).Round(time.Second))
		}
		return nil
	})
	resume := resumeAfter(l, killed)
	pc.Restart(leader)
	l.wait()
	blobs, err := tzminio.New(context.Background(), tzminio.Config{Endpoint: m.Endpoint, Bucket: "evidence", AccessKey: m.AccessKey, SecretKey: m.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	lost, dup := l.checkHistory(pc.URLs, blobs)
	// The restarted node catches up: its replica of the ledger holds the
	// same state as every other node's.
	testenv.Eventually(t, 60*time.Second, func() error {
		var states []testenv.StreamState
		for i := range pc.Nodes {
			st, err := pc.StreamStateOn(i, tzjs.DefaultStream)
			if err != nil {
				return err
			}
			states = append(states, st)
		}
		for i, st := range states {
			if st != states[0] || st.LastSeq == 0 {
				return fmt.Errorf("ledger stream state per node differs: %s %+v, %s %+v", pc.Nodes[0].Name, states[0], pc.Nodes[i].Name, st)
			}
		}
		return nil
	})
	logRow(t, l.row(fmt.Sprintf("kill -9 of the nats-server leading the ledger (%s of 3, R3; resume: after the kill)", pc.Nodes[leader].Name), lost, dup, resume))
}

// TestFaultNATSNodeCutOff cuts the node leading the ledger stream off from
// the other two (every route goes through a proxy in the test that drops
// them) under a write load through a serve on the majority: a serve
// connected only to the cut-off node refuses writes with a clear 503, the
// majority goes on, the stream does not fork (every node holds the same
// state afterwards), and once the cut ends writes through the former
// minority work again.
func TestFaultNATSNodeCutOff(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test")
	}
	pc := testenv.StartProcClusterWith(t, 3, testenv.ProcOptions{RouteProxies: true})
	m := testenv.MinIO(t)
	common := append([]string{"--replicas", "3", "--min-seq-wait", "10s"}, minioArgs(m)...)
	registrar := startServer(t, "", append([]string{"--name", "registrar", "--nats", pc.URLs}, common...)...)
	units := []string{"f-a", "f-b", "f-c"}
	registerUnits(t, registrar, units)
	var major *server
	cut, err := pc.LeaderOf(tzjs.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	var majorURLs []string
	for i, nd := range pc.Nodes {
		if i != cut {
			majorURLs = append(majorURLs, nd.ClientURL)
		}
	}
	// The load goes through a serve connected only to the two nodes that
	// stay together (the first one may be connected to any node).
	major = startServer(t, "", append([]string{"--name", "major", "--nats", strings.Join(majorURLs, ",")}, common...)...)
	minor := startServer(t, "", append([]string{"--name", "minor", "--nats", pc.Nodes[cut].ClientURL}, common...)...)
	t.Cleanup(func() {
		if t.Failed() {
			for _, line := range strings.Split(major.log.String(), "\n") {
				if strings.Contains(line, "request failed") {
					t.Logf("majority serve: %s", line)
				}
			}
		}
	})
	admin := registrar.Admin // tokens live in the shared credential bucket
	major.Admin, minor.Admin = admin, admin
	l := &faultLoad{t: t, token: admin, units: units, writers: 3, perWriter: 25, target: func(int, int) string { return major.URL }}
	l.start()
	l.waitAcked(15, 2*time.Minute)
	cutAt := time.Now()
	pc.Cut(cut)
	testenv.Eventually(t, 30*time.Second, func() error {
		if n, err := pc.NumRoutes(cut); err != nil || n != 0 {
			return fmt.Errorf("cut-off node %s still has %d routes (%v)", pc.Nodes[cut].Name, n, err)
		}
		return nil
	})
	// The minority refuses, clearly.
	testenv.Eventually(t, 90*time.Second, func() error {
		meta := map[string]any{"id": uuid.NewString(), "kind": "activity", "title": "minority probe", "occurred_at": "2016-07-01"}
		r := minor.submit(t, minor.Admin, units[0], meta, file{"p.png", []byte("\x89PNG\r\n\x1a\nminor-" + uuid.NewString())})
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(r.Body, &e)
		if r.Status == 201 {
			t.Fatalf("a serve on the cut-off node %s acknowledged a write: %s", pc.Nodes[cut].Name, r.Body)
		}
		if r.Status != 503 || (e.Error.Message != gate.MsgLedgerWrite && e.Error.Message != gate.MsgLedgerRead) {
			return fmt.Errorf("a write through the cut-off node answered %d %s, want 503 with the ledger's clerk message", r.Status, r.Body)
		}
		return nil
	})
	// The majority goes on.
	testenv.Eventually(t, 2*time.Minute, func() error {
		if _, ok := l.firstAckAfter(cutAt); !ok {
			return fmt.Errorf("no write through the majority acknowledged since the cut %s ago", time.Since(cutAt).Round(time.Second))
		}
		return nil
	})
	resume := resumeAfter(l, cutAt)
	pc.Heal()
	healed := time.Now()
	pc.WaitHealthy(pc.Nodes[cut], 2*time.Minute)
	// Writes through the former minority work again.
	var minorBack time.Duration
	testenv.Eventually(t, 2*time.Minute, func() error {
		meta := map[string]any{"id": uuid.NewString(), "kind": "activity", "title": "after the cut", "occurred_at": "2016-07-01"}
		r := minor.submit(t, minor.Admin, units[1], meta, file{"p.png", []byte("\x89PNG\r\n\x1a\nhealed-" + uuid.NewString())})
		if r.Status != 201 {
			return fmt.Errorf("a write through the former minority answered %d %s", r.Status, r.Body)
		}
		minorBack = time.Since(healed)
		return nil
	})
	l.wait()
	blobs, err := tzminio.New(context.Background(), tzminio.Config{Endpoint: m.Endpoint, Bucket: "evidence", AccessKey: m.AccessKey, SecretKey: m.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	lost, dup := l.checkHistory(strings.Join(majorURLs, ","), blobs)
	testenv.Eventually(t, 60*time.Second, func() error {
		var states []testenv.StreamState
		for i := range pc.Nodes {
			st, err := pc.StreamStateOn(i, tzjs.DefaultStream)
			if err != nil {
				return err
			}
			states = append(states, st)
		}
		for i, st := range states {
			if st != states[0] || st.LastSeq == 0 {
				return fmt.Errorf("the ledger stream forked or lags: %s %+v, %s %+v", pc.Nodes[0].Name, states[0], pc.Nodes[i].Name, st)
			}
		}
		return nil
	})
	logRow(t, l.row(fmt.Sprintf("the ledger's leader node (%s) cut off from the other two (resume: majority after the cut; minority writes %s after the heal)",
		pc.Nodes[cut].Name, minorBack.Round(10*time.Millisecond)), lost, dup, resume))
}

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
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

	"taizhang/events"
	"taizhang/internal/testenv"
)

// buildBinary builds taizhang once for the tests that run it as a child.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "taizhang-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "taizhang")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// child is `taizhang serve` as a separate process.
type child struct {
	cmd  *exec.Cmd
	url  string
	logs *bytes.Buffer
}

func startChild(t *testing.T, data string) *child {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	addrFile := filepath.Join(t.TempDir(), "addr")
	c := &child{logs: &bytes.Buffer{}}
	c.cmd = exec.Command(bin, "serve", "--data", data, "--addr", "127.0.0.1:0", "--addr-file", addrFile)
	c.cmd.Stderr = c.logs
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.cmd.Process.Kill(); _ = c.cmd.Wait() })
	testenv.Eventually(t, 60*time.Second, func() error {
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
	return c
}

// TestCrashLosesNothingAcknowledged submits evidence concurrently to a
// serve process, kills it with SIGKILL mid-stream, restarts it on the same
// directory and finds every acknowledged submission in history and archive.
// Then it does it again from a clean stop: the restart replays the history
// copy the clean stop saved (its log says so), and the kill in the middle
// of the next load leaves that copy with writes the crash cut off; the
// restart after it still finds every submission acknowledged before either
// kill, once, and every chain sound.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a child process")
	}
	data := t.TempDir()
	c := startChild(t, data)
	tokB, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	admin := strings.TrimSpace(string(tokB))
	s := &server{URL: c.url, Admin: admin}
	units := []string{"cun-a", "cun-b", "cun-c", "cun-d"}
	for _, u := range units {
		if r := s.postJSON(t, admin, "/api/v1/units", map[string]any{"id": u, "name": u, "type": "village"}); r.Status != 201 {
			t.Fatalf("register: %d %s", r.Status, r.Body)
		}
	}
	acked := map[string]string{} // evidence id -> unit
	loadAndKill(t, c, admin, units, acked, 150)
	c2 := startChild(t, data)
	checkAcked(t, c2, admin, units, acked)

	// A clean stop, a restart from the history copy, a kill under load.
	if err := c2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := c2.cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v\n%s", err, c2.logs)
	}
	c3 := startChild(t, data)
	checkAcked(t, c3, admin, units, acked)
	loadAndKill(t, c3, admin, units, acked, 150)
	if !strings.Contains(c3.logs.String(), "history copy kept from the last run") {
		t.Errorf("the restart after a clean stop did not replay the history copy:\n%s", c3.logs)
	}
	checkAcked(t, startChild(t, data), admin, units, acked)
}

// loadAndKill submits evidence to c's units from 8 writers, recording in
// acked every submission c acknowledged, until at least n more are, then
// kills c with SIGKILL in the middle of the load.
func loadAndKill(t *testing.T, c *child, admin string, units []string, acked map[string]string, n int) {
	t.Helper()
	var mu sync.Mutex
	before := len(acked)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	client := &http.Client{Timeout: 10 * time.Second}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				unit := units[(w+i)%len(units)]
				id := uuid.NewString()
				meta, _ := json.Marshal(map[string]any{"id": id, "kind": "activity", "title": fmt.Sprintf("w%d #%d", w, i), "occurred_at": "2016-07-01"})
				ct, body := multipartOf(t, "evidence", meta, file{"p.png", []byte(fmt.Sprintf("\x89PNG\r\n\x1a\n%s", id))})
				req, _ := http.NewRequest("POST", c.url+"/api/v1/units/"+unit+"/evidence", body)
				req.Header.Set("Content-Type", ct)
				req.Header.Set("Authorization", "Bearer "+admin)
				resp, err := client.Do(req)
				if err != nil {
					return // the server died
				}
				resp.Body.Close()
				if resp.StatusCode == 201 {
					mu.Lock()
					acked[id] = unit
					mu.Unlock()
				}
			}
		}()
	}
	testenv.Eventually(t, 60*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acked)-before < n {
			return fmt.Errorf("%d acknowledged so far", len(acked)-before)
		}
		return nil
	})
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = c.cmd.Wait()
	close(stop)
	wg.Wait()
	t.Logf("%d submissions acknowledged before SIGKILL", len(acked)-before)
}

// checkAcked checks that c holds every acknowledged submission once in
// its unit's history and archive, and that every chain is sound.
func checkAcked(t *testing.T, c *child, admin string, units []string, acked map[string]string) {
	t.Helper()
	s := &server{URL: c.url, Admin: admin}
	found := map[string]int{}
	for _, u := range units {
		h := s.history(t, admin, u, "")
		for _, e := range h {
			if e.Type == events.TypeEvidenceSubmitted {
				found[e.ID.String()]++
			}
		}
		if err := verifyChain(h); err != nil {
			t.Errorf("unit %s chain after crash: %v", u, err)
		}
		r := s.get(t, admin, "/api/v1/units/"+u+"/archive")
		var arch archiveAnswer
		r.decode(t, &arch)
		for _, it := range arch.Items {
			found["archive:"+it.ID]++
		}
	}
	for id, unit := range acked {
		if found[id] != 1 {
			t.Errorf("acknowledged evidence %s of %s is in history %d times after the crash", id, unit, found[id])
		}
		if found["archive:"+id] != 1 {
			t.Errorf("acknowledged evidence %s of %s is in the archive %d times after the crash", id, unit, found["archive:"+id])
		}
	}
}

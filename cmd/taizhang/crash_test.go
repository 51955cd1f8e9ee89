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

	var mu sync.Mutex
	acked := map[string]string{} // evidence id -> unit
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
				ct, body := multipartOf(t, "evidence", meta, file{"p.png", []byte(fmt.Sprintf("\x89PNG\r\n\x1a\n%d-%d", w, i))})
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
		if len(acked) < 150 {
			return fmt.Errorf("%d acknowledged so far", len(acked))
		}
		return nil
	})
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = c.cmd.Wait()
	close(stop)
	wg.Wait()
	t.Logf("%d submissions acknowledged before SIGKILL", len(acked))

	c2 := startChild(t, data)
	s = &server{URL: c2.url, Admin: admin}
	found := map[string]bool{}
	for _, u := range units {
		for _, e := range s.history(t, admin, u, "") {
			found[e.ID.String()] = true
		}
		r := s.get(t, admin, "/api/v1/units/"+u+"/archive")
		var arch archiveAnswer
		r.decode(t, &arch)
		for _, it := range arch.Items {
			found["archive:"+it.ID] = true
		}
	}
	for id, unit := range acked {
		if !found[id] {
			t.Errorf("acknowledged evidence %s of %s is missing from history after the crash", id, unit)
		}
		if !found["archive:"+id] {
			t.Errorf("acknowledged evidence %s of %s is missing from the archive after the crash", id, unit)
		}
	}
	for _, u := range units {
		h := s.history(t, admin, u, "")
		if err := verifyChain(h); err != nil {
			t.Errorf("unit %s chain after crash: %v", u, err)
		}
	}
}

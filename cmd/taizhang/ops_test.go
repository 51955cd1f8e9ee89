package main

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	tzjs "taizhang/events/jetstream"
	"taizhang/internal/testenv"
)

// readiness is the /readyz answer.
type readiness struct {
	Ready    bool              `json:"ready"`
	NotReady map[string]string `json:"not_ready"`
	Ledger   string            `json:"ledger"`
}

func (s *server) readyz(t *testing.T) (int, readiness) {
	t.Helper()
	r := s.get(t, "", "/readyz")
	var rd readiness
	if err := json.Unmarshal(r.Body, &rd); err != nil {
		t.Fatalf("/readyz %d: %s", r.Status, r.Body)
	}
	if (r.Status == 200) != rd.Ready || (r.Status != 200 && r.Status != 503) {
		t.Fatalf("/readyz %d: %s", r.Status, r.Body)
	}
	return r.Status, rd
}

// TestReadyzNATSDown runs serve against an external nats-server and stops
// that server: /readyz answers 503 naming the ledger while /healthz stays
// 200 (liveness), and /readyz is 200 again once the server is back on the
// same store. Neither probe needs a token or is access-logged.
func TestReadyzNATSDown(t *testing.T) {
	store := t.TempDir()
	port := freeLoopbackPort(t)
	start := func() func() {
		ns, err := tzjs.StartEmbedded(tzjs.EmbeddedConfig{StoreDir: store, Port: port})
		if err != nil {
			t.Fatal(err)
		}
		stop := func() { ns.Shutdown(); ns.WaitForShutdown() }
		t.Cleanup(stop)
		return stop
	}
	stop := start()
	s := startServer(t, "", "--nats", "nats://127.0.0.1:"+strconv.Itoa(port), "--replicas", "1")
	if code, rd := s.readyz(t); code != 200 || rd.Ledger != "ok" {
		t.Fatalf("ready at start: %d %+v", code, rd)
	}

	stop()
	testenv.Eventually(t, 30*time.Second, func() error {
		if code, rd := s.readyz(t); code != 503 || !strings.Contains(rd.NotReady["ledger"], "unreachable") {
			return fmt.Errorf("/readyz %d %+v", code, rd)
		}
		return nil
	})
	if r := s.get(t, "", "/healthz"); r.Status != 200 {
		t.Fatalf("/healthz with NATS down: %d %s", r.Status, r.Body)
	}

	start()
	testenv.Eventually(t, 60*time.Second, func() error {
		if code, rd := s.readyz(t); code != 200 {
			return fmt.Errorf("/readyz %d %+v", code, rd)
		}
		return nil
	})
	if strings.Contains(s.log.String(), "/readyz") || strings.Contains(s.log.String(), "/healthz") {
		t.Errorf("a probe was logged:\n%s", s.log.String())
	}
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

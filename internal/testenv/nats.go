// Package testenv starts the real servers that taizhang's tests talk to: an
// embedded nats-server with JetStream, and a MinIO server process. Every
// test that needs one gets it from here, with its own directories, and it is
// stopped when the test ends.
package testenv

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	tzjs "taizhang/events/jetstream"
)

// NATS is an embedded JetStream server for one test.
type NATS struct {
	Server *server.Server
	URL    string
	dir    string
}

// StartNATS starts an embedded nats-server with JetStream (sync always) on a
// free port with its own store directory, stopped at the end of the test.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	dir := t.TempDir()
	ns, err := tzjs.StartEmbedded(tzjs.EmbeddedConfig{StoreDir: dir, Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	n := &NATS{Server: ns, URL: ns.ClientURL(), dir: dir}
	t.Cleanup(n.Shutdown)
	return n
}

// Shutdown stops the server and waits for it; calling it twice is harmless.
func (n *NATS) Shutdown() {
	n.Server.Shutdown()
	n.Server.WaitForShutdown()
}

// Connect opens a client connection, closed at the end of the test.
func (n *NATS) Connect(t testing.TB) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(n.URL, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Eventually polls cond every few milliseconds until it returns nil or the
// timeout passes, then fails the test with cond's last error.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 2 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s: %v", timeout, err)
		}
		time.Sleep(wait)
		if wait < 100*time.Millisecond {
			wait *= 2
		}
	}
}

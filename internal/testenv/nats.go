// Package testenv starts the real servers that taizhang's tests talk to: an
// embedded nats-server with JetStream, and a MinIO server process. Every
// test that needs one gets it from here, with its own directories, and it is
// stopped when the test ends.
package testenv

import (
	"fmt"
	"net"
	"net/url"
	"strings"
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

// Cluster is an in-process JetStream cluster for one test.
type Cluster struct {
	Servers []*server.Server
	URLs    string // comma-separated client URLs
}

// StartCluster starts n clustered nats-servers with JetStream (sync always)
// in this process, each with its own store directory, and waits until the
// cluster has a JetStream meta leader and every other node's meta group is
// current with it (so that the first R3 stream create finds all peers).
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ports[i] = freePort(t)
	}
	var routes []*url.URL
	for _, p := range ports {
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	c := &Cluster{}
	var urls []string
	for i := 0; i < n; i++ {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: -1,
			JetStream: true, StoreDir: t.TempDir(), SyncAlways: true, NoSigs: true, NoLog: true,
			Cluster: server.ClusterOpts{Name: "tz-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:  routes,
		}
		ns, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		ns.Start()
		if !ns.ReadyForConnections(30 * time.Second) {
			t.Fatalf("cluster node %d not ready", i+1)
		}
		c.Servers = append(c.Servers, ns)
		urls = append(urls, ns.ClientURL())
		t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	}
	c.URLs = strings.Join(urls, ",")
	Eventually(t, 60*time.Second, func() error {
		leaders := 0
		for _, s := range c.Servers {
			if s.JetStreamIsLeader() {
				leaders++
			}
		}
		if leaders != 1 {
			return fmt.Errorf("%d JetStream meta leaders, want 1", leaders)
		}
		for i, s := range c.Servers {
			if !s.JetStreamIsCurrent() {
				return fmt.Errorf("node n%d: JetStream meta group not current", i+1)
			}
			if got := s.NumRoutes(); got < n-1 {
				return fmt.Errorf("node n%d: %d routes, want %d", i+1, got, n-1)
			}
		}
		return nil
	})
	return c
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

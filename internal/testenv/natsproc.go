package testenv

// This file runs nats-server as child processes, for tests that kill a
// server with SIGKILL. The binary is built from the nats-server module this
// module requires, once per version, into the user's cache directory.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"
)

// ProcCluster is a cluster of nats-server processes on loopback, with
// JetStream (sync always), routes between every pair and server names
// n1..nN, for one test.
type ProcCluster struct {
	URLs  string // comma-separated client URLs of every node
	Nodes []*ProcNode

	t       testing.TB
	bin     string
	proxies []*routeProxy
}

// ProcNode is one server of a ProcCluster.
type ProcNode struct {
	Name      string
	ClientURL string
	Monitor   string // base URL of the HTTP monitoring endpoint
	conf      string
	logPath   string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

var natsServerBin = struct {
	sync.Mutex
	path string
}{}

// natsServerBinary builds nats-server from the required module version
// into $XDG_CACHE_HOME/taizhang/nats-server-VERSION (once) and returns it.
func natsServerBinary() (string, error) {
	natsServerBin.Lock()
	defer natsServerBin.Unlock()
	if natsServerBin.path != "" {
		return natsServerBin.path, nil
	}
	version := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/nats-io/nats-server/v2" {
				version = d.Version
				if d.Replace != nil {
					version = d.Replace.Version
				}
			}
		}
	}
	if version == "" {
		return "", errors.New("the nats-server module version is not in the build info")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "taizhang", "nats-server-"+version)
	bin := filepath.Join(dir, "nats-server")
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
		natsServerBin.path = bin
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp := fmt.Sprintf("%s.%d.tmp", bin, os.Getpid())
	cmd := exec.Command("go", "build", "-o", tmp, "github.com/nats-io/nats-server/v2")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build nats-server %s: %v\n%s", version, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	natsServerBin.path = bin
	return bin, nil
}

// StartProcCluster starts n clustered nats-server processes with JetStream
// and waits until each reports itself healthy (JetStream current); they
// are killed when t ends, and their logs shown if t failed.
func StartProcCluster(t testing.TB, n int) *ProcCluster {
	t.Helper()
	return StartProcClusterWith(t, n, ProcOptions{})
}

// ProcOptions are the options of StartProcClusterWith.
type ProcOptions struct {
	// RouteProxies sends every route through a TCP proxy in this process,
	// one per ordered pair of nodes, so that Cut can isolate a node. The
	// nodes then advertise a closed port as their route address, so that
	// no node learns another's real route port from gossip.
	RouteProxies bool
}

// StartProcClusterWith is StartProcCluster with options.
func StartProcClusterWith(t testing.TB, n int, opt ProcOptions) *ProcCluster {
	t.Helper()
	bin, err := natsServerBinary()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	c := &ProcCluster{t: t, bin: bin}
	cports := make([]int, n)
	for i := range cports {
		cports[i] = freePort(t)
	}
	var urls []string
	for i := 0; i < n; i++ {
		dir := t.TempDir()
		port, mon := freePort(t), freePort(t)
		var routes []string
		advertise := ""
		for j, p := range cports {
			if j == i {
				continue
			}
			if opt.RouteProxies {
				px := startProxy(t, i, j, fmt.Sprintf("127.0.0.1:%d", p))
				c.proxies = append(c.proxies, px)
				routes = append(routes, "nats-route://"+px.addr)
				continue
			}
			routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
		}
		if opt.RouteProxies {
			advertise = fmt.Sprintf("\n  advertise: \"127.0.0.1:%d\"", freePort(t))
		}
		node := &ProcNode{
			Name:      fmt.Sprintf("n%d", i+1),
			ClientURL: fmt.Sprintf("nats://127.0.0.1:%d", port),
			Monitor:   fmt.Sprintf("http://127.0.0.1:%d", mon),
			conf:      filepath.Join(dir, "nats.conf"),
			logPath:   filepath.Join(dir, "nats.log"),
		}
		conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
http: 127.0.0.1:%d
jetstream { store_dir: %q, sync_interval: always }
cluster {
  name: tz-proc
  listen: 127.0.0.1:%d%s
  routes: [%s]
}
`, node.Name, port, mon, filepath.Join(dir, "js"), cports[i], advertise, strings.Join(routes, ", "))
		if err := os.WriteFile(node.conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		c.Nodes = append(c.Nodes, node)
		urls = append(urls, node.ClientURL)
		t.Cleanup(func() {
			node.kill()
			if t.Failed() {
				if b, err := os.ReadFile(node.logPath); err == nil {
					t.Logf("nats-server %s log:\n%s", node.Name, minioTail(string(b), 6000))
				}
			}
		})
	}
	c.URLs = strings.Join(urls, ",")
	for _, node := range c.Nodes {
		if err := node.start(bin); err != nil {
			t.Fatalf("testenv: %v", err)
		}
	}
	for _, node := range c.Nodes {
		c.WaitHealthy(node, 60*time.Second)
	}
	c.waitMeta(60 * time.Second)
	c.waitPlacement(60 * time.Second)
	return c
}

// waitPlacement waits until an R-n stream can be placed (every peer known
// online to the meta leader), by creating and deleting a probe stream.
func (c *ProcCluster) waitPlacement(timeout time.Duration) {
	c.t.Helper()
	nc, err := nats.Connect(c.URLs, nats.Timeout(5*time.Second))
	if err != nil {
		c.t.Fatalf("testenv: connect to the cluster: %v", err)
	}
	defer nc.Close()
	j, err := js.New(nc)
	if err != nil {
		c.t.Fatal(err)
	}
	Eventually(c.t, timeout, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := j.CreateStream(ctx, js.StreamConfig{Name: "TESTENV_PROBE", Subjects: []string{"testenv.probe"}, Replicas: len(c.Nodes), Storage: js.MemoryStorage}); err != nil {
			return fmt.Errorf("placing an R%d probe stream: %w", len(c.Nodes), err)
		}
		return j.DeleteStream(ctx, "TESTENV_PROBE")
	})
}

// waitMeta waits until some node leads the JetStream meta group with every
// other node a current peer, so that the first R3 asset finds its peers.
func (c *ProcCluster) waitMeta(timeout time.Duration) {
	c.t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	Eventually(c.t, timeout, func() error {
		for _, nd := range c.Nodes {
			resp, err := client.Get(nd.Monitor + "/jsz")
			if err != nil {
				return err
			}
			var jsz struct {
				Meta struct {
					Leader   string `json:"leader"`
					Replicas []struct {
						Name    string `json:"name"`
						Current bool   `json:"current"`
						Offline bool   `json:"offline"`
					} `json:"replicas"`
				} `json:"meta_cluster"`
			}
			err = json.NewDecoder(resp.Body).Decode(&jsz)
			resp.Body.Close()
			if err != nil {
				return err
			}
			if jsz.Meta.Leader != nd.Name {
				continue
			}
			current := 0
			for _, r := range jsz.Meta.Replicas {
				if r.Current && !r.Offline {
					current++
				}
			}
			if current != len(c.Nodes)-1 {
				return fmt.Errorf("meta leader %s has %d current peers, want %d", nd.Name, current, len(c.Nodes)-1)
			}
			return nil
		}
		return errors.New("no JetStream meta leader yet")
	})
}

func (nd *ProcNode) start(bin string) error {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd != nil {
		return fmt.Errorf("nats-server %s is already running", nd.Name)
	}
	logf, err := os.OpenFile(nd.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "--- %s: starting\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(bin, "-c", nd.conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start nats-server %s: %w", nd.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	nd.cmd, nd.done = cmd, done
	return nil
}

func (nd *ProcNode) kill() {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd == nil {
		return
	}
	_ = nd.cmd.Process.Signal(syscall.SIGKILL)
	<-nd.done
	nd.cmd, nd.done = nil, nil
}

// Kill kills node i (0-based) with SIGKILL and waits for it to exit; its
// store is kept for Restart.
func (c *ProcCluster) Kill(i int) { c.Nodes[i].kill() }

// Restart starts a killed node i again on its store and waits until it is
// healthy (JetStream current with the cluster).
func (c *ProcCluster) Restart(i int) {
	c.t.Helper()
	if err := c.Nodes[i].start(c.bin); err != nil {
		c.t.Fatalf("testenv: %v", err)
	}
	c.WaitHealthy(c.Nodes[i], 90*time.Second)
}

// WaitHealthy waits until node answers 200 on /healthz (JetStream enabled
// and current), failing t after timeout.
func (c *ProcCluster) WaitHealthy(node *ProcNode, timeout time.Duration) {
	c.t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	Eventually(c.t, timeout, func() error {
		resp, err := client.Get(node.Monitor + "/healthz")
		if err != nil {
			return fmt.Errorf("nats-server %s: %v", node.Name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("nats-server %s: /healthz %s", node.Name, resp.Status)
		}
		return nil
	})
}

// LeaderOf returns the index of the node leading stream, asking any
// running node.
func (c *ProcCluster) LeaderOf(stream string) (int, error) {
	nc, err := nats.Connect(c.URLs, nats.Timeout(5*time.Second))
	if err != nil {
		return -1, err
	}
	defer nc.Close()
	j, err := js.New(nc)
	if err != nil {
		return -1, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := j.Stream(ctx, stream)
	if err != nil {
		return -1, err
	}
	info := st.CachedInfo()
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return -1, fmt.Errorf("stream %s has no leader", stream)
	}
	for i, nd := range c.Nodes {
		if nd.Name == info.Cluster.Leader {
			return i, nil
		}
	}
	return -1, fmt.Errorf("stream %s is led by unknown server %q", stream, info.Cluster.Leader)
}

// StreamState is a stream's state as one node holds it.
type StreamState struct {
	Messages uint64 `json:"messages"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	Bytes    uint64 `json:"bytes"`
}

// StreamStateOn returns stream's state as node i holds it (its own
// replica, from its monitoring endpoint).
func (c *ProcCluster) StreamStateOn(i int, stream string) (StreamState, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(c.Nodes[i].Monitor + "/jsz?accounts=true&streams=true")
	if err != nil {
		return StreamState{}, err
	}
	defer resp.Body.Close()
	var jsz struct {
		Accounts []struct {
			Streams []struct {
				Name  string      `json:"name"`
				State StreamState `json:"state"`
			} `json:"stream_detail"`
		} `json:"account_details"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&jsz); err != nil {
		return StreamState{}, fmt.Errorf("jsz of %s: %w", c.Nodes[i].Name, err)
	}
	for _, a := range jsz.Accounts {
		for _, s := range a.Streams {
			if s.Name == stream {
				return s.State, nil
			}
		}
	}
	return StreamState{}, fmt.Errorf("node %s holds no stream %s", c.Nodes[i].Name, stream)
}

// routeProxy forwards the route connections node from dials to node to.
type routeProxy struct {
	from, to int
	addr     string
	target   string
	ln       net.Listener

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
}

func startProxy(t testing.TB, from, to int, target string) *routeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &routeProxy{from: from, to: to, addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() {
		ln.Close()
		p.setCut(true)
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *routeProxy) serve(c net.Conn) {
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.mu.Unlock()
	u, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		c.Close()
		u.Close()
		return
	}
	p.conns[c], p.conns[u] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(u, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, u); done <- struct{}{} }()
	<-done
	c.Close()
	u.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, u)
	p.mu.Unlock()
}

// setCut drops every connection and refuses new ones (cut) or lets them
// through again.
func (p *routeProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
	}
}

// Cut isolates node i from the other nodes: every route connection to or
// from it is dropped and new ones are refused until Heal. Clients still
// reach it. It needs ProcOptions.RouteProxies.
func (c *ProcCluster) Cut(i int) {
	c.t.Helper()
	if len(c.proxies) == 0 {
		c.t.Fatal("testenv: Cut needs ProcOptions.RouteProxies")
	}
	for _, p := range c.proxies {
		if p.from == i || p.to == i {
			p.setCut(true)
		}
	}
}

// Heal ends every Cut.
func (c *ProcCluster) Heal() {
	for _, p := range c.proxies {
		p.setCut(false)
	}
}

// NumRoutes returns how many route connections node i has, from its
// monitoring endpoint.
func (c *ProcCluster) NumRoutes(i int) (int, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(c.Nodes[i].Monitor + "/routez")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var rz struct {
		NumRoutes int `json:"num_routes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&rz); err != nil {
		return 0, err
	}
	return rz.NumRoutes, nil
}

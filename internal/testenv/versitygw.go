package testenv

// This file starts real versitygw server processes (the Versity S3 Gateway,
// an S3 server written independently of MinIO) for tests, with its posix
// backend: every bucket is a directory, every object a file, versions in a
// separate directory. It is the one place that knows how to find the binary
// and run it.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// VersityGWServer is a versitygw process for one test, with its own bucket
// and version directories and generated root credentials. Endpoint is
// host:port, as minio-go and blobstore/minio.Config expect (plain HTTP).
type VersityGWServer struct {
	Endpoint  string
	AccessKey string
	SecretKey string

	bin     string
	rootDir string // buckets
	verDir  string // object versions (needed for versioning and object lock)
	proc    process
}

// VersityGW starts a versitygw server (posix backend, versioning enabled so
// that object lock works) for t, waits until it answers S3 requests, and
// stops it when t ends. The binary is $TAIZHANG_VERSITYGW, else versitygw on
// PATH, else $HOME/.cache/taizhang/bin/versitygw. If there is none, t is
// skipped with a hint to run ./scripts/test (which installs it); with
// CI=true a missing binary fails t instead. The server's output goes to a
// log file that is shown if t fails.
func VersityGW(t testing.TB) *VersityGWServer {
	t.Helper()
	bin, err := findTool("TAIZHANG_VERSITYGW", "versitygw")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("testenv: versitygw is required in CI: %v", err)
		}
		t.Skipf("testenv: skipping, versitygw not found (%v); run ./scripts/test, which installs it", err)
	}
	dir := t.TempDir()
	v := &VersityGWServer{
		bin:       bin,
		rootDir:   filepath.Join(dir, "buckets"),
		verDir:    filepath.Join(dir, "versions"),
		proc:      process{logPath: filepath.Join(dir, "versitygw.log")},
		AccessKey: "tz" + minioRandomHex(6),
		SecretKey: minioRandomHex(20),
	}
	for _, d := range []string{v.rootDir, v.verDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(v.proc.logPath); err == nil {
				t.Logf("versitygw output (%s):\n%s", v.proc.logPath, minioTail(string(b), 8000))
			}
		}
	})
	t.Cleanup(v.Stop)

	// A free port found by listening can be taken by someone else before
	// the server binds it; try again with a new port then.
	var lastErr error
	for range 3 {
		port, err := minioFreePort()
		if err != nil {
			t.Fatal(err)
		}
		v.Endpoint = port
		if lastErr = v.start(); lastErr == nil {
			return v
		}
	}
	t.Fatalf("testenv: starting versitygw: %v", lastErr)
	return nil
}

// URL returns the server's base URL.
func (v *VersityGWServer) URL() string { return "http://" + v.Endpoint }

// Stop kills the server and waits for it to exit, to simulate a dead
// server. The directories are kept for Start. Stopping a stopped server does
// nothing.
func (v *VersityGWServer) Stop() { v.proc.stop() }

// Start starts a stopped server again on the same address and directories
// and waits until it is ready; it fails t if it cannot.
func (v *VersityGWServer) Start(t testing.TB) {
	t.Helper()
	if err := v.start(); err != nil {
		t.Fatalf("testenv: restarting versitygw: %v", err)
	}
}

func (v *VersityGWServer) start() error {
	// The credentials go by environment, not on the command line where
	// every local user could read them.
	return v.proc.run(v.bin, v.Endpoint,
		[]string{"--port", v.Endpoint, "--quiet", "posix", "--versioning-dir", v.verDir, v.rootDir},
		[]string{"ROOT_ACCESS_KEY=" + v.AccessKey, "ROOT_SECRET_KEY=" + v.SecretKey},
		func(exited <-chan struct{}) error { return pollReady(v.URL(), exited, versityProbe) })
}

// versityProbe reports whether the gateway serves S3: an anonymous request
// is refused for want of credentials (403). versitygw has no health path;
// it answers S3 as soon as it listens.
func versityProbe(ctx context.Context, client *http.Client, base string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/", nil)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		return fmt.Errorf("/ answered %s", resp.Status)
	}
	return nil
}

// pollReady polls probe until it returns nil, the process exits (exited is
// closed), or minioReadyTimeout passes.
func pollReady(base string, exited <-chan struct{}, probe func(context.Context, *http.Client, string) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), minioReadyTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	wait := 5 * time.Millisecond
	var lastErr error
	for {
		err := probe(ctx, client, base)
		if err == nil {
			return nil
		}
		lastErr = err
		t := time.NewTimer(wait)
		select {
		case <-exited:
			t.Stop()
			return errors.New("the server exited before it was ready")
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("not ready after %s: %v", minioReadyTimeout, lastErr)
		case <-t.C:
		}
		if wait < 100*time.Millisecond {
			wait *= 2
		}
	}
}

// findTool finds a server binary: the path in environment variable env,
// else name on PATH, else $HOME/.cache/taizhang/bin/name (where
// ./scripts/test installs it).
func findTool(env, name string) (string, error) {
	if p := os.Getenv(env); p != "" {
		if err := minioExecutable(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", env, p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no %s on PATH and no home directory: %w", name, err)
	}
	p := filepath.Join(home, ".cache", "taizhang", "bin", name)
	if err := minioExecutable(p); err != nil {
		return "", fmt.Errorf("no %s on PATH, %s unset, and %s: %w", name, env, p, err)
	}
	return p, nil
}

// S3 is what a client needs to reach an S3 server that a test started:
// host:port (plain HTTP) and the root credentials.
type S3 struct {
	Endpoint  string
	AccessKey string
	SecretKey string
}

// S3Server is an S3 server process that a test started (MinIO or
// versitygw).
type S3Server interface {
	S3() S3
	URL() string
	Stop()
	Start(t testing.TB)
}

var (
	_ S3Server = (*MinIOServer)(nil)
	_ S3Server = (*VersityGWServer)(nil)
)

// S3 returns what a client needs to reach the server.
func (v *VersityGWServer) S3() S3 {
	return S3{Endpoint: v.Endpoint, AccessKey: v.AccessKey, SecretKey: v.SecretKey}
}

package testenv

// This file starts real MinIO server processes for tests. It is the one place
// that knows how to find the binary and run it.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// MinIOServer is a MinIO server process for one test, with its own data
// directory and generated root credentials. Endpoint is host:port, as
// minio-go and blobstore/minio.Config expect (plain HTTP).
type MinIOServer struct {
	Endpoint  string
	AccessKey string
	SecretKey string

	bin     string
	dataDir string
	console string
	proc    process
}

// minioReadyTimeout bounds the wait for a starting server.
const minioReadyTimeout = 60 * time.Second

// MinIO starts a MinIO server for t, waits until it is ready, and stops it
// when t ends. The binary is $TAIZHANG_MINIO, else minio on PATH, else
// $HOME/.cache/taizhang/bin/minio. If there is none, t is skipped with a
// hint to run ./scripts/test (which installs it); with CI=true a missing
// MinIO fails t instead. The server's output goes to a log file that is shown
// if t fails.
func MinIO(t testing.TB) *MinIOServer {
	t.Helper()
	bin, err := findMinIO()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("testenv: MinIO is required in CI: %v", err)
		}
		t.Skipf("testenv: skipping, MinIO not found (%v); run ./scripts/test, which installs it", err)
	}
	m := &MinIOServer{
		bin:       bin,
		dataDir:   t.TempDir(),
		AccessKey: "tz" + minioRandomHex(6),
		SecretKey: minioRandomHex(20),
	}
	m.proc.logPath = filepath.Join(t.TempDir(), "minio.log")
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(m.proc.logPath); err == nil {
				t.Logf("MinIO server output (%s):\n%s", m.proc.logPath, b)
			}
		}
	})
	t.Cleanup(m.Stop)

	// A free port found by listening can be taken by someone else before
	// the server binds it; try again with new ports then.
	var lastErr error
	for range 3 {
		port, err := minioFreePort()
		if err != nil {
			t.Fatal(err)
		}
		console, err := minioFreePort()
		if err != nil {
			t.Fatal(err)
		}
		m.Endpoint, m.console = port, console
		if lastErr = m.start(); lastErr == nil {
			return m
		}
	}
	t.Fatalf("testenv: starting MinIO: %v", lastErr)
	return nil
}

// Stop kills the server and waits for it to exit, to simulate a dead MinIO.
// The data directory is kept for Start. Stopping a stopped server does
// nothing.
func (m *MinIOServer) Stop() { m.proc.stop() }

// Start starts a stopped server again on the same address and data
// directory and waits until it is ready; it fails t if it cannot.
func (m *MinIOServer) Start(t testing.TB) {
	t.Helper()
	if err := m.start(); err != nil {
		t.Fatalf("testenv: restarting MinIO: %v", err)
	}
}

// URL returns the server's base URL.
func (m *MinIOServer) URL() string { return "http://" + m.Endpoint }

func (m *MinIOServer) start() error {
	return m.proc.run(m.bin, m.Endpoint,
		[]string{"server", "--address", m.Endpoint, "--console-address", m.console, m.dataDir},
		[]string{"MINIO_ROOT_USER=" + m.AccessKey, "MINIO_ROOT_PASSWORD=" + m.SecretKey, "MINIO_BROWSER=off", "MINIO_UPDATE=off"},
		func(exited <-chan struct{}) error { return minioWaitReady(m.URL(), exited) })
}

// minioProbe reports whether the server is ready for S3 requests: live and
// cluster health answer 200, and an anonymous S3 request is refused for want
// of credentials (403) rather than with "Server not initialized" (503),
// which MinIO answers for a moment after it first reports itself live.
func minioProbe(ctx context.Context, client *http.Client, base string) error {
	for _, path := range []string{"/minio/health/live", "/minio/health/cluster", "/"} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		ok := resp.StatusCode == http.StatusOK
		if path == "/" {
			ok = resp.StatusCode == http.StatusForbidden
		}
		if !ok {
			return fmt.Errorf("%s answered %s", path, resp.Status)
		}
	}
	return nil
}

// minioWaitReady polls the server until it is ready for S3 requests, the
// process exits, or minioReadyTimeout passes.
func minioWaitReady(base string, exited <-chan struct{}) error {
	return pollReady(base, exited, minioProbe)
}

func findMinIO() (string, error) {
	if p := os.Getenv("TAIZHANG_MINIO"); p != "" {
		if err := minioExecutable(p); err != nil {
			return "", fmt.Errorf("TAIZHANG_MINIO=%s: %w", p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no minio on PATH and no home directory: %w", err)
	}
	p := filepath.Join(home, ".cache", "taizhang", "bin", "minio")
	if err := minioExecutable(p); err != nil {
		return "", fmt.Errorf("no minio on PATH, TAIZHANG_MINIO unset, and %s: %w", p, err)
	}
	return p, nil
}

func minioExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return errors.New("not an executable file")
	}
	return nil
}

func minioFreePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	l.Close()
	return addr, nil
}

func minioRandomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func minioTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[strings.IndexByte(s[len(s)-n:], '\n')+len(s)-n+1:]
}

// S3 returns what a client needs to reach the server.
func (m *MinIOServer) S3() S3 {
	return S3{Endpoint: m.Endpoint, AccessKey: m.AccessKey, SecretKey: m.SecretKey}
}

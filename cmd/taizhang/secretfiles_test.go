package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"taizhang/internal/testenv"
)

func secret(t *testing.T, prefix string) string {
	b := make([]byte, 12)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func writeSecret(t *testing.T, name, v string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startNATSWithPassword starts a nats-server with JetStream that requires a
// user and password, on a free loopback port: an external NATS for serve.
func startNATSWithPassword(t *testing.T, user, password string) string {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		Username: user, Password: password, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	return ns.ClientURL()
}

// TestSecretsFromFiles runs serve against an external NATS that requires a
// password and a MinIO, with the NATS password and the MinIO secret key
// given only as files (flag for one, environment for the other); it works,
// and neither secret appears in anything serve logs or answers, nor in the
// error of a run with a wrong password.
func TestSecretsFromFiles(t *testing.T) {
	m := testenv.MinIO(t)
	natsPass := secret(t, "natspw-")
	natsURL := startNATSWithPassword(t, "taizhang", natsPass)
	passFile := writeSecret(t, "nats-password", natsPass)
	secretFile := writeSecret(t, "s3-secret", m.SecretKey)

	t.Setenv("TAIZHANG_S3_SECRET_KEY_FILE", secretFile)
	s := startServer(t, "", "--nats", natsURL, "--nats-user", "taizhang", "--nats-password-file", passFile, "--replicas", "1",
		"--s3-endpoint", m.Endpoint, "--s3-bucket", "evidence", "--s3-access-key", m.AccessKey)
	var answers bytes.Buffer
	keep := func(r reply) reply { answers.Write(r.Body); return r }
	if r := keep(s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": "cun", "name": "村", "type": "village"})); r.Status != 201 {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	photo := pngPhoto(t, 42)
	r := keep(s.submit(t, s.Admin, "cun", map[string]any{"kind": "photo", "title": "t", "occurred_at": "2016-07-01"}, file{"a.png", photo}))
	if r.Status != 201 {
		t.Fatalf("submit: %d %s", r.Status, r.Body)
	}
	var a submitAnswer
	r.decode(t, &a)
	if b := keep(s.get(t, s.Admin, "/api/v1/blobs/"+a.Attachments[0].SHA256)); b.Status != 200 || !bytes.Equal(b.Body, photo) {
		t.Fatalf("blob from MinIO: %d", b.Status)
	}
	keep(s.get(t, s.Admin, "/healthz"))
	keep(s.get(t, "", "/api/v1/units"))
	s.stop(t)

	// A wrong password from a file: serve fails, naming neither password.
	wrong := secret(t, "wrongpw-")
	var stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := Run(ctx, []string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--nats", natsURL, "--nats-user", "taizhang",
		"--nats-password-file", writeSecret(t, "wrong", wrong), "--replicas", "1"}, nil, &stderr, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "NATS") {
		t.Fatalf("serve with a wrong password: exit %d: %s", code, stderr.String())
	}
	// A credential in a URL is redacted from the log and the error.
	urlPass := secret(t, "urlpw-")
	code = Run(ctx, []string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--replicas", "1",
		"--nats", strings.Replace(natsURL, "nats://", "nats://taizhang:"+urlPass+"@", 1)}, nil, &stderr, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "nats://***@127.0.0.1") {
		t.Fatalf("serve with a wrong password in the URL: exit %d: %s", code, stderr.String())
	}
	// Both a secret and its file: a usage error.
	code = Run(ctx, []string{"serve", "--data", t.TempDir(), "--nats", natsURL, "--nats-password", "x", "--nats-password-file", passFile}, nil, &stderr, &stderr)
	if code != 2 {
		t.Fatalf("password and password file: exit %d", code)
	}

	out := s.log.String() + stderr.String() + answers.String()
	if !strings.Contains(out, "external NATS") || !strings.Contains(out, "blob store: S3") {
		t.Fatalf("the log did not cover the start:\n%s", out)
	}
	for name, v := range map[string]string{"NATS password": natsPass, "MinIO secret key": m.SecretKey, "wrong password": wrong, "password in the URL": urlPass} {
		if strings.Contains(out, v) {
			t.Errorf("the %s appears in the output", name)
		}
	}
}

// TestSecretFileRules: a secret file's trailing newline is dropped; an
// empty file, one of several lines and a missing one are refused, naming
// the file and never its content.
func TestSecretFileRules(t *testing.T) {
	c := serveConfig{secretFiles: secretFiles{natsToken: writeSecret(t, "tok", "s3cr3t-token")}}
	if err := c.readSecretFiles(); err != nil || c.natsToken != "s3cr3t-token" {
		t.Fatalf("token file: %q %v", c.natsToken, err)
	}
	for name, content := range map[string]string{"empty": "", "two lines": "line-one-secret\nline-two-secret", "missing": "-"} {
		p := filepath.Join(t.TempDir(), "f")
		if content != "-" {
			os.WriteFile(p, []byte(content), 0o600)
		}
		c := serveConfig{secretFiles: secretFiles{s3Secret: p}}
		err := c.readSecretFiles()
		if err == nil {
			t.Fatalf("%s: accepted", name)
		}
		if strings.Contains(err.Error(), "secret") && strings.Contains(err.Error(), "line-") {
			t.Fatalf("%s: the error shows the content: %v", name, err)
		}
		if !strings.Contains(err.Error(), "s3-secret-key-file") {
			t.Fatalf("%s: the error does not name the flag: %v", name, err)
		}
	}
}

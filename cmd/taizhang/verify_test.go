package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"taizhang/events"
	tzjs "taizhang/events/jetstream"
	"taizhang/internal/testenv"
)

// runVerify runs `taizhang verify` with args and returns its exit status
// and output.
func runVerify(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), append([]string{"verify"}, args...), nil, &out, &errb)
	return code, out.String(), errb.String()
}

// fillLedger registers a unit and submits two items with photos; it returns
// the digests of the attachments.
func fillLedger(t *testing.T, s *server) []string {
	s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": "dongcun", "name": "東村", "type": "village"})
	var digests []string
	for i := 0; i < 2; i++ {
		r := s.submit(t, s.Admin, "dongcun", map[string]any{"kind": "photo", "title": "t", "occurred_at": "2016-07-01"}, file{"p.png", pngPhoto(t, byte(10+i))})
		var a submitAnswer
		r.decode(t, &a)
		digests = append(digests, a.Attachments[0].SHA256)
	}
	return digests
}

func TestVerifyCleanAndTampered(t *testing.T) {
	s := startServer(t, "")
	digests := fillLedger(t, s)
	// While serve runs, verify refuses to open the same embedded store.
	if code, _, errs := runVerify(t, "--data", s.Data); code != 1 || !strings.Contains(errs, "in use") {
		t.Fatalf("verify during serve: %d %q", code, errs)
	}
	s.stop(t)

	code, out, errs := runVerify(t, "--data", s.Data)
	if code != 0 || !strings.Contains(out, "no problems found") || !strings.Contains(out, "2 re-read") {
		t.Fatalf("clean verify: %d %q %q", code, out, errs)
	}

	// A byte flipped in a stored blob.
	path := filepath.Join(s.Data, "blobs", "sha256", digests[1][:2], digests[1])
	os.Chmod(path, 0o644)
	b, _ := os.ReadFile(path)
	b[len(b)/2] ^= 0x01
	os.WriteFile(path, b, 0o644)
	code, out, _ = runVerify(t, "--data", s.Data)
	if code != 1 || !strings.Contains(out, "blob_corrupt") || !strings.Contains(out, digests[1]) || !strings.Contains(out, "unit dongcun") {
		t.Fatalf("verify after a byte flip: %d\n%s", code, out)
	}

	// An event published straight onto the stream, bypassing the service,
	// with a wrong previous hash (as an operator with raw access could).
	ns, err := tzjs.StartEmbedded(tzjs.EmbeddedConfig{StoreDir: filepath.Join(s.Data, "nats"), NoListen: true})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(ns.ClientURL(), nats.InProcessServer(ns))
	if err != nil {
		t.Fatal(err)
	}
	j, _ := js.New(nc)
	ev := &events.Event{ID: uuid.New(), Type: events.TypeEvidenceSubmitted, Schema: 1, Unit: "dongcun",
		Actor: events.Actor{ID: "mallory", Role: events.RoleAdmin}, Client: events.ClientAPI,
		OccurredAt: time.Date(2016, 7, 2, 0, 0, 0, 0, time.UTC), RecordedAt: time.Now()}
	ev.SetData(events.EvidenceSubmitted{Evidence: events.Evidence{Kind: events.KindActivity, Title: "補記"}, Version: 1})
	ev.Seal(events.Hash{0xde, 0xad})
	data, _ := events.Encode(ev)
	ack, err := j.Publish(context.Background(), "tz.ev.dongcun", data)
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	ns.Shutdown()
	ns.WaitForShutdown()
	code, out, _ = runVerify(t, "--data", s.Data, "--no-blobs", "--json")
	var rep struct {
		Problems []struct {
			Kind, Unit, Event string
			Seq               uint64
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	found := false
	for _, p := range rep.Problems {
		if p.Kind == "chain" && p.Unit == "dongcun" && p.Event == ev.ID.String() && p.Seq == ack.Sequence {
			found = true
		}
	}
	if code != 1 || !found {
		t.Fatalf("verify after a raw publish: %d %s", code, out)
	}
}

// TestVerifyMinIO flips a byte of an attachment in the bucket.
func TestVerifyMinIO(t *testing.T) {
	m := testenv.MinIO(t)
	s := startServer(t, "", minioArgs(m)...)
	digests := fillLedger(t, s)
	s.stop(t)
	args := append([]string{"--data", s.Data}, minioArgs(m)...)
	if code, out, errs := runVerify(t, args...); code != 0 {
		t.Fatalf("clean verify: %d %s %s", code, out, errs)
	}
	mc, err := minio.New(m.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(m.AccessKey, m.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	key := "sha256/" + digests[0]
	ctx := context.Background()
	obj, err := mc.GetObject(ctx, "evidence", key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(obj)
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := mc.PutObject(ctx, "evidence", key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runVerify(t, args...)
	if code != 1 || !strings.Contains(out, "blob_corrupt") || !strings.Contains(out, digests[0]) {
		t.Fatalf("verify after tampering in the bucket: %d\n%s", code, out)
	}
}

// TestVerifyAPI: the quick unit check through the API finds a corrupted
// attachment, names it, and is scoped like a unit read.
func TestVerifyAPI(t *testing.T) {
	s := startServer(t, "")
	digests := fillLedger(t, s)
	type answer struct {
		OK     bool `json:"ok"`
		Report struct {
			Events   int
			Problems []struct{ Kind, Blob string }
		} `json:"report"`
	}
	var a answer
	s.get(t, s.Admin, "/api/v1/verify?unit=dongcun").decode(t, &a)
	if !a.OK || a.Report.Events != 3 {
		t.Fatalf("clean unit: %+v", a)
	}
	path := filepath.Join(s.Data, "blobs", "sha256", digests[0][:2], digests[0])
	os.Chmod(path, 0o644)
	b, _ := os.ReadFile(path)
	b[len(b)-1] ^= 0x80
	os.WriteFile(path, b, 0o644)
	s.get(t, s.Admin, "/api/v1/verify?unit=dongcun").decode(t, &a)
	if a.OK || len(a.Report.Problems) != 1 || a.Report.Problems[0].Kind != "blob_corrupt" || a.Report.Problems[0].Blob != digests[0] {
		t.Fatalf("corrupted attachment: %+v", a)
	}
	if r := s.get(t, s.Admin, "/api/v1/verify"); r.Status != 400 {
		t.Fatalf("no unit: %d", r.Status)
	}
	if r := s.get(t, s.Admin, "/api/v1/verify?unit=nocun"); r.Status != 404 {
		t.Fatalf("unknown unit: %d", r.Status)
	}
	s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": "xicun", "name": "西村", "type": "village"})
	var tok struct{ Token string }
	s.postJSON(t, s.Admin, "/api/v1/tokens", map[string]any{"role": "submitter", "unit": "xicun"}).decode(t, &tok)
	if r := s.get(t, tok.Token, "/api/v1/verify?unit=dongcun"); r.Status != 403 {
		t.Fatalf("another unit's submitter: %d", r.Status)
	}
}

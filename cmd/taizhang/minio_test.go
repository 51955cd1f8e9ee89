package main

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"taizhang/events"
	"taizhang/internal/testenv"
)

func minioArgs(m *testenv.MinIOServer) []string {
	return []string{"--s3-endpoint", m.Endpoint, "--s3-bucket", "evidence", "--s3-access-key", m.AccessKey, "--s3-secret-key", m.SecretKey}
}

// TestEndToEndMinIO runs the whole flow with a real MinIO as the blob store.
func TestEndToEndMinIO(t *testing.T) {
	m := testenv.MinIO(t)
	s := startServer(t, "", minioArgs(m)...)
	ledgerFlow(t, s)
}

// TestMinIODown stops MinIO mid-test: uploads answer 503, nothing is
// appended, and no event ever references a blob that is not stored; once
// MinIO is back the same submission succeeds.
func TestMinIODown(t *testing.T) {
	m := testenv.MinIO(t)
	s := startServer(t, "", minioArgs(m)...)
	s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": "cun", "name": "村", "type": "village"})
	ok := s.submit(t, s.Admin, "cun", map[string]any{"kind": "photo", "title": "before", "occurred_at": "2016-07-01"}, file{"a.png", pngPhoto(t, 9)})
	if ok.Status != 201 {
		t.Fatalf("submit: %d %s", ok.Status, ok.Body)
	}
	before := len(s.history(t, s.Admin, "cun", ""))

	m.Stop()
	id := uuid.NewString()
	photo := jpegPhoto(t, 77)
	meta := map[string]any{"id": id, "kind": "photo", "title": "during outage", "occurred_at": "2016-07-02"}
	r := s.submit(t, s.Admin, "cun", meta, file{"b.jpg", photo})
	if r.Status != 503 || r.errCode(t) != "unavailable" {
		t.Fatalf("submit with MinIO down: %d %s", r.Status, r.Body)
	}
	if got := len(s.history(t, s.Admin, "cun", "")); got != before {
		t.Fatalf("%d events appended while MinIO was down", got-before)
	}
	// Alive, and still ready (reads work, uploads answer an actionable
	// 503), with the blob store reported unreachable.
	if r := s.get(t, "", "/healthz"); r.Status != 200 {
		t.Fatalf("healthz with MinIO down: %d %s", r.Status, r.Body)
	}
	if r := s.get(t, "", "/readyz"); r.Status != 200 || !strings.Contains(string(r.Body), `"blobstore":"unreachable`) {
		t.Fatalf("readyz with MinIO down: %d %s", r.Status, r.Body)
	}
	sc := scrapeURL(t, s.URL+"/metrics")
	if n := sc.v("taizhang_blob_errors_total", "op", "put", "kind", "unavailable") + sc.v("taizhang_blob_errors_total", "op", "stat", "kind", "unavailable"); n < 1 {
		t.Errorf("no unavailable blob error counted: %v", sc["taizhang_blob_errors_total"])
	}

	m.Start(t)
	r = s.submit(t, s.Admin, "cun", meta, file{"b.jpg", photo})
	if r.Status != 201 {
		t.Fatalf("submit after MinIO is back: %d %s", r.Status, r.Body)
	}
	// Every attachment referenced by any event is stored and intact.
	for _, e := range s.history(t, s.Admin, "cun", "") {
		for _, a := range e.Attachments {
			if g := s.get(t, s.Admin, "/api/v1/blobs/"+a.SHA256); g.Status != 200 || int64(len(g.Body)) != a.Size {
				t.Fatalf("event %s references blob %s: %d", e.ID, a.SHA256, g.Status)
			}
		}
		if e.Type == events.TypeEvidenceSubmitted && e.ID.String() == id && len(e.Attachments) != 1 {
			t.Fatal("retried submission lost its attachment")
		}
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"taizhang/client"
	"taizhang/events"
)

// TestEndToEndEmbedded runs the whole ledger flow on the embedded default.
func TestEndToEndEmbedded(t *testing.T) {
	s := startServer(t, "")
	ledgerFlow(t, s)
}

// TestEndToEndWithoutHistoryCache: the same flow with every history read
// from the stream (--no-history-cache).
func TestEndToEndWithoutHistoryCache(t *testing.T) {
	s := startServer(t, "", "--no-history-cache")
	ledgerFlow(t, s)
}

// submitAnswer is a submission's receipt, as the client package reads it.
type submitAnswer = client.Receipt

type archiveAnswer struct {
	Unit struct {
		ID, Name string
	} `json:"unit"`
	Items []struct {
		ID          string `json:"id"`
		Title       string `json:"title"`
		Version     int    `json:"version"`
		Status      string `json:"status"`
		Attachments []struct {
			SHA256 string `json:"sha256"`
			Width  int    `json:"width"`
		} `json:"attachments"`
		Chain []struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"chain"`
	} `json:"items"`
}

// ledgerFlow: register, submit with two photos, resubmit, amend, retract,
// history, archive, blobs, restart.
func ledgerFlow(t *testing.T, s *server) {
	r := s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": "dongcun", "name": "東村村委會", "type": "village", "headcount": 1200})
	if r.Status != 201 {
		t.Fatalf("register unit: %d %s", r.Status, r.Body)
	}
	r = s.postJSON(t, s.Admin, "/api/v1/tokens", map[string]any{"role": "submitter", "unit": "dongcun", "user": "clerk-wang"})
	if r.Status != 201 {
		t.Fatalf("token: %d %s", r.Status, r.Body)
	}
	var tok struct{ Token string }
	r.decode(t, &tok)
	clerk := tok.Token

	photo1, photo2 := pngPhoto(t, 1), jpegPhoto(t, 2)
	evID := uuid.NewString()
	meta := map[string]any{"id": evID, "kind": "activity", "title": "端午節主題活動", "body": "包粽子", "occurred_at": "2016-06-09", "requirements": []string{"festival-duanwu"}}
	r = s.submit(t, clerk, "dongcun", meta, file{"粽子.png", photo1}, file{"合影.jpg", photo2})
	if r.Status != 201 {
		t.Fatalf("submit: %d %s", r.Status, r.Body)
	}
	first := r.Body
	var ans submitAnswer
	r.decode(t, &ans)
	if ans.ID != evID || ans.Sequence == 0 || len(ans.Hash) != 64 || len(ans.Attachments) != 2 {
		t.Fatalf("submit answer: %s", first)
	}
	if ans.Attachments[0].MediaType != "image/png" || ans.Attachments[1].MediaType != "image/jpeg" || ans.Attachments[1].Name != "合影.jpg" {
		t.Fatalf("attachments not sniffed or names not kept: %+v", ans.Attachments)
	}

	// The same id again: 200, the same body, nothing appended.
	r = s.submit(t, clerk, "dongcun", meta, file{"粽子.png", photo1}, file{"合影.jpg", photo2})
	if r.Status != 200 || !bytes.Equal(r.Body, first) {
		t.Fatalf("resubmit: %d %s, want 200 and %s", r.Status, r.Body, first)
	}
	if h := s.history(t, s.Admin, "dongcun", ""); len(h) != 2 {
		t.Fatalf("after resubmission: %d events, want 2", len(h))
	}

	// Amend (with a new photo) and retract, each with a reason.
	photo3 := pngPhoto(t, 3)
	ct, body := multipartOf(t, "amend", []byte(`{"title":"端午節包粽子活動","reason":"標題不準確","expected_version":1}`), file{"補充.png", photo3})
	r = s.do(t, clerk, "POST", "/api/v1/units/dongcun/evidence/"+evID+"/amend", ct, body)
	if r.Status != 200 {
		t.Fatalf("amend: %d %s", r.Status, r.Body)
	}
	r = s.postJSON(t, clerk, "/api/v1/units/dongcun/evidence/"+evID+"/retract", map[string]any{"reason": "與另一條重複", "expected_version": 2})
	if r.Status != 200 {
		t.Fatalf("retract: %d %s", r.Status, r.Body)
	}

	h := s.history(t, s.Admin, "dongcun", "")
	var types []events.Type
	for _, e := range h {
		types = append(types, e.Type)
	}
	if fmt.Sprint(types) != "[unit.registered evidence.submitted evidence.amended evidence.retracted]" {
		t.Fatalf("history: %v", types)
	}
	if err := events.VerifyChain(records(h)); err != nil {
		t.Fatalf("hash chain: %v", err)
	}
	if h[1].Actor.ID != "clerk-wang" || h[1].Actor.Role != events.RoleSubmitter {
		t.Fatalf("actor not recorded: %+v", h[1].Actor)
	}
	// As of the amendment: three events, and the archive shows the amended item, not yet retracted.
	asOf := h[2].RecordedAt.Format("2006-01-02T15:04:05.999999999Z07:00")
	if got := s.history(t, s.Admin, "dongcun", asOf); len(got) != 3 {
		t.Fatalf("history as of amendment: %d events", len(got))
	}
	r = s.get(t, s.Admin, "/api/v1/units/dongcun/archive?as_of="+asOf)
	var then archiveAnswer
	r.decode(t, &then)
	if len(then.Items) != 1 || then.Items[0].Status != "current" || then.Items[0].Version != 2 || then.Items[0].Title != "端午節包粽子活動" {
		t.Fatalf("archive as of amendment: %s", r.Body)
	}

	r = s.get(t, clerk, "/api/v1/units/dongcun/archive")
	if r.Status != 200 {
		t.Fatalf("archive: %d %s", r.Status, r.Body)
	}
	archive := r.Body
	var arch archiveAnswer
	r.decode(t, &arch)
	if len(arch.Items) != 1 {
		t.Fatalf("archive items: %s", archive)
	}
	it := arch.Items[0]
	if it.Status != "retracted" || it.Version != 3 || it.Title != "端午節包粽子活動" || len(it.Chain) != 3 ||
		it.Chain[1].Reason != "標題不準確" || it.Chain[2].Reason != "與另一條重複" || len(it.Attachments) != 3 || it.Attachments[0].Width != 64 {
		t.Fatalf("archive item: %s", archive)
	}

	// Blobs come back byte-identical with the sniffed type and an ETag.
	for _, want := range []struct {
		sha  string
		data []byte
		mt   string
	}{{ans.Attachments[0].SHA256, photo1, "image/png"}, {ans.Attachments[1].SHA256, photo2, "image/jpeg"}} {
		r = s.get(t, clerk, "/api/v1/blobs/"+want.sha)
		if r.Status != 200 || !bytes.Equal(r.Body, want.data) || r.Header.Get("Content-Type") != want.mt || !strings.Contains(r.Header.Get("ETag"), want.sha) {
			t.Fatalf("blob %s: %d %s etag %s, %d bytes", want.sha, r.Status, r.Header.Get("Content-Type"), r.Header.Get("ETag"), len(r.Body))
		}
	}

	// Restart on the same directory: the rebuilt archive is identical.
	s.restart(t)
	r = s.get(t, s.Admin, "/api/v1/units/dongcun/archive")
	if r.Status != 200 || !bytes.Equal(r.Body, archive) {
		t.Fatalf("archive after restart differs:\n%s\nwas\n%s", r.Body, archive)
	}
	h2 := s.history(t, s.Admin, "dongcun", "")
	a, _ := json.Marshal(h)
	b, _ := json.Marshal(h2)
	if !bytes.Equal(a, b) {
		t.Fatal("history after restart differs")
	}
	// The clerk's token survives the restart (tokens live in the KV bucket).
	if r := s.get(t, clerk, "/api/v1/units/dongcun"); r.Status != 200 {
		t.Fatalf("clerk after restart: %d %s", r.Status, r.Body)
	}
}

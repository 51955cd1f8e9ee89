package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestBadInput sends every kind of bad request and checks each gets a clear
// JSON error with the right status, and that nothing is appended.
func TestBadInput(t *testing.T) {
	s := startServer(t, "", "--max-file-mib", "1")
	for _, u := range []string{"dongcun", "xicun"} {
		if r := s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": u, "name": u, "type": "village"}); r.Status != 201 {
			t.Fatalf("register: %d %s", r.Status, r.Body)
		}
	}
	token := func(role, unit string) string {
		r := s.postJSON(t, s.Admin, "/api/v1/tokens", map[string]any{"role": role, "unit": unit})
		if r.Status != 201 {
			t.Fatalf("token: %d %s", r.Status, r.Body)
		}
		var tok struct{ Token string }
		r.decode(t, &tok)
		return tok.Token
	}
	clerk, other, inspector, supervisor := token("submitter", "dongcun"), token("submitter", "xicun"), token("inspector", ""), token("supervisor", "")

	evID := uuid.NewString()
	good := map[string]any{"id": evID, "kind": "study_note", "title": "集中學習", "occurred_at": "2016-07-05"}
	if r := s.submit(t, clerk, "dongcun", good); r.Status != 201 {
		t.Fatalf("good submit: %d %s", r.Status, r.Body)
	}
	count := func() int { return len(s.history(t, s.Admin, "dongcun", "")) + len(s.history(t, s.Admin, "xicun", "")) }
	before := count()

	big := bytes.Repeat([]byte("x"), 1<<20+1)
	bigSum := sha256.Sum256(big)
	future := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
	with := func(k string, v any) map[string]any {
		m := map[string]any{"kind": "activity", "title": "t", "occurred_at": "2016-07-05"}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name   string
		do     func() reply
		status int
		code   string
	}{
		{"malformed JSON", func() reply { return s.submit(t, clerk, "dongcun", `{"kind": "activity", "title":`) }, 400, "bad_request"},
		{"unknown field", func() reply { return s.submit(t, clerk, "dongcun", with("colour", "red")) }, 400, "bad_request"},
		{"trailing data", func() reply {
			return s.submit(t, clerk, "dongcun", `{"kind":"activity","title":"t","occurred_at":"2016-07-05"} {}`)
		}, 400, "bad_request"},
		{"missing kind", func() reply { return s.submit(t, clerk, "dongcun", with("kind", nil)) }, 400, "invalid"},
		{"missing occurred_at", func() reply { return s.submit(t, clerk, "dongcun", with("occurred_at", nil)) }, 400, "invalid"},
		{"missing title", func() reply { return s.submit(t, clerk, "dongcun", with("title", " ")) }, 400, "invalid"},
		{"unknown kind", func() reply { return s.submit(t, clerk, "dongcun", with("kind", "selfie")) }, 400, "invalid"},
		{"bad occurred_at", func() reply { return s.submit(t, clerk, "dongcun", with("occurred_at", "yesterday")) }, 400, "invalid"},
		{"future occurred_at", func() reply { return s.submit(t, clerk, "dongcun", with("occurred_at", future)) }, 400, "invalid"},
		{"bad evidence id", func() reply { return s.submit(t, clerk, "dongcun", with("id", "not-a-uuid")) }, 400, "invalid"},
		{"no evidence part", func() reply {
			ct, body := multipartOf(t, "evidence", nil, file{"a.txt", []byte("hello")})
			return s.do(t, clerk, "POST", "/api/v1/units/dongcun/evidence", ct, body)
		}, 400, "bad_request"},
		// JSON is accepted (the evidence itself, attachments by digest only); anything else not multipart is not.
		{"not multipart", func() reply {
			b, _ := json.Marshal(good)
			return s.do(t, clerk, "POST", "/api/v1/units/dongcun/evidence", "text/plain", bytes.NewReader(b))
		}, 400, "bad_request"},
		{"JSON with an unknown field", func() reply {
			b, _ := json.Marshal(with("colour", "red"))
			return s.do(t, clerk, "POST", "/api/v1/units/dongcun/evidence", "application/json", bytes.NewReader(b))
		}, 400, "bad_request"},
		{"unknown unit", func() reply { return s.submit(t, s.Admin, "nocun", with("kind", "activity")) }, 404, "not_found"},
		{"bad unit id", func() reply { return s.submit(t, s.Admin, "Dong.Cun", with("kind", "activity")) }, 400, "invalid"},
		{"attachment over the limit", func() reply {
			return s.submit(t, clerk, "dongcun", with("kind", "photo"), file{"ok.txt", []byte("fine")}, file{"huge.bin", big})
		}, 413, "too_large"},
		{"program disguised as a photo", func() reply {
			return s.submit(t, clerk, "dongcun", with("kind", "photo"), file{"ok.png", pngPhoto(t, 1)}, file{"photo.jpg", []byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00")})
		}, 415, "unsupported_media_type"},
		{"web page disguised as a PDF", func() reply {
			return s.submit(t, clerk, "dongcun", with("kind", "document"), file{"report.pdf", []byte("<html><script>alert(1)</script></html>")})
		}, 415, "unsupported_media_type"},
		{"token for another unit", func() reply { return s.submit(t, other, "dongcun", with("kind", "activity")) }, 403, "forbidden"},
		{"inspector cannot submit", func() reply { return s.submit(t, inspector, "dongcun", with("kind", "activity")) }, 403, "forbidden"},
		{"supervisor cannot submit", func() reply { return s.submit(t, supervisor, "dongcun", with("kind", "activity")) }, 403, "forbidden"},
		{"no token", func() reply { return s.submit(t, "", "dongcun", with("kind", "activity")) }, 401, "unauthenticated"},
		{"unknown token", func() reply { return s.submit(t, "tz_nonsense", "dongcun", with("kind", "activity")) }, 401, "unauthenticated"},
		{"stale expected_version", func() reply {
			return s.postJSON(t, clerk, "/api/v1/units/dongcun/evidence/"+evID+"/amend", map[string]any{"title": "x", "reason": "r", "expected_version": 7})
		}, 409, "conflict"},
		{"amend without reason", func() reply {
			return s.postJSON(t, clerk, "/api/v1/units/dongcun/evidence/"+evID+"/amend", map[string]any{"title": "x", "expected_version": 1})
		}, 400, "invalid"},
		{"amend without expected_version", func() reply {
			return s.postJSON(t, clerk, "/api/v1/units/dongcun/evidence/"+evID+"/amend", map[string]any{"title": "x", "reason": "r"})
		}, 400, "invalid"},
		{"amend changing nothing", func() reply {
			return s.postJSON(t, clerk, "/api/v1/units/dongcun/evidence/"+evID+"/amend", map[string]any{"reason": "r", "expected_version": 1})
		}, 400, "invalid"},
		{"retract by another unit", func() reply {
			return s.postJSON(t, other, "/api/v1/units/dongcun/evidence/"+evID+"/retract", map[string]any{"reason": "r", "expected_version": 1})
		}, 403, "forbidden"},
		{"retract unknown evidence", func() reply {
			return s.postJSON(t, clerk, "/api/v1/units/dongcun/evidence/"+uuid.NewString()+"/retract", map[string]any{"reason": "r", "expected_version": 1})
		}, 404, "not_found"},
		{"retract with changes", func() reply {
			return s.postJSON(t, clerk, "/api/v1/units/dongcun/evidence/"+evID+"/retract", map[string]any{"reason": "r", "expected_version": 1, "title": "x"})
		}, 400, "invalid"},
		{"same evidence id in another unit", func() reply { return s.submit(t, other, "xicun", good) }, 409, "exists"},
		{"submitter reads another unit", func() reply { return s.get(t, other, "/api/v1/units/dongcun/archive") }, 403, "forbidden"},
		{"submitter registers a unit", func() reply {
			return s.postJSON(t, clerk, "/api/v1/units", map[string]any{"id": "x", "name": "x", "type": "village"})
		}, 403, "forbidden"},
		{"unit registered twice", func() reply {
			return s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": "dongcun", "name": "x", "type": "village"})
		}, 409, "exists"},
		{"unit with unknown parent", func() reply {
			return s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": "nan", "name": "x", "type": "village", "parent": "nowhere"})
		}, 400, "invalid"},
		{"bad as_of", func() reply { return s.get(t, s.Admin, "/api/v1/units/dongcun/history?as_of=soon") }, 400, "bad_request"},
		{"bad blob digest", func() reply { return s.get(t, s.Admin, "/api/v1/blobs/xyz") }, 400, "invalid"},
		{"unknown blob", func() reply { return s.get(t, s.Admin, "/api/v1/blobs/"+strings.Repeat("ab", 32)) }, 404, "not_found"},
		{"no such route", func() reply { return s.get(t, s.Admin, "/api/v1/nothing") }, 404, "not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.do()
			if r.Status != c.status {
				t.Fatalf("status %d, want %d: %s", r.Status, c.status, r.Body)
			}
			if code := r.errCode(t); code != c.code {
				t.Fatalf("code %q, want %q: %s", code, c.code, r.Body)
			}
			if got := count(); got != before {
				t.Fatalf("%d events appended by a refused request", got-before)
			}
			if r.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Fatal("security headers missing")
			}
		})
	}
	// Neither the oversize nor the disguised attachment was stored.
	exeSum := sha256.Sum256([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00"))
	for _, sum := range [][32]byte{bigSum, exeSum} {
		if r := s.get(t, s.Admin, "/api/v1/blobs/"+hex.EncodeToString(sum[:])); r.Status != 404 {
			t.Fatalf("refused attachment %x stored: %d", sum, r.Status)
		}
	}
}

// TestHistoryAsOfRecordedTime checks "as of T" is about recorded time: an
// item recorded after T is absent even if it claims an earlier date.
func TestHistoryAsOfRecordedTime(t *testing.T) {
	s := startServer(t, "")
	s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": "cun", "name": "村", "type": "village"})
	r := s.submit(t, s.Admin, "cun", map[string]any{"kind": "activity", "title": "first", "occurred_at": "2016-07-01"})
	var a submitAnswer
	r.decode(t, &a)
	h := s.history(t, s.Admin, "cun", "")
	cut := h[len(h)-1].RecordedAt
	time.Sleep(2 * time.Millisecond) // recorded times must differ; not a timing assertion
	s.submit(t, s.Admin, "cun", map[string]any{"kind": "activity", "title": "backfilled", "occurred_at": "2016-06-01"})
	r = s.get(t, s.Admin, "/api/v1/units/cun/archive?as_of="+cut.Format(time.RFC3339Nano))
	var arch archiveAnswer
	r.decode(t, &arch)
	if len(arch.Items) != 1 || arch.Items[0].Title != "first" {
		t.Fatalf("archive as of %s: %s", cut, r.Body)
	}
	r = s.get(t, s.Admin, "/api/v1/units/cun/archive?as_of=2000-01-01")
	if r.Status != http.StatusNotFound {
		t.Fatalf("archive before registration: %d %s", r.Status, r.Body)
	}
	var all archiveAnswer
	s.get(t, s.Admin, "/api/v1/units/cun/archive").decode(t, &all)
	if len(all.Items) != 2 {
		b, _ := json.Marshal(all)
		t.Fatal(fmt.Sprint("archive now: ", string(b)))
	}
}

// TestCorruptBlobNeverServed alters stored attachment bytes on disk behind
// the server's back: a small blob answers 500 "corrupt", a large one cuts
// the connection, and neither is ever delivered as a good download.
func TestCorruptBlobNeverServed(t *testing.T) {
	s := startServer(t, "")
	s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": "cun", "name": "村", "type": "village"})
	small := pngPhoto(t, 3)
	large := append(pngPhoto(t, 4), bytes.Repeat([]byte{7}, 3<<20)...)
	r := s.submit(t, s.Admin, "cun", map[string]any{"kind": "photo", "title": "t", "occurred_at": "2016-07-01"}, file{"s.png", small}, file{"l.png", large})
	var a submitAnswer
	r.decode(t, &a)
	for _, at := range a.Attachments {
		path := filepath.Join(s.Data, "blobs", "sha256", at.SHA256[:2], at.SHA256)
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteAt([]byte("tampered"), at.Size-8)
		f.Close()
	}
	r = s.get(t, s.Admin, "/api/v1/blobs/"+a.Attachments[0].SHA256)
	if r.Status != 500 || r.errCode(t) != "corrupt" {
		t.Fatalf("corrupt small blob: %d %s", r.Status, r.Body)
	}
	resp, err := http.DefaultClient.Do(mustRequest(t, s, "/api/v1/blobs/"+a.Attachments[1].SHA256))
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("corrupt large blob downloaded without an error")
	}
}

func mustRequest(t *testing.T, s *server, path string) *http.Request {
	req, err := http.NewRequest("GET", s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Admin)
	return req
}

package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"taizhang/client"
	"taizhang/gate"
)

// TestHeadersMatchServer: the client's read-your-writes headers are the
// server's.
func TestHeadersMatchServer(t *testing.T) {
	if client.HeaderSeq != gate.HeaderSeq || client.HeaderMinSeq != gate.HeaderMinSeq {
		t.Fatalf("client headers %q %q, server's %q %q", client.HeaderSeq, client.HeaderMinSeq, gate.HeaderSeq, gate.HeaderMinSeq)
	}
}

// TestDoReadsItsWrites: every request carries the token and the client
// kind; after an answer with X-Taizhang-Seq, later requests ask for at
// least that sequence (never less, even after a smaller one); an error
// answer comes back as *Error with the server's code, message and request
// id, and a body that is not JSON as its text.
func TestDoReadsItsWrites(t *testing.T) {
	var mu sync.Mutex
	var minSeqs []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tz_secret" || r.Header.Get("X-Taizhang-Client") != "cli" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		minSeqs = append(minSeqs, r.Header.Get(client.HeaderMinSeq))
		mu.Unlock()
		switch r.URL.Path {
		case "/write":
			w.Header().Set(client.HeaderSeq, r.URL.Query().Get("seq"))
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"id":"e1","sequence":7}`)
		case "/refuse":
			w.Header().Set("X-Request-Id", "req-42")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"error":{"code":"forbidden","message":"this unit is outside your scope"}}`)
		case "/proxy":
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "upstream gone\n")
		default:
			_, _ = io.WriteString(w, `{"ok":true}`)
		}
	}))
	defer srv.Close()
	c, err := client.New(srv.URL+"/", "tz_secret")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ok struct{ OK bool }
	if st, err := c.Get(ctx, "/read", &ok); err != nil || st != 200 || !ok.OK {
		t.Fatalf("Get: %d %v %+v", st, err, ok)
	}
	var rec client.Receipt
	if st, err := c.PostJSON(ctx, "/write?seq=7", map[string]string{"a": "b"}, &rec); err != nil || st != 201 || rec.Sequence != 7 {
		t.Fatalf("PostJSON: %d %v %+v", st, err, rec)
	}
	if _, err := c.PostJSON(ctx, "/write?seq=5", nil, nil); err != nil {
		t.Fatal(err)
	}
	var raw json.RawMessage
	if _, err := c.Get(ctx, "/read", &raw); err != nil || string(raw) != `{"ok":true}` {
		t.Fatalf("Get raw: %q %v", raw, err)
	}
	mu.Lock()
	if want := []string{"", "", "7", "7"}; strings.Join(minSeqs, ",") != strings.Join(want, ",") {
		t.Errorf("min seqs sent %q, want %q", minSeqs, want)
	}
	mu.Unlock()
	if c.Seq() != 7 {
		t.Errorf("Seq() = %d, want 7", c.Seq())
	}

	_, err = c.Get(ctx, "/refuse", nil)
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Status != 403 || ae.Code != "forbidden" || ae.RequestID != "req-42" ||
		!strings.Contains(err.Error(), "outside your scope") || client.Retryable(err) {
		t.Errorf("refusal: %#v (%v)", ae, err)
	}
	_, err = c.Get(ctx, "/proxy", nil)
	if !errors.As(err, &ae) || ae.Message != "upstream gone" || !client.Retryable(err) {
		t.Errorf("a 502 with a text body: %v", err)
	}
	if _, err := c.Stream(ctx, "/refuse"); !errors.As(err, &ae) || ae.Status != 403 {
		t.Errorf("Stream of a refusal: %v", err)
	}
	resp, err := c.Stream(ctx, "/read")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != `{"ok":true}` {
		t.Errorf("Stream read %q", b)
	}
	if client.Retryable(context.Canceled) || !client.Retryable(errors.New("connection refused")) {
		t.Error("Retryable: a cancelled request is retried, or a network failure is not")
	}
	for _, bad := range []string{"ftp://x", "http://", "::"} {
		if _, err := client.New(bad, "t"); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
	if _, err := client.New(srv.URL, ""); err == nil {
		t.Error("New without a token accepted")
	}
}

// TestSubmitRetries: a submission answered 503 is sent again, whole and
// with the same id, until it is answered; the files arrive as parts named
// attachment with their base names, after the JSON part.
func TestSubmitRetries(t *testing.T) {
	dir := t.TempDir()
	photo := filepath.Join(dir, "相片.jpg")
	if err := os.WriteFile(photo, []byte("jpeg bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var ids []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mr, err := r.MultipartReader()
		if err != nil {
			t.Errorf("not multipart: %v", err)
			return
		}
		p, err := mr.NextPart()
		if err != nil || p.FormName() != "evidence" {
			t.Errorf("first part %v %v", p, err)
			return
		}
		var meta struct{ ID string }
		_ = json.NewDecoder(p).Decode(&meta)
		p, err = mr.NextPart()
		if err != nil || p.FormName() != "attachment" || p.FileName() != "相片.jpg" {
			t.Errorf("second part %v %v", p, err)
			return
		}
		if b, _ := io.ReadAll(p); string(b) != "jpeg bytes" {
			t.Errorf("attachment bytes %q", b)
		}
		mu.Lock()
		ids = append(ids, meta.ID)
		n := len(ids)
		mu.Unlock()
		if n < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"error":{"code":"unavailable","message":"the ledger is unavailable"}}`)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"id":"`+meta.ID+`","sequence":3,"attachments":[{"name":"相片.jpg","size":10}]}`)
	}))
	defer srv.Close()
	c, err := client.New(srv.URL, "tz_x")
	if err != nil {
		t.Fatal(err)
	}
	var retried []time.Duration
	rec, st, err := c.Submit(context.Background(), "cun-1", map[string]any{"id": "ev-1", "title": "端午"}, []string{photo}, 5,
		func(err error, wait time.Duration) { retried = append(retried, wait) })
	if err != nil || st != 201 || rec.ID != "ev-1" || len(rec.Attachments) != 1 {
		t.Fatalf("Submit: %d %v %+v", st, err, rec)
	}
	if strings.Join(ids, ",") != "ev-1,ev-1,ev-1" || len(retried) != 2 || retried[0] >= retried[1] {
		t.Errorf("sent ids %v, retries %v", ids, retried)
	}
	// With no retries left the 503 is returned, and a missing file is
	// refused before anything is sent.
	ids = nil
	if _, _, err := c.Submit(context.Background(), "cun-1", map[string]any{"id": "ev-2"}, []string{photo}, 0, nil); !client.Retryable(err) {
		t.Errorf("Submit with no retries: %v", err)
	}
	if _, _, err := c.Submit(context.Background(), "cun-1", map[string]any{"id": "ev-3"}, []string{filepath.Join(dir, "missing.jpg")}, 0, nil); err == nil || len(ids) != 1 {
		t.Errorf("Submit of a missing file: %v, %d requests", err, len(ids))
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"taizhang/events"
	"taizhang/httpserver/servertest"
	"taizhang/internal/testenv"
)

// server is a `taizhang serve` run in-process by Run, on a free port.
type server struct {
	URL   string
	Admin string
	Data  string
	args  []string

	cancel context.CancelFunc
	done   chan int
	log    *syncBuffer

	// ryw sends every request with the largest X-Taizhang-Seq this server
	// has answered the test's requests with as X-Taizhang-Min-Seq, as the
	// CLI does: an answer to a write does not wait for the projection
	// (see doWith).
	ryw servertest.ReadYourWrites
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServer runs serve on a temp data dir (or data, if given) with extra
// flags and waits until /readyz answers 200 (under --demo: /healthz).
func startServer(t *testing.T, data string, extra ...string) *server {
	t.Helper()
	if data == "" {
		data = t.TempDir()
	}
	s := &server{Data: data, args: extra}
	s.start(t)
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *server) start(t *testing.T) {
	t.Helper()
	addrFile := filepath.Join(t.TempDir(), "addr")
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done, s.log = cancel, make(chan int, 1), &syncBuffer{}
	args := append([]string{"serve", "--data", s.Data, "--addr", "127.0.0.1:0", "--addr-file", addrFile}, s.args...)
	go func() { s.done <- Run(ctx, args, nil, io.Discard, s.log) }()
	testenv.Eventually(t, 60*time.Second, func() error {
		select {
		case code := <-s.done:
			s.done <- code
			t.Fatalf("serve exited with %d:\n%s", code, s.log.String())
		default:
		}
		b, err := os.ReadFile(addrFile)
		if err != nil || len(b) == 0 {
			return fmt.Errorf("no address yet")
		}
		s.URL = "http://" + string(b)
		// Ready, except under --demo, whose tests watch it load
		// (waitDemo waits for /readyz).
		probe := "/readyz"
		if slices.Contains(s.args, "--demo") {
			probe = "/healthz"
		}
		resp, err := http.Get(s.URL + probe)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s %d", probe, resp.StatusCode)
		}
		return nil
	})
	tok, err := os.ReadFile(filepath.Join(s.Data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	s.Admin = strings.TrimSpace(string(tok))
}

// stop shuts serve down cleanly and checks it exited 0.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case code := <-s.done:
		if code != 0 {
			t.Errorf("serve exited with %d:\n%s", code, s.log.String())
		}
	case <-time.After(60 * time.Second):
		t.Errorf("serve did not stop:\n%s", s.log.String())
	}
}

func (s *server) restart(t *testing.T) {
	t.Helper()
	s.stop(t)
	s.start(t)
}

// reply is an HTTP answer.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// errCode returns the error code of a JSON error answer, checking its shape.
func (r reply) errCode(t *testing.T) string {
	t.Helper()
	var e struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &e); err != nil || e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("not a JSON error answer (status %d): %s", r.Status, r.Body)
	}
	return e.Error.Code
}

func (s *server) do(t *testing.T, token, method, path, contentType string, body io.Reader) reply {
	t.Helper()
	return s.doWith(t, token, method, path, contentType, body, nil)
}

// doWith is do with extra request headers hdr. The request carries the
// read-your-writes minimum (servertest.ReadYourWrites.Do): a read after a
// write sees it.
func (s *server) doWith(t *testing.T, token, method, path, contentType string, body io.Reader, hdr http.Header) reply {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header[http.CanonicalHeaderKey(k)] = v
	}
	resp, b := s.ryw.Do(t, http.DefaultClient, req)
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func (s *server) get(t *testing.T, token, path string) reply {
	t.Helper()
	return s.do(t, token, http.MethodGet, path, "", nil)
}

func (s *server) postJSON(t *testing.T, token, path string, v any) reply {
	t.Helper()
	b, _ := json.Marshal(v)
	return s.do(t, token, http.MethodPost, path, "application/json", bytes.NewReader(b))
}

type file struct {
	name string
	data []byte
}

// multipartBody builds a body with a JSON part (raw bytes) and file parts.
func multipartOf(t *testing.T, metaName string, meta []byte, files ...file) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if meta != nil {
		w, _ := mw.CreateFormField(metaName)
		w.Write(meta)
	}
	for _, f := range files {
		w, _ := mw.CreateFormFile("attachment", f.name)
		w.Write(f.data)
	}
	mw.Close()
	return mw.FormDataContentType(), &buf
}

func (s *server) submit(t *testing.T, token, unit string, meta any, files ...file) reply {
	t.Helper()
	var raw []byte
	switch m := meta.(type) {
	case []byte:
		raw = m
	case string:
		raw = []byte(m)
	default:
		raw, _ = json.Marshal(m)
	}
	ct, body := multipartOf(t, "evidence", raw, files...)
	return s.do(t, token, http.MethodPost, "/api/v1/units/"+unit+"/evidence", ct, body)
}

// history returns a unit's events as the API gives them.
func (s *server) history(t *testing.T, token, unit, asOf string) []historyEntry {
	t.Helper()
	path := "/api/v1/units/" + unit + "/history"
	if asOf != "" {
		path += "?as_of=" + asOf
	}
	r := s.get(t, token, path)
	if r.Status != 200 {
		t.Fatalf("history: %d %s", r.Status, r.Body)
	}
	var h struct {
		Events []historyEntry `json:"events"`
	}
	r.decode(t, &h)
	return h.Events
}

type historyEntry struct {
	Seq uint64 `json:"seq"`
	events.Event
}

func records(h []historyEntry) []events.Record {
	out := make([]events.Record, len(h))
	for i := range h {
		out[i] = events.Record{Seq: h[i].Seq, Event: &h[i].Event}
	}
	return out
}

func pngPhoto(t *testing.T, seed uint8) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for x := 0; x < 64; x++ {
		for y := 0; y < 48; y++ {
			img.Set(x, y, color.RGBA{seed, uint8(x * 4), uint8(y * 5), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegPhoto(t *testing.T, seed uint8) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 80, 60))
	for x := 0; x < 80; x++ {
		for y := 0; y < 60; y++ {
			img.Set(x, y, color.RGBA{uint8(x * 3), seed, uint8(y * 4), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func verifyChain(h []historyEntry) error { return events.VerifyChain(records(h)) }

package services

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"taizhang/blobstore"
	"taizhang/blobstore/dir"
	"taizhang/events"
	"taizhang/services/thumb"
)

// memTokens is a TokenStore in memory, for handler tests that need no
// ledger.
type memTokens struct {
	mu sync.Mutex
	m  map[TokenHash]Principal
}

func (t *memTokens) Put(_ context.Context, h TokenHash, p Principal) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[TokenHash]Principal{}
	}
	t.m[h] = p
	return nil
}

func (t *memTokens) Get(_ context.Context, h TokenHash) (Principal, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.m[h]
	if !ok {
		return Principal{}, ErrUnknownToken
	}
	return p, nil
}

// blobServer is a Server with a directory blob store and no ledger, and a
// token of the given role.
func blobServer(t testing.TB, role events.Role) (*Server, *dir.Store, string) {
	t.Helper()
	st, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	toks := &memTokens{}
	tok := "tz_test-" + string(role)
	_ = toks.Put(context.Background(), HashToken(tok), Principal{User: "u", Role: role, Unit: "dongcun"})
	s := New(nil, st, nil, toks, Config{TempDir: t.TempDir(), ThumbDir: t.TempDir()}, nil)
	return s, st, tok
}

func storeBytes(t testing.TB, st blobstore.Store, b []byte) string {
	t.Helper()
	rec, err := blobstore.Receive(context.Background(), st, bytes.NewReader(b), blobstore.ReceiveOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return rec.Ref.String()
}

func testJPEG(t testing.TB, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	img.Set(0, 0, color.White)
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func get(s http.Handler, path, tok string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", path, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

func TestThumbHandler(t *testing.T) {
	s, st, tok := blobServer(t, events.RoleSubmitter)
	photo := storeBytes(t, st, testJPEG(t, 1000, 750))
	text := storeBytes(t, st, []byte("a plain text document\n"))

	rec := get(s, "/thumbs/"+photo+"?w=240", tok)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	h := rec.Header()
	if h.Get("Content-Type") != "image/jpeg" || h.Get("Cache-Control") != "private, max-age=31536000, immutable" {
		t.Errorf("headers: %v", h)
	}
	ref, _ := blobstore.ParseRef(photo)
	if h.Get("ETag") != thumb.ETag(ref, 240) {
		t.Errorf("ETag %q", h.Get("ETag"))
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(rec.Body.Bytes()))
	if err != nil || cfg.Width != 240 || cfg.Height != 180 {
		t.Errorf("thumbnail %dx%d (%v), want 240x180", cfg.Width, cfg.Height, err)
	}
	first := rec.Body.Bytes()
	if again := get(s, "/thumbs/"+photo+"?w=240", tok); !bytes.Equal(again.Body.Bytes(), first) {
		t.Error("the cached thumbnail differs from the first answer")
	}
	if s.thumbs.Decodes() != 1 {
		t.Errorf("%d decodes for two requests, want 1", s.thumbs.Decodes())
	}
	if rec := get(s, "/thumbs/"+photo+"?w=240", tok, "If-None-Match", h.Get("ETag")); rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Errorf("If-None-Match: %d", rec.Code)
	}
	if rec := get(s, "/thumbs/"+photo, tok); rec.Code != 200 || rec.Header().Get("ETag") != thumb.ETag(ref, 240) {
		t.Errorf("no width: %d %q, want the 240 thumbnail", rec.Code, rec.Header().Get("ETag"))
	}
	if rec := get(s, "/thumbs/"+photo+"?w=960", tok); rec.Code != 200 {
		t.Errorf("w=960: %d", rec.Code)
	} else if cfg, _ := jpeg.DecodeConfig(rec.Body); cfg.Width != 960 {
		t.Errorf("w=960 gave width %d", cfg.Width)
	}
	for _, tc := range []struct {
		path, tok string
		want      int
	}{
		{"/thumbs/" + photo + "?w=500", tok, 400},
		{"/thumbs/" + photo + "?w=0", tok, 400},
		{"/thumbs/" + photo + "?w=x", tok, 400},
		{"/thumbs/ABC", tok, 400},
		{"/thumbs/" + text, tok, 415},
		{"/thumbs/" + blobstore.RefOf([]byte("none")).String(), tok, 404},
		{"/thumbs/" + photo, "", 401},
		{"/thumbs/" + photo, "tz_unknown", 401},
	} {
		rec := get(s, tc.path, tc.tok)
		if rec.Code != tc.want {
			t.Errorf("%s: %d, want %d: %s", tc.path, rec.Code, tc.want, rec.Body)
		}
		if rec.Code != 200 && rec.Header().Get("Cache-Control") != "" {
			t.Errorf("%s: an error is cached: %q", tc.path, rec.Header().Get("Cache-Control"))
		}
	}
}

func BenchmarkThumbCachedHit(b *testing.B) {
	s, st, tok := blobServer(b, events.RoleInspector)
	path := "/thumbs/" + storeBytes(b, st, testJPEG(b, 1600, 1200)) + "?w=240"
	if rec := get(s, path, tok); rec.Code != 200 {
		b.Fatal(rec.Code)
	}
	for b.Loop() {
		if rec := get(s, path, tok); rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

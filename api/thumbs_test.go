package api

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"testing"

	"taizhang/blobstore"
	"taizhang/blobstore/dir"
	"taizhang/thumb"
)

// thumbServer is the thumbnail handler of a Service with a directory blob
// store and no ledger, behind a mux with its route (authentication and
// authorisation are the gate's, tested with the other routes).
func thumbServer(t testing.TB) (*Service, http.Handler, *dir.Store) {
	t.Helper()
	st, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := New(Deps{Blobs: st}, Config{TempDir: t.TempDir(), ThumbDir: t.TempDir()})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /thumbs/{sha256}", s.Thumb)
	return s, mux, st
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

func get(s http.Handler, path string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

func TestThumbHandler(t *testing.T) {
	s, h, st := thumbServer(t)
	photo := storeBytes(t, st, testJPEG(t, 1000, 750))
	text := storeBytes(t, st, []byte("a plain text document\n"))

	rec := get(h, "/thumbs/"+photo+"?w=240")
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	hdr := rec.Header()
	if hdr.Get("Content-Type") != "image/jpeg" || hdr.Get("Cache-Control") != "private, max-age=31536000, immutable" {
		t.Errorf("headers: %v", hdr)
	}
	ref, _ := blobstore.ParseRef(photo)
	if hdr.Get("ETag") != thumb.ETag(ref, 240) {
		t.Errorf("ETag %q", hdr.Get("ETag"))
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(rec.Body.Bytes()))
	if err != nil || cfg.Width != 240 || cfg.Height != 180 {
		t.Errorf("thumbnail %dx%d (%v), want 240x180", cfg.Width, cfg.Height, err)
	}
	first := rec.Body.Bytes()
	if again := get(h, "/thumbs/"+photo+"?w=240"); !bytes.Equal(again.Body.Bytes(), first) {
		t.Error("the cached thumbnail differs from the first answer")
	}
	if s.thumbs.Decodes() != 1 {
		t.Errorf("%d decodes for two requests, want 1", s.thumbs.Decodes())
	}
	if rec := get(h, "/thumbs/"+photo+"?w=240", "If-None-Match", hdr.Get("ETag")); rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Errorf("If-None-Match: %d", rec.Code)
	}
	if rec := get(h, "/thumbs/"+photo); rec.Code != 200 || rec.Header().Get("ETag") != thumb.ETag(ref, 240) {
		t.Errorf("no width: %d %q, want the 240 thumbnail", rec.Code, rec.Header().Get("ETag"))
	}
	if rec := get(h, "/thumbs/"+photo+"?w=960"); rec.Code != 200 {
		t.Errorf("w=960: %d", rec.Code)
	} else if cfg, _ := jpeg.DecodeConfig(rec.Body); cfg.Width != 960 {
		t.Errorf("w=960 gave width %d", cfg.Width)
	}
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/thumbs/" + photo + "?w=500", 400},
		{"/thumbs/" + photo + "?w=0", 400},
		{"/thumbs/" + photo + "?w=x", 400},
		{"/thumbs/ABC", 400},
		{"/thumbs/" + text, 415},
		{"/thumbs/" + blobstore.RefOf([]byte("none")).String(), 404},
	} {
		rec := get(h, tc.path)
		if rec.Code != tc.want {
			t.Errorf("%s: %d, want %d: %s", tc.path, rec.Code, tc.want, rec.Body)
		}
		if rec.Code != 200 && rec.Header().Get("Cache-Control") != "" {
			t.Errorf("%s: an error is cached: %q", tc.path, rec.Header().Get("Cache-Control"))
		}
	}
}

func BenchmarkThumbCachedHit(b *testing.B) {
	_, h, st := thumbServer(b)
	path := "/thumbs/" + storeBytes(b, st, testJPEG(b, 1600, 1200)) + "?w=240"
	if rec := get(h, path); rec.Code != 200 {
		b.Fatal(rec.Code)
	}
	for b.Loop() {
		if rec := get(h, path); rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

package api

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"taizhang/blobstore"
	"taizhang/blobstore/dir"
	"taizhang/events"
	"taizhang/gate"
	"taizhang/media"
	"taizhang/param"
)

func TestCheckFileName(t *testing.T) {
	for _, ok := range []string{"", "a.png", "合影.jpg", "report..pdf", ".hidden", "a b (1).txt"} {
		if err := checkFileName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"../a.png", `..\a.png`, "..", ".", "/etc/passwd", "a/b", "a\x00b", "a\nb", "a\x7fb", "a\u202egnp.exe", "\xff.png", strings.Repeat("x", 256)} {
		if err := checkFileName(bad); !errors.Is(err, param.ErrBadRequest) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// fuzzServer is a Service with only what readUpload needs: a real
// directory blob store and tight limits.
func fuzzServer(t testing.TB) (*Service, string) {
	root := t.TempDir()
	blobs, err := dir.New(filepath.Join(root, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(root, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	s := New(Deps{Blobs: blobs}, Config{MaxFileSize: 64 << 10, MaxRequestSize: 256 << 10, MaxFiles: 3, MaxJSONSize: 1 << 10,
		MaxPixels: 1 << 16, TempDir: tmp})
	return s, root
}

func countFiles(t testing.TB, root string) int {
	n := 0
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

const fuzzBoundary = "fuzzfuzzfuzz"

func uploadBody(meta string, files map[string][]byte) []byte {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.SetBoundary(fuzzBoundary)
	w, _ := mw.CreateFormField("evidence")
	w.Write([]byte(meta))
	for name, data := range files {
		w, _ := mw.CreateFormFile("attachment", name)
		w.Write(data)
	}
	mw.Close()
	return b.Bytes()
}

// FuzzReadUpload: no multipart body makes the evidence upload decoder
// panic; every refusal is a 4xx kind; a refused body leaves the blob store
// and the spool directory empty; an accepted one has only allowed, sniffed
// attachments within the limits, and stores them only on commit.
func FuzzReadUpload(f *testing.F) {
	png := func() []byte {
		var b bytes.Buffer
		b.Write([]byte("\x89PNG\r\n\x1a\n"))
		return b.Bytes()
	}
	f.Add(uploadBody(`{"kind":"photo","title":"t","occurred_at":"2016-07-01"}`, map[string][]byte{"a.txt": []byte("hello")}))
	f.Add(uploadBody(`{}`, map[string][]byte{"../x.png": png(), "b.pdf": []byte("%PDF-1.4\n")}))
	f.Add(uploadBody(`{}`, map[string][]byte{"photo.jpg": []byte("#!/bin/sh\n")}))
	f.Add([]byte("--" + fuzzBoundary + "\r\nContent-Disposition: form-data; name=\"attachment\"; filename*=UTF-8''a%00b\r\n\r\nx\r\n--" + fuzzBoundary + "--\r\n"))
	s, root := fuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "/api/v1/units/u/evidence", bytes.NewReader(body))
		r.Header.Set("Content-Type", "multipart/form-data; boundary="+fuzzBoundary)
		w := httptest.NewRecorder()
		up, _, err := s.readUpload(w, r, "evidence", nil)
		if err != nil {
			status, _ := gate.StatusOf(err)
			var mbe *http.MaxBytesError
			if status < 400 || status >= 500 {
				if !errors.As(err, &mbe) {
					t.Fatalf("status %d for %v", status, err)
				}
			}
			if n := countFiles(t, root); n != 0 {
				t.Fatalf("a refused upload left %d files: %v", n, err)
			}
			return
		}
		defer func() {
			up.Close()
			// The next input starts from an empty store.
			filepath.WalkDir(filepath.Join(root, "blobs"), func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					os.Chmod(p, 0o600)
					os.Remove(p)
				}
				return nil
			})
		}()
		if len(up.attachments) > 3 || int64(len(up.meta)) > s.cfg.MaxJSONSize {
			t.Fatalf("accepted %d attachments, %d bytes of JSON", len(up.attachments), len(up.meta))
		}
		for _, a := range up.attachments {
			if !media.Allowed[a.MediaType] || a.Size > 64<<10 || checkFileName(a.Name) != nil || len([]rune(a.Name)) > events.MaxAttachmentName {
				t.Fatalf("accepted %+v", a)
			}
			if int64(a.Width)*int64(a.Height) > 1<<16 {
				t.Fatalf("accepted a %d×%d image", a.Width, a.Height)
			}
		}
		if n := countFiles(t, filepath.Join(root, "blobs")); n != 0 {
			t.Fatalf("%d blobs stored before commit", n)
		}
		if err := up.Commit(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, a := range up.attachments {
			ref, _ := blobstore.ParseRef(a.SHA256)
			if _, err := s.blobs.Stat(context.Background(), ref); err != nil {
				t.Fatalf("committed %s not stored: %v", a.SHA256, err)
			}
		}
	})
}

package api

import (
	"bytes"
	"errors"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"testing"

	"taizhang/blobstore/dir"
	"taizhang/gate"
)

// FuzzReadForm: the browser form reader never panics, answers only errors
// of the request kinds, and keeps its bounds (fields, attachments).
func FuzzReadForm(f *testing.F) {
	blobs, err := dir.New(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	s := New(Deps{Blobs: blobs}, Config{TempDir: f.TempDir(), MaxFileSize: 1 << 20, MaxRequestSize: 4 << 20})
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	_ = mw.SetBoundary("B0UNDARY")
	_ = mw.WriteField("id", "0190a0a0-0000-7000-8000-000000000001")
	_ = mw.WriteField("title", "端午")
	w, _ := mw.CreateFormFile("photo", "a.txt")
	_, _ = w.Write([]byte("plain text is a document"))
	_, _ = mw.CreateFormFile("photo", "")
	_ = mw.Close()
	f.Add(b.Bytes())
	f.Add([]byte("--B0UNDARY\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nv\r\n--B0UNDARY--\r\n"))
	f.Add([]byte("--B0UNDARY\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"x.exe\"\r\n\r\nMZ\x90\r\n--B0UNDARY--"))
	f.Add([]byte("--B0UNDARY\r\n\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "/units/u/submit", bytes.NewReader(body))
		r.Header.Set("Content-Type", "multipart/form-data; boundary=B0UNDARY")
		vals, up, _, err := s.ReadForm(httptest.NewRecorder(), r, map[string]bool{"photo": true, "document": true}, nil)
		defer up.Close()
		atts := up.Files()
		if err != nil {
			var mbe *http.MaxBytesError
			if status, _ := gate.StatusOf(err); status >= 500 && !errors.As(err, &mbe) {
				t.Fatalf("error of the wrong kind: %v", err)
			}
			return
		}
		n := 0
		for _, v := range vals {
			n += len(v)
		}
		if n > maxFormFields || len(atts) > s.cfg.MaxFiles {
			t.Fatalf("%d fields, %d attachments", n, len(atts))
		}
		for _, a := range atts {
			if a.SHA256 == "" || a.MediaType == "" {
				t.Fatalf("attachment without digest or type: %+v", a)
			}
		}
	})
}

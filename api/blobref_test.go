package api_test

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/textproto"
	"strings"
	"testing"

	"taizhang/api"
	"taizhang/httpserver/servertest"
)

// TestSubmitByBlobRef: a submission may attach a stored blob by digest
// (JSON body or the multipart evidence part): size and media type come from
// the store, a blob the submitter may not read answers 404 like an absent
// one, and nothing is appended on a refusal; a retry with the same id
// appends nothing.
func TestSubmitByBlobRef(t *testing.T) {
	e := servertest.New(t)
	photo := servertest.PNG(7)
	// First the bytes arrive with an ordinary upload.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("evidence", `{"kind":"photo","title":"宣傳欄","occurred_at":"2016-04-20"}`)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="attachment"; filename="a.png"`)
	h.Set("Content-Type", "image/png")
	pw, _ := mw.CreatePart(h)
	_, _ = pw.Write(photo)
	_ = mw.Close()
	st, body := e.Do("clerk", "POST", "/api/v1/units/cun-1/evidence", mw.FormDataContentType(), &buf)
	if st != 201 {
		t.Fatalf("upload: %d %s", st, body)
	}
	var first api.Receipt
	if err := json.Unmarshal([]byte(body), &first); err != nil || len(first.Attachments) != 1 {
		t.Fatalf("upload receipt %s: %v", body, err)
	}
	digest := first.Attachments[0].SHA256

	events := func(unit string) int {
		t.Helper()
		st, body := e.Do("admin", "GET", "/api/v1/units/"+unit+"/history", "", nil)
		if st != 200 {
			t.Fatalf("history: %d %s", st, body)
		}
		var h struct{ Events []json.RawMessage }
		if err := json.Unmarshal([]byte(body), &h); err != nil {
			t.Fatal(err)
		}
		return len(h.Events)
	}
	before1, before2 := events("cun-1"), events("cun-2")

	id := "0190a0a0-0000-7000-8000-0000000000b1"
	meta := `{"id":"` + id + `","kind":"photo","title":"同一張照片","occurred_at":"2016-04-21","blobs":[{"sha256":"` + digest + `","name":"again.png"}]}`
	st, body = e.Do("clerk", "POST", "/api/v1/units/cun-1/evidence", "application/json", strings.NewReader(meta))
	if st != 201 {
		t.Fatalf("submit by ref: %d %s", st, body)
	}
	var rc api.Receipt
	if err := json.Unmarshal([]byte(body), &rc); err != nil || len(rc.Attachments) != 1 {
		t.Fatalf("receipt %s: %v", body, err)
	}
	if a := rc.Attachments[0]; a.SHA256 != digest || a.Size != int64(len(photo)) || a.MediaType != "image/png" || a.Name != "again.png" {
		t.Fatalf("attachment by ref: %+v", a)
	}
	// The same id again: the same answer, nothing appended.
	st, again := e.Do("clerk", "POST", "/api/v1/units/cun-1/evidence", "application/json", strings.NewReader(meta))
	if st != 200 || again != body {
		t.Fatalf("retry: %d %s, want 200 %s", st, again, body)
	}
	if n := events("cun-1"); n != before1+1 {
		t.Fatalf("cun-1 has %d events, want %d", n, before1+1)
	}

	for _, c := range []struct {
		who, meta string
		status    int
		code      string
	}{
		// Another unit's clerk cannot attach cun-1's photo: as if absent.
		{"clerk2", `{"kind":"photo","title":"借用","occurred_at":"2016-04-21","blobs":[{"sha256":"` + digest + `"}]}`, 404, "not_found"},
		{"clerk2", `{"kind":"photo","title":"無此","occurred_at":"2016-04-21","blobs":[{"sha256":"` + strings.Repeat("ab", 32) + `"}]}`, 404, "not_found"},
		{"clerk2", `{"kind":"photo","title":"壞","occurred_at":"2016-04-21","blobs":[{"sha256":"ABC"}]}`, 400, "invalid"},
		{"clerk2", `{"kind":"photo","title":"壞","occurred_at":"2016-04-21","blobs":[{"sha256":"` + digest + `","name":"../x.png"}]}`, 400, "bad_request"},
		{"clerk2", `{"kind":"photo","title":"重","occurred_at":"2016-04-21","blobs":[{"sha256":"` + digest + `"},{"sha256":"` + digest + `"}]}`, 400, "invalid"},
	} {
		st, body := e.Do(c.who, "POST", "/api/v1/units/cun-2/evidence", "application/json", strings.NewReader(c.meta))
		if st != c.status || !strings.Contains(body, `"code":"`+c.code+`"`) {
			t.Errorf("%s: %d %s, want %d %s", c.meta, st, body, c.status, c.code)
		}
	}
	if n := events("cun-2"); n != before2 {
		t.Fatalf("refusals appended: cun-2 has %d events, want %d", n, before2)
	}
	// The admin may attach any stored blob, here to cun-2.
	st, body = e.Do("admin", "POST", "/api/v1/units/cun-2/evidence", "application/json",
		strings.NewReader(`{"kind":"photo","title":"調閱","occurred_at":"2016-04-21","blobs":[{"sha256":"`+digest+`"}]}`))
	if st != 201 || !strings.Contains(body, digest) {
		t.Fatalf("admin by ref: %d %s", st, body)
	}
}

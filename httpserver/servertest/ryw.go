package servertest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"taizhang/gate"
)

// ReadYourWrites is a test client's half of the read-your-writes protocol,
// as the CLI keeps it: it remembers the largest X-Taizhang-Seq one server
// answered with and sends it as X-Taizhang-Min-Seq on later requests to
// that server. The zero value is ready to use.
type ReadYourWrites struct{ seq atomic.Uint64 }

// Seq returns the largest sequence noted.
func (w *ReadYourWrites) Seq() uint64 { return w.seq.Load() }

// Note raises the sequence to the X-Taizhang-Seq of h, if it has one.
func (w *ReadYourWrites) Note(h http.Header) {
	if n, err := strconv.ParseUint(h.Get(gate.HeaderSeq), 10, 64); err == nil {
		w.NoteN(n)
	}
}

// NoteN raises the sequence to n.
func (w *ReadYourWrites) NoteN(n uint64) {
	for {
		old := w.seq.Load()
		if n <= old || w.seq.CompareAndSwap(old, n) {
			return
		}
	}
}

// Do sends req with c and returns the answer with its body read. Unless
// req names a minimum sequence itself (?min_seq= or the header) or is a
// probe (/healthz, /readyz, /metrics), it carries the noted sequence as
// X-Taizhang-Min-Seq, and a 503 behind to it is asked again, as the CLI
// does, for up to a minute (each time the server waits its min-seq-wait).
// The answer's X-Taizhang-Seq is noted. A failure to send fails the test.
func (w *ReadYourWrites) Do(t testing.TB, c *http.Client, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	want := uint64(0)
	if !probe(req.URL.Path) && !namesMinSeq(req) {
		want = w.seq.Load()
	}
	if want > 0 && req.Body != nil && req.GetBody == nil { // to send it again
		b, err := io.ReadAll(req.Body)
		if err != nil {
			t.Fatal(err)
		}
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		req.Body, _ = req.GetBody()
	}
	deadline := time.Now().Add(time.Minute)
	for first := true; ; first = false {
		r := req
		if !first {
			r = req.Clone(req.Context())
			if req.GetBody != nil {
				body, err := req.GetBody()
				if err != nil {
					t.Fatal(err)
				}
				r.Body = body
			}
		}
		if want > 0 {
			r.Header.Set(gate.HeaderMinSeq, strconv.FormatUint(want, 10))
		}
		resp, err := c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		w.Note(resp.Header)
		if want > 0 && behind(resp.StatusCode, b) && time.Now().Before(deadline) {
			continue
		}
		return resp, b
	}
}

// namesMinSeq reports whether req names its own minimum sequence, in its
// query or its headers.
func namesMinSeq(req *http.Request) bool {
	if req.URL.RawQuery != "" {
		if v, err := url.ParseQuery(req.URL.RawQuery); err != nil || v.Has("min_seq") {
			return true // a malformed query is the test's own, sent as it is
		}
	}
	return req.Header.Get(gate.HeaderMinSeq) != ""
}

// probe reports whether path is a probe or a scrape, which no client
// sends a minimum sequence with: they say how the server is, not what it
// holds.
func probe(path string) bool {
	return path == "/healthz" || path == "/readyz" || path == "/metrics"
}

// behind reports whether an answer is the 503 behind of a minimum
// sequence not reached in time.
func behind(status int, body []byte) bool {
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	return status == http.StatusServiceUnavailable && json.Unmarshal(body, &e) == nil && e.Error.Code == "behind"
}

package httpserver_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"taizhang/gate"
	"taizhang/httpserver"
	"taizhang/httpserver/servertest"
)

// TestSeqHeaderMinSeqAndStatus: every write answers its ledger sequence in
// X-Taizhang-Seq (an idempotent repeat the original's); min_seq and
// X-Taizhang-Min-Seq up to the ledger's end are answered, beyond it 503
// behind with Retry-After, malformed 400; the status is readable by every
// role and its digest moves with the ledger.
func TestSeqHeaderMinSeqAndStatus(t *testing.T) {
	e := servertest.New(t)
	status := func(who string) httpserver.Status {
		t.Helper()
		st, body := e.Do(who, "GET", "/api/v1/status", "", nil)
		if st != 200 {
			t.Fatalf("status as %s: %d %s", who, st, body)
		}
		var s httpserver.Status
		if err := json.Unmarshal([]byte(body), &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := status("admin")
	for _, who := range []string{"clerk", "inspector", "supervisor"} {
		if s := status(who); s.Digest != before.Digest || s.LedgerLastSeq != before.LedgerLastSeq {
			t.Fatalf("%s sees %+v, admin %+v", who, s, before)
		}
	}
	if st, _ := e.Do("", "GET", "/api/v1/status", "", nil); st != 401 {
		t.Fatalf("status without a token: %d", st)
	}
	if len(before.Projections) < 2 || before.Projections[0].Name != "archive" || before.Projections[0].Applied != before.LedgerLastSeq ||
		before.CheckpointLease != nil || before.DigestVersion == "" {
		t.Fatalf("status: %+v", before)
	}

	seqOf := func(h http.Header) uint64 {
		t.Helper()
		n, err := strconv.ParseUint(h.Get(gate.HeaderSeq), 10, 64)
		if err != nil {
			t.Fatalf("no %s: %v", gate.HeaderSeq, h)
		}
		return n
	}
	post := func(path string, in any) (int, http.Header, string) {
		b, _ := json.Marshal(in)
		return e.DoH("admin", "POST", path, "application/json", bytes.NewReader(b), nil)
	}
	st, h, body := post("/api/v1/units", map[string]any{"id": "cun-3", "name": "南村", "type": "village", "parent": "zhen"})
	if st != 201 || seqOf(h) != before.LedgerLastSeq+1 {
		t.Fatalf("register: %d %v %s", st, h, body)
	}
	st, h, body = post("/api/v1/users", map[string]any{"id": "clerk-zhou", "name": "周", "role": "submitter", "scope": "cun-3"})
	if st != 201 || seqOf(h) != before.LedgerLastSeq+2 {
		t.Fatalf("user: %d %v %s", st, h, body)
	}
	// Refusals carry no sequence.
	if st, h, _ := post("/api/v1/units", map[string]any{"id": "cun-3", "name": "南村", "type": "village"}); st != 409 || h.Get(gate.HeaderSeq) != "" {
		t.Fatalf("a refused write: %d %v", st, h)
	}

	last := status("admin").LedgerLastSeq
	for _, q := range []struct {
		path string
		hdr  string
		want int
	}{
		{"/api/v1/units/cun-3?min_seq=" + fmt.Sprint(last), "", 200},
		{"/api/v1/units/cun-3", fmt.Sprint(last), 200},
		{"/api/v1/units/cun-3?min_seq=1", fmt.Sprint(last + 500), 503}, // the larger counts
		{"/api/v1/units/cun-3?min_seq=" + fmt.Sprint(last+500), "", 503},
		{"/api/v1/units/cun-3?min_seq=-1", "", 400},
		{"/api/v1/units/cun-3", "seven", 400},
		{"/api/v1/units/cun-3?min_seq=1&min_seq=2", "", 400},
	} {
		hdr := http.Header{}
		if q.hdr != "" {
			hdr.Set(gate.HeaderMinSeq, q.hdr)
		}
		st, h, body := e.DoH("admin", "GET", q.path, "", nil, hdr)
		if st != q.want {
			t.Fatalf("%s (%s %q): %d %s, want %d", q.path, gate.HeaderMinSeq, q.hdr, st, body, q.want)
		}
		if st == 503 && (h.Get("Retry-After") == "" || !strings.Contains(body, `"behind"`) || !strings.Contains(body, "not yet")) {
			t.Fatalf("503: %v %s", h, body)
		}
	}
	after := status("clerk")
	if after.Digest == before.Digest || after.LedgerLastSeq != last || after.Quarantined == nil || len(after.Quarantined) != 0 {
		t.Fatalf("digest did not move with the ledger: before %+v, after %+v", before, after)
	}
}

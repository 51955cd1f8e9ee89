package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"taizhang/events/checkpoint"
	tzjs "taizhang/events/jetstream"
)

// TestVerifyURL: `verify --url` checks a running server from outside:
// every hash of the history it serves, and that history against the
// signed checkpoint; a server that serves a tampered or a cut history is
// caught, a wrong operator key is refused, and what needs the stores is
// refused by name. TAIZHANG_URL alone picks this mode.
func TestVerifyURL(t *testing.T) {
	s := startServer(t, "")
	fillLedger(t, s)
	s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": "xicun", "name": "西村", "type": "village"})
	if r := s.postJSON(t, s.Admin, "/api/v1/checkpoints", nil); r.Status != 200 && r.Status != 201 {
		t.Fatalf("checkpoint: %d %s", r.Status, r.Body)
	}
	// An event after the checkpoint: the proof covers the events up to it.
	if r := s.submit(t, s.Admin, "dongcun", map[string]any{"kind": "study_note", "title": "後來的", "occurred_at": "2016-07-02"}); r.Status != 201 {
		t.Fatalf("submit: %d %s", r.Status, r.Body)
	}
	var key struct{ Key string }
	s.get(t, s.Admin, "/api/v1/checkpoints/key").decode(t, &key)
	if key.Key == "" {
		t.Fatal("no checkpoint key")
	}
	t.Setenv("TAIZHANG_TOKEN", s.Admin)
	t.Setenv("TAIZHANG_URL", "")

	code, out, errs := runVerify(t, "--url", s.URL, "--checkpoint-pubkey", key.Key)
	if code != 0 || !strings.Contains(out, "no problems found in 2 units") || strings.Count(out, "in checkpoint proven") != 2 || !strings.Contains(out, "signature checked") {
		t.Fatalf("verify --url: %d\n%s\n%s", code, out, errs)
	}
	// Without the key it still checks the chains, and says the signature was not checked.
	if code, out, errs := runVerify(t, "--url", s.URL, "--unit", "dongcun"); code != 0 || !strings.Contains(out, "signature NOT checked") {
		t.Fatalf("verify --url without a key: %d\n%s\n%s", code, out, errs)
	}
	// TAIZHANG_URL and no store named: the server, not ./taizhang-data.
	t.Setenv("TAIZHANG_URL", s.URL)
	if code, out, errs := runVerify(t, "--json"); code != 0 || !strings.Contains(out, `"chain_ok": true`) {
		t.Fatalf("verify with TAIZHANG_URL: %d\n%s\n%s", code, out, errs)
	}
	t.Setenv("TAIZHANG_URL", "")

	// A server whose history of dongcun is altered, or cut short.
	lying := func(edit func(h map[string]any)) string {
		target, _ := url.Parse(s.URL)
		p := httputil.NewSingleHostReverseProxy(target)
		p.ModifyResponse = func(r *http.Response) error {
			if !strings.HasSuffix(r.Request.URL.Path, "/units/dongcun/history") {
				return nil
			}
			b, _ := io.ReadAll(r.Body)
			var h map[string]any
			if err := json.Unmarshal(b, &h); err != nil {
				return err
			}
			edit(h)
			b, _ = json.Marshal(h)
			r.Body = io.NopCloser(bytes.NewReader(b))
			r.ContentLength = int64(len(b))
			r.Header.Set("Content-Length", strconv.Itoa(len(b)))
			return nil
		}
		srv := httptest.NewServer(p)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	altered := lying(func(h map[string]any) {
		ev := h["events"].([]any)[1].(map[string]any)
		ev["data"].(map[string]any)["title"] = "改過的"
	})
	if code, out, _ := runVerify(t, "--url", altered, "--checkpoint-pubkey", key.Key); code != 1 || !strings.Contains(out, "does not hold together") {
		t.Errorf("altered history: %d\n%s", code, out)
	}
	cut := lying(func(h map[string]any) { // the last event before the checkpoint and the one after it dropped
		evs := h["events"].([]any)
		h["events"] = evs[:len(evs)-2]
	})
	if code, out, _ := runVerify(t, "--url", cut, "--checkpoint-pubkey", key.Key); code != 1 || !strings.Contains(out, "a history it did not sign") || strings.Contains(out, "does not hold together") {
		t.Errorf("cut history: %d\n%s", code, out)
	}
	// Another operator's key.
	_, other, err := checkpoint.GenerateKey(checkpoint.Origin(tzjs.DefaultStream))
	if err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runVerify(t, "--url", s.URL, "--checkpoint-pubkey", other); code != 1 || !strings.Contains(out, "not signed with the given key") {
		t.Errorf("wrong key: %d\n%s", code, out)
	}
	// What needs the stores is refused by name; so are witnesses without the operator's key.
	for _, args := range [][]string{{"--sample", "0.5"}, {"--data", t.TempDir()}, {"--no-blobs"}} {
		if code, _, errs := runVerify(t, append([]string{"--url", s.URL}, args...)...); code != 2 || !strings.Contains(errs, args[0]) {
			t.Errorf("verify --url %v: %d %q", args, code, errs)
		}
	}
}

package natsapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"taizhang/auth"
	"taizhang/auth/natsaccess"
	"taizhang/client"
	"taizhang/events"
	"taizhang/httpserver"
	"taizhang/httpserver/servertest"
	"taizhang/internal/testenv"
	"taizhang/natsapi"
)

const testPlan = `id: test-plan
title: 測試方案
issuer: 測試鎮
timezone: Asia/Shanghai
period: {start: 2016-01-01, end: 2016-12-31}
applies_to: {types: [village]}
requirements:
  - id: festival
    ref: 一1
    title: 節日活動
    accepts: {kinds: [activity, photo]}
    rule: {kind: count, min: 2}
`

// env is a real stack: embedded NATS with JetStream, the ledger, a blob
// directory, the live projection, the HTTP API (also on an httptest
// server, to compare), the access log, and the NATS service on it, called
// through a second, separate client connection.
type env struct {
	t      testing.TB
	api    *httpserver.Server
	url    string // the HTTP API's, to compare
	svc    *natsapi.Service
	client *nats.Conn // the caller's connection
	access *natsaccess.Log
	tokens map[string]string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	n := testenv.StartNATS(t)
	return newEnvOn(t, n.Connect(t), n.Connect(t), natsapi.Config{})
}

// newEnvOn builds the stack on the service's connection nc, the service
// configured as cfg (its Handler, JetStream and Log set here), called
// through client.
func newEnvOn(t testing.TB, nc, client *nats.Conn, cfg natsapi.Config) *env {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := servertest.StartWith(t, servertest.Options{Conn: nc, AccessLog: true, Log: log})
	st.SeedWith(testPlan)
	cfg.Handler, cfg.JetStream, cfg.Replica, cfg.Log = st.Server, st.Ledger.JetStream(), "test", log
	svc, err := natsapi.Start(context.Background(), nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop(context.Background()) })
	return &env{t: t, api: st.Server, url: st.URL, svc: svc, client: client, access: st.Access, tokens: st.Tokens}
}

// httpDo calls the HTTP API over the network as who.
func (e *env) httpDo(who, method, path, contentType, body string, want int) string {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.tokens[who])
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		e.t.Fatalf("HTTP %s %s: %d %s, want %d", method, path, resp.StatusCode, b, want)
	}
	return string(b)
}

// answer is a NATS call's answer.
type answer struct {
	status  string // Taizhang-Status
	errCode string // Nats-Service-Error-Code ("" on success)
	errDesc string
	body    []byte
	header  nats.Header
}

// call sends payload to the endpoint with who's token ("" none; "bad:" a
// literal Authorization value).
func (e *env) call(who, endpoint string, payload any) answer {
	e.t.Helper()
	var data []byte
	switch p := payload.(type) {
	case string:
		data = []byte(p)
	default:
		var err error
		if data, err = json.Marshal(p); err != nil {
			e.t.Fatal(err)
		}
	}
	msg := nats.NewMsg(natsapi.DefaultPrefix + "." + endpoint)
	msg.Data = data
	switch {
	case strings.HasPrefix(who, "bad:"):
		msg.Header.Set("Authorization", strings.TrimPrefix(who, "bad:"))
	case who != "":
		msg.Header.Set("Authorization", "Bearer "+e.tokens[who])
	}
	resp, err := e.client.RequestMsg(msg, 30*time.Second)
	if err != nil {
		e.t.Fatalf("%s: %v", endpoint, err)
	}
	return answer{status: resp.Header.Get(natsapi.HeaderStatus), errCode: resp.Header.Get(micro.ErrorCodeHeader),
		errDesc: resp.Header.Get(micro.ErrorHeader), body: resp.Data, header: resp.Header}
}

// ok calls and wants a success with this status, decoding the body into v.
func (e *env) ok(who, endpoint string, payload any, status string, v any) answer {
	e.t.Helper()
	a := e.call(who, endpoint, payload)
	if a.errCode != "" || a.status != status {
		e.t.Fatalf("%s as %s: status %s error %s %q %s, want %s", endpoint, who, a.status, a.errCode, a.errDesc, a.body, status)
	}
	if v != nil {
		if err := json.Unmarshal(a.body, v); err != nil {
			e.t.Fatalf("%s: decode %s: %v", endpoint, a.body, err)
		}
	}
	return a
}

// refused calls and wants a micro error with this code (the HTTP status)
// and the API's error code in the body.
func (e *env) refused(who, endpoint string, payload any, code, apiCode string) answer {
	e.t.Helper()
	a := e.call(who, endpoint, payload)
	var eb struct {
		Error struct{ Code, Message string }
	}
	_ = json.Unmarshal(a.body, &eb)
	if a.errCode != code || a.status != code || eb.Error.Code != apiCode || a.errDesc == "" || eb.Error.Message == "" {
		e.t.Fatalf("%s as %q: error %q (status %q) %q %s, want %s %s", endpoint, who, a.errCode, a.status, a.errDesc, a.body, code, apiCode)
	}
	return a
}

// events returns the number of events in a unit's chain (read over HTTP).
func (e *env) events(unit string) int {
	e.t.Helper()
	var h struct{ Events []json.RawMessage }
	if err := json.Unmarshal([]byte(e.httpDo("admin", "GET", "/api/v1/units/"+unit+"/history", "", "", 200)), &h); err != nil {
		e.t.Fatal(err)
	}
	return len(h.Events)
}

// putObject puts bytes into the uploads bucket, as a NATS client would.
func (e *env) putObject(name string, b []byte) {
	e.t.Helper()
	js, err := jetstream.New(e.client)
	if err != nil {
		e.t.Fatal(err)
	}
	os, err := js.ObjectStore(context.Background(), natsapi.DefaultUploads)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := os.PutBytes(context.Background(), name, b); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) deleteObject(name string) {
	e.t.Helper()
	js, err := jetstream.New(e.client)
	if err != nil {
		e.t.Fatal(err)
	}
	os, err := js.ObjectStore(context.Background(), natsapi.DefaultUploads)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.Delete(context.Background(), name); err != nil {
		e.t.Fatal(err)
	}
}

func testPNG(seed int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 32, 32))
	for y := range 32 {
		for x := range 32 {
			img.Set(x, y, color.RGBA{uint8(x*8 + seed), uint8(y*8 + seed*3), uint8(seed * 40), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

type receipt struct {
	ID          string `json:"id"`
	Sequence    uint64 `json:"sequence"`
	Version     int    `json:"version"`
	Attachments []struct {
		SHA256    string `json:"sha256"`
		Size      int64  `json:"size"`
		MediaType string `json:"media_type"`
		Name      string `json:"name"`
	} `json:"attachments"`
}

// TestDiscovery: the service answers $SRV.PING and $SRV.INFO as a micro
// service named taizhang, with its version and every endpoint's subject.
func TestDiscovery(t *testing.T) {
	e := newEnv(t)
	resp, err := e.client.Request("$SRV.INFO."+natsapi.Name, nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var info micro.Info
	if err := json.Unmarshal(resp.Data, &info); err != nil {
		t.Fatal(err)
	}
	if info.Name != "taizhang" || info.Version != natsapi.Version || info.Type != micro.InfoResponseType || info.ID != e.svc.Info().ID {
		t.Fatalf("info: %+v", info)
	}
	subjects := map[string]bool{}
	for _, ep := range info.Endpoints {
		subjects[ep.Subject] = true
		if ep.QueueGroup != "taizhang" || ep.Metadata["description"] == "" {
			t.Errorf("endpoint %+v", ep)
		}
	}
	for _, name := range []string{"submit", "amend", "retract", "history", "archive", "compliance"} {
		if !subjects["taizhang.v1."+name] {
			t.Errorf("no endpoint taizhang.v1.%s in %v", name, subjects)
		}
	}
	if len(info.Endpoints) != 6 {
		t.Errorf("%d endpoints", len(info.Endpoints))
	}
	resp, err = e.client.Request("$SRV.PING", nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var ping micro.Ping
	if err := json.Unmarshal(resp.Data, &ping); err != nil || ping.Name != "taizhang" {
		t.Fatalf("ping %s: %v", resp.Data, err)
	}
	// STATS counts calls and refusals per endpoint.
	e.ok("clerk", "history", map[string]any{"unit": "cun-1"}, "200", nil)
	e.refused("", "history", map[string]any{"unit": "cun-1"}, "401", "unauthenticated")
	resp, err = e.client.Request("$SRV.STATS.taizhang", nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var stats micro.Stats
	if err := json.Unmarshal(resp.Data, &stats); err != nil {
		t.Fatal(err)
	}
	for _, ep := range stats.Endpoints {
		if ep.Name == "history" && (ep.NumRequests != 2 || ep.NumErrors != 1 || !strings.Contains(ep.LastError, "401")) {
			t.Fatalf("history stats %+v", ep)
		}
	}
}

// TestEvidenceLifecycle: submit with an attachment through the object
// store, the same submission again (nothing new), a submission by blob
// digest, an amendment with its reason, a retraction, then history,
// archive and compliance, each as the HTTP API answers them.
func TestEvidenceLifecycle(t *testing.T) {
	e := newEnv(t)
	photo := testPNG(3)
	sum := sha256.Sum256(photo)
	digest := hex.EncodeToString(sum[:])
	e.putObject("cun-1/2016-04-20/宣傳欄.png", photo)
	before := e.events("cun-1")

	id := "0190a0a0-0000-7000-8000-0000000000c1"
	submit := map[string]any{"unit": "cun-1", "id": id, "kind": "photo", "title": "宣傳欄", "occurred_at": "2016-04-20",
		"requirements": []string{"festival"}, "objects": []map[string]string{{"object": "cun-1/2016-04-20/宣傳欄.png"}}}
	var first receipt
	a := e.ok("clerk", "submit", submit, "201", &first)
	if first.ID != id || len(first.Attachments) != 1 || first.Attachments[0].SHA256 != digest ||
		first.Attachments[0].Size != int64(len(photo)) || first.Attachments[0].MediaType != "image/png" || first.Attachments[0].Name != "宣傳欄.png" {
		t.Fatalf("receipt %s", a.body)
	}
	if a.header.Get(natsapi.HeaderSeq) != fmt.Sprint(first.Sequence) || a.header.Get(natsapi.HeaderRequestID) == "" {
		t.Fatalf("answer headers %v", a.header)
	}
	// The same submission again (a retry), even after its object has gone
	// from the bucket: 200, the same receipt, nothing new.
	e.deleteObject("cun-1/2016-04-20/宣傳欄.png")
	again := e.ok("clerk", "submit", submit, "200", nil)
	if !bytes.Equal(again.body, a.body) {
		t.Fatalf("retry answered %s, first %s", again.body, a.body)
	}
	if n := e.events("cun-1"); n != before+1 {
		t.Fatalf("cun-1 has %d events after a submission and its retry, want %d", n, before+1)
	}

	// By digest of the blob now stored.
	var byRef receipt
	e.ok("clerk", "submit", map[string]any{"unit": "cun-1", "id": "0190a0a0-0000-7000-8000-0000000000c2", "kind": "photo", "title": "同一宣傳欄", "occurred_at": "2016-05-02",
		"requirements": []string{"festival"}, "blobs": []map[string]string{{"sha256": digest, "name": "again.png"}}}, "201", &byRef)
	if len(byRef.Attachments) != 1 || byRef.Attachments[0].SHA256 != digest || byRef.Attachments[0].MediaType != "image/png" || byRef.Attachments[0].Size != int64(len(photo)) {
		t.Fatalf("by ref: %+v", byRef)
	}

	var amended receipt
	e.ok("clerk", "amend", map[string]any{"unit": "cun-1", "id": id, "expected_version": 1, "reason": "標題錯字", "title": "廉政宣傳欄"}, "200", &amended)
	if amended.Version != 2 {
		t.Fatalf("amended: %+v", amended)
	}
	e.refused("clerk", "amend", map[string]any{"unit": "cun-1", "id": id, "expected_version": 1, "reason": "again", "title": "x"}, "409", "conflict")
	// An amendment that adds a photo through the object store.
	second := testPNG(4)
	e.putObject("cun-1/second.png", second)
	var added receipt
	e.ok("clerk", "amend", map[string]any{"unit": "cun-1", "id": id, "expected_version": 2, "reason": "補一張照片",
		"objects": []map[string]string{{"object": "cun-1/second.png", "name": "第二張.png"}}}, "200", &added)
	if added.Version != 3 || len(added.Attachments) != 1 || added.Attachments[0].Name != "第二張.png" || added.Attachments[0].Size != int64(len(second)) {
		t.Fatalf("amend with an object: %+v", added)
	}
	var retracted receipt
	e.ok("clerk", "retract", map[string]any{"unit": "cun-1", "id": byRef.ID, "expected_version": 1, "reason": "重複"}, "200", &retracted)

	var hist struct {
		Unit   string `json:"unit"`
		Events []struct {
			Type   string `json:"type"`
			Client string `json:"client"`
			Reason string `json:"reason"`
		} `json:"events"`
	}
	a = e.ok("inspector", "history", map[string]any{"unit": "cun-1"}, "200", &hist)
	if len(hist.Events) != before+5 {
		t.Fatalf("history has %d events, want %d: %s", len(hist.Events), before+5, a.body)
	}
	tail := hist.Events[before:]
	for i, want := range []string{"evidence.submitted", "evidence.submitted", "evidence.amended", "evidence.amended", "evidence.retracted"} {
		if tail[i].Type != want || tail[i].Client != "nats" {
			t.Errorf("event %d: %+v, want %s by client nats", i, tail[i], want)
		}
	}
	httpHist := e.httpDo("inspector", "GET", "/api/v1/units/cun-1/history", "", "", 200)
	var hh struct{ Events []json.RawMessage }
	_ = json.Unmarshal([]byte(httpHist), &hh)
	if len(hh.Events) != len(hist.Events) {
		t.Fatalf("HTTP history has %d events, NATS %d", len(hh.Events), len(hist.Events))
	}

	var arch struct {
		Items []struct {
			ID      string `json:"id"`
			Title   string `json:"title"`
			Status  string `json:"status"`
			Version int    `json:"version"`
		} `json:"items"`
	}
	a = e.ok("clerk", "archive", map[string]any{"unit": "cun-1"}, "200", &arch)
	got := map[string]string{}
	for _, it := range arch.Items {
		got[it.ID] = fmt.Sprintf("%s v%d %s", it.Title, it.Version, it.Status)
	}
	if !strings.HasPrefix(got[id], "廉政宣傳欄 v3") || !strings.Contains(got[byRef.ID], "retracted") {
		t.Fatalf("archive %v (%s)", got, a.body)
	}
	// As of a time before the unit was registered: as the HTTP API says.
	e.refused("clerk", "archive", map[string]any{"unit": "cun-1", "as_of": "2000-01-01"}, "404", "not_found")

	a = e.ok("inspector", "compliance", map[string]any{"unit": "cun-1", "plan": "test-plan"}, "200", nil)
	if !strings.Contains(string(a.body), `"festival"`) || !strings.Contains(string(a.body), "test-plan") {
		t.Fatalf("compliance %s", a.body)
	}
}

// TestRefusals: the one gate decides for NATS callers as for HTTP ones: no
// token, a bad token, another unit's clerk and an inspector submitting are
// refused with the API's status and code, the refusals are in the access
// log (client "nats"), and nothing is appended; malformed payloads get a
// clear 400.
func TestRefusals(t *testing.T) {
	e := newEnv(t)
	before := e.events("cun-1")
	sub := map[string]any{"unit": "cun-1", "id": "0190a0a0-0000-7000-8000-0000000000e1", "kind": "activity", "title": "集中學習", "occurred_at": "2016-04-20"}
	e.refused("", "submit", sub, "401", "unauthenticated")
	e.refused("bad:Bearer not-a-token", "submit", sub, "401", "unauthenticated")
	e.refused("bad:Basic YWRtaW46YWRtaW4=", "submit", sub, "401", "unauthenticated")
	e.refused("clerk2", "submit", sub, "403", "forbidden")
	e.refused("inspector", "submit", sub, "403", "forbidden")
	e.refused("clerk2", "history", map[string]any{"unit": "cun-1"}, "403", "forbidden")
	e.refused("clerk2", "archive", map[string]any{"unit": "cun-1"}, "403", "forbidden")
	if n := e.events("cun-1"); n != before {
		t.Fatalf("refused calls appended: %d events, want %d", n, before)
	}
	// The gate logged them: the denied submission by clerk-li, from NATS.
	testenv.Eventually(t, 10*time.Second, func() error {
		es, err := e.access.ListAccess(context.Background(), auth.AccessFilter{Actor: "clerk-li", Limit: 100})
		if err != nil {
			return err
		}
		for _, en := range es {
			if en.Action == auth.ActEvidenceWrite && en.Outcome == auth.OutcomeDenied && en.Client == "nats" && en.Unit == "cun-1" && en.Status == 403 {
				return nil
			}
		}
		return fmt.Errorf("no denied evidence.write by clerk-li from nats in %+v", es)
	})

	for _, c := range []struct {
		endpoint string
		payload  any
		code     string
		apiCode  string
		says     string
	}{
		{"submit", "not json", "400", "bad_request", "JSON object"},
		{"submit", "", "400", "bad_request", "JSON object"},
		{"submit", "null", "400", "bad_request", "null"},
		{"submit", `{"kind":"activity"}`, "400", "bad_request", `"unit" is required`},
		{"submit", `{"unit":7}`, "400", "bad_request", `"unit" is required`},
		{"submit", map[string]any{"unit": "cun-1", "id": "0190a0a0-0000-7000-8000-0000000000e2", "kind": "activity", "title": "t", "occurred_at": "2016-04-20", "colour": "red"}, "400", "bad_request", "unknown field"},
		{"submit", map[string]any{"unit": "cun-1", "id": "0190a0a0-0000-7000-8000-0000000000e3", "kind": "nonsense", "title": "t", "occurred_at": "2016-04-20"}, "400", "invalid", "kind"},
		{"submit", map[string]any{"unit": "cun-1", "kind": "activity", "title": "t", "occurred_at": "2016-04-20"}, "400", "bad_request", `"id" is required`},
		{"submit", map[string]any{"unit": "cun-1", "id": "e7", "kind": "activity", "title": "t", "occurred_at": "2016-04-20"}, "400", "invalid", "UUID"},
		{"submit", map[string]any{"unit": "../tokens", "id": "0190a0a0-0000-7000-8000-0000000000e8", "kind": "activity", "title": "t", "occurred_at": "2016-04-20"}, "400", "invalid", "unit"},
		{"submit", map[string]any{"unit": "cun-1", "id": "0190a0a0-0000-7000-8000-0000000000e4", "kind": "photo", "title": "t", "occurred_at": "2016-04-20", "objects": []map[string]string{{"object": "cun-1/never-put"}}}, "404", "not_found", "never-put"},
		{"submit", map[string]any{"unit": "cun-1", "id": "0190a0a0-0000-7000-8000-0000000000e6", "kind": "photo", "title": "t", "occurred_at": "2016-04-20", "objects": []map[string]string{{"object": "cun-2/theirs.png"}}}, "400", "bad_request", "is not an object of unit cun-1"},
		{"amend", map[string]any{"unit": "cun-1", "id": "0190a0a0-0000-7000-8000-0000000000e6", "expected_version": 1, "reason": "r", "objects": []map[string]string{{"object": "photo.png"}}}, "400", "bad_request", "put the bytes under cun-1/"},
		{"submit", map[string]any{"unit": "cun-1", "id": "0190a0a0-0000-7000-8000-0000000000e5", "kind": "photo", "title": "t", "occurred_at": "2016-04-20", "objects": "x"}, "400", "bad_request", "objects"},
		{"amend", map[string]any{"unit": "cun-1", "reason": "r", "expected_version": 1}, "400", "bad_request", `"id" is required`},
		{"amend", map[string]any{"unit": "cun-1", "id": "not-a-uuid", "reason": "r", "expected_version": 1}, "400", "invalid", "UUID"},
		{"retract", map[string]any{"unit": "cun-1", "id": "0190a0a0-0000-7000-8000-0000000000ff", "reason": "r", "expected_version": 1}, "404", "not_found", ""},
		{"history", map[string]any{"unit": "cun-1", "extra": 1}, "400", "bad_request", "unknown field"},
		{"archive", map[string]any{"unit": "cun-1", "plan": "x"}, "400", "bad_request", "only"},
		{"compliance", map[string]any{"unit": "cun-1", "as_of": "yesterday"}, "400", "bad_request", "as_of"},
	} {
		a := e.refused("clerk", c.endpoint, c.payload, c.code, c.apiCode)
		if !strings.Contains(a.errDesc, c.says) {
			t.Errorf("%s %v: description %q does not say %q", c.endpoint, c.payload, a.errDesc, c.says)
		}
	}
	if n := e.events("cun-1"); n != before {
		t.Fatalf("malformed calls appended: %d events, want %d", n, before)
	}
}

// TestStop: once stopped, the service is gone from discovery and its
// subjects have no responders.
func TestStop(t *testing.T) {
	e := newEnv(t)
	e.ok("clerk", "history", map[string]any{"unit": "cun-1"}, "200", nil)
	if err := e.svc.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Stop(context.Background()); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	_, err := e.client.Request(natsapi.DefaultPrefix+".history", []byte(`{"unit":"cun-1"}`), 5*time.Second)
	if !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("after stop: %v, want no responders", err)
	}
	_, err = e.client.Request("$SRV.PING.taizhang", nil, 5*time.Second)
	if !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("ping after stop: %v, want no responders", err)
	}
}

// TestAnswerTooLarge: an answer over the service's bound is refused with
// 413 and a pointer to the HTTP API, never cut short.
func TestAnswerTooLarge(t *testing.T) {
	e := newEnv(t)
	small, err := natsapi.Start(context.Background(), e.client, natsapi.Config{Handler: e.api, Prefix: "small.v1", QueueGroup: "small", MaxAnswer: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer small.Stop(context.Background())
	msg := nats.NewMsg("small.v1.history")
	msg.Header.Set("Authorization", "Bearer "+e.tokens["clerk"])
	msg.Data = []byte(`{"unit":"cun-1"}`)
	resp, err := e.client.RequestMsg(msg, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get(micro.ErrorCodeHeader) != "413" || !strings.Contains(resp.Header.Get(micro.ErrorHeader), "GET /api/v1/units/cun-1/history") ||
		!strings.Contains(string(resp.Data), `"too_large"`) {
		t.Fatalf("answer %v %s", resp.Header, resp.Data)
	}
}

// BenchmarkCall compares one call over NATS with the same call over HTTP
// (loopback, the same server): a submission without attachments and a
// history read of a small unit.
func BenchmarkCall(b *testing.B) {
	e := newEnv(b)
	var n int
	newID := func() string { n++; return fmt.Sprintf("0190a0a0-0000-7000-8000-%012x", n) }
	sub := func(id string) map[string]any {
		return map[string]any{"unit": "cun-1", "id": id, "kind": "activity", "title": "集中學習", "occurred_at": "2016-04-20"}
	}
	b.Run("submit/nats", func(b *testing.B) {
		for b.Loop() {
			e.ok("clerk", "submit", sub(newID()), "201", nil)
		}
	})
	b.Run("submit/http", func(b *testing.B) {
		for b.Loop() {
			m := sub(newID())
			delete(m, "unit")
			body, _ := json.Marshal(m)
			e.httpDo("clerk", "POST", "/api/v1/units/cun-1/evidence", "application/json", string(body), 201)
		}
	})
	b.Run("history/nats", func(b *testing.B) {
		for b.Loop() {
			e.ok("admin", "history", map[string]any{"unit": "cun-2"}, "200", nil)
		}
	})
	b.Run("history/http", func(b *testing.B) {
		for b.Loop() {
			e.httpDo("admin", "GET", "/api/v1/units/cun-2/history", "", "", 200)
		}
	})
}

// TestConcurrentRetries: the same submission sent ten times at once, to
// two service instances sharing the queue group (as two replicas would),
// appends one event; every answer is its receipt.
func TestConcurrentRetries(t *testing.T) {
	e := newEnv(t)
	second, err := natsapi.Start(context.Background(), e.client, natsapi.Config{Handler: e.api})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Stop(context.Background())
	before := e.events("cun-1")
	data, _ := json.Marshal(map[string]any{"unit": "cun-1", "id": "0190a0a0-0000-7000-8000-0000000000f1", "kind": "activity",
		"title": "集中學習", "occurred_at": "2016-04-20"})
	type got struct {
		status string
		id     string
		err    error
	}
	out := make(chan got, 10)
	for range 10 {
		go func() {
			msg := nats.NewMsg(natsapi.DefaultPrefix + ".submit")
			msg.Header.Set("Authorization", "Bearer "+e.tokens["clerk"])
			msg.Data = data
			resp, err := e.client.RequestMsg(msg, 30*time.Second)
			if err != nil {
				out <- got{err: err}
				return
			}
			var r receipt
			_ = json.Unmarshal(resp.Data, &r)
			out <- got{status: resp.Header.Get(natsapi.HeaderStatus), id: r.ID}
		}()
	}
	created := 0
	for range 10 {
		g := <-out
		if g.err != nil || g.id != "0190a0a0-0000-7000-8000-0000000000f1" || (g.status != "201" && g.status != "200") {
			t.Fatalf("answer %+v", g)
		}
		if g.status == "201" {
			created++
		}
	}
	if n := e.events("cun-1"); n != before+1 || created != 1 {
		t.Fatalf("%d events appended, %d answers 201; want 1 and 1", n-before, created)
	}
}

// TestDeviceSignedSubmission: a NATS client holding a device key
// registered to its user signs a submission (its photo sent through the
// object store); the signature is checked by the HTTP API's handler and
// recorded (verdict ok); a signature over other content is refused (422)
// and appends nothing.
func TestDeviceSignedSubmission(t *testing.T) {
	e := newEnv(t)
	key, err := client.NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	e.httpDo("clerk", "POST", "/api/v1/devices", "application/json", `{"public_key":"`+key.PublicKey()+`","label":"county gateway"}`, 201)
	photo := testPNG(5)
	sum := sha256.Sum256(photo)
	e.putObject("cun-1/signed.png", photo)
	captured := time.Now().Add(-time.Minute)
	signed := func(id, title string) map[string]any {
		t.Helper()
		ev, err := key.Sign("cun-1", client.Evidence{ID: id, Kind: "photo", Title: title, OccurredAt: "2016-04-20"},
			[]events.SignedAttachment{{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(photo))}}, nil, captured)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(ev)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		m["unit"], m["objects"] = "cun-1", []map[string]string{{"object": "cun-1/signed.png"}}
		return m
	}
	var rc struct {
		ID     string `json:"id"`
		Device struct {
			Key     string `json:"key"`
			Verdict string `json:"verdict"`
		} `json:"device"`
	}
	a := e.ok("clerk", "submit", signed("0190a0a0-0000-7000-8000-0000000000a1", "簽名照片"), "201", &rc)
	if rc.Device.Verdict != "ok" || rc.Device.Key != key.ID() {
		t.Fatalf("signed submission: %s", a.body)
	}
	before := e.events("cun-1")
	// Signed with one title, sent with another.
	forged := signed("0190a0a0-0000-7000-8000-0000000000a2", "原標題")
	forged["title"] = "改過的標題"
	e.refused("clerk", "submit", forged, "422", "bad_device_signature")
	if n := e.events("cun-1"); n != before {
		t.Fatalf("a forged signature appended %d events", n-before)
	}
}

// TestStopAnswersCallsInProgress: Stop waits for a call in progress and
// it is answered; the service is then gone.
func TestStopAnswersCallsInProgress(t *testing.T) {
	n := testenv.StartNATS(t)
	nc, caller := n.Connect(t), n.Connect(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var finished atomic.Bool
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"events":[]}`))
		finished.Store(true)
	})
	svc, err := natsapi.Start(context.Background(), nc, natsapi.Config{Handler: slow})
	if err != nil {
		t.Fatal(err)
	}
	answered := make(chan *nats.Msg, 1)
	go func() {
		resp, err := caller.Request(natsapi.DefaultPrefix+".history", []byte(`{"unit":"cun-1"}`), 30*time.Second)
		if err != nil {
			t.Error(err)
		}
		answered <- resp
	}()
	<-entered
	stopped := make(chan error, 1)
	go func() { stopped <- svc.Stop(context.Background()) }()
	// Stop must not return while the call runs (a bounded look, not a
	// measured time: a correct Stop cannot return here at all).
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while a call was in progress", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if !finished.Load() {
		t.Fatal("Stop returned before the call in progress finished")
	}
	resp := <-answered
	if resp == nil || resp.Header.Get(natsapi.HeaderStatus) != "200" || string(resp.Data) != `{"events":[]}` {
		t.Fatalf("the call in progress at Stop: %+v", resp)
	}
	if _, err := caller.Request("$SRV.PING.taizhang", nil, 5*time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("after Stop: %v", err)
	}
}

// TestWorkers: with Workers 2 two calls are served at once (the first
// handler waits until a second is in; the queue group spreads 20 calls over
// the two instances at random, so some reach the other one), and discovery
// shows the two instances.
func TestWorkers(t *testing.T) {
	n := testenv.StartNATS(t)
	nc, caller := n.Connect(t), n.Connect(t)
	var in atomic.Int32
	both := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if in.Add(1) == 2 {
			close(both)
		}
		select {
		case <-both:
			_, _ = w.Write([]byte(`{}`))
		case <-time.After(20 * time.Second):
			http.Error(w, `{"error":{"code":"internal","message":"the other call never came in"}}`, 500)
		}
	})
	svc, err := natsapi.Start(context.Background(), nc, natsapi.Config{Handler: h, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop(context.Background())
	got := make(chan string, 20)
	for range 20 {
		go func() {
			resp, err := caller.Request(natsapi.DefaultPrefix+".history", []byte(`{"unit":"cun-1"}`), 30*time.Second)
			if err != nil {
				got <- err.Error()
				return
			}
			got <- resp.Header.Get(natsapi.HeaderStatus)
		}()
	}
	for range 20 {
		if s := <-got; s != "200" {
			t.Fatalf("a call: %s", s)
		}
	}
	// Both instances answer discovery.
	sub, err := caller.SubscribeSync(caller.NewRespInbox())
	if err != nil {
		t.Fatal(err)
	}
	if err := caller.PublishRequest("$SRV.PING.taizhang", sub.Subject, nil); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for len(ids) < 2 {
		m, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("pings answered by %d instances: %v", len(ids), err)
		}
		var p micro.Ping
		_ = json.Unmarshal(m.Data, &p)
		ids[p.ID] = true
	}
}

package openapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"taizhang/api"
	"taizhang/events"
	"taizhang/events/checkpoint"
	tzjs "taizhang/events/jetstream"
	"taizhang/httpserver/servertest"
	"taizhang/openapi"
)

// live is a real server (embedded NATS, the JetStream ledger, a blob
// directory, the live projection, checkpoints and cosignatures) whose
// every answer a test checks against the document.
type live struct {
	t      *testing.T
	url    string
	v      validator.Validator
	tokens map[string]string
	seen   map[string]bool // "METHOD path status" validated
}

func startLive(t *testing.T) *live {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st := servertest.StartWith(t, servertest.Options{AccessLog: true, API: api.Config{MaxPixels: 10000},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	s, l := st.Server, st.Ledger
	skey, vkey, err := checkpoint.GenerateKey(checkpoint.Origin(tzjs.DefaultStream))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := checkpoint.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	cps, err := tzjs.StartCheckpointer(ctx, l, tzjs.CheckpointConfig{Signer: signer, VerifierKey: vkey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cps.Close)
	cosigs, err := tzjs.StartCosignatures(ctx, cps, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	s.SetCheckpoints(cps)
	s.SetCosignatures(cosigs)

	ld, err := libopenapi.NewDocument(openapi.Document())
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(ld)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	e := &live{t: t, url: st.URL, v: v, tokens: map[string]string{}, seen: map[string]bool{}}
	for name, who := range map[string]struct {
		role       events.Role
		unit, user string
	}{"admin": {events.RoleAdmin, "", "admin"}, "supervisor": {events.RoleSupervisor, "", "sup-qian"}, "inspector": {events.RoleInspector, "", "insp-zhao"}} {
		tok, err := s.IssueToken(ctx, who.role, who.unit, who.user)
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[name] = tok
	}
	return e
}

// do sends a request as the named token holder ("" for none) and checks
// the answer against the document: its status is listed for the
// operation, and its headers and body match the schemas. It returns the
// status, the header and the body.
func (e *live) do(who, method, path, contentType string, body []byte) (int, http.Header, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if who != "" {
		req.Header.Set("Authorization", "Bearer "+e.tokens[who])
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	// The validator reads the request's body for nothing here, but the
	// route and parameters from it.
	vreq, _ := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	vreq.Header = req.Header.Clone()
	if ok, errs := e.v.ValidateHttpResponse(vreq, resp); !ok {
		for _, ve := range errs {
			e.t.Errorf("%s %s → %d: %s: %s", method, path, resp.StatusCode, ve.Message, ve.Reason)
			for _, se := range ve.SchemaValidationErrors {
				e.t.Errorf("    %s at %s", se.Reason, se.FieldPath)
			}
		}
		e.t.Logf("body: %.2000s", b)
	}
	if resp.StatusCode < 300 {
		// What the server took, the document must accept.
		rreq, _ := http.NewRequest(method, e.url+path, bytes.NewReader(body))
		rreq.Header = req.Header.Clone()
		if ok, errs := e.v.ValidateHttpRequest(rreq); !ok {
			for _, ve := range errs {
				e.t.Errorf("request %s %s (answered %d): %s: %s", method, path, resp.StatusCode, ve.Message, ve.Reason)
				for _, se := range ve.SchemaValidationErrors {
					e.t.Errorf("    %s at %s", se.Reason, se.FieldPath)
				}
			}
		}
	}
	e.seen[fmt.Sprintf("%s %s %d", method, strings.SplitN(path, "?", 2)[0], resp.StatusCode)] = true
	return resp.StatusCode, resp.Header, b
}

// want sends a request and fails unless it answers status.
func (e *live) want(status int, who, method, path, contentType string, body []byte) []byte {
	e.t.Helper()
	st, _, b := e.do(who, method, path, contentType, body)
	if st != status {
		e.t.Fatalf("%s %s: %d, want %d: %s", method, path, st, status, b)
	}
	return b
}

func (e *live) json(status int, who, method, path string, in any) []byte {
	e.t.Helper()
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			e.t.Fatal(err)
		}
	}
	return e.want(status, who, method, path, "application/json", body)
}

// upload is a multipart body: the JSON part named part and the files as
// attachment parts.
func upload(t *testing.T, part string, meta any, files map[string][]byte) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q`, part))
	h.Set("Content-Type", "application/json")
	w, err := mw.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.NewEncoder(w).Encode(meta); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		fw, err := mw.CreateFormFile("attachment", name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write(data)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), buf.Bytes()
}

// testPNG returns a distinct 64×48 PNG.
func testPNG(t *testing.T, seed int) []byte { return sizedPNG(t, seed, 64, 48) }

func sizedPNG(t *testing.T, seed, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * seed), uint8(y * 5), uint8(seed * 40), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const testPlan = `id: test-plan
title: 測試方案
issuer: 測試鎮
timezone: Asia/Shanghai
period: {start: 2016-01-01, end: 2030-12-31}
applies_to: {types: [village]}
requirements:
  - id: festival
    ref: 一1
    title: 節日活動
    accepts: {kinds: [activity]}
    attachments: [photo]
    rule: {kind: count, min: 2}
`

// TestAnswersMatchDocument drives a real server through every kind of
// answer the API gives (a receipt from a submission and its retry,
// corrections, the archive and history, findings, plans and compliance,
// users and tokens, the audit views, checkpoints and proofs, and errors of
// each kind) and checks each against the document's schemas.
func TestAnswersMatchDocument(t *testing.T) {
	e := startLive(t)
	e.want(200, "", "GET", "/healthz", "", nil)
	if b := e.want(200, "", "GET", "/api/v1/openapi.json", "", nil); !bytes.Equal(b, openapi.Document()) {
		t.Error("GET /api/v1/openapi.json does not answer the document")
	}
	e.want(404, "", "GET", "/metrics", "", nil) // metrics off on this server
	e.json(201, "admin", "POST", "/api/v1/units", map[string]any{"id": "zhen", "name": "測試鎮", "type": "town"})
	e.json(201, "admin", "POST", "/api/v1/units", map[string]any{"id": "cun-1", "name": "東村", "type": "village", "parent": "zhen", "headcount": 800})
	e.want(201, "admin", "POST", "/api/v1/plans?file=test.yaml", "application/yaml", []byte(testPlan))
	e.want(200, "admin", "POST", "/api/v1/plans?file=test.yaml", "application/yaml", []byte(testPlan))
	e.json(201, "admin", "POST", "/api/v1/tokens", map[string]any{"user": "clerk-wang", "role": "submitter", "unit": "cun-1", "label": "phone"})
	var tok struct {
		Token   string `json:"token"`
		TokenID string `json:"token_id"`
	}
	b := e.json(201, "admin", "POST", "/api/v1/tokens", map[string]any{"user": "clerk-wang", "expires_in": "720h"})
	if err := json.Unmarshal(b, &tok); err != nil {
		t.Fatal(err)
	}
	e.tokens["clerk"] = tok.Token

	// A submission with a photo, its retry, an amendment and a retraction.
	id := "0190a0a0-0000-7000-8000-000000000001"
	photo := testPNG(t, 3)
	ct, body := upload(t, "evidence", map[string]any{"id": id, "kind": "activity", "title": "中秋活動", "occurred_at": "2016-09-15",
		"requirements": []string{"festival"}, "tags": []string{"節日"}, "figures": map[string]float64{"volunteers": 30}}, map[string][]byte{"中秋.png": photo})
	var rc struct {
		Attachments []struct {
			SHA256 string `json:"sha256"`
		} `json:"attachments"`
		Sequence uint64 `json:"sequence"`
	}
	if err := json.Unmarshal(e.want(201, "clerk", "POST", "/api/v1/units/cun-1/evidence", ct, body), &rc); err != nil {
		t.Fatal(err)
	}
	e.want(200, "clerk", "POST", "/api/v1/units/cun-1/evidence", ct, body)
	digest := rc.Attachments[0].SHA256
	e.json(200, "clerk", "POST", "/api/v1/units/cun-1/evidence/"+id+"/amend", map[string]any{"reason": "錯字", "expected_version": 1, "title": "中秋節活動"})
	e.json(409, "clerk", "POST", "/api/v1/units/cun-1/evidence/"+id+"/amend", map[string]any{"reason": "again", "expected_version": 1, "title": "x"})
	id2 := "0190a0a0-0000-7000-8000-000000000002"
	ct, body = upload(t, "evidence", map[string]any{"id": id2, "kind": "summary", "title": "總結", "occurred_at": "2016-09-16T10:00:00+08:00"}, nil)
	e.want(201, "clerk", "POST", "/api/v1/units/cun-1/evidence", ct, body)
	e.json(200, "clerk", "POST", "/api/v1/units/cun-1/evidence/"+id2+"/retract", map[string]any{"reason": "重複", "expected_version": 1})
	ct, body = upload(t, "evidence", map[string]any{"kind": "nonsense", "title": "x", "occurred_at": "2016-09-16"}, nil)
	e.want(400, "clerk", "POST", "/api/v1/units/cun-1/evidence", ct, body)
	ct, body = upload(t, "evidence", map[string]any{"kind": "photo", "title": "x", "occurred_at": "2016-09-16"}, map[string][]byte{"a.jpg": []byte("#!/bin/sh\necho hi\n")})
	e.want(415, "clerk", "POST", "/api/v1/units/cun-1/evidence", ct, body)

	ct, body = upload(t, "evidence", map[string]any{"kind": "photo", "title": "大圖", "occurred_at": "2016-09-16"}, map[string][]byte{"big.png": sizedPNG(t, 1, 200, 100)})
	e.want(422, "clerk", "POST", "/api/v1/units/cun-1/evidence", ct, body) // over the test server's 10000 pixels
	e.want(413, "admin", "POST", "/api/v1/units", "application/json", []byte(`{"id":"x","name":"`+strings.Repeat("長", 30000)+`","type":"village"}`))

	// A device-signed submission: its receipt carries the verdict.
	_, dpriv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	e.json(201, "clerk", "POST", "/api/v1/devices", map[string]any{"public_key": events.FormatPublicKey(dpriv.Public().(ed25519.PublicKey)), "label": "手機"})
	id3 := uuid.MustParse("0190a0a0-0000-7000-8000-000000000003")
	occurred := time.Date(2016, 9, 17, 10, 0, 0, 0, time.FixedZone("UTC+8", 8*3600))
	sig := events.SignDevice(dpriv, events.Content("cun-1", id3, events.Evidence{Kind: events.KindActivity, Title: "重陽活動"}, occurred, nil), time.Now().Add(-time.Minute))
	ct, body = upload(t, "evidence", map[string]any{"id": id3.String(), "kind": "activity", "title": "重陽活動", "occurred_at": occurred.Format(time.RFC3339),
		"device": map[string]any{"key": sig.Key, "public_key": sig.PublicKey, "captured_at": sig.CapturedAt.Format(time.RFC3339Nano), "signature": sig.Signature}}, nil)
	if b := e.want(201, "clerk", "POST", "/api/v1/units/cun-1/evidence", ct, body); !strings.Contains(string(b), `"verdict":"ok"`) {
		t.Errorf("signed submission's receipt: %s", b)
	}
	bad := sig
	bad.Signature = base64.StdEncoding.EncodeToString(make([]byte, ed25519.SignatureSize))
	ct, body = upload(t, "evidence", map[string]any{"id": "0190a0a0-0000-7000-8000-000000000004", "kind": "activity", "title": "重陽活動", "occurred_at": occurred.Format(time.RFC3339),
		"device": map[string]any{"key": bad.Key, "public_key": bad.PublicKey, "captured_at": bad.CapturedAt.Format(time.RFC3339Nano), "signature": bad.Signature}}, nil)
	e.want(422, "clerk", "POST", "/api/v1/units/cun-1/evidence", ct, body)

	// Reads of the unit.
	for _, p := range []string{"", "/history", "/archive", "/findings", "/compliance", "/history?as_of=2030-01-01", "/archive?as_of=2030-01-01", "/compliance?plan=test-plan"} {
		e.want(200, "clerk", "GET", "/api/v1/units/cun-1"+p, "", nil)
	}
	e.want(200, "clerk", "GET", "/api/v1/units", "", nil)
	e.want(200, "clerk", "GET", "/api/v1/blobs/"+digest+"?unit=cun-1&name=photo.png", "", nil)
	e.want(200, "clerk", "GET", "/thumbs/"+digest+"?w=240", "", nil)
	e.want(200, "clerk", "GET", "/api/v1/verify?unit=cun-1", "", nil)
	e.want(200, "clerk", "GET", "/api/v1/me", "", nil)
	e.want(200, "clerk", "GET", "/api/v1/status", "", nil)

	// Findings.
	fid := "0190a0a0-0000-7000-8000-0000000000f1"
	e.json(201, "inspector", "POST", "/api/v1/units/cun-1/findings", map[string]any{"id": fid, "description": "照片不清", "severity": "low", "due": "2030-01-01"})
	e.json(422, "inspector", "POST", "/api/v1/units/cun-1/findings/"+fid+"/resolve", map[string]any{"expected_version": 1})
	e.json(200, "inspector", "POST", "/api/v1/units/cun-1/findings/"+fid+"/resolve", map[string]any{"expected_version": 1, "override": true, "reason": "現場核實"})
	e.json(200, "inspector", "POST", "/api/v1/units/cun-1/findings/"+fid+"/reopen", map[string]any{"expected_version": 2, "reason": "複查"})
	e.want(200, "inspector", "GET", "/api/v1/units/cun-1/findings", "", nil)

	// Plans.
	e.want(200, "clerk", "GET", "/api/v1/plans", "", nil)
	e.want(200, "clerk", "GET", "/api/v1/plans/test-plan", "", nil)
	e.want(200, "clerk", "GET", "/api/v1/plans/test-plan/ranking?period=2016-09", "", nil)
	e.want(400, "admin", "POST", "/api/v1/plans", "application/yaml", []byte("id: x\n"))

	// Users and tokens.
	e.json(201, "admin", "POST", "/api/v1/users", map[string]any{"id": "sup-li", "name": "李", "role": "supervisor", "scope": "zhen", "subtree": true, "password": "correct horse battery"})
	e.json(200, "admin", "POST", "/api/v1/users/sup-li/change", map[string]any{"name": "李四", "reason": "改名"})
	e.json(200, "admin", "POST", "/api/v1/users/sup-li/disable", map[string]any{"reason": "調離"})
	e.json(200, "admin", "POST", "/api/v1/users/sup-li/enable", map[string]any{"reason": "回來"})
	e.json(200, "admin", "POST", "/api/v1/users/sup-li/password", map[string]any{"password": "another long password"})
	for _, p := range []string{"/api/v1/users", "/api/v1/users/sup-li", "/api/v1/users/sup-li/can", "/api/v1/users/clerk-wang/can", "/api/v1/access/who?unit=cun-1&action=evidence.write",
		"/api/v1/audit/access?limit=50"} {
		e.want(200, "supervisor", "GET", p, "", nil)
	}
	e.want(200, "admin", "GET", "/api/v1/tokens", "", nil)
	e.want(200, "admin", "GET", "/api/v1/tokens?user=clerk-wang", "", nil)
	e.json(200, "admin", "POST", "/api/v1/tokens/"+tok.TokenID+"/revoke", nil)
	e.want(401, "clerk", "GET", "/api/v1/me", "", nil) // revoked
	e.json(200, "", "POST", "/api/v1/session", map[string]any{"user": "sup-li", "password": "another long password"})
	e.json(401, "", "POST", "/api/v1/session", map[string]any{"user": "sup-li", "password": "wrong password!"})
	st := 401
	for i := 0; st == 401 && i < 10; i++ { // the sign-in limiter blocks the account after a few
		st, _, _ = e.do("", "POST", "/api/v1/session", "application/json", []byte(`{"user":"sup-li","password":"wrong password!"}`))
	}
	if st != 429 {
		t.Fatalf("failed sign-ins: %d, want 429 in the end", st)
	}

	// Devices.
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	e.json(201, "inspector", "POST", "/api/v1/devices", map[string]any{"public_key": events.FormatPublicKey(pub), "label": "相機"})
	e.want(200, "inspector", "GET", "/api/v1/devices", "", nil)
	e.want(200, "admin", "GET", "/api/v1/devices?user=*", "", nil)
	e.want(200, "supervisor", "GET", "/api/v1/devices/registry", "", nil)
	e.json(200, "inspector", "POST", "/api/v1/devices/"+events.KeyID(pub)+"/revoke", map[string]any{"reason": "丟失"})
	e.json(404, "inspector", "POST", "/api/v1/devices/nokey/revoke", map[string]any{"reason": "x"})

	// Audit views.
	for _, v := range []string{"devices", "corrections", "backfill", "bursts", "reuse", "photo-times", "actors"} {
		e.want(200, "supervisor", "GET", "/api/v1/audit/"+v+"?unit=cun-1", "", nil)
		e.want(200, "supervisor", "GET", "/api/v1/audit/"+v, "", nil)
	}

	// Checkpoints and proofs.
	e.want(200, "supervisor", "GET", "/api/v1/checkpoints/key", "", nil)
	e.want(201, "admin", "POST", "/api/v1/checkpoints", "", nil)
	e.want(200, "admin", "POST", "/api/v1/checkpoints", "", nil)
	e.want(200, "supervisor", "GET", "/api/v1/checkpoints/latest", "", nil)
	e.want(200, "supervisor", "GET", "/api/v1/checkpoints/latest?format=note", "", nil)
	e.want(200, "supervisor", "GET", "/api/v1/checkpoints", "", nil)
	e.want(200, "supervisor", "GET", "/api/v1/checkpoints/1", "", nil)
	e.want(404, "supervisor", "GET", "/api/v1/checkpoints/99", "", nil)
	e.want(200, "supervisor", "GET", fmt.Sprintf("/api/v1/proofs/inclusion?seq=%d", rc.Sequence), "", nil)
	e.want(200, "supervisor", "GET", "/api/v1/proofs/consistency?from=1", "", nil)
	e.want(200, "supervisor", "GET", "/api/v1/units/cun-1/proof", "", nil)
	e.json(400, "supervisor", "POST", "/api/v1/checkpoints/1/cosignatures", map[string]any{"cosignature": "— nope", "key": "nope"})
	e.want(200, "supervisor", "GET", "/api/v1/units/cun-1/export", "", nil)

	// Errors of each kind.
	e.want(401, "", "GET", "/api/v1/units", "", nil)
	e.want(403, "inspector", "POST", "/api/v1/units", "application/json", []byte(`{"id":"x","name":"x","type":"village"}`))
	e.want(404, "admin", "GET", "/api/v1/units/nowhere", "", nil)
	e.want(400, "admin", "GET", "/api/v1/units/cun-1/history?as_of=yesterday", "", nil)
	e.want(400, "admin", "GET", "/api/v1/units?min_seq=-1", "", nil)
	e.json(409, "admin", "POST", "/api/v1/units", map[string]any{"id": "cun-1", "name": "東村", "type": "village"})
	e.want(400, "admin", "POST", "/api/v1/units", "application/json", []byte(`{"id":"x","bogus":1}`))
	e.want(503, "admin", "GET", "/api/v1/units?min_seq=999999", "", nil)
	e.want(200, "", "GET", "/readyz", "", nil)

	// Every operation without a token and as an inspector and a
	// supervisor with an empty JSON body, and as an admin with a malformed
	// min_seq (400 before anything is done): whatever it answers must be
	// an answer the document lists, as it describes it.
	fill := strings.NewReplacer("{unit}", "cun-1", "{id}", "0190a0a0-0000-7000-8000-0000000000ff", "{user}", "nobody", "{plan}", "test-plan",
		"{seq}", "1", "{sha256}", digest, "{key}", "nokey")
	probes := 0
	for path, item := range load(t).Paths {
		for method := range item {
			m, p := strings.ToUpper(method), fill.Replace(path)
			for _, who := range []string{"", "inspector", "supervisor"} {
				e.do(who, m, p, "application/json", []byte("{}"))
				probes++
			}
			if item[method].Action != "public" && item[method].Action != "health" {
				if st, _, b := e.do("admin", m, p+"?min_seq=x", "application/json", []byte("{}")); st != 400 {
					t.Errorf("%s %s?min_seq=x: %d %s", m, p, st, b)
				}
			}
		}
	}
	if probes < 150 {
		t.Errorf("only %d probes", probes)
	}
	if len(e.seen) < 70 {
		t.Errorf("only %d answers checked", len(e.seen))
	}
}

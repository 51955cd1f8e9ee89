package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"taizhang/api"
	"taizhang/auth"
	"taizhang/gate"
	"taizhang/httpserver"
	"taizhang/internal/testenv"
)

// towns is a county with two towns, each with villages, a photo in one
// village of each town, and one user of each role scoped to town A.
type towns struct {
	clerk, insp, sup, subAll string            // tokens: submitter of cun-a1, inspector and supervisor of zhen-a, submitter of zhen-a and below
	evidence                 map[string]string // unit -> an evidence id
	blob                     map[string]string // unit -> a photo digest
	finding                  map[string]string // unit -> a finding id
}

func setupTowns(t *testing.T, s *server) towns {
	t.Helper()
	for _, u := range []struct{ id, parent, typ string }{
		{"zhen-a", "", "town"}, {"cun-a1", "zhen-a", "village"}, {"cun-a2", "zhen-a", "village"},
		{"zhen-b", "", "town"}, {"cun-b1", "zhen-b", "village"},
	} {
		if r := s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": u.id, "name": u.id, "type": u.typ, "parent": u.parent}); r.Status != 201 {
			t.Fatalf("unit %s: %d %s", u.id, r.Status, r.Body)
		}
	}
	tw := towns{evidence: map[string]string{}, blob: map[string]string{}, finding: map[string]string{}}
	for i, unit := range []string{"cun-a1", "cun-b1"} {
		r := s.submit(t, s.Admin, unit, map[string]any{"kind": "photo", "title": "活動照片", "occurred_at": "2016-07-01"}, file{"p.png", pngPhoto(t, byte(40+i))})
		if r.Status != 201 {
			t.Fatalf("submit: %d %s", r.Status, r.Body)
		}
		var a submitAnswer
		r.decode(t, &a)
		tw.evidence[unit], tw.blob[unit] = a.ID, a.Attachments[0].SHA256
		fid := uuid.NewString()
		ct, body := multipartOf(t, "finding", []byte(`{"id":"`+fid+`","description":"整改","severity":"low","due":"2016-09-30"}`))
		r = s.do(t, s.Admin, "POST", "/api/v1/units/"+unit+"/findings", ct, body)
		if r.Status != 201 {
			t.Fatalf("finding: %d %s", r.Status, r.Body)
		}
		tw.finding[unit] = fid
	}
	tw.clerk = newUserToken(t, s, map[string]any{"id": "clerk", "role": "submitter", "scope": "cun-a1"})
	tw.insp = newUserToken(t, s, map[string]any{"id": "insp", "role": "inspector", "scope": "zhen-a"})
	tw.sup = newUserToken(t, s, map[string]any{"id": "sup", "role": "supervisor", "scope": "zhen-a"})
	tw.subAll = newUserToken(t, s, map[string]any{"id": "town-clerk", "role": "submitter", "scope": "zhen-a", "subtree": true})
	return tw
}

// newUserToken creates a user (POST /api/v1/users) and a token for it.
func newUserToken(t *testing.T, s *server, user map[string]any) string {
	t.Helper()
	if r := s.postJSON(t, s.Admin, "/api/v1/users", user); r.Status != 201 {
		t.Fatalf("user %v: %d %s", user, r.Status, r.Body)
	}
	var tok api.TokenAnswer
	r := s.postJSON(t, s.Admin, "/api/v1/tokens", map[string]any{"user": user["id"]})
	if r.Status != 201 {
		t.Fatalf("token for %v: %d %s", user["id"], r.Status, r.Body)
	}
	r.decode(t, &tok)
	return tok.Token
}

// reachOf is what the matrix expects of a role for an action: allowed on
// every unit, only in its scope, or never. It is written out here, apart
// from the server's rule table, so that a change to either shows.
type reachOf int

const (
	all reachOf = iota
	scope
	none
)

// matrix: admin, submitter (of cun-a1), inspector and supervisor (of zhen-a).
var matrix = map[auth.Action][4]reachOf{
	auth.ActHome:             {all, all, all, all},
	auth.ActSession:          {all, all, all, all},
	auth.ActUnitList:         {all, all, all, all},
	auth.ActPlanRead:         {all, all, all, all},
	auth.ActCheckpointRead:   {all, all, all, all},
	auth.ActStatus:           {all, all, all, all},
	auth.ActDevice:           {all, all, all, all},
	auth.ActVerify:           {all, scope, scope, scope},
	auth.ActBlobRead:         {all, scope, scope, scope},
	auth.ActUnitRead:         {all, scope, scope, scope},
	auth.ActEvidenceWrite:    {all, scope, none, none},
	auth.ActFindingWrite:     {all, none, scope, none},
	auth.ActAudit:            {all, none, none, scope},
	auth.ActAccessLog:        {all, none, none, scope},
	auth.ActUserRead:         {all, none, none, all},
	auth.ActUnitCreate:       {all, none, none, none},
	auth.ActTokenCreate:      {all, none, none, none},
	auth.ActTokenAdmin:       {all, none, none, none},
	auth.ActUserWrite:        {all, none, none, none},
	auth.ActPlanPublish:      {all, none, none, none},
	auth.ActCheckpointCreate: {all, none, none, none},
	auth.ActCosign:           {all, none, none, all},
}

// TestAuthorizationMatrix sends every route of the router, as every role,
// about a unit in the role's scope and one outside it, to the running
// server, and checks the status against the matrix: refused is 403 (a blob
// outside the scope is 404, as if it did not exist), allowed is anything
// but 401 and 403. Without a token every route but the public ones is 401.
// A route whose action is not in the matrix fails the test.
func TestAuthorizationMatrix(t *testing.T) {
	s := startServer(t, "")
	tw := setupTowns(t, s)
	roles := []struct {
		name  string
		token string
	}{{"admin", s.Admin}, {"submitter", tw.clerk}, {"inspector", tw.insp}, {"supervisor", tw.sup}}
	routes := httpserver.New(nil, nil, nil, nil, httpserver.Config{}, nil).Routes()
	if len(routes) < 40 {
		t.Fatalf("only %d routes", len(routes))
	}
	checked := 0
	for _, rt := range routes {
		method, pattern, _ := strings.Cut(rt.Pattern, " ")
		if rt.Action == auth.ActHealth || rt.Action == auth.ActPublic {
			continue
		}
		want, ok := matrix[rt.Action]
		if !ok {
			t.Errorf("route %s: action %q is not in the authorisation matrix", rt.Pattern, rt.Action)
			continue
		}
		for _, in := range []bool{true, false} {
			unit := map[bool]string{true: "cun-a1", false: "cun-b1"}[in]
			path := routePath(pattern, unit, tw, rt)
			if r := sendRoute(t, s, "", method, path); r.Status != 401 {
				t.Errorf("%s %s without a token: %d, want 401", method, path, r.Status)
			}
			for i, role := range roles {
				r := sendRoute(t, s, role.token, method, path)
				allowed := want[i] == all || (want[i] == scope && in)
				checked++
				switch {
				case allowed && (r.Status == 401 || r.Status == 403):
					t.Errorf("%s %s as %s: %d %s, want allowed", method, path, role.name, r.Status, r.Body)
				case !allowed && rt.Action == auth.ActBlobRead && r.Status != 404:
					t.Errorf("%s %s as %s: %d, want 404 (a blob out of scope does not exist)", method, path, role.name, r.Status)
				case !allowed && rt.Action != auth.ActBlobRead && r.Status != 403:
					t.Errorf("%s %s as %s: %d %s, want 403", method, path, role.name, r.Status, r.Body)
				}
			}
		}
	}
	t.Logf("%d routes, %d role x scope checks", len(routes), checked)
}

// routePath fills a route pattern's wildcards for a unit: its evidence,
// finding or blob, harmless ids elsewhere, and ?unit= for routes that take
// the unit as a query parameter.
func routePath(pattern, unit string, tw towns, rt gate.Route) string {
	id := uuid.NewString() // a token id that does not exist: revoke answers 404
	switch {
	case strings.Contains(pattern, "/evidence/"):
		id = tw.evidence[unit]
	case strings.Contains(pattern, "/findings/"):
		id = tw.finding[unit]
	}
	r := strings.NewReplacer("{unit}", unit, "{id}", id, "{sha256}", tw.blob[unit], "{plan}", "no-such-plan",
		"{user}", "clerk", "{$}", "", "{path...}", "x")
	p := r.Replace(pattern)
	if i := strings.Index(p, "{"); i >= 0 { // an unknown wildcard: fill it with something harmless
		j := strings.Index(p[i:], "}")
		p = p[:i] + "x" + p[i+j+1:]
	}
	return p + "?unit=" + unit
}

func sendRoute(t *testing.T, s *server, token, method, path string) reply {
	t.Helper()
	var body io.Reader
	ct := ""
	if method == http.MethodPost {
		body, ct = strings.NewReader(`{}`), "application/json"
	}
	return s.do(t, token, method, path, ct, body)
}

// TestScopes: a submitter of one village can neither read nor write
// another; a town's inspector sees the town's villages and not another
// town's; disabled users, expired and revoked tokens stop working at once;
// and "who could do what on T" replays after a role change.
func TestScopes(t *testing.T) {
	s := startServer(t, "")
	tw := setupTowns(t, s)
	photo := file{"q.png", pngPhoto(t, 77)}
	ev := map[string]any{"kind": "activity", "title": "學習", "occurred_at": "2016-07-02"}

	for _, c := range []struct {
		token, method, unit string
		want                int
	}{
		{tw.clerk, "read", "cun-a1", 200}, {tw.clerk, "read", "cun-a2", 403}, {tw.clerk, "read", "cun-b1", 403},
		{tw.clerk, "write", "cun-a1", 201}, {tw.clerk, "write", "cun-a2", 403}, {tw.clerk, "write", "cun-b1", 403},
		{tw.subAll, "write", "cun-a2", 201}, {tw.subAll, "read", "zhen-a", 200}, {tw.subAll, "read", "cun-b1", 403},
		{tw.insp, "read", "cun-a1", 200}, {tw.insp, "read", "cun-a2", 200}, {tw.insp, "read", "zhen-a", 200},
		{tw.insp, "read", "cun-b1", 403}, {tw.insp, "read", "zhen-b", 403}, {tw.insp, "write", "cun-a1", 403},
		{tw.sup, "read", "cun-a2", 200}, {tw.sup, "read", "cun-b1", 403},
	} {
		var r reply
		if c.method == "read" {
			r = s.get(t, c.token, "/api/v1/units/"+c.unit+"/archive")
		} else {
			r = s.submit(t, c.token, c.unit, ev, photo)
		}
		if r.Status != c.want {
			t.Errorf("%s %s with %s...: %d %s, want %d", c.method, c.unit, c.token[:6], r.Status, r.Body, c.want)
		}
	}
	// Unit lists show only the scope.
	for token, want := range map[string]string{tw.clerk: "cun-a1", tw.insp: "cun-a1,cun-a2,zhen-a", s.Admin: "cun-a1,cun-a2,cun-b1,zhen-a,zhen-b"} {
		var l struct{ Units []struct{ ID string } }
		s.get(t, token, "/api/v1/units").decode(t, &l)
		var ids []string
		for _, u := range l.Units {
			ids = append(ids, u.ID)
		}
		if strings.Join(ids, ",") != want {
			t.Errorf("unit list: %v, want %s", ids, want)
		}
	}
	// The inspector records findings in its town only; a scoped
	// supervisor's audit views show only its town.
	fct, fbody := multipartOf(t, "finding", []byte(`{"description":"x","severity":"low","due":"2016-09-30"}`))
	if r := s.do(t, tw.insp, "POST", "/api/v1/units/cun-b1/findings", fct, fbody); r.Status != 403 {
		t.Errorf("inspector of zhen-a records a finding in cun-b1: %d", r.Status)
	}
	r := s.get(t, tw.sup, "/api/v1/audit/actors")
	if r.Status != 200 || strings.Contains(string(r.Body), "cun-b1") {
		t.Errorf("scoped supervisor's actors view: %d %s", r.Status, r.Body)
	}
	// Blobs: only those of units in scope; others do not exist.
	if r := s.get(t, tw.clerk, "/api/v1/blobs/"+tw.blob["cun-a1"]); r.Status != 200 {
		t.Errorf("own blob: %d", r.Status)
	}
	if r := s.get(t, tw.clerk, "/api/v1/blobs/"+tw.blob["cun-b1"]); r.Status != 404 {
		t.Errorf("another unit's blob: %d", r.Status)
	}

	// An expired token is refused.
	var exp api.TokenAnswer
	s.postJSON(t, s.Admin, "/api/v1/tokens", map[string]any{"user": "insp", "expires_in": "1ms"}).decode(t, &exp)
	testenv.Eventually(t, 5*time.Second, func() error {
		if r := s.get(t, exp.Token, "/api/v1/units"); r.Status != 401 || !strings.Contains(string(r.Body), "expired") {
			return fmt.Errorf("expired token: %d %s", r.Status, r.Body)
		}
		return nil
	})
	// A revoked token is refused at once; the list shows it revoked.
	var tok2 api.TokenAnswer
	s.postJSON(t, s.Admin, "/api/v1/tokens", map[string]any{"user": "insp", "label": "laptop"}).decode(t, &tok2)
	if r := s.get(t, tok2.Token, "/api/v1/units"); r.Status != 200 {
		t.Fatalf("new token: %d", r.Status)
	}
	if r := s.postJSON(t, s.Admin, "/api/v1/tokens/"+tok2.TokenID+"/revoke", nil); r.Status != 200 {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	if r := s.get(t, tok2.Token, "/api/v1/units"); r.Status != 401 || !strings.Contains(string(r.Body), "revoked") {
		t.Errorf("revoked token: %d %s", r.Status, r.Body)
	}
	var list struct {
		Tokens []struct {
			ID     string `json:"token_id"`
			User   string
			Status string
			Label  string
		}
	}
	s.get(t, s.Admin, "/api/v1/tokens?user=insp").decode(t, &list)
	statuses := map[string]string{}
	for _, tk := range list.Tokens {
		statuses[tk.ID] = tk.Status
		if tk.User != "insp" {
			t.Errorf("token list for insp shows %+v", tk)
		}
	}
	if statuses[tok2.TokenID] != "revoked" || statuses[exp.TokenID] != "expired" || len(list.Tokens) != 3 {
		t.Errorf("token list: %+v", list)
	}
	if strings.Contains(fmt.Sprint(list), tok2.Token) {
		t.Error("token list shows a token")
	}

	// A disabled user's token stops at once; enabling brings it back.
	if r := s.postJSON(t, s.Admin, "/api/v1/users/clerk/disable", map[string]any{}); r.Status != 400 {
		t.Errorf("disable without a reason: %d", r.Status)
	}
	if r := s.postJSON(t, s.Admin, "/api/v1/users/clerk/disable", map[string]any{"reason": "調離崗位"}); r.Status != 200 {
		t.Fatalf("disable: %d %s", r.Status, r.Body)
	}
	if r := s.get(t, tw.clerk, "/api/v1/units/cun-a1"); r.Status != 401 || !strings.Contains(string(r.Body), "disabled") {
		t.Errorf("disabled user's token: %d %s", r.Status, r.Body)
	}
	s.postJSON(t, s.Admin, "/api/v1/users/clerk/enable", map[string]any{"reason": "返崗"})
	if r := s.get(t, tw.clerk, "/api/v1/units/cun-a1"); r.Status != 200 {
		t.Errorf("enabled again: %d %s", r.Status, r.Body)
	}

	// A role change: clerk becomes zhen-b's inspector. Its old token now
	// acts as that; "who could do what" on the earlier date says submitter.
	// "Before" is the moment of the last event about clerk (its enabling).
	var cur api.UserAnswer
	s.get(t, tw.sup, "/api/v1/users/clerk").decode(t, &cur)
	before := cur.History[len(cur.History)-1].RecordedAt.Format(time.RFC3339Nano)
	if r := s.postJSON(t, s.Admin, "/api/v1/users/clerk/change", map[string]any{"role": "inspector", "scope": "zhen-b", "reason": "調任西鎮檢查員"}); r.Status != 200 {
		t.Fatalf("change: %d %s", r.Status, r.Body)
	}
	if r := s.submit(t, tw.clerk, "cun-a1", ev); r.Status != 403 {
		t.Errorf("after the change the old submitter writes: %d", r.Status)
	}
	if r := s.get(t, tw.clerk, "/api/v1/units/cun-b1/archive"); r.Status != 200 {
		t.Errorf("after the change the new inspector reads its town: %d", r.Status)
	}
	var thenCan, nowCan api.CanAnswer
	s.get(t, tw.sup, "/api/v1/users/clerk/can?as_of="+url.QueryEscape(before)).decode(t, &thenCan)
	s.get(t, tw.sup, "/api/v1/users/clerk/can").decode(t, &nowCan)
	can := func(c api.CanAnswer, act auth.Action) string {
		for _, p := range c.Can {
			if p.Action == act {
				return strings.Join(p.Units, ",")
			}
		}
		return "-"
	}
	if thenCan.User.Role != "submitter" || can(thenCan, auth.ActEvidenceWrite) != "cun-a1" || can(thenCan, auth.ActFindingWrite) != "-" {
		t.Errorf("clerk before the change: %+v", thenCan)
	}
	if nowCan.User.Role != "inspector" || can(nowCan, auth.ActEvidenceWrite) != "-" || can(nowCan, auth.ActFindingWrite) != "cun-b1,zhen-b" {
		t.Errorf("clerk after the change: %+v", nowCan)
	}
	var who struct{ Users []struct{ ID string } }
	s.get(t, tw.sup, "/api/v1/access/who?unit=cun-a1&action=evidence.write&as_of="+url.QueryEscape(before)).decode(t, &who)
	if fmt.Sprint(who.Users) != "[{admin} {clerk} {town-clerk}]" {
		t.Errorf("who could write cun-a1 before: %v", who.Users)
	}
	s.get(t, tw.sup, "/api/v1/access/who?unit=cun-a1&action=evidence.write").decode(t, &who)
	if fmt.Sprint(who.Users) != "[{admin} {town-clerk}]" {
		t.Errorf("who can write cun-a1 now: %v", who.Users)
	}
	// The users chain is in the ledger, hash-chained like every unit.
	if code, out, errs := runVerifyLive(t, s); code != 0 {
		t.Errorf("verify: %d %s %s", code, out, errs)
	}
}

// runVerifyLive stops the server, verifies its data directory, and starts
// it again.
func runVerifyLive(t *testing.T, s *server) (int, string, string) {
	t.Helper()
	s.stop(t)
	defer s.start(t)
	return runVerify(t, "--data", s.Data, "--no-blobs")
}

// browser is an HTTP client with a cookie jar, as a web browser is.
type browser struct {
	c    *http.Client
	base string
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, base: base}
}

func (b *browser) do(t *testing.T, method, path, ct string, body io.Reader, hdr map[string]string) reply {
	t.Helper()
	req, _ := http.NewRequest(method, b.base+path, body)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: rb}
}

func (b *browser) signIn(t *testing.T, user, password string) (reply, string) {
	t.Helper()
	js, _ := json.Marshal(map[string]string{"user": user, "password": password})
	r := b.do(t, "POST", "/api/v1/session", "application/json", bytes.NewReader(js), nil)
	var a struct{ CSRF string }
	_ = json.Unmarshal(r.Body, &a)
	return r, a.CSRF
}

// TestSessions: password sign-in with a HttpOnly, SameSite cookie; CSRF on
// every state-changing request; rate-limited failures, recorded; a forged
// cookie refused; sign-out and disabling end the session at once.
func TestSessions(t *testing.T) {
	s := startServer(t, "", "--max-file-mib", "1", "--max-request-mib", "2")
	tw := setupTowns(t, s)
	const pw = "correct horse battery"
	if r := s.postJSON(t, s.Admin, "/api/v1/users/clerk/password", map[string]string{"password": "short"}); r.Status != 400 {
		t.Errorf("short password: %d", r.Status)
	}
	if r := s.postJSON(t, s.Admin, "/api/v1/users/clerk/password", map[string]string{"password": pw}); r.Status != 200 {
		t.Fatalf("password: %d %s", r.Status, r.Body)
	}
	b := newBrowser(t, s.URL)
	r, csrf := b.signIn(t, "clerk", pw)
	if r.Status != 200 || csrf == "" {
		t.Fatalf("sign in: %d %s", r.Status, r.Body)
	}
	ck := r.Header.Get("Set-Cookie")
	if !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Lax") || !strings.HasPrefix(ck, "tz_session=") {
		t.Errorf("cookie: %s", ck)
	}
	if r := b.do(t, "GET", "/api/v1/units/cun-a1/archive", "", nil, nil); r.Status != 200 {
		t.Fatalf("read with the session: %d %s", r.Status, r.Body)
	}
	if r := b.do(t, "GET", "/api/v1/units/cun-b1/archive", "", nil, nil); r.Status != 403 {
		t.Errorf("session out of scope: %d", r.Status)
	}
	// Writes need the CSRF token: as a header, or a form's first field.
	ev := map[string]any{"kind": "activity", "title": "會議", "occurred_at": "2016-07-03"}
	meta, _ := json.Marshal(ev)
	ct, body := multipartOf(t, "evidence", meta)
	if r := b.do(t, "POST", "/api/v1/units/cun-a1/evidence", ct, body, nil); r.Status != 403 {
		t.Errorf("form without CSRF: %d %s", r.Status, r.Body)
	}
	ct, body = multipartOf(t, "evidence", meta)
	if r := b.do(t, "POST", "/api/v1/units/cun-a1/evidence", ct, body, map[string]string{"X-CSRF-Token": "forged"}); r.Status != 403 {
		t.Errorf("wrong CSRF token: %d", r.Status)
	}
	ct, body = multipartOf(t, "evidence", meta)
	if r := b.do(t, "POST", "/api/v1/units/cun-a1/evidence", ct, body, map[string]string{"X-CSRF-Token": csrf}); r.Status != 201 {
		t.Errorf("with CSRF header: %d %s", r.Status, r.Body)
	}
	var form bytes.Buffer
	mw := newMultipart(&form, map[string]string{"csrf": csrf}, "evidence", `{"kind":"activity","title":"表單","occurred_at":"2016-07-04"}`)
	if r := b.do(t, "POST", "/api/v1/units/cun-a1/evidence", mw, &form, nil); r.Status != 201 {
		t.Errorf("form with CSRF first: %d %s", r.Status, r.Body)
	}
	// The rest of a session's form, read past its CSRF field, is bounded by
	// the request limit like any upload: three files of 0.9 MiB over 2 MiB.
	form.Reset()
	mw2 := multipart.NewWriter(&form)
	mw2.WriteField("csrf", csrf)
	mw2.WriteField("evidence", `{"kind":"document","title":"大","occurred_at":"2016-07-04"}`)
	for i := range 3 {
		fw, _ := mw2.CreateFormFile("attachment", fmt.Sprintf("notes-%d.txt", i))
		fw.Write(bytes.Repeat([]byte("學習筆記 notes\n"), 900<<10/19))
	}
	mw2.Close()
	headBefore := s.get(t, s.Admin, "/api/v1/units/cun-a1").Body
	if r := b.do(t, "POST", "/api/v1/units/cun-a1/evidence", mw2.FormDataContentType(), &form, nil); r.Status != 413 {
		t.Errorf("session form over the request limit: %d %s", r.Status, r.Body)
	}
	if after := s.get(t, s.Admin, "/api/v1/units/cun-a1").Body; !bytes.Equal(after, headBefore) {
		t.Errorf("an oversize session form changed the unit: %s -> %s", headBefore, after)
	}
	if r := b.do(t, "POST", "/api/v1/session/end", "application/x-www-form-urlencoded", strings.NewReader("x=1"), nil); r.Status != 403 {
		t.Errorf("url-encoded form without CSRF: %d", r.Status)
	}
	ct, body = multipartOf(t, "evidence", meta)
	if r := b.do(t, "POST", "/api/v1/units/cun-a1/evidence", ct, body, map[string]string{"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"}); r.Status != 403 {
		t.Errorf("cross-site request: %d", r.Status)
	}
	// A forged cookie is refused.
	forged := newBrowser(t, s.URL)
	u, _ := url.Parse(s.URL)
	forged.c.Jar.SetCookies(u, []*http.Cookie{{Name: "tz_session", Value: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}})
	if r := forged.do(t, "GET", "/api/v1/me", "", nil, nil); r.Status != 401 {
		t.Errorf("forged cookie: %d", r.Status)
	}
	// Sign out: the cookie stops working at once.
	if r := b.do(t, "POST", "/api/v1/session/end", "", nil, map[string]string{"X-CSRF-Token": csrf}); r.Status != 204 {
		t.Fatalf("sign out: %d %s", r.Status, r.Body)
	}
	if r := b.do(t, "GET", "/api/v1/me", "", nil, nil); r.Status != 401 {
		t.Errorf("after sign-out: %d", r.Status)
	}
	// Disabling the user ends its session at once.
	b2 := newBrowser(t, s.URL)
	if r, _ := b2.signIn(t, "clerk", pw); r.Status != 200 {
		t.Fatalf("sign in again: %d", r.Status)
	}
	s.postJSON(t, s.Admin, "/api/v1/users/clerk/disable", map[string]any{"reason": "離職"})
	if r := b2.do(t, "GET", "/api/v1/me", "", nil, nil); r.Status != 401 {
		t.Errorf("disabled user's session: %d", r.Status)
	}
	if r, _ := b2.signIn(t, "clerk", pw); r.Status != 401 {
		t.Errorf("disabled user signs in: %d", r.Status)
	}
	// Failed sign-ins: 401 each, then 429 for the account.
	s.postJSON(t, s.Admin, "/api/v1/users", map[string]any{"id": "victim", "role": "inspector", "password": pw})
	b3 := newBrowser(t, s.URL)
	for i := 0; i < 5; i++ {
		if r, _ := b3.signIn(t, "victim", fmt.Sprintf("wrong password %d", i)); r.Status != 401 {
			t.Fatalf("wrong password %d: %d", i, r.Status)
		}
	}
	if r, _ := b3.signIn(t, "victim", pw); r.Status != 429 || r.Header.Get("Retry-After") == "" {
		t.Errorf("after 5 failures, even the right password: %d %v", r.Status, r.Header)
	}
	if r, _ := b3.signIn(t, "nobody-here", pw); r.Status != 401 {
		t.Errorf("unknown user: %d", r.Status)
	}
	// Token sign-in for the browser.
	b4 := newBrowser(t, s.URL)
	js, _ := json.Marshal(map[string]string{"token": tw.insp})
	if r := b4.do(t, "POST", "/api/v1/session", "application/json", bytes.NewReader(js), nil); r.Status != 200 {
		t.Fatalf("token sign-in: %d %s", r.Status, r.Body)
	}
	if r := b4.do(t, "GET", "/api/v1/units/cun-a2/archive", "", nil, nil); r.Status != 200 {
		t.Errorf("token session read: %d", r.Status)
	}
	// The failures are in the access log.
	testenv.Eventually(t, 10*time.Second, func() error {
		var l struct{ Entries []auth.AccessEntry }
		s.get(t, s.Admin, "/api/v1/audit/access?action=login&outcome=denied").decode(t, &l)
		if n := len(l.Entries); n < 7 {
			return fmt.Errorf("%d denied sign-ins logged", n)
		}
		return nil
	})
}

// newMultipart writes a multipart form with fields first (in order given by
// the keys csrf, then the rest) and a JSON part; it returns the content type.
func newMultipart(buf *bytes.Buffer, fields map[string]string, jsonName, jsonValue string) string {
	mw := multipart.NewWriter(buf)
	if v, ok := fields["csrf"]; ok {
		mw.WriteField("csrf", v)
	}
	for k, v := range fields {
		if k != "csrf" {
			mw.WriteField(k, v)
		}
	}
	mw.WriteField(jsonName, jsonValue)
	mw.Close()
	return mw.FormDataContentType()
}

// TestAccessLog: every read of a unit's archive, history, blob and audit
// view, and every denied request, is in the access log with actor, action,
// target, client and outcome; supervisors read it, a scoped one only about
// its scope; submitters may not.
func TestAccessLog(t *testing.T) {
	s := startServer(t, "")
	tw := setupTowns(t, s)
	s.get(t, tw.insp, "/api/v1/units/cun-a1/archive")
	s.get(t, tw.insp, "/api/v1/units/cun-a1/history")
	s.get(t, tw.insp, "/api/v1/blobs/"+tw.blob["cun-a1"]+"?unit=cun-a1")
	s.get(t, tw.insp, "/api/v1/units/cun-b1/archive") // denied
	s.get(t, "", "/api/v1/units/cun-a1/archive")      // denied: no token
	s.get(t, tw.sup, "/api/v1/audit/reuse")
	want := []string{
		"insp unit.read GET /api/v1/units/cun-a1/archive allowed",
		"insp unit.read GET /api/v1/units/cun-a1/history allowed",
		"insp blob.read GET /api/v1/blobs/" + tw.blob["cun-a1"] + " cun-a1 allowed",
		"insp unit.read GET /api/v1/units/cun-b1/archive denied",
		" unit.read GET /api/v1/units/cun-a1/archive denied",
		"sup audit GET /api/v1/audit/reuse allowed",
	}
	var l struct{ Entries []auth.AccessEntry }
	testenv.Eventually(t, 10*time.Second, func() error {
		s.get(t, s.Admin, "/api/v1/audit/access?limit=100000").decode(t, &l)
		have := map[string]bool{}
		for _, e := range l.Entries {
			k := fmt.Sprintf("%s %s %s %s", e.Actor, e.Action, e.Method, e.Path)
			if e.Action == auth.ActBlobRead {
				k += " " + e.Unit // the unit the blob was read as (?unit=)
			}
			have[k+" "+e.Outcome] = true
			if e.Client == "" || e.Time.IsZero() || e.Status == 0 {
				return fmt.Errorf("entry without client, time or status: %+v", e)
			}
		}
		for _, w := range want {
			if !have[w] {
				return fmt.Errorf("not in the access log: %q (have %v)", w, have)
			}
		}
		return nil
	})
	// Scoped supervisor: entries about its town's units, and what people of
	// its town did elsewhere (the clerk's and the inspector's denied reads
	// of cun-b1), nothing else; the submitter: refused.
	s.get(t, tw.clerk, "/api/v1/units/cun-b1/archive")                                                    // denied, by a clerk of zhen-a
	s.get(t, newUserToken(t, s, map[string]any{"id": "clerk-b", "role": "submitter", "scope": "cun-b1"}), // a clerk of zhen-b
		"/api/v1/units/cun-a2/archive") // denied, about zhen-a's unit
	s.get(t, s.Admin, "/api/v1/units/cun-b1/archive") // allowed, an admin, about zhen-b
	inTown := map[string]bool{"cun-a1": true, "cun-a2": true, "zhen-a": true}
	var scoped struct{ Entries []auth.AccessEntry }
	testenv.Eventually(t, 10*time.Second, func() error {
		s.get(t, tw.sup, "/api/v1/audit/access?limit=100000").decode(t, &scoped)
		seen := map[string]bool{}
		for _, e := range scoped.Entries {
			if !inTown[e.Unit] && !inTown[e.ActorUnit] {
				return fmt.Errorf("zhen-a's supervisor sees %+v", e)
			}
			if e.Unit == "cun-b1" && e.Outcome == auth.OutcomeDenied {
				seen[e.Actor] = true
			}
			if e.Unit == "cun-a2" && e.Actor == "clerk-b" {
				seen[e.Actor] = true
			}
		}
		for _, who := range []string{"insp", "clerk", "clerk-b"} {
			if !seen[who] {
				return fmt.Errorf("zhen-a's supervisor does not see %s's denied read (sees %d entries)", who, len(scoped.Entries))
			}
		}
		return nil
	})
	if r := s.get(t, tw.sup, "/api/v1/audit/access?unit=cun-b1"); r.Status != 403 {
		t.Errorf("scoped supervisor asks about cun-b1: %d", r.Status)
	}
	if r := s.get(t, tw.clerk, "/api/v1/audit/access"); r.Status != 403 {
		t.Errorf("submitter reads the access log: %d", r.Status)
	}
	// The CLI prints it.
	code, out, errs := cli(t, s, s.Admin, "audit", "access", "--outcome", "denied", "--unit", "cun-b1")
	if code != 0 || !strings.Contains(out, "insp") || !strings.Contains(out, "denied 403") {
		t.Errorf("audit access: %d %s %s", code, out, errs)
	}
	// The log survives a restart (it is a stream, not memory).
	s.restart(t)
	s.get(t, s.Admin, "/api/v1/audit/access?unit=cun-b1&outcome=denied").decode(t, &l)
	if len(l.Entries) == 0 {
		t.Error("access log lost in a restart")
	}
}

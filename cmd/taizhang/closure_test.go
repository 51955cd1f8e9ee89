package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
	"taizhang/internal/demo"
)

// TestClosureRules: through the HTTP API, a finding is closed only on a
// rectification whose photo was taken after the finding, near the
// finding's photo, filed by someone other than the resolver; each refusal
// is a 422 naming the rule; an override needs a reason and is listed in
// the corrections audit; the resolve names the evidence it relied on.
func TestClosureRules(t *testing.T) {
	s := startServer(t, "", "--closure-distance", "150")
	s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": "dongcun", "name": "東村村委會", "type": "village"})
	token := func(role, unit string) string {
		var tok struct{ Token string }
		s.postJSON(t, s.Admin, "/api/v1/tokens", map[string]any{"role": role, "unit": unit, "user": strings.TrimSuffix(role+"-"+unit, "-")}).decode(t, &tok)
		return tok.Token
	}
	inspector, clerk, supervisor := token("inspector", ""), token("submitter", "dongcun"), token("supervisor", "")
	zone := time.FixedZone("UTC+8", 8*3600) // the server's default zone, which reads EXIF times
	site := &events.GPS{Lat: 23.1, Lon: 113.3}
	photo := func(seed uint8, taken time.Time, pos *events.GPS) []byte {
		b, err := demo.WithEXIF(jpegPhoto(t, seed), taken.In(zone), pos)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	record := func(desc string, pos *events.GPS) string {
		fid := uuid.NewString()
		meta := []byte(`{"id":"` + fid + `","description":"` + desc + `","severity":"high","due":"2030-01-01"}`)
		ct, body := multipartOf(t, "finding", meta, file{"督查.jpg", photo(1, time.Now().Add(-time.Minute), pos)})
		if r := s.do(t, inspector, "POST", "/api/v1/units/dongcun/findings", ct, body); r.Status != 201 {
			t.Fatalf("record finding: %d %s", r.Status, r.Body)
		}
		return fid
	}
	rect := func(token, fid string, seed uint8, p []byte) string {
		id := uuid.NewString()
		meta := map[string]any{"id": id, "kind": "rectification", "title": "整改" + string(rune('A'+seed)), "occurred_at": time.Now().In(zone).Format(time.DateOnly), "finding": fid}
		var files []file
		if p != nil {
			files = append(files, file{"整改後.jpg", p})
		}
		if r := s.submit(t, token, "dongcun", meta, files...); r.Status != 201 {
			t.Fatalf("rectification: %d %s", r.Status, r.Body)
		}
		return id
	}
	resolve := func(token, fid string, version int, body map[string]any) reply {
		body["expected_version"] = version
		return s.postJSON(t, token, "/api/v1/units/dongcun/findings/"+fid+"/resolve", body)
	}
	refused := func(r reply, words string) {
		t.Helper()
		var e struct {
			Error struct{ Code, Message string }
		}
		r.decode(t, &e)
		if r.Status != 422 || e.Error.Code != "not_closable" || !strings.Contains(e.Error.Message, words) {
			t.Fatalf("want 422 not_closable %q, got %d %s", words, r.Status, r.Body)
		}
	}
	count := func() int { return len(s.history(t, s.Admin, "dongcun", "")) }

	// A finding with a position: each rule in turn.
	a := record("宣傳欄破損", site)
	before := count()
	refused(resolve(inspector, a, 1, map[string]any{"reason": "同意"}), "no rectification has been filed")
	rect(clerk, a, 1, nil)
	refused(resolve(inspector, a, 1, map[string]any{}), "has no photo")
	rect(clerk, a, 2, photo(2, time.Now().Add(-48*time.Hour), site))
	refused(resolve(inspector, a, 1, map[string]any{}), "before the finding was recorded")
	rect(clerk, a, 3, photo(3, time.Now().Add(time.Minute), nil))
	refused(resolve(inspector, a, 1, map[string]any{}), "carries no position")
	rect(clerk, a, 4, photo(4, time.Now().Add(time.Minute), &events.GPS{Lat: 23.102, Lon: 113.3})) // ~222 m: over 150
	refused(resolve(inspector, a, 1, map[string]any{}), "at most 150 m")
	if got := count(); got != before+4 {
		t.Fatalf("refused resolves appended: %d events, want %d (the four rectifications)", got, before+4)
	}
	good := rect(clerk, a, 5, photo(5, time.Now().Add(time.Minute), &events.GPS{Lat: 23.1005, Lon: 113.3})) // ~56 m
	if r := resolve(inspector, a, 1, map[string]any{"reason": "已核實"}); r.Status != 200 {
		t.Fatalf("resolve: %d %s", r.Status, r.Body)
	}

	// Separation: the resolver filed the only rectification.
	b := record("警示牌缺失", nil)
	mine := rect(s.Admin, b, 6, photo(6, time.Now().Add(time.Minute), nil))
	refused(resolve(s.Admin, b, 1, map[string]any{}), "you filed the rectification")
	if r := resolve(inspector, b, 1, map[string]any{}); r.Status != 200 {
		t.Fatalf("resolve by another: %d %s", r.Status, r.Body)
	}

	// An override needs a reason, is recorded as one, and is audited.
	c := record("垃圾未清運", nil)
	// The CLI says why it refuses, and exits non-zero.
	code, out, errs := cli(t, s, inspector, "finding", "resolve", "--unit", "dongcun", "--id", c, "--version", "1")
	if code == 0 || !strings.Contains(errs, "no rectification has been filed") {
		t.Fatalf("CLI resolve of an unanswered finding: %d %q %q", code, out, errs)
	}
	if code, out, errs := cli(t, s, inspector, "finding", "resolve", "--unit", "dongcun", "--id", c, "--version", "1", "--override"); code != 2 || !strings.Contains(errs, "--reason") {
		t.Fatalf("CLI override without a reason: %d %q %q", code, out, errs)
	}
	if r := resolve(inspector, c, 1, map[string]any{"override": true}); r.Status != 400 {
		t.Fatalf("override without a reason: %d %s", r.Status, r.Body)
	}
	if r := resolve(inspector, c, 1, map[string]any{"override": true, "reason": "現場已核實，村委暫無法拍照"}); r.Status != 200 {
		t.Fatalf("override: %d %s", r.Status, r.Body)
	}

	var v struct {
		Resolved []struct {
			ID       string `json:"id"`
			Closures []struct {
				Basis *struct {
					Evidence  string   `json:"evidence"`
					Photo     string   `json:"photo"`
					TakenFrom string   `json:"taken_from"`
					Distance  *float64 `json:"distance_m"`
				} `json:"basis"`
				Override bool `json:"override"`
			} `json:"closures"`
		}
	}
	s.get(t, clerk, "/api/v1/units/dongcun/findings").decode(t, &v)
	closed := map[string]int{}
	for i, f := range v.Resolved {
		closed[f.ID] = i
		if len(f.Closures) != 1 {
			t.Fatalf("finding %s closures: %+v", f.ID, f.Closures)
		}
	}
	if len(v.Resolved) != 3 {
		t.Fatalf("resolved: %+v", v.Resolved)
	}
	ca, cb, cc := v.Resolved[closed[a]].Closures[0], v.Resolved[closed[b]].Closures[0], v.Resolved[closed[c]].Closures[0]
	if ca.Basis == nil || ca.Basis.Evidence != good || ca.Basis.TakenFrom != "exif" || ca.Basis.Distance == nil || *ca.Basis.Distance < 40 || *ca.Basis.Distance > 70 || ca.Override {
		t.Errorf("closure of a: %+v", ca.Basis)
	}
	if cb.Basis == nil || cb.Basis.Evidence != mine || cb.Basis.Distance != nil {
		t.Errorf("closure of b: %+v", cb.Basis)
	}
	if cc.Basis != nil || !cc.Override {
		t.Errorf("closure of c: %+v", cc)
	}
	code, out, errs = cli(t, s, inspector, "finding", "list", "--unit", "dongcun")
	if code != 0 || !strings.Contains(out, "closed on rectification "+good) || !strings.Contains(out, "m from the finding's photo") || strings.Count(out, "OVERRIDE") != 1 {
		t.Errorf("finding list: %d %q %q", code, out, errs)
	}
	var corr struct {
		Corrections []struct {
			Kind, Reason string
			Target       string `json:"target"`
		}
	}
	s.get(t, supervisor, "/api/v1/audit/corrections").decode(t, &corr)
	var overrides []string
	for _, x := range corr.Corrections {
		if x.Kind == "closure_overridden" {
			overrides = append(overrides, x.Target+" "+x.Reason)
		}
	}
	if len(overrides) != 1 || overrides[0] != c+" 現場已核實，村委暫無法拍照" {
		t.Errorf("overrides in the audit: %q", overrides)
	}
}

// TestClosureDistanceFlag: a bad --closure-distance stops serve with a
// usage error (exit 2), before it opens anything.
func TestClosureDistanceFlag(t *testing.T) {
	for _, v := range []string{"0", "-5", "NaN", "100001", "far"} {
		var out, errb bytes.Buffer
		code := Run(context.Background(), []string{"serve", "--data", t.TempDir(), "--closure-distance", v}, nil, &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), "closure-distance") {
			t.Errorf("--closure-distance %s: exit %d, %q", v, code, errb.String())
		}
	}
}

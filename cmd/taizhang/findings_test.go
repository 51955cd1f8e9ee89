package main

import (
	"strings"
	"testing"

	"github.com/google/uuid"
)

// TestFindingsFlow: an inspector records a finding with a photo, the unit
// answers with a rectification, the inspector rejects it (reopen with a
// reason), the unit rectifies again, the inspector resolves it; the list
// shows the whole chain, as of any time, through the HTTP API.
func TestFindingsFlow(t *testing.T) {
	s := startServer(t, "")
	s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": "dongcun", "name": "東村村委會", "type": "village"})
	s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": "xicun", "name": "西村村委會", "type": "village"})
	token := func(role, unit string) string {
		var tok struct{ Token string }
		s.postJSON(t, s.Admin, "/api/v1/tokens", map[string]any{"role": role, "unit": unit, "user": strings.TrimSuffix(role+"-"+unit, "-")}).decode(t, &tok)
		return tok.Token
	}
	inspector, clerk, other := token("inspector", ""), token("submitter", "dongcun"), token("submitter", "xicun")

	fid := uuid.NewString()
	meta := []byte(`{"id":"` + fid + `","plan":"shuangchuang-2016","requirement":"moral-board","description":"善行義舉榜內容過期","severity":"high","due":"2016-09-30"}`)
	ct, body := multipartOf(t, "finding", meta, file{"現場.jpg", jpegPhoto(t, 9)})
	r := s.do(t, inspector, "POST", "/api/v1/units/dongcun/findings", ct, body)
	if r.Status != 201 {
		t.Fatalf("record finding: %d %s", r.Status, r.Body)
	}
	// A submitter cannot record or resolve findings.
	if r := s.postJSON(t, clerk, "/api/v1/units/dongcun/findings", map[string]any{"description": "x", "severity": "low", "due": "2016-09-30"}); r.Status != 403 {
		t.Fatalf("submitter records a finding: %d", r.Status)
	}
	if r := s.postJSON(t, s.Admin, "/api/v1/units/dongcun/findings", map[string]any{"description": "x", "severity": "urgent", "due": "2016-09-30"}); r.Status != 400 {
		t.Fatalf("bad severity: %d %s", r.Status, r.Body)
	}

	rect := func(title string) string {
		id := uuid.NewString()
		r := s.submit(t, clerk, "dongcun", map[string]any{"id": id, "kind": "rectification", "title": title, "occurred_at": "2016-09-20", "finding": fid},
			file{"new.png", pngPhoto(t, byte(len(title)))})
		if r.Status != 201 {
			t.Fatalf("rectification: %d %s", r.Status, r.Body)
		}
		return id
	}
	first := rect("已更新善行義舉榜")
	// Another unit cannot answer this unit's finding.
	if r := s.submit(t, other, "xicun", map[string]any{"kind": "rectification", "title": "x", "occurred_at": "2016-09-20", "finding": fid}); r.Status != 404 {
		t.Fatalf("rectification by another unit: %d %s", r.Status, r.Body)
	}
	if r := s.postJSON(t, inspector, "/api/v1/units/dongcun/findings/"+fid+"/reopen", map[string]any{"reason": "x", "expected_version": 1}); r.Status != 409 {
		t.Fatalf("reopen an open finding: %d %s", r.Status, r.Body)
	}
	if r := s.postJSON(t, inspector, "/api/v1/units/dongcun/findings/"+fid+"/resolve", map[string]any{"expected_version": 1}); r.Status != 200 {
		t.Fatalf("resolve: %d %s", r.Status, r.Body)
	}
	if r := s.postJSON(t, inspector, "/api/v1/units/dongcun/findings/"+fid+"/reopen", map[string]any{"expected_version": 2}); r.Status != 400 {
		t.Fatalf("reopen without a reason: %d %s", r.Status, r.Body)
	}
	if r := s.postJSON(t, inspector, "/api/v1/units/dongcun/findings/"+fid+"/reopen", map[string]any{"reason": "照片與去年相同", "expected_version": 2}); r.Status != 200 {
		t.Fatalf("reopen: %d %s", r.Status, r.Body)
	}
	second := rect("重新製作善行義舉榜並拍照")
	if r := s.postJSON(t, inspector, "/api/v1/units/dongcun/findings/"+fid+"/resolve", map[string]any{"reason": "已核實", "expected_version": 3}); r.Status != 200 {
		t.Fatalf("resolve again: %d %s", r.Status, r.Body)
	}

	var v struct {
		Open, Overdue, Resolved []struct {
			ID             string   `json:"id"`
			Status         string   `json:"status"`
			Version        int      `json:"version"`
			Photos         []any    `json:"photos"`
			Rectifications []string `json:"rectifications"`
			Chain          []struct{ Type, Reason string }
		}
	}
	s.get(t, clerk, "/api/v1/units/dongcun/findings").decode(t, &v)
	if len(v.Resolved) != 1 || len(v.Open) != 0 {
		t.Fatalf("findings now: %+v", v)
	}
	f := v.Resolved[0]
	if f.Version != 4 || len(f.Chain) != 4 || f.Chain[2].Reason != "照片與去年相同" || len(f.Photos) != 1 ||
		len(f.Rectifications) != 2 || f.Rectifications[0] != first || f.Rectifications[1] != second {
		t.Fatalf("finding chain: %+v", f)
	}
	// As of the day after the due date, before it was resolved: open and overdue.
	h := s.history(t, s.Admin, "dongcun", "")
	asOf := h[len(h)-2].RecordedAt.Format("2006-01-02T15:04:05.999999Z07:00") // before the final resolve
	s.get(t, s.Admin, "/api/v1/units/dongcun/findings?as_of="+asOf).decode(t, &v)
	if len(v.Open) != 1 || len(v.Overdue) != 1 || len(v.Open[0].Rectifications) != 2 {
		t.Fatalf("findings before the final resolve: %+v", v)
	}
	// And the CLI lists it.
	code, out, errs := cli(t, s, inspector, "finding", "list", "--unit", "dongcun")
	if code != 0 || !strings.Contains(out, "resolved: 1") || !strings.Contains(out, "照片與去年相同") {
		t.Fatalf("finding list: %d %q %q", code, out, errs)
	}
	code, out, errs = cli(t, s, inspector, "finding", "add", "--unit", "dongcun", "--description", "警示牌缺失", "--due", "2016-10-10")
	if code != 0 || !strings.Contains(out, "recorded finding") {
		t.Fatalf("finding add: %d %q %q", code, out, errs)
	}
}

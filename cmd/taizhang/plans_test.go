package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const minimalPlan = `id: test-plan
title: 測試方案
issuer: 測試鎮
period: {start: 2016-07-01, end: 2016-12-31}
applies_to: {types: [village]}
requirements:
  - id: study
    ref: 一（一）
    title: 至少組織兩次集中學習
    accepts: {kinds: [study_note]}
    attachments: [document]
    rule: {kind: count, min: 2}
`

// TestPlansPublishAndRevise publishes a plan, republishes it unchanged,
// revises it, and reads which version applied when.
func TestPlansPublishAndRevise(t *testing.T) {
	s := startServer(t, "")
	dir := t.TempDir()
	file := filepath.Join(dir, "test-plan.yaml")
	os.WriteFile(file, []byte(minimalPlan), 0o644)

	if code, out, errs := cli(t, s, s.Admin, "plan", "check", file); code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("plan check: %d %q %q", code, out, errs)
	}
	if code, out, errs := cli(t, s, s.Admin, "plan", "publish", file); code != 0 || !strings.Contains(out, "version 1") {
		t.Fatalf("publish: %d %q %q", code, out, errs)
	}
	if code, out, _ := cli(t, s, s.Admin, "plan", "publish", file); code != 0 || !strings.Contains(out, "already published") {
		t.Fatalf("republish: %d %q", code, out)
	}
	v1 := time.Now().UTC()
	time.Sleep(2 * time.Millisecond) // distinct recorded times; not a timing assertion
	os.WriteFile(file, []byte(strings.Replace(minimalPlan, "min: 2", "min: 3", 1)), 0o644)
	if code, out, errs := cli(t, s, s.Admin, "plan", "publish", file); code != 0 || !strings.Contains(out, "version 2") {
		t.Fatalf("revise: %d %q %q", code, out, errs)
	}
	if code, out, _ := cli(t, s, s.Admin, "plan", "list"); code != 0 || !strings.Contains(out, "test-plan") || !strings.Contains(out, "測試方案") {
		t.Fatalf("plan list: %d %q", code, out)
	}
	var then struct {
		Version int
		Plan    struct {
			Requirements []struct{ Rule struct{ Min int } }
		}
	}
	s.get(t, s.Admin, "/api/v1/plans/test-plan?as_of="+v1.Format(time.RFC3339Nano)).decode(t, &then)
	if then.Version != 1 || then.Plan.Requirements[0].Rule.Min != 2 {
		t.Fatalf("plan as of before the revision: %+v", then)
	}
	s.get(t, s.Admin, "/api/v1/plans/test-plan").decode(t, &then)
	if then.Version != 2 || then.Plan.Requirements[0].Rule.Min != 3 {
		t.Fatalf("plan now: %+v", then)
	}
	// The plan events are in the ledger with everything else.
	if r := s.get(t, s.Admin, "/api/v1/plans/nothing"); r.Status != 404 {
		t.Fatalf("unknown plan: %d", r.Status)
	}

	// A broken plan is refused with every problem and its line; nothing recorded.
	broken := strings.Replace(strings.Replace(minimalPlan, "kind: count", "kind: weekly", 1), "[document]", "[video]", 1)
	r := s.do(t, s.Admin, "POST", "/api/v1/plans?file=broken.yaml", "application/yaml", bytes.NewReader([]byte(broken)))
	if r.Status != 400 || !strings.Contains(string(r.Body), `broken.yaml:11: unknown attachment kind`) || !strings.Contains(string(r.Body), `broken.yaml:12: unknown rule kind`) {
		t.Fatalf("broken plan: %d %s", r.Status, r.Body)
	}
	os.WriteFile(file, []byte(broken), 0o644)
	if code, out, _ := cli(t, s, s.Admin, "plan", "check", file); code != 1 || !strings.Contains(out, "unknown rule kind") {
		t.Fatalf("plan check of a broken plan: %d %q", code, out)
	}
	// Only an admin publishes.
	s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": "cun", "name": "村", "type": "village"})
	var tok struct{ Token string }
	s.postJSON(t, s.Admin, "/api/v1/tokens", map[string]any{"role": "inspector"}).decode(t, &tok)
	if r := s.do(t, tok.Token, "POST", "/api/v1/plans", "application/yaml", strings.NewReader(minimalPlan)); r.Status != 403 {
		t.Fatalf("inspector publishing: %d", r.Status)
	}
	if r := s.get(t, tok.Token, "/api/v1/plans"); r.Status != 200 {
		t.Fatalf("inspector listing plans: %d", r.Status)
	}
}

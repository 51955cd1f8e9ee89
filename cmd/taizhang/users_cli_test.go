package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestUserCLI drives the user, token and access-log commands as an
// operator would, and checks their refusals are one line with status 2.
func TestUserCLI(t *testing.T) {
	s := startServer(t, "")
	setupTowns(t, s)
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("a long enough password\n"), 0o600)
	run := func(want int, args ...string) string {
		t.Helper()
		code, out, errs := cli(t, s, s.Admin, args...)
		if code != want {
			t.Fatalf("%v: exit %d, want %d\n%s%s", args, code, want, out, errs)
		}
		return out + errs
	}
	run(0, "user", "add", "li", "--role", "submitter", "--scope", "cun-a2", "--name", "李文書", "--password-file", pwFile)
	if out := run(0, "user", "list"); !regexp.MustCompile(`li\s+李文書\s+submitter\s+cun-a2\s+active`).MatchString(out) {
		t.Errorf("user list:\n%s", out)
	}
	if out := run(2, "user", "change", "li", "--role", "inspector"); !strings.Contains(out, "--reason is required") {
		t.Errorf("change without a reason: %s", out)
	}
	run(0, "user", "change", "li", "--role", "inspector", "--scope", "zhen-b", "--reason", "調任")
	if out := run(0, "user", "show", "li"); !strings.Contains(out, "inspector, zhen-b and below, active") || !strings.Contains(out, "user.changed") || !strings.Contains(out, "調任") {
		t.Errorf("user show:\n%s", out)
	}
	if out := run(0, "user", "can", "li"); !strings.Contains(out, "finding.write") || !strings.Contains(out, "cun-b1, zhen-b") || strings.Contains(out, "evidence.write") {
		t.Errorf("user can:\n%s", out)
	}
	if out := run(0, "user", "who", "--unit", "cun-b1", "--action", "finding.write"); !strings.Contains(out, "li ") || strings.Contains(out, "insp ") {
		t.Errorf("user who:\n%s", out)
	}
	tok := strings.TrimSpace(strings.SplitN(run(0, "token", "create", "--user", "li", "--label", "laptop"), "\n", 2)[0])
	out := run(0, "token", "list", "--user", "li")
	m := regexp.MustCompile(`(?m)^([0-9a-f-]{36})\s+li\s+active\s+.*laptop$`).FindStringSubmatch(out)
	if m == nil || strings.Contains(out, tok) {
		t.Fatalf("token list:\n%s", out)
	}
	run(0, "token", "revoke", m[1])
	if out := run(0, "token", "list", "--user", "li"); !strings.Contains(out, "revoked") {
		t.Errorf("after revoke:\n%s", out)
	}
	if code, _, errs := cli(t, s, tok, "unit", "list"); code != 1 || !strings.Contains(errs, "revoked") {
		t.Errorf("revoked token: %d %s", code, errs)
	}
	run(0, "user", "disable", "li", "--reason", "離職")
	if out := run(0, "user", "list"); !regexp.MustCompile(`li\s+李文書\s+inspector\s+zhen-b and below\s+disabled`).MatchString(out) {
		t.Errorf("after disable:\n%s", out)
	}
	if out := run(1, "user", "disable", "li", "--reason", "again"); !strings.Contains(out, "already disabled") {
		t.Errorf("disable twice: %s", out)
	}
	if out := run(2, "user", "password", "li"); !strings.Contains(out, "--password-file") {
		t.Errorf("password without a file: %s", out)
	}
	if out := run(0, "audit", "access", "--actor", "admin", "--limit", "5"); !strings.Contains(out, "admin") || !strings.Contains(out, "allowed 2") {
		t.Errorf("audit access:\n%s", out)
	}
}

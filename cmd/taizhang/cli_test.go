package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// cli runs a client command against s with token and returns its exit
// status, stdout and stderr.
//
// Like a script that passes the sequence of one command's write to the
// next (read-your-writes), the command starts from the largest sequence the
// test's requests to s were answered with (TAIZHANG_MIN_SEQ, unless the
// test sets that itself), and the ledger's last sequence after it (which
// is at or past any write it made; GET /api/v1/status) is noted for the
// test's later requests to s.
func cli(t *testing.T, s *server, token string, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("TAIZHANG_URL", s.URL)
	t.Setenv("TAIZHANG_TOKEN", token)
	if _, own := os.LookupEnv("TAIZHANG_MIN_SEQ"); !own {
		if n := s.ryw.Seq(); n > 0 {
			os.Setenv("TAIZHANG_MIN_SEQ", strconv.FormatUint(n, 10)) // t.Setenv above: no test runs in parallel
			defer os.Unsetenv("TAIZHANG_MIN_SEQ")
		}
	}
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, nil, &out, &errb)
	if n, ok := ledgerLastSeq(s); ok {
		s.ryw.NoteN(n)
	}
	return code, out.String(), errb.String()
}

// ledgerLastSeq asks s for the ledger's last sequence (GET /api/v1/status,
// as the admin); ok is false if s does not answer (a test may have stopped
// it).
func ledgerLastSeq(s *server) (uint64, bool) {
	req, err := http.NewRequest(http.MethodGet, s.URL+"/api/v1/status", nil)
	if err != nil || s.Admin == "" {
		return 0, false
	}
	req.Header.Set("Authorization", "Bearer "+s.Admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	var st struct {
		LedgerLastSeq uint64 `json:"ledger_last_seq"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&st) != nil {
		return 0, false
	}
	return st.LedgerLastSeq, true
}

// TestCLI drives the client commands as a user would: register, make a
// token, submit files, read history and archive, amend and retract, and
// checks their failures are one clear line with a non-zero status.
func TestCLI(t *testing.T) {
	s := startServer(t, "")
	dir := t.TempDir()
	photo := filepath.Join(dir, "合影.png")
	doc := filepath.Join(dir, "summary.txt")
	os.WriteFile(photo, pngPhoto(t, 5), 0o644)
	os.WriteFile(doc, []byte("工作總結：七月集中學習兩次。\n"), 0o644)

	code, out, errs := cli(t, s, s.Admin, "unit", "add", "--id", "dongcun", "--name", "東村村委會", "--type", "village", "--headcount", "1200")
	if code != 0 || !strings.Contains(out, "dongcun") {
		t.Fatalf("unit add: %d %q %q", code, out, errs)
	}
	code, out, errs = cli(t, s, s.Admin, "token", "create", "--role", "submitter", "--unit", "dongcun", "--user", "clerk-li")
	if code != 0 || !strings.HasPrefix(out, "tz_") {
		t.Fatalf("token create: %d %q %q", code, out, errs)
	}
	clerk := strings.TrimSpace(out)

	code, out, errs = cli(t, s, clerk, "submit", "--unit", "dongcun", "--kind", "study_note", "--title", "七月集中學習",
		"--occurred", "2016-07-12", "--requirement", "study-2x", "--tag", "集中學習", "--figure", "participants=15", "--json", photo, doc)
	if code != 0 {
		t.Fatalf("submit: %d %q %q", code, out, errs)
	}
	var rec struct {
		ID          string
		Sequence    uint64
		Attachments []struct {
			MediaType string `json:"media_type"`
		}
	}
	if err := json.Unmarshal([]byte(out), &rec); err != nil || len(rec.Attachments) != 2 || rec.Attachments[0].MediaType != "image/png" {
		t.Fatalf("submit answer: %v %s", err, out)
	}
	// Resending with --id appends nothing and says so.
	code, out, _ = cli(t, s, clerk, "submit", "--unit", "dongcun", "--kind", "study_note", "--title", "七月集中學習",
		"--occurred", "2016-07-12", "--id", rec.ID, photo, doc)
	if code != 0 || !strings.Contains(out, "already recorded") {
		t.Fatalf("resubmit: %d %q", code, out)
	}

	code, out, errs = cli(t, s, clerk, "amend", "--unit", "dongcun", "--id", rec.ID, "--version", "1", "--reason", "日期有誤", "--occurred", "2016-07-13")
	if code != 0 || !strings.Contains(out, "version 2") {
		t.Fatalf("amend: %d %q %q", code, out, errs)
	}
	code, out, errs = cli(t, s, clerk, "retract", "--unit", "dongcun", "--id", rec.ID, "--version", "2", "--reason", "重複")
	if code != 0 || !strings.Contains(out, "version 3") {
		t.Fatalf("retract: %d %q %q", code, out, errs)
	}

	code, out, _ = cli(t, s, clerk, "history", "--unit", "dongcun")
	if code != 0 || strings.Count(out, "\n") != 5 || !strings.Contains(out, "evidence.retracted") || !strings.Contains(out, "clerk-li") {
		t.Fatalf("history:\n%s", out)
	}
	code, out, _ = cli(t, s, clerk, "archive", "--unit", "dongcun")
	if code != 0 || !strings.Contains(out, "[RETRACTED]") || !strings.Contains(out, "2016-07-13") || !strings.Contains(out, "重複") {
		t.Fatalf("archive:\n%s", out)
	}
	code, out, _ = cli(t, s, clerk, "archive", "--unit", "dongcun", "--json")
	if code != 0 || !json.Valid([]byte(out)) {
		t.Fatalf("archive --json: %s", out)
	}

	// Failures: one line on stderr, non-zero status, nothing on stdout.
	for _, c := range []struct {
		token string
		args  []string
		code  int
		want  string
	}{
		{clerk, []string{"submit", "--unit", "dongcun", "--kind", "study_note", "--title", "x"}, 2, "required"},
		{clerk, []string{"submit", "--unit", "dongcun", "--kind", "selfie", "--title", "x", "--occurred", "2016-07-01"}, 1, "unknown kind"},
		{clerk, []string{"submit", "--unit", "xicun", "--kind", "photo", "--title", "x", "--occurred", "2016-07-01"}, 1, "403"},
		{clerk, []string{"submit", "--unit", "dongcun", "--kind", "photo", "--title", "x", "--occurred", "2016-07-01", filepath.Join(dir, "missing.jpg")}, 1, "missing.jpg"},
		{clerk, []string{"retract", "--unit", "dongcun", "--id", rec.ID, "--version", "1", "--reason", "x"}, 1, "409"},
		{"", []string{"history", "--unit", "dongcun"}, 2, "TAIZHANG_TOKEN"},
		{"tz_wrong", []string{"history", "--unit", "dongcun"}, 1, "401"},
		{clerk, []string{"frobnicate"}, 2, "unknown command"},
	} {
		code, out, errs := cli(t, s, c.token, c.args...)
		if code != c.code || out != "" || !strings.Contains(errs, c.want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 && c.code != 2 {
			t.Errorf("%v: exit %d (want %d), stdout %q, stderr %q (want %q)", c.args, code, c.code, out, errs, c.want)
		}
	}
}

package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"taizhang/api"
	"taizhang/auth"
	"taizhang/internal/testenv"
)

// TestNoSecretsAnywhere exercises every path a credential takes (a user
// created with a password, a password change, sign-ins right and wrong,
// tokens created, used, guessed and revoked, a session, the CLI) and then
// scans every file of the data directory but admin.token (the JetStream
// store with the ledger, the access log and the credential buckets; the
// blobs), an export's every file, the process log, every answer the server
// gave and the access log: no password, token, session cookie or CSRF
// token may appear in any of them.
func TestNoSecretsAnywhere(t *testing.T) {
	s := startServer(t, "")
	tw := setupTowns(t, s)
	const pw1, pw2 = "first-secret-password-1", "second-secret-password-2"
	var answers bytes.Buffer
	keep := func(r reply) reply { answers.Write(r.Body); answers.WriteString("\n"); return r }

	keep(s.postJSON(t, s.Admin, "/api/v1/users", map[string]any{"id": "clerk2", "role": "submitter", "scope": "cun-a2", "password": pw1}))
	keep(s.postJSON(t, s.Admin, "/api/v1/users/clerk2/password", map[string]string{"password": pw2}))
	b := newBrowser(t, s.URL)
	r, _ := b.signIn(t, "clerk2", pw1) // the old password: refused
	keep(r)
	r, csrf := b.signIn(t, "clerk2", pw2) // the answer holds the CSRF token, by design
	if r.Status != 200 {
		t.Fatalf("sign in: %d %s", r.Status, r.Body)
	}
	var cookie string
	for _, c := range strings.Split(r.Header.Get("Set-Cookie"), ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(c), "tz_session="); ok {
			cookie = v
		}
	}
	if cookie == "" {
		t.Fatal("no session cookie")
	}
	keep(b.do(t, "GET", "/api/v1/units/cun-a2/archive", "", nil, nil))
	ct, body := multipartOf(t, "evidence", []byte(`{"kind":"activity","title":"x","occurred_at":"2016-07-05"}`))
	keep(b.do(t, "POST", "/api/v1/units/cun-a2/evidence", ct, body, map[string]string{"X-CSRF-Token": csrf}))

	var tok api.TokenAnswer
	s.postJSON(t, s.Admin, "/api/v1/tokens", map[string]any{"user": "clerk2", "label": "phone"}).decode(t, &tok) // shown once, by design
	keep(s.get(t, tok.Token, "/api/v1/units/cun-a2/history"))
	guess := tok.Token[:len(tok.Token)-4] + "AAAA"
	keep(s.get(t, guess, "/api/v1/units/cun-a2/history"))
	keep(s.get(t, s.Admin, "/api/v1/tokens"))
	keep(s.postJSON(t, s.Admin, "/api/v1/tokens/"+tok.TokenID+"/revoke", nil))
	keep(s.get(t, tok.Token, "/api/v1/units/cun-a2/history"))
	code, out, errs := cli(t, s, s.Admin, "token", "create", "--user", "insp")
	answers.WriteString(errs) // the token itself is printed on stdout, once, by design
	cliToken := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(cliToken, "tz_") {
		t.Fatalf("token create: %d %q %q", code, out, errs)
	}
	code, out, errs = cli(t, s, guess, "unit", "list")
	answers.WriteString(out + errs)
	if code == 0 {
		t.Fatal("a guessed token worked")
	}
	exp := keep(s.get(t, s.Admin, "/api/v1/units/cun-a2/export"))
	if exp.Status != 200 {
		t.Fatalf("export: %d", exp.Status)
	}
	var acc reply
	testenv.Eventually(t, 10*time.Second, func() error {
		acc = s.get(t, s.Admin, "/api/v1/audit/access?limit=100000")
		if !strings.Contains(string(acc.Body), "/revoke") {
			return io.EOF
		}
		return nil
	})
	s.stop(t)

	secrets := map[string]string{
		"password 1": pw1, "password 2": pw2, "session cookie": cookie, "CSRF token": csrf,
		"clerk2's token": tok.Token, "guessed token": guess, "CLI token": cliToken,
		"clerk's token": tw.clerk, "inspector's token": tw.insp, "supervisor's token": tw.sup,
	}
	scan := func(where string, data []byte) {
		for name, secret := range secrets {
			if bytes.Contains(data, []byte(secret)) {
				t.Errorf("%s contains the %s", where, name)
			}
		}
	}
	secrets["admin token"] = s.Admin
	scan("the server's answers", answers.Bytes())
	scan("the process log", []byte(s.log.String()))
	scan("the access log", acc.Body)
	files := 0
	err := filepath.WalkDir(s.Data, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "admin.token" {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		scan(path, data)
		return nil
	})
	if err != nil || files < 10 {
		t.Fatalf("walked %d files: %v", files, err)
	}
	zr, err := zip.NewReader(bytes.NewReader(exp.Body), int64(len(exp.Body)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		scan("export file "+f.Name, data)
	}
	// The scan can fail: the admin token is in admin.token.
	tokFile, _ := os.ReadFile(filepath.Join(s.Data, "admin.token"))
	if !bytes.Contains(tokFile, []byte(s.Admin)) {
		t.Fatal("scan self-check: admin.token does not hold the admin token")
	}
	var l struct{ Entries []auth.AccessEntry }
	if err := json.Unmarshal(acc.Body, &l); err != nil || len(l.Entries) < 10 {
		t.Fatalf("access log: %d entries, %v", len(l.Entries), err)
	}
}

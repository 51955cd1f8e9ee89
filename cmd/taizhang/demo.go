package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"taizhang/deploy/plans"
	"taizhang/internal/demo"
)

// runDemo runs the demo (internal/demo) against this server once it is
// listening at addr, with the admin token from the data directory and the
// embedded seed plans, and logs the URL and the tokens to try.
func runDemo(ctx context.Context, data, addr string, clock *demo.Clock, log *slog.Logger) error {
	tokenFile := filepath.Join(data, "admin.token")
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	files := map[string][]byte{}
	names, err := fs.Glob(plans.FS, "*.yaml")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	for _, n := range names {
		if files[n], err = fs.ReadFile(plans.FS, n); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	url := "http://" + addr
	log.Info("demo: telling the seed plans' story through the API", "url", url)
	res, err := demo.RunAt(ctx, url, strings.TrimSpace(string(tok)), files, &lineLog{log: log}, clock)
	if err != nil {
		return err
	}
	pwFile, err := demoPasswords(ctx, url, strings.TrimSpace(string(tok)), data, res)
	if err != nil {
		return err
	}
	if err := demoWitness(ctx, url, strings.TrimSpace(string(tok)), res.Supervisor.Token, data, log); err != nil { // witness.go
		return err
	}
	log.Info("demo: every demo user (admin, inspector, supervisor, clerk-UNIT) signs in on the web with the password in this file",
		"file", pwFile, "users", "admin, "+res.Inspector.User+", "+res.Supervisor.User+", clerk-cun-1 ...")
	log.Info("demo token", "role", "inspector", "user", res.Inspector.User, "token", res.Inspector.Token)
	log.Info("demo token", "role", "supervisor", "user", res.Supervisor.User, "token", res.Supervisor.Token)
	for _, u := range res.Units {
		args := []any{"role", "submitter", "unit", u.ID, "name", u.Name}
		if len(u.Plans) > 0 {
			args = append(args, "plans", strings.Join(u.Plans, ","), "gaps", !u.Compliant)
		}
		log.Info("demo token", append(args, "token", u.Submitter.Token)...)
	}
	for _, s := range res.Stories {
		args := []any{"name", s.Name, "unit", s.Unit}
		if s.Finding != "" {
			args = append(args, "finding", s.Finding)
		}
		log.Info("demo story", append(args, "what", s.What)...)
	}
	log.Info("demo: try", "archive", url+"/api/v1/units/cun-1/archive", "compliance", url+"/api/v1/units/cun-3/compliance",
		"findings", url+"/api/v1/units/cun-5/findings", "auth", "Authorization: Bearer <token>")
	log.Info("demo ready", "url", url, "admin_token_file", tokenFile, "units", res.Counts.Units,
		"evidence", res.Counts.Evidence, "new", res.Counts.EvidenceCreated, "findings", res.Counts.Findings)
	return nil
}

// lineLog logs each whole line written to it.
type lineLog struct {
	log *slog.Logger
	buf []byte
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.log.Info("demo: " + string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
}

// demoPasswords gives every demo user a web password: one random password
// for the demo, kept in DATA/demo.password (0600, made once), never logged.
func demoPasswords(ctx context.Context, url, admin, data string, res demo.Result) (string, error) {
	path := filepath.Join(data, "demo.password")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		var raw [12]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return "", err
		}
		b = []byte("demo-" + hex.EncodeToString(raw[:]))
		if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
			return "", fmt.Errorf("demo: %w", err)
		}
	} else if err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	pw := strings.TrimSpace(string(b))
	users := []string{"admin", res.Inspector.User, res.Supervisor.User}
	for _, u := range res.Units {
		users = append(users, u.Submitter.User)
	}
	hc := &http.Client{Timeout: time.Minute}
	for _, u := range users {
		body, _ := json.Marshal(map[string]string{"password": pw})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/api/v1/users/"+u+"/password", bytes.NewReader(body))
		if err != nil {
			return "", err
		}
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return "", fmt.Errorf("demo: password for %s: %w", u, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("demo: password for %s: status %d", u, resp.StatusCode)
		}
	}
	return path, nil
}

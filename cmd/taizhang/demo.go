package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

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

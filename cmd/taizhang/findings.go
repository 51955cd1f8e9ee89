package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"taizhang/client"
)

// findingCmd runs `taizhang finding add|resolve|reopen|list`.
func findingCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("want 'finding add', 'finding resolve', 'finding reopen' or 'finding list'")
	}
	switch args[0] {
	case "add":
		return findingAdd(ctx, args[1:], stdout, stderr)
	case "resolve", "reopen":
		return findingDecide(ctx, args[0], args[1:], stdout, stderr)
	case "list":
		return findingList(ctx, args[1:], stdout, stderr)
	}
	return usagef("unknown finding command %q", args[0])
}

func findingAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("finding add", stderr)
	var unit, planID, req, desc, severity, due, id string
	var asJSON bool
	a, err := newAPI(fs, args, func() {
		fs.StringVar(&unit, "unit", "", "unit id (required)")
		fs.StringVar(&planID, "plan", "", "plan id")
		fs.StringVar(&req, "requirement", "", "requirement id")
		fs.StringVar(&desc, "description", "", "what is wrong (required)")
		fs.StringVar(&severity, "severity", "medium", "low, medium or high")
		fs.StringVar(&due, "due", "", "rectify by this date, YYYY-MM-DD (required)")
		fs.StringVar(&id, "id", "", "finding id to reuse (to retry); new if empty")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	if unit == "" || desc == "" || due == "" {
		return usagef("--unit, --description and --due are required")
	}
	if id == "" {
		id = uuid.Must(uuid.NewV7()).String()
	}
	meta := map[string]any{"id": id, "plan": planID, "requirement": req, "description": desc, "severity": severity, "due": due}
	rc, ct, err := client.Multipart("finding", meta, fs.Args())
	if err != nil {
		return err
	}
	defer rc.Close()
	var out client.Receipt
	if _, err := a.Do(ctx, http.MethodPost, "/api/v1/units/"+url.PathEscape(unit)+"/findings", ct, rc, &out); err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, out)
	}
	fmt.Fprintf(stdout, "recorded finding %s at sequence %d\n", out.ID, out.Sequence)
	return nil
}

func findingDecide(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("finding "+cmd, stderr)
	var unit, id, reason string
	var version int
	var asJSON, override bool
	a, err := newAPI(fs, args, func() {
		fs.StringVar(&unit, "unit", "", "unit id (required)")
		fs.StringVar(&id, "id", "", "finding id (required)")
		fs.IntVar(&version, "version", 0, "the finding's version you decided on (required)")
		fs.StringVar(&reason, "reason", "", "why (required to reopen and to override)")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
		if cmd == "resolve" {
			fs.BoolVar(&override, "override", false, "close it against the closure rules (an exception, listed on the supervisor's audit; needs --reason)")
		}
	})
	if err != nil {
		return err
	}
	if unit == "" || id == "" || version < 1 {
		return usagef("--unit, --id and --version are required")
	}
	if override && strings.TrimSpace(reason) == "" {
		return usagef("--override needs a --reason")
	}
	body := map[string]any{"reason": reason, "expected_version": version}
	if override {
		body["override"] = true
	}
	var out client.Receipt
	path := "/api/v1/units/" + url.PathEscape(unit) + "/findings/" + url.PathEscape(id) + "/" + cmd
	if _, err := a.PostJSON(ctx, path, body, &out); err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, out)
	}
	verb := map[string]string{"resolve": "resolved", "reopen": "reopened"}[cmd]
	fmt.Fprintf(stdout, "%s finding %s: now version %d\n", verb, id, out.Version)
	return nil
}

func findingList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("finding list", stderr)
	var unit, asOf string
	var asJSON bool
	a, err := newAPI(fs, args, func() {
		fs.StringVar(&unit, "unit", "", "unit id (required)")
		fs.StringVar(&asOf, "as-of", "", "as the ledger stood at this time")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	if unit == "" {
		return usagef("--unit is required")
	}
	path := "/api/v1/units/" + url.PathEscape(unit) + "/findings"
	if asOf != "" {
		path += "?as_of=" + url.QueryEscape(asOf)
	}
	raw, printed, err := fetchView(ctx, a, path, asJSON, stdout)
	if err != nil || printed {
		return err
	}
	type finding struct {
		ID             string   `json:"id"`
		Description    string   `json:"description"`
		Severity       string   `json:"severity"`
		Due            string   `json:"due"`
		Version        int      `json:"version"`
		Rectifications []string `json:"rectifications"`
		Chain          []struct {
			Seq    uint64 `json:"seq"`
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"chain"`
		Closures []struct {
			Seq   uint64 `json:"seq"`
			Basis *struct {
				Evidence  string    `json:"evidence"`
				TakenAt   time.Time `json:"taken_at"`
				TakenFrom string    `json:"taken_from"`
				Distance  *float64  `json:"distance_m"`
			} `json:"basis"`
			Override bool `json:"override"`
		} `json:"closures"`
	}
	var v struct {
		Open, Overdue, Resolved []finding
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	overdue := map[string]bool{}
	for _, f := range v.Overdue {
		overdue[f.ID] = true
	}
	for _, group := range []struct {
		name string
		fs   []finding
	}{{"open", v.Open}, {"resolved", v.Resolved}} {
		fmt.Fprintf(stdout, "%s: %d\n", group.name, len(group.fs))
		for _, f := range group.fs {
			flag := ""
			if overdue[f.ID] {
				flag = " [OVERDUE]"
			}
			fmt.Fprintf(stdout, "- %s  %s  due %s  v%d%s  %d rectifications  %s\n", f.ID, f.Severity, f.Due, f.Version, flag, len(f.Rectifications), f.Description)
			for _, c := range f.Chain[1:] {
				fmt.Fprintf(stdout, "    %s: %s\n", c.Type, c.Reason)
				for _, cl := range f.Closures {
					switch {
					case cl.Seq != c.Seq:
					case cl.Override:
						fmt.Fprintf(stdout, "      OVERRIDE: closed against the closure rules\n")
					case cl.Basis != nil:
						where := ""
						if cl.Basis.Distance != nil {
							where = fmt.Sprintf(", %.0f m from the finding's photo", *cl.Basis.Distance)
						}
						fmt.Fprintf(stdout, "      closed on rectification %s (photo taken %s, %s time%s)\n",
							cl.Basis.Evidence, cl.Basis.TakenAt.Format(time.RFC3339), cl.Basis.TakenFrom, where)
					}
				}
			}
		}
	}
	return nil
}

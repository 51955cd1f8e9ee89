package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// tokenCmd runs `taizhang token create|list|revoke`.
func tokenCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("want 'token create', 'token list' or 'token revoke ID'")
	}
	switch args[0] {
	case "create":
		return tokenCreate(ctx, args[1:], stdout, stderr)
	case "list":
		fs := newFlags("token list", stderr)
		var user string
		var asJSON bool
		a, err := newAPI(fs, args[1:], func() {
			fs.StringVar(&user, "user", "", "only this user's tokens")
			fs.BoolVar(&asJSON, "json", false, "print JSON")
		})
		if err != nil {
			return err
		}
		path := "/api/v1/tokens"
		if user != "" {
			path += "?user=" + url.QueryEscape(user)
		}
		raw, printed, err := fetchView(ctx, a, path, asJSON, stdout)
		if err != nil || printed {
			return err
		}
		var out struct {
			Tokens []struct {
				ID      string    `json:"token_id"`
				User    string    `json:"user"`
				Label   string    `json:"label"`
				Status  string    `json:"status"`
				Created time.Time `json:"created"`
				Expires time.Time `json:"expires"`
			} `json:"tokens"`
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tUSER\tSTATUS\tCREATED\tEXPIRES\tLABEL")
		for _, t := range out.Tokens {
			exp := "never"
			if !t.Expires.IsZero() {
				exp = t.Expires.In(displayZone()).Format(time.DateTime)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.User, t.Status, t.Created.In(displayZone()).Format(time.DateTime), exp, t.Label)
		}
		return tw.Flush()
	case "revoke":
		fs := newFlags("token revoke", stderr)
		a, err := newAPI(fs, args[1:], nil)
		if err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return usagef("want 'token revoke ID' (the id 'token list' shows)")
		}
		if _, err := a.PostJSON(ctx, "/api/v1/tokens/"+url.PathEscape(fs.Arg(0))+"/revoke", struct{}{}, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked token %s\n", fs.Arg(0))
		return nil
	}
	return usagef("unknown token command %q", args[0])
}

// userCmd runs `taizhang user add|change|disable|enable|password|list|show|can|who`.
func userCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("want 'user add|change|disable|enable|password|list|show|can|who'")
	}
	sub, args := args[0], args[1:]
	fs := newFlags("user "+sub, stderr)
	var in struct {
		ID       string `json:"id,omitempty"`
		Name     string `json:"name,omitempty"`
		Role     string `json:"role,omitempty"`
		Scope    string `json:"scope,omitempty"`
		Subtree  bool   `json:"subtree,omitempty"`
		Password string `json:"password,omitempty"`
		Reason   string `json:"reason,omitempty"`
	}
	var asJSON bool
	var asOf, unit, action, passwordFile string
	a, err := newAPI(fs, args, func() {
		switch sub {
		case "add", "change":
			fs.StringVar(&in.Name, "name", "", "display name")
			fs.StringVar(&in.Role, "role", "", "admin, submitter, inspector or supervisor")
			fs.StringVar(&in.Scope, "scope", "", "unit: a submitter's own unit, an inspector's or supervisor's subtree (empty: all)")
			fs.BoolVar(&in.Subtree, "subtree", false, "submitter: also the unit's sub-units")
		}
		switch sub {
		case "add", "password":
			fs.StringVar(&passwordFile, "password-file", "", "read the web password from this file ('-': standard input)")
		case "change", "disable", "enable":
			fs.StringVar(&in.Reason, "reason", "", "why (required; recorded in the ledger)")
		case "list", "show", "can":
			fs.StringVar(&asOf, "as-of", "", "as the ledger stood then (RFC 3339 or YYYY-MM-DD)")
		case "who":
			fs.StringVar(&unit, "unit", "", "the unit (required)")
			fs.StringVar(&action, "action", "unit.read", "the action, e.g. unit.read, evidence.write, finding.write")
			fs.StringVar(&asOf, "as-of", "", "as the ledger stood then")
		}
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	id := fs.Arg(0)
	needID := func() error {
		if fs.NArg() != 1 {
			return usagef("want 'user %s USER'", sub)
		}
		return nil
	}
	if passwordFile != "" {
		var b []byte
		if passwordFile == "-" {
			b, err = io.ReadAll(io.LimitReader(os.Stdin, 1024))
		} else {
			b, err = os.ReadFile(passwordFile)
		}
		if err != nil {
			return fmt.Errorf("read password: %w", err)
		}
		in.Password = strings.TrimRight(string(b), "\r\n")
	}
	q := url.Values{}
	if asOf != "" {
		q.Set("as_of", asOf)
	}
	post := func(path string, body any) error {
		var raw json.RawMessage
		if _, err := a.PostJSON(ctx, path, body, &raw); err != nil {
			return err
		}
		if asJSON {
			_, err := stdout.Write(append(raw, '\n'))
			return err
		}
		return printUser(stdout, raw)
	}
	switch sub {
	case "add":
		if err := needID(); err != nil {
			return err
		}
		if in.Role == "" {
			return usagef("--role is required")
		}
		in.ID = id
		return post("/api/v1/users", in)
	case "change", "disable", "enable":
		if err := needID(); err != nil {
			return err
		}
		if strings.TrimSpace(in.Reason) == "" {
			return usagef("--reason is required")
		}
		return post("/api/v1/users/"+url.PathEscape(id)+"/"+sub, in)
	case "password":
		if err := needID(); err != nil {
			return err
		}
		if passwordFile == "" {
			return usagef("--password-file is required (never a password on the command line)")
		}
		if _, err := a.PostJSON(ctx, "/api/v1/users/"+url.PathEscape(id)+"/password", map[string]string{"password": in.Password}, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password set for %s\n", id)
		return nil
	case "show", "can":
		if err := needID(); err != nil {
			return err
		}
		path := "/api/v1/users/" + url.PathEscape(id)
		if sub == "can" {
			path += "/can"
		}
		raw, printed, err := fetchView(ctx, a, path+"?"+q.Encode(), asJSON, stdout)
		if err != nil || printed {
			return err
		}
		if sub == "can" {
			return printCan(stdout, raw)
		}
		return printUser(stdout, raw)
	case "list":
		raw, printed, err := fetchView(ctx, a, "/api/v1/users?"+q.Encode(), asJSON, stdout)
		if err != nil || printed {
			return err
		}
		return printUsers(stdout, raw)
	case "who":
		if unit == "" {
			return usagef("--unit is required")
		}
		q.Set("unit", unit)
		q.Set("action", action)
		raw, printed, err := fetchView(ctx, a, "/api/v1/access/who?"+q.Encode(), asJSON, stdout)
		if err != nil || printed {
			return err
		}
		return printUsers(stdout, raw)
	}
	return usagef("unknown user command %q", sub)
}

type userOut struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Role     string `json:"role"`
	Scope    string `json:"scope"`
	Subtree  bool   `json:"subtree"`
	Disabled bool   `json:"disabled"`
}

func (u userOut) scope() string {
	switch {
	case u.Role == "admin":
		return "(everything)"
	case u.Scope == "":
		return "(all units)"
	case u.Subtree:
		return u.Scope + " and below"
	}
	return u.Scope
}

func (u userOut) status() string {
	if u.Disabled {
		return "disabled"
	}
	return "active"
}

// printUsers prints the users of an answer's "users" as a table.
func printUsers(w io.Writer, raw []byte) error {
	var out struct {
		Users []userOut `json:"users"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tSCOPE\tSTATUS")
	for _, u := range out.Users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.ID, u.Name, u.Role, u.scope(), u.status())
	}
	return tw.Flush()
}

func printUser(w io.Writer, raw []byte) error {
	var u struct {
		userOut
		History []struct {
			Type       string    `json:"type"`
			RecordedAt time.Time `json:"recorded_at"`
			By         struct{ ID string }
			Reason     string `json:"reason"`
		} `json:"history"`
	}
	if err := json.Unmarshal(raw, &u); err != nil {
		return err
	}
	fmt.Fprintf(w, "%s (%s): %s, %s, %s\n", u.ID, u.Name, u.Role, u.scope(), u.status())
	for _, h := range u.History {
		fmt.Fprintf(w, "  %s  %-14s by %s  %s\n", h.RecordedAt.In(displayZone()).Format(time.DateTime), h.Type, h.By.ID, h.Reason)
	}
	return nil
}

func printCan(w io.Writer, raw []byte) error {
	var c struct {
		User    userOut `json:"user"`
		Enabled bool    `json:"enabled"`
		Can     []struct {
			Action string   `json:"action"`
			Reach  string   `json:"reach"`
			Units  []string `json:"units"`
		} `json:"can"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return err
	}
	fmt.Fprintf(w, "%s: %s, %s\n", c.User.ID, c.User.Role, c.User.scope())
	if !c.Enabled {
		fmt.Fprintln(w, "  disabled: could do nothing")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, p := range c.Can {
		where := p.Reach
		if len(p.Units) > 0 {
			where = strings.Join(p.Units, ", ")
		}
		fmt.Fprintf(tw, "  %s\t%s\n", p.Action, where)
	}
	return tw.Flush()
}

// auditAccess runs `taizhang audit access`.
func auditAccess(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("audit access", stderr)
	var unit, from, to, actor, outcome, action string
	var limit int
	var asJSON bool
	a, err := newAPI(fs, args, func() {
		fs.StringVar(&unit, "unit", "", "only requests about this unit")
		fs.StringVar(&from, "from", "", "from this date (YYYY-MM-DD)")
		fs.StringVar(&to, "to", "", "to this date, inclusive")
		fs.StringVar(&actor, "actor", "", "only this user")
		fs.StringVar(&outcome, "outcome", "", "allowed, denied or failed")
		fs.StringVar(&action, "action", "", "only this action, e.g. unit.read")
		fs.IntVar(&limit, "limit", 0, "the newest N entries (default 1000)")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range map[string]string{"unit": unit, "from": from, "to": to, "actor": actor, "outcome": outcome, "action": action} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	raw, printed, err := fetchView(ctx, a, "/api/v1/audit/access?"+q.Encode(), asJSON, stdout)
	if err != nil || printed {
		return err
	}
	var out struct {
		Entries []struct {
			Time    time.Time `json:"time"`
			Actor   string    `json:"actor"`
			Action  string    `json:"action"`
			Method  string    `json:"method"`
			Path    string    `json:"path"`
			Client  string    `json:"client"`
			Status  int       `json:"status"`
			Outcome string    `json:"outcome"`
			Reason  string    `json:"reason"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tACTOR\tACTION\tREQUEST\tCLIENT\tOUTCOME")
	for _, e := range out.Entries {
		actor := e.Actor
		if actor == "" {
			actor = "(anonymous)"
		}
		oc := fmt.Sprintf("%s %d", e.Outcome, e.Status)
		if e.Reason != "" {
			oc += ": " + e.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s %s\t%s\t%s\n", e.Time.In(displayZone()).Format(time.DateTime), actor, e.Action, e.Method, e.Path, e.Client, oc)
	}
	return tw.Flush()
}

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"taizhang/client"
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
	u := &userArgs{sub: sub}
	a, err := newAPI(fs, args, func() { u.define(fs) })
	if err != nil {
		return err
	}
	u.id = fs.Arg(0)
	u.nargs = fs.NArg()
	if u.passwordFile != "" {
		if u.in.Password, err = readPassword(u.passwordFile); err != nil {
			return err
		}
	}
	switch sub {
	case "add", "change", "disable", "enable", "password":
		return u.write(ctx, a, stdout)
	case "show", "can", "list", "who":
		return u.read(ctx, a, stdout)
	}
	return usagef("unknown user command %q", sub)
}

// userArgs are the flags and arguments of one `taizhang user` command.
type userArgs struct {
	sub string
	in  struct {
		ID       string `json:"id,omitempty"`
		Name     string `json:"name,omitempty"`
		Role     string `json:"role,omitempty"`
		Scope    string `json:"scope,omitempty"`
		Subtree  bool   `json:"subtree,omitempty"`
		Password string `json:"password,omitempty"`
		Reason   string `json:"reason,omitempty"`
	}
	asJSON                           bool
	asOf, unit, action, passwordFile string
	id                               string // the USER argument
	nargs                            int
}

// define adds the flags of u.sub to fs.
func (u *userArgs) define(fs *flag.FlagSet) {
	switch u.sub {
	case "add", "change":
		fs.StringVar(&u.in.Name, "name", "", "display name")
		fs.StringVar(&u.in.Role, "role", "", "admin, submitter, inspector or supervisor")
		fs.StringVar(&u.in.Scope, "scope", "", "unit: a submitter's own unit, an inspector's or supervisor's subtree (empty: all)")
		fs.BoolVar(&u.in.Subtree, "subtree", false, "submitter: also the unit's sub-units")
	}
	switch u.sub {
	case "add", "password":
		fs.StringVar(&u.passwordFile, "password-file", "", "read the web password from this file ('-': standard input)")
	case "change", "disable", "enable":
		fs.StringVar(&u.in.Reason, "reason", "", "why (required; recorded in the ledger)")
	case "list", "show", "can":
		fs.StringVar(&u.asOf, "as-of", "", "as the ledger stood then (RFC 3339 or YYYY-MM-DD)")
	case "who":
		fs.StringVar(&u.unit, "unit", "", "the unit (required)")
		fs.StringVar(&u.action, "action", "unit.read", "the action, e.g. unit.read, evidence.write, finding.write")
		fs.StringVar(&u.asOf, "as-of", "", "as the ledger stood then")
	}
	fs.BoolVar(&u.asJSON, "json", false, "print JSON")
}

// needID refuses a command without exactly one USER argument.
func (u *userArgs) needID() error {
	if u.nargs != 1 {
		return usagef("want 'user %s USER'", u.sub)
	}
	return nil
}

// readPassword reads a password from file ("-": standard input, at most
// 1 KiB), without its line end.
func readPassword(file string) (string, error) {
	var b []byte
	var err error
	if file == "-" {
		b, err = io.ReadAll(io.LimitReader(os.Stdin, 1024))
	} else {
		b, err = os.ReadFile(file)
	}
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// write runs the commands that record a user event or set a password.
func (u *userArgs) write(ctx context.Context, a *client.Client, stdout io.Writer) error {
	if err := u.needID(); err != nil {
		return err
	}
	post := func(path string, body any) error {
		var raw json.RawMessage
		if _, err := a.PostJSON(ctx, path, body, &raw); err != nil {
			return err
		}
		if u.asJSON {
			_, err := stdout.Write(append(raw, '\n'))
			return err
		}
		return printUser(stdout, raw)
	}
	switch u.sub {
	case "add":
		if u.in.Role == "" {
			return usagef("--role is required")
		}
		u.in.ID = u.id
		return post("/api/v1/users", u.in)
	case "password":
		if u.passwordFile == "" {
			return usagef("--password-file is required (never a password on the command line)")
		}
		if _, err := a.PostJSON(ctx, "/api/v1/users/"+url.PathEscape(u.id)+"/password", map[string]string{"password": u.in.Password}, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password set for %s\n", u.id)
		return nil
	}
	if strings.TrimSpace(u.in.Reason) == "" { // change, disable, enable
		return usagef("--reason is required")
	}
	return post("/api/v1/users/"+url.PathEscape(u.id)+"/"+u.sub, u.in)
}

// read runs the commands that show users and what they may do.
func (u *userArgs) read(ctx context.Context, a *client.Client, stdout io.Writer) error {
	q := url.Values{}
	if u.asOf != "" {
		q.Set("as_of", u.asOf)
	}
	var path string
	switch u.sub {
	case "show", "can":
		if err := u.needID(); err != nil {
			return err
		}
		path = "/api/v1/users/" + url.PathEscape(u.id)
		if u.sub == "can" {
			path += "/can"
		}
	case "list":
		path = "/api/v1/users"
	case "who":
		if u.unit == "" {
			return usagef("--unit is required")
		}
		q.Set("unit", u.unit)
		q.Set("action", u.action)
		path = "/api/v1/access/who"
	}
	raw, printed, err := fetchView(ctx, a, path+"?"+q.Encode(), u.asJSON, stdout)
	if err != nil || printed {
		return err
	}
	switch u.sub {
	case "can":
		return printCan(stdout, raw)
	case "show":
		return printUser(stdout, raw)
	}
	return printUsers(stdout, raw)
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

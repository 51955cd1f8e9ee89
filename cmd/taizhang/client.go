package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"taizhang/client"
)

// errNoToken is newAPI's usage error when no token is given.
const errNoToken = "no API token: set TAIZHANG_TOKEN or --token-file (the admin token is in DATA/admin.token)"

// newAPI defines the flags every client command has (--url, --token-file)
// and those extra adds, parses args, and returns a client of the server:
// its token from --token-file or TAIZHANG_TOKEN, its first min_seq from
// TAIZHANG_MIN_SEQ.
func newAPI(fs *flag.FlagSet, args []string, extra func()) (*client.Client, error) {
	connect := apiFlags(fs, envOr("TAIZHANG_URL", "http://127.0.0.1:8080"))
	if extra != nil {
		extra()
	}
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	return connect()
}

// apiFlags defines --url (default def) and --token-file on fs and returns
// the function that, once fs is parsed, makes the client they name.
func apiFlags(fs *flag.FlagSet, def string) (connect func() (*client.Client, error)) {
	tokenFile := fs.String("token-file", os.Getenv("TAIZHANG_TOKEN_FILE"), "read the API token from this file instead of TAIZHANG_TOKEN")
	server := fs.String("url", def, "server URL (env TAIZHANG_URL)")
	return func() (*client.Client, error) {
		tok := os.Getenv("TAIZHANG_TOKEN")
		if *tokenFile != "" {
			b, err := os.ReadFile(*tokenFile)
			if err != nil {
				return nil, fmt.Errorf("token file: %w", err)
			}
			tok = strings.TrimSpace(string(b))
		}
		if tok == "" {
			return nil, usageError{errNoToken}
		}
		a, err := client.New(*server, tok)
		if err != nil {
			return nil, usagef("%v", err)
		}
		if v := os.Getenv("TAIZHANG_MIN_SEQ"); v != "" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, usagef("TAIZHANG_MIN_SEQ must be a ledger sequence, got %q", v)
			}
			a.SetMinSeq(n)
		}
		return a, nil
	}
}

// fetchView GETs path; with asJSON it prints the answer as it came and says so
// (printed), otherwise it returns it for a person-readable rendering.
func fetchView(ctx context.Context, a *client.Client, path string, asJSON bool, stdout io.Writer) (raw json.RawMessage, printed bool, err error) {
	if _, err := a.Get(ctx, path, &raw); err != nil {
		return nil, false, err
	}
	if asJSON {
		_, err := stdout.Write(raw)
		return raw, true, err
	}
	return raw, false, nil
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// clientCmd runs the client commands that have no file of their own.
func clientCmd(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	switch cmd {
	case "unit":
		if len(args) == 0 {
			return usagef("want 'unit add' or 'unit list'")
		}
		switch args[0] {
		case "add":
			return unitAdd(ctx, args[1:], stdout, stderr)
		case "list":
			return unitList(ctx, args[1:], stdout, stderr)
		}
		return usagef("unknown unit command %q", args[0])
	case "token":
		return tokenCmd(ctx, args, stdout, stderr)
	case "user":
		return userCmd(ctx, args, stdout, stderr)
	case "submit":
		return submit(ctx, args, stdout, stderr)
	case "amend", "retract":
		return correct(ctx, cmd, args, stdout, stderr)
	case "history", "archive":
		return show(ctx, cmd, args, stdout, stderr)
	}
	return usagef("unknown command %q", cmd)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func unitAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("unit add", stderr)
	var in struct {
		ID        string `json:"id"`
		Name      string `json:"name"`
		Type      string `json:"type"`
		Parent    string `json:"parent,omitempty"`
		Headcount int    `json:"headcount,omitempty"`
	}
	var asJSON bool
	a, err := newAPI(fs, args, func() {
		fs.StringVar(&in.ID, "id", "", "unit id: a-z, 0-9 and '-' (required)")
		fs.StringVar(&in.Name, "name", "", "unit name, any language (required)")
		fs.StringVar(&in.Type, "type", "", "unit type, e.g. village, school, station (required)")
		fs.StringVar(&in.Parent, "parent", "", "parent unit id")
		fs.IntVar(&in.Headcount, "headcount", 0, "population or staff count")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	if in.ID == "" || in.Name == "" || in.Type == "" {
		return usagef("--id, --name and --type are required")
	}
	var out json.RawMessage
	if _, err := a.PostJSON(ctx, "/api/v1/units", in, &out); err != nil {
		return err
	}
	if asJSON {
		_, err := stdout.Write(out)
		return err
	}
	fmt.Fprintf(stdout, "registered unit %s (%s)\n", in.ID, in.Name)
	return nil
}

func unitList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("unit list", stderr)
	var asJSON bool
	a, err := newAPI(fs, args, func() { fs.BoolVar(&asJSON, "json", false, "print JSON") })
	if err != nil {
		return err
	}
	var out struct {
		Units []struct {
			ID, Name, Type, Parent string
			Headcount, Events      int
		} `json:"units"`
	}
	raw, printed, err := fetchView(ctx, a, "/api/v1/units", asJSON, stdout)
	if err != nil || printed {
		return err
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tTYPE\tPARENT\tHEADCOUNT\tEVENTS")
	for _, u := range out.Units {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\n", u.ID, u.Name, u.Type, u.Parent, u.Headcount, u.Events)
	}
	return tw.Flush()
}

func tokenCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("token create", stderr)
	var in struct {
		Role      string `json:"role"`
		Unit      string `json:"unit,omitempty"`
		User      string `json:"user,omitempty"`
		ExpiresIn string `json:"expires_in,omitempty"`
		Label     string `json:"label,omitempty"`
	}
	var asJSON bool
	a, err := newAPI(fs, args, func() {
		fs.StringVar(&in.Role, "role", "", "admin, submitter, inspector or supervisor: creates the user if it does not exist")
		fs.StringVar(&in.Unit, "unit", "", "a new user's unit scope (a submitter's own unit)")
		fs.StringVar(&in.User, "user", "", "the user the token acts as (named in every event)")
		fs.StringVar(&in.Label, "label", "", "what the token is for, shown by 'token list'")
		fs.StringVar(&in.ExpiresIn, "expires-in", "", "expiry, e.g. 720h")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	if in.Role == "" && in.User == "" {
		return usagef("--user (an existing user) or --role (a new one) is required")
	}
	var out struct {
		Token, User, Role, Unit string
	}
	var raw json.RawMessage
	if _, err := a.PostJSON(ctx, "/api/v1/tokens", in, &raw); err != nil {
		return err
	}
	if asJSON {
		_, err := stdout.Write(raw)
		return err
	}
	_ = json.Unmarshal(raw, &out)
	fmt.Fprintln(stdout, out.Token)
	fmt.Fprintf(stderr, "token for %s (%s%s); it is shown only once\n", out.User, out.Role, map[bool]string{true: ", unit " + out.Unit}[out.Unit != ""])
	return nil
}

func submit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("submit", stderr)
	var unit, kind, title, body, occurred, id, finding string
	var reqs, tags, figs stringList
	var asJSON bool
	var retries int
	var loadKey func() (*client.DeviceKey, error)
	a, err := newAPI(fs, args, func() {
		fs.StringVar(&unit, "unit", "", "unit id (required)")
		fs.StringVar(&kind, "kind", "", "activity, photo, study_note, summary, rectification or document (required)")
		fs.StringVar(&title, "title", "", "title (required)")
		fs.StringVar(&body, "body", "", "text")
		fs.StringVar(&occurred, "occurred", "", "when it happened: YYYY-MM-DD or RFC 3339 (required)")
		fs.Var(&reqs, "requirement", "requirement id this answers (repeatable)")
		fs.Var(&tags, "tag", "a tag, e.g. the activity type from a plan's menu (repeatable)")
		fs.Var(&figs, "figure", "a reported figure NAME=NUMBER, e.g. volunteers=130 (repeatable)")
		fs.StringVar(&id, "id", "", "evidence id to reuse (to retry an earlier submission); new if empty")
		fs.StringVar(&finding, "finding", "", "the finding a rectification answers")
		fs.IntVar(&retries, "retries", 5, "times to retry on network failures and 503s, with the same evidence id")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
		loadKey = deviceKeyFlag(fs)
	})
	if err != nil {
		return err
	}
	if unit == "" || kind == "" || title == "" || occurred == "" {
		return usagef("--unit, --kind, --title and --occurred are required")
	}
	if id == "" {
		id = uuid.Must(uuid.NewV7()).String() // made once, reused on every retry
	} else if _, err := uuid.Parse(id); err != nil {
		return usagef("--id %q is not a UUID", id)
	}
	figures := map[string]float64{}
	for _, f := range figs {
		name, num, ok := strings.Cut(f, "=")
		v, err := strconv.ParseFloat(num, 64)
		if !ok || name == "" || err != nil {
			return usagef("--figure %q: want NAME=NUMBER", f)
		}
		figures[name] = v
	}
	meta := client.Evidence{ID: id, Kind: kind, Title: title, Body: body, OccurredAt: occurred,
		Requirements: reqs, Tags: tags, Figures: figures, Finding: finding}
	key, err := loadKey()
	if err != nil {
		return err
	}
	if key != nil { // signed once, as captured now: every retry sends the same signature
		if meta, err = key.SignFiles(unit, meta, fs.Args(), displayZone(), time.Now()); err != nil {
			return err
		}
	}
	out, status, err := a.Submit(ctx, unit, meta, fs.Args(), retries, func(err error, wait time.Duration) {
		fmt.Fprintf(stderr, "submit %s: %v; retrying in %s with the same id\n", id, err, wait)
	})
	if err != nil {
		if client.Retryable(err) {
			return fmt.Errorf("evidence %s: %w (nothing lost: retry with --id %s)", id, err, id)
		}
		return fmt.Errorf("evidence %s: %w", id, err)
	}
	if asJSON {
		return printJSON(stdout, out)
	}
	verb := "recorded"
	if status == http.StatusOK {
		verb = "already recorded"
	}
	warnDevice(stderr, out.ID, out.Device)
	fmt.Fprintf(stdout, "%s evidence %s at sequence %d, hash %s\n", verb, out.ID, out.Sequence, out.Hash)
	for _, at := range out.Attachments {
		fmt.Fprintf(stdout, "  %s  %8d  %-24s %s\n", at.SHA256, at.Size, at.MediaType, at.Name)
	}
	return nil
}

func correct(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	fs := newFlags(cmd, stderr)
	var unit, id, reason, title, body, occurred string
	var version int
	var asJSON bool
	a, err := newAPI(fs, args, func() {
		fs.StringVar(&unit, "unit", "", "unit id (required)")
		fs.StringVar(&id, "id", "", "evidence id (required)")
		fs.IntVar(&version, "version", 0, "the version you are correcting, from the archive (required)")
		fs.StringVar(&reason, "reason", "", "why (required)")
		if cmd == "amend" {
			fs.StringVar(&title, "title", "", "new title")
			fs.StringVar(&body, "body", "", "new text")
			fs.StringVar(&occurred, "occurred", "", "new date")
		}
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	if unit == "" || id == "" || version < 1 || strings.TrimSpace(reason) == "" {
		return usagef("--unit, --id, --version and --reason are required")
	}
	in := map[string]any{"reason": reason, "expected_version": version}
	set := func(k, v string) {
		if v != "" {
			in[k] = v
		}
	}
	set("title", title)
	set("body", body)
	set("occurred_at", occurred)
	path := "/api/v1/units/" + url.PathEscape(unit) + "/evidence/" + url.PathEscape(id) + "/" + cmd
	var out client.Receipt
	if cmd == "amend" && fs.NArg() > 0 {
		rc, ct, err := client.Multipart("amend", in, fs.Args())
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = a.Do(ctx, http.MethodPost, path, ct, rc, &out)
		if err != nil {
			return err
		}
	} else if _, err := a.PostJSON(ctx, path, in, &out); err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, out)
	}
	fmt.Fprintf(stdout, "%sed evidence %s: now version %d, event %s at sequence %d\n", strings.TrimSuffix(cmd, "e"), id, out.Version, out.ID, out.Sequence)
	return nil
}

func show(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	fs := newFlags(cmd, stderr)
	var unit, asOf string
	var asJSON bool
	a, err := newAPI(fs, args, func() {
		fs.StringVar(&unit, "unit", "", "unit id (required)")
		fs.StringVar(&asOf, "as-of", "", "as the ledger stood at this time (RFC 3339 or YYYY-MM-DD)")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	if unit == "" {
		return usagef("--unit is required")
	}
	path := "/api/v1/units/" + url.PathEscape(unit) + "/" + cmd
	if asOf != "" {
		path += "?as_of=" + url.QueryEscape(asOf)
	}
	raw, printed, err := fetchView(ctx, a, path, asJSON, stdout)
	if err != nil || printed {
		return err
	}
	if cmd == "history" {
		return printHistory(stdout, raw)
	}
	return printArchive(stdout, raw)
}

func printHistory(w io.Writer, raw []byte) error {
	var h struct {
		Events []struct {
			Seq        uint64 `json:"seq"`
			ID         string `json:"id"`
			Type       string `json:"type"`
			Actor      struct{ ID, Role string }
			OccurredAt time.Time `json:"occurred_at"`
			RecordedAt time.Time `json:"recorded_at"`
			Corrects   string    `json:"corrects"`
			Reason     string    `json:"reason"`
			Hash       string    `json:"hash"`
		} `json:"events"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return fmt.Errorf("decode history: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tRECORDED\tTYPE\tBY\tID\tHASH\tREASON")
	for _, e := range h.Events {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s (%s)\t%s\t%.12s\t%s\n", e.Seq, e.RecordedAt.In(displayZone()).Format(time.RFC3339), e.Type, e.Actor.ID, e.Actor.Role, e.ID, e.Hash, e.Reason)
	}
	return tw.Flush()
}

func printArchive(w io.Writer, raw []byte) error {
	var a struct {
		Unit  struct{ ID, Name string }
		AsOf  *time.Time `json:"as_of"`
		Items []struct {
			ID          string    `json:"id"`
			Kind        string    `json:"kind"`
			Title       string    `json:"title"`
			OccurredAt  time.Time `json:"occurred_at"`
			Version     int       `json:"version"`
			Status      string    `json:"status"`
			Attachments []struct {
				Name      string `json:"name"`
				MediaType string `json:"media_type"`
			} `json:"attachments"`
			Chain []struct {
				Type   string `json:"type"`
				Reason string `json:"reason"`
			} `json:"chain"`
		} `json:"items"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return fmt.Errorf("decode archive: %w", err)
	}
	fmt.Fprintf(w, "%s %s", a.Unit.ID, a.Unit.Name)
	if a.AsOf != nil {
		fmt.Fprintf(w, " as of %s", a.AsOf.Format(time.RFC3339))
	}
	fmt.Fprintf(w, ": %d items\n", len(a.Items))
	for _, it := range a.Items {
		status := ""
		if it.Status != "current" {
			status = " [" + strings.ToUpper(it.Status) + "]"
		}
		fmt.Fprintf(w, "- %s  %s  %s  v%d%s  %s\n", it.OccurredAt.In(displayZone()).Format(time.DateOnly), it.Kind, it.Title, it.Version, status, it.ID)
		for _, at := range it.Attachments {
			fmt.Fprintf(w, "    %s (%s)\n", at.Name, at.MediaType)
		}
		for _, c := range it.Chain[1:] {
			fmt.Fprintf(w, "    %s: %s\n", c.Type, c.Reason)
		}
	}
	return nil
}

// displayZone is where times are shown: TAIZHANG_TZ (an IANA name), else
// Asia/Shanghai, the zone the plans' dates are in.
func displayZone() *time.Location {
	if loc, err := time.LoadLocation(envOr("TAIZHANG_TZ", "Asia/Shanghai")); err == nil {
		return loc
	}
	return time.UTC
}

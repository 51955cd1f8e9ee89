package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"taizhang/services"
)

// api is a small client of the taizhang HTTP API. It reads its own
// writes on any replica: every request carries the largest ledger sequence
// a write of this client was answered with (X-Taizhang-Seq), or
// TAIZHANG_MIN_SEQ to begin with, as X-Taizhang-Min-Seq.
type api struct {
	base  string
	token string
	http  *http.Client
	seq   atomic.Uint64 // the largest X-Taizhang-Seq seen
}

// noteSeq keeps the largest sequence an answer carried.
func (a *api) noteSeq(h http.Header) {
	n, err := strconv.ParseUint(h.Get(services.HeaderSeq), 10, 64)
	if err != nil {
		return
	}
	for {
		cur := a.seq.Load()
		if n <= cur || a.seq.CompareAndSwap(cur, n) {
			return
		}
	}
}

// apiError is an error answer from the server.
type apiError struct {
	Status    int
	Code      string
	Message   string
	RequestID string // the server's X-Request-Id, to find its log lines
}

func (e *apiError) Error() string {
	if e.RequestID != "" {
		return fmt.Sprintf("%s (HTTP %d %s, request %s)", e.Message, e.Status, e.Code, e.RequestID)
	}
	return fmt.Sprintf("%s (HTTP %d %s)", e.Message, e.Status, e.Code)
}

// retryable reports whether a failed request may succeed if sent again.
func retryable(err error) bool {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Status == http.StatusServiceUnavailable || ae.Status == http.StatusBadGateway || ae.Status == http.StatusGatewayTimeout
	}
	return !errors.Is(err, context.Canceled) // a network failure
}

func newAPI(fs *flag.FlagSet, args []string, extra func()) (*api, error) {
	tokenFile := fs.String("token-file", os.Getenv("TAIZHANG_TOKEN_FILE"), "read the API token from this file instead of TAIZHANG_TOKEN")
	server := fs.String("url", envOr("TAIZHANG_URL", "http://127.0.0.1:8080"), "server URL (env TAIZHANG_URL)")
	if extra != nil {
		extra()
	}
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	tok := os.Getenv("TAIZHANG_TOKEN")
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return nil, fmt.Errorf("token file: %w", err)
		}
		tok = strings.TrimSpace(string(b))
	}
	if tok == "" {
		return nil, usagef("no API token: set TAIZHANG_TOKEN or --token-file (the admin token is in DATA/admin.token)")
	}
	u, err := url.Parse(*server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("bad server URL %q", *server)
	}
	a := &api{base: strings.TrimRight(*server, "/"), token: tok, http: &http.Client{Timeout: 10 * time.Minute}}
	if v := os.Getenv("TAIZHANG_MIN_SEQ"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, usagef("TAIZHANG_MIN_SEQ must be a ledger sequence, got %q", v)
		}
		a.seq.Store(n)
	}
	return a, nil
}

// do sends a request and decodes a JSON answer into out.
func (a *api) do(ctx context.Context, method, path, contentType string, body io.Reader, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("X-Taizhang-Client", "cli")
	if n := a.seq.Load(); n > 0 {
		req.Header.Set(services.HeaderMinSeq, strconv.FormatUint(n, 10))
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("cannot reach %s: %w", a.base, err)
	}
	defer resp.Body.Close()
	a.noteSeq(resp.Header)
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode >= 400 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error.Message == "" {
			e.Error.Message = strings.TrimSpace(string(b))
		}
		return resp.StatusCode, &apiError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message, RequestID: resp.Header.Get("X-Request-Id")}
	}
	if out != nil {
		if raw, ok := out.(*json.RawMessage); ok {
			*raw = b
			return resp.StatusCode, nil
		}
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode answer: %w", err)
		}
	}
	return resp.StatusCode, nil
}

// view GETs path; with asJSON it prints the answer as it came and says so
// (printed), otherwise it returns it for a person-readable rendering.
func (a *api) view(ctx context.Context, path string, asJSON bool, stdout io.Writer) (raw json.RawMessage, printed bool, err error) {
	if _, err := a.do(ctx, http.MethodGet, path, "", nil, &raw); err != nil {
		return nil, false, err
	}
	if asJSON {
		_, err := stdout.Write(raw)
		return raw, true, err
	}
	return raw, false, nil
}

func (a *api) postJSON(ctx context.Context, path string, in, out any) (int, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return 0, err
	}
	return a.do(ctx, http.MethodPost, path, "application/json", bytes.NewReader(b), out)
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func client(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
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
	if _, err := a.postJSON(ctx, "/api/v1/units", in, &out); err != nil {
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
	raw, printed, err := a.view(ctx, "/api/v1/units", asJSON, stdout)
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
	if _, err := a.postJSON(ctx, "/api/v1/tokens", in, &raw); err != nil {
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

// receiptOut is the server's answer to an append.
type receiptOut struct {
	ID          string `json:"id"`
	Evidence    string `json:"evidence"`
	Sequence    uint64 `json:"sequence"`
	Hash        string `json:"hash"`
	Version     int    `json:"version"`
	Attachments []struct {
		SHA256    string `json:"sha256"`
		Size      int64  `json:"size"`
		MediaType string `json:"media_type"`
		Name      string `json:"name"`
	} `json:"attachments"`
}

// multipartBody streams a JSON part and files as multipart/form-data.
func multipartBody(metaName string, meta any, files []string) (io.ReadCloser, string, error) {
	b, err := json.Marshal(meta)
	if err != nil {
		return nil, "", err
	}
	for _, f := range files {
		if st, err := os.Stat(f); err != nil {
			return nil, "", fmt.Errorf("attachment: %w", err)
		} else if st.IsDir() {
			return nil, "", fmt.Errorf("attachment %s is a directory", f)
		}
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			w, err := mw.CreateFormField(metaName)
			if err != nil {
				return err
			}
			if _, err := w.Write(b); err != nil {
				return err
			}
			for _, name := range files {
				f, err := os.Open(name)
				if err != nil {
					return err
				}
				fw, err := mw.CreateFormFile("attachment", filepath.Base(name))
				if err == nil {
					_, err = io.Copy(fw, f)
				}
				f.Close()
				if err != nil {
					return err
				}
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	return pr, mw.FormDataContentType(), nil
}

func submit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("submit", stderr)
	var unit, kind, title, body, occurred, id, finding string
	var reqs, tags, figs stringList
	var asJSON bool
	var retries int
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
	meta := map[string]any{"id": id, "kind": kind, "title": title, "body": body, "occurred_at": occurred,
		"requirements": []string(reqs), "tags": []string(tags), "figures": figures, "finding": finding}
	var out receiptOut
	var status int
	for attempt := 0; ; attempt++ {
		var rc io.ReadCloser
		var ct string
		rc, ct, err = multipartBody("evidence", meta, fs.Args())
		if err != nil {
			return err
		}
		status, err = a.do(ctx, http.MethodPost, "/api/v1/units/"+url.PathEscape(unit)+"/evidence", ct, rc, &out)
		rc.Close()
		if err == nil || !retryable(err) || attempt >= retries {
			break
		}
		wait := time.Duration(1<<attempt) * 500 * time.Millisecond
		fmt.Fprintf(stderr, "submit %s: %v; retrying in %s with the same id\n", id, err, wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	if err != nil {
		if retryable(err) {
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
	var out receiptOut
	if cmd == "amend" && fs.NArg() > 0 {
		rc, ct, err := multipartBody("amend", in, fs.Args())
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = a.do(ctx, http.MethodPost, path, ct, rc, &out)
		if err != nil {
			return err
		}
	} else if _, err := a.postJSON(ctx, path, in, &out); err != nil {
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
	raw, printed, err := a.view(ctx, path, asJSON, stdout)
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

// Package demo tells the seed plans' story through taizhang's HTTP API,
// as any client would: it registers the units the plans name, publishes
// the plans, and submits about a year of evidence per unit (Chinese
// titles and bodies, photos that carry EXIF capture times, text and PDF
// records), with the stories an inspector and a supervisor look for:
// compliant units and units with gaps, a backfill burst just before an
// inspection, a photo reused by two units (and a resized copy of another),
// an amendment and a retraction with their reasons, and findings
// resolved, rejected and overdue. It is deterministic (a fixed seed,
// fixed dates, evidence and finding ids derived from names), so running it
// again on the same ledger appends nothing. `taizhang serve --demo` runs it.
package demo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	tzclient "taizhang/client"
	"taizhang/projections/plan"
)

// Workers is how many units submit at once.
const Workers = 6

// Result is what the demo did and how to look at it.
type Result struct {
	URL        string  `json:"url"`
	Units      []Unit  `json:"units"`
	Plans      []Plan  `json:"plans"`
	Admin      Token   `json:"admin"`
	Inspector  Token   `json:"inspector"`
	Supervisor Token   `json:"supervisor"`
	Counts     Counts  `json:"counts"`
	Stories    []Story `json:"stories"`
}

// Unit is a unit the demo registered, with its submitter's token.
type Unit struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Type      string   `json:"type"`
	Parent    string   `json:"parent,omitempty"`
	Headcount int      `json:"headcount,omitempty"`
	Plans     []string `json:"plans,omitempty"`
	Compliant bool     `json:"compliant"` // evidenced in full on purpose (the units with gaps are false)
	Evidence  int      `json:"evidence"`  // evidence items the demo submits for it
	Submitter Token    `json:"submitter"`
}

// Plan is a published plan.
type Plan struct {
	File    string `json:"file"`
	ID      string `json:"id"`
	Version int    `json:"version"`
}

// Token is a user and its API token.
type Token struct {
	User  string `json:"user"`
	Token string `json:"token"`
}

// Counts says how much the demo sent and how much of it was new.
type Counts struct {
	Units           int `json:"units"`
	UnitsCreated    int `json:"units_created"`
	Plans           int `json:"plans"`
	PlansCreated    int `json:"plans_created"`
	Evidence        int `json:"evidence"`         // submissions, rectifications included
	EvidenceCreated int `json:"evidence_created"` // answered 201 (the rest 200: already in the ledger)
	Attachments     int `json:"attachments"`      // files sent with evidence and findings
	Photos          int `json:"photos"`
	Documents       int `json:"documents"`
	Blobs           int `json:"blobs"` // distinct contents among them
	Findings        int `json:"findings"`
	Corrections     int `json:"corrections"` // amendments and retractions
	Decisions       int `json:"decisions"`   // findings resolved or reopened
	Applied         int `json:"applied"`     // corrections and decisions appended by this run
}

// Run drives the API at baseURL with the admin token: registers the units,
// creates a token per unit and one each for an inspector and a supervisor,
// publishes the plan files (file name → YAML bytes), and submits the
// script, writing its progress to out. It is idempotent.
func Run(ctx context.Context, baseURL, adminToken string, plans map[string][]byte, out io.Writer) (Result, error) {
	return RunAt(ctx, baseURL, adminToken, plans, out, nil)
}

// RunAt is Run on a server whose recorded times come from clock (see
// Clock): each step is recorded at its time in the story, one step at a
// time. It refuses a ledger that has units other than the demo's, since it
// would record the story's past times among real events.
func RunAt(ctx context.Context, baseURL, adminToken string, plans map[string][]byte, out io.Writer, clock *Clock) (Result, error) {
	start := time.Now()
	if out == nil {
		out = io.Discard
	}
	files := make([]string, 0, len(plans))
	for f := range plans {
		files = append(files, f)
	}
	slices.Sort(files)
	var parsed []*plan.Plan
	for _, f := range files {
		p, err := plan.Parse(f, plans[f])
		if err != nil {
			return Result{}, fmt.Errorf("demo: plan %s: %w", f, err)
		}
		parsed = append(parsed, p)
	}
	if len(parsed) == 0 {
		return Result{}, errors.New("demo: no plan files")
	}
	sc, err := buildScript(parsed)
	if err != nil {
		return Result{}, err
	}
	c := &client{base: strings.TrimRight(baseURL, "/"), hc: &http.Client{Timeout: 2 * time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: Workers + 2, Proxy: nil}}}
	defer c.hc.CloseIdleConnections()
	res := Result{URL: c.base, Admin: Token{User: "admin", Token: adminToken}}

	// Units, parents first, once none of them is someone else's.
	if err := c.checkUnits(ctx, adminToken, sc.units, clock != nil); err != nil {
		return res, err
	}
	if clock != nil && len(sc.ops) > 0 {
		// Units and plans are registered before the story's first step.
		defer clock.Set(time.Time{})
		clock.Set(sc.ops[0].Sim.Add(-7 * 24 * time.Hour))
	}
	for _, u := range sc.units {
		created, err := c.registerUnit(ctx, adminToken, u)
		if err != nil {
			return res, err
		}
		res.Counts.Units++
		if created {
			res.Counts.UnitsCreated++
		}
		_, gap := gaps[u.ID]
		res.Units = append(res.Units, Unit{ID: u.ID, Name: u.Name, Type: u.Type, Parent: u.Parent, Headcount: u.Headcount,
			Plans: sc.unitPlans[u.ID], Compliant: !gap && len(sc.unitPlans[u.ID]) > 0})
	}
	fmt.Fprintf(out, "units: %d (%d new)\n", res.Counts.Units, res.Counts.UnitsCreated)

	// Tokens: one submitter per unit, an inspector, a supervisor.
	tokens := map[string]string{}
	for i, u := range res.Units {
		t, err := c.token(ctx, adminToken, "submitter", u.ID, "clerk-"+u.ID)
		if err != nil {
			return res, err
		}
		res.Units[i].Submitter = Token{User: "clerk-" + u.ID, Token: t}
		tokens[u.ID] = t
	}
	if res.Inspector.Token, err = c.token(ctx, adminToken, "inspector", "", inspector); err != nil {
		return res, err
	}
	res.Inspector.User = inspector
	if res.Supervisor.Token, err = c.token(ctx, adminToken, "supervisor", "", supervisor); err != nil {
		return res, err
	}
	res.Supervisor.User = supervisor

	// Plans.
	for i, f := range files {
		v, created, err := c.publishPlan(ctx, adminToken, f, plans[f])
		if err != nil {
			return res, err
		}
		res.Plans = append(res.Plans, Plan{File: f, ID: parsed[i].ID, Version: v})
		res.Counts.Plans++
		if created {
			res.Counts.PlansCreated++
		}
	}
	fmt.Fprintf(out, "plans: %d (%d new)\n", res.Counts.Plans, res.Counts.PlansCreated)

	// The script, epoch by epoch.
	perUnit := map[string]int{}
	digests := map[[32]byte]bool{}
	var mu sync.Mutex
	for _, o := range sc.ops {
		switch o.Kind {
		case opSubmit:
			res.Counts.Evidence++
			perUnit[o.Unit]++
		case opAmend, opRetract:
			res.Counts.Corrections++
		case opResolve, opReopen:
			if o.Refused == "" {
				res.Counts.Decisions++
			}
		case opFinding:
			res.Counts.Findings++
		}
	}
	for i := range res.Units {
		res.Units[i].Evidence = perUnit[res.Units[i].ID]
	}
	x := &runner{c: c, admin: adminToken, inspector: res.Inspector.Token, tokens: tokens, clock: clock, workers: Workers}
	if clock != nil {
		x.workers = 1 // one clock: one step at a time
	}
	x.onFile = func(data []byte, photo bool) {
		sum := sha256.Sum256(data)
		mu.Lock()
		defer mu.Unlock()
		digests[sum] = true
		res.Counts.Attachments++
		if photo {
			res.Counts.Photos++
		} else {
			res.Counts.Documents++
		}
	}
	epochs := sc.epochs()
	for i, ep := range epochs {
		if err := x.epoch(ctx, sc.byUnit(ep)); err != nil {
			return res, err
		}
		if i == len(epochs)-1 || ep[0].Sim.Month() != epochs[i+1][0].Sim.Month() {
			fmt.Fprintf(out, "%s: %d evidence items so far (%d new)\n", ep[0].Sim.Format("2006-01"), x.submitted.Load(), x.created.Load())
		}
	}
	res.Counts.EvidenceCreated = int(x.created.Load())
	res.Counts.Applied = int(x.applied.Load())
	res.Counts.Blobs = len(digests)
	res.Stories = sc.stories
	fmt.Fprintf(out, "done in %s: %d evidence items (%d new), %d attachments (%d distinct), %d findings, %d corrections, %d decisions (%d applied now)\n",
		time.Since(start).Round(time.Millisecond), res.Counts.Evidence, res.Counts.EvidenceCreated, res.Counts.Attachments, res.Counts.Blobs,
		res.Counts.Findings, res.Counts.Corrections, res.Counts.Decisions, res.Counts.Applied)
	return res, nil
}

// ── running the script ──────────────────────────────────────────────────

type runner struct {
	c                *client
	admin, inspector string
	tokens           map[string]string
	onFile           func([]byte, bool)
	clock            *Clock // nil: record at the real time
	workers          int

	submitted, created, applied atomic.Int64
}

// recordLag is how long after a step's story time it is recorded.
const recordLag = 2 * time.Hour

// epoch runs each unit's ops in order, Workers units at a time.
func (x *runner) epoch(ctx context.Context, units [][]*op) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan []*op)
	var wg sync.WaitGroup
	for w := 0; w < min(x.workers, len(units)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ops := range work {
				for _, o := range ops {
					if err := x.run(ctx, o); err != nil {
						cancel(err)
						return
					}
				}
			}
		}()
	}
feed:
	for _, ops := range units {
		select {
		case work <- ops:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

func (x *runner) run(ctx context.Context, o *op) error {
	if x.clock != nil {
		x.clock.Set(o.Sim.Add(recordLag))
	}
	switch o.Kind {
	case opSubmit:
		created, err := x.submit(ctx, o.Item)
		if err != nil {
			return err
		}
		x.submitted.Add(1)
		if created {
			x.created.Add(1)
		}
		return nil
	case opAmend, opRetract:
		return x.correct(ctx, o)
	case opFinding:
		return x.finding(ctx, o)
	default:
		return x.decide(ctx, o)
	}
}

type file struct {
	name string
	data []byte
}

// files renders the item's attachments.
func (x *runner) files(photos []photoSpec, docs []docSpec) ([]file, error) {
	var fs []file
	for _, p := range photos {
		b, err := p.JPEG()
		if err != nil {
			return nil, err
		}
		x.onFile(b, true)
		fs = append(fs, file{p.Name, b})
	}
	for _, d := range docs {
		b := d.Bytes()
		x.onFile(b, false)
		fs = append(fs, file{d.Name, b})
	}
	return fs, nil
}

// multipartBody builds a body with a JSON part and "attachment" file parts.
func multipartBody(part string, meta any, files []file) (string, []byte, error) {
	js, err := json.Marshal(meta)
	if err != nil {
		return "", nil, err
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	w, err := mw.CreateFormField(part)
	if err != nil {
		return "", nil, err
	}
	w.Write(js)
	for _, f := range files {
		w, err := mw.CreateFormFile("attachment", f.name)
		if err != nil {
			return "", nil, err
		}
		w.Write(f.data)
	}
	if err := mw.Close(); err != nil {
		return "", nil, err
	}
	return mw.FormDataContentType(), buf.Bytes(), nil
}

func (x *runner) submit(ctx context.Context, it *item) (bool, error) {
	meta := tzclient.Evidence{ID: it.ID.String(), Kind: it.Kind, Title: it.Title, Body: it.Body, OccurredAt: it.Occurred.Format(time.RFC3339),
		Requirements: it.Reqs, Tags: it.Tags, Figures: it.Figures}
	if it.Finding != uuid.Nil {
		meta.Finding = it.Finding.String()
	}
	fs, err := x.files(it.Photos, it.Docs)
	if err != nil {
		return false, err
	}
	ct, body, err := multipartBody("evidence", meta, fs)
	if err != nil {
		return false, err
	}
	status, resp, err := x.c.do(ctx, x.tokens[it.Unit], http.MethodPost, "/api/v1/units/"+it.Unit+"/evidence", ct, body)
	if err != nil {
		return false, err
	}
	switch status {
	case http.StatusCreated:
		return true, nil
	case http.StatusOK:
		return false, nil
	}
	return false, apiError("submit "+it.Key, status, resp)
}

func (x *runner) finding(ctx context.Context, o *op) error {
	f := o.Finding
	fs, err := x.files([]photoSpec{f.Photo}, nil)
	if err != nil {
		return err
	}
	meta := map[string]string{"id": f.ID.String(), "plan": f.Plan, "requirement": f.Req, "description": f.Description, "severity": f.Sev, "due": f.Due}
	ct, body, err := multipartBody("finding", meta, fs)
	if err != nil {
		return err
	}
	status, resp, err := x.c.do(ctx, x.inspector, http.MethodPost, "/api/v1/units/"+o.Unit+"/findings", ct, body)
	if err != nil {
		return err
	}
	if status != http.StatusCreated && status != http.StatusOK {
		return apiError("record finding on "+o.Unit, status, resp)
	}
	return nil
}

// correct amends or retracts; a 409 is fine if the item is already past
// the version it corrects (the demo ran before).
func (x *runner) correct(ctx context.Context, o *op) error {
	in := map[string]any{"reason": o.Reason, "expected_version": o.Version}
	verb := "retract"
	if o.Kind == opAmend {
		verb = "amend"
		for k, v := range o.Changes {
			in[k] = v
		}
	}
	path := fmt.Sprintf("/api/v1/units/%s/evidence/%s/%s", o.Unit, o.Target, verb)
	return x.postVersioned(ctx, x.tokens[o.Unit], path, in, verb+" "+o.Target.String(), o.Version,
		func() (int, error) { return x.evidenceVersion(ctx, o.Unit, o.Target) })
}

// postVersioned posts a correction or decision made at version; a 409
// because a previous run already moved the entity past version is success
// (the demo is idempotent).
func (x *runner) postVersioned(ctx context.Context, token, path string, body any, what string, version int, current func() (int, error)) error {
	js, _ := json.Marshal(body)
	status, resp, err := x.c.do(ctx, token, http.MethodPost, path, "application/json", js)
	if err != nil {
		return err
	}
	switch status {
	case http.StatusOK:
		x.applied.Add(1)
		return nil
	case http.StatusConflict:
		v, err := current()
		if err != nil {
			return err
		}
		if v > version {
			return nil
		}
	}
	return apiError(what, status, resp)
}

func (x *runner) evidenceVersion(ctx context.Context, unit string, id uuid.UUID) (int, error) {
	status, resp, err := x.c.do(ctx, x.admin, http.MethodGet, "/api/v1/units/"+unit+"/archive", "", nil)
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK {
		return 0, apiError("archive of "+unit, status, resp)
	}
	var a struct {
		Items []struct {
			ID      uuid.UUID `json:"id"`
			Version int       `json:"version"`
		} `json:"items"`
	}
	if err := json.Unmarshal(resp, &a); err != nil {
		return 0, fmt.Errorf("demo: archive of %s: %w", unit, err)
	}
	for _, it := range a.Items {
		if it.ID == id {
			return it.Version, nil
		}
	}
	return 0, fmt.Errorf("demo: evidence %s not in the archive of %s", id, unit)
}

// decide resolves or reopens a finding; a 409 is fine if the finding is
// already past the version decided on.
func (x *runner) decide(ctx context.Context, o *op) error {
	verb := "resolve"
	if o.Kind == opReopen {
		verb = "reopen"
	}
	path := fmt.Sprintf("/api/v1/units/%s/findings/%s/%s", o.Unit, o.Target, verb)
	body := map[string]any{"reason": o.Reason, "expected_version": o.Version}
	if o.Override {
		body["override"] = true
	}
	current := func() (int, error) { return x.findingVersion(ctx, o.Unit, o.Target) }
	if o.Refused != "" {
		return x.refused(ctx, path, body, o, current)
	}
	return x.postVersioned(ctx, x.inspector, path, body, verb+" finding "+o.Target.String(), o.Version, current)
}

// refused posts a resolve the closure rules must refuse (422
// not_closable); a 409 is fine if the finding is already past the version
// (the demo run again).
func (x *runner) refused(ctx context.Context, path string, body map[string]any, o *op, current func() (int, error)) error {
	js, _ := json.Marshal(body)
	status, resp, err := x.c.do(ctx, x.inspector, http.MethodPost, path, "application/json", js)
	if err != nil {
		return err
	}
	what := "resolve finding " + o.Target.String() + " (expected to be refused on rule " + o.Refused + ")"
	switch status {
	case http.StatusUnprocessableEntity:
		var e struct {
			Error struct{ Code string } `json:"error"`
		}
		if json.Unmarshal(resp, &e) == nil && e.Error.Code == "not_closable" {
			return nil
		}
	case http.StatusConflict:
		v, err := current()
		if err != nil {
			return err
		}
		if v > o.Version {
			return nil
		}
	case http.StatusOK:
		return fmt.Errorf("demo: %s: the server closed it", what)
	}
	return apiError(what, status, resp)
}

func (x *runner) findingVersion(ctx context.Context, unit string, id uuid.UUID) (int, error) {
	status, resp, err := x.c.do(ctx, x.admin, http.MethodGet, "/api/v1/units/"+unit+"/findings", "", nil)
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK {
		return 0, apiError("findings of "+unit, status, resp)
	}
	var v struct {
		Open, Resolved []struct {
			ID      uuid.UUID `json:"id"`
			Version int       `json:"version"`
		}
	}
	if err := json.Unmarshal(resp, &v); err != nil {
		return 0, fmt.Errorf("demo: findings of %s: %w", unit, err)
	}
	for _, f := range append(v.Open, v.Resolved...) {
		if f.ID == id {
			return f.Version, nil
		}
	}
	return 0, fmt.Errorf("demo: finding %s not found on %s", id, unit)
}

// ── the HTTP client ─────────────────────────────────────────────────────

type client struct {
	base string
	hc   *http.Client
}

// do sends one request, retrying (with the same body) while the server
// answers 503 or cannot be reached: every write of the demo is safe to
// repeat (client ids, expected versions).
func (c *client) do(ctx context.Context, token, method, path, contentType string, body []byte) (int, []byte, error) {
	var lastErr error
	for attempt := 0; attempt < 8; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return 0, nil, ctx.Err()
			case <-time.After(time.Duration(attempt) * 250 * time.Millisecond):
			}
		}
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return 0, nil, ctx.Err()
			}
			lastErr = err
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			lastErr = err
			continue
		}
		if resp.StatusCode == http.StatusServiceUnavailable {
			lastErr = apiError(method+" "+path, resp.StatusCode, b)
			continue
		}
		return resp.StatusCode, b, nil
	}
	return 0, nil, fmt.Errorf("demo: %s %s: %w", method, path, lastErr)
}

func apiError(what string, status int, body []byte) error {
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	msg := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		msg = e.Error.Code + ": " + e.Error.Message
	}
	if len(msg) > 500 {
		msg = msg[:500] + "…"
	}
	return fmt.Errorf("demo: %s: HTTP %d: %s", what, status, msg)
}

// registered is a unit as the API lists it.
type registered struct {
	ID, Name, Type, Parent string
	Headcount              int
}

// sameUnit returns an error if have is not the demo's unit u.
func sameUnit(have registered, u unitDef) error {
	if have.Name != u.Name || have.Type != u.Type || have.Parent != u.Parent || have.Headcount != u.Headcount {
		return fmt.Errorf("demo: unit %s is already registered as %q (type %s, parent %q, headcount %d), not as the demo's %q (type %s, parent %q, headcount %d): run the demo on an empty data directory",
			u.ID, have.Name, have.Type, have.Parent, have.Headcount, u.Name, u.Type, u.Parent, u.Headcount)
	}
	return nil
}

// checkUnits returns an error if any of the demo's unit ids is registered
// as someone else's unit (another name, type, parent or headcount), or, if
// onlyDemo, if any unit that is not the demo's is registered at all.
func (c *client) checkUnits(ctx context.Context, admin string, units []unitDef, onlyDemo bool) error {
	status, b, err := c.do(ctx, admin, http.MethodGet, "/api/v1/units", "", nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return apiError("list units", status, b)
	}
	var list struct{ Units []registered }
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("demo: list units: %w", err)
	}
	have := map[string]registered{}
	for _, u := range list.Units {
		have[u.ID] = u
	}
	ours := map[string]bool{}
	for _, u := range units {
		ours[u.ID] = true
		if h, ok := have[u.ID]; ok {
			if err := sameUnit(h, u); err != nil {
				return err
			}
		}
	}
	if onlyDemo {
		for id := range have {
			if !ours[id] {
				return fmt.Errorf("demo: unit %s is not one of the demo's, and the demo records the story's past times: run the demo on an empty data directory", id)
			}
		}
	}
	return nil
}

// checkUnit is checkUnits for one unit that is registered.
func (c *client) checkUnit(ctx context.Context, admin string, u unitDef) error {
	status, b, err := c.do(ctx, admin, http.MethodGet, "/api/v1/units/"+u.ID, "", nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return apiError("unit "+u.ID, status, b)
	}
	var have registered
	if err := json.Unmarshal(b, &have); err != nil {
		return fmt.Errorf("demo: unit %s: %w", u.ID, err)
	}
	return sameUnit(have, u)
}

// registerUnit registers u; already registered (as the demo's, see
// checkUnit) is fine.
func (c *client) registerUnit(ctx context.Context, admin string, u unitDef) (bool, error) {
	js, _ := json.Marshal(map[string]any{"id": u.ID, "name": u.Name, "type": u.Type, "parent": u.Parent, "headcount": u.Headcount})
	status, resp, err := c.do(ctx, admin, http.MethodPost, "/api/v1/units", "application/json", js)
	if err != nil {
		return false, err
	}
	switch status {
	case http.StatusCreated:
		return true, nil
	case http.StatusConflict:
		return false, c.checkUnit(ctx, admin, u)
	}
	return false, apiError("register unit "+u.ID, status, resp)
}

func (c *client) token(ctx context.Context, admin, role, unit, user string) (string, error) {
	js, _ := json.Marshal(map[string]string{"role": role, "unit": unit, "user": user})
	status, resp, err := c.do(ctx, admin, http.MethodPost, "/api/v1/tokens", "application/json", js)
	if err != nil {
		return "", err
	}
	if status != http.StatusCreated {
		return "", apiError("create token for "+user, status, resp)
	}
	var t struct{ Token string }
	if err := json.Unmarshal(resp, &t); err != nil || t.Token == "" {
		return "", fmt.Errorf("demo: token for %s: bad answer %q", user, resp)
	}
	return t.Token, nil
}

func (c *client) publishPlan(ctx context.Context, admin, file string, data []byte) (int, bool, error) {
	status, resp, err := c.do(ctx, admin, http.MethodPost, "/api/v1/plans?file="+url.QueryEscape(file), "application/yaml", data)
	if err != nil {
		return 0, false, err
	}
	if status != http.StatusCreated && status != http.StatusOK {
		return 0, false, apiError("publish "+file, status, resp)
	}
	var a struct{ Version int }
	_ = json.Unmarshal(resp, &a)
	return a.Version, status == http.StatusCreated, nil
}

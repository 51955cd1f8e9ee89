// Package pages is the web app's server side: the handlers of its
// server-rendered pages (Pages: sign-in, home per role, units and the heat
// map, a unit's archive, timeline and dossier, the evidence form and its
// receipt, corrections and findings, the supervisor's audit, verification,
// export, ranking and witnesses pages) and the HTML error page. Each page
// is registered behind the one gate by package httpserver's route table,
// reads and writes through the JSON API's api.Service, and renders with
// package web's templates in the request's language.
package pages

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"taizhang/api"
	"taizhang/auth"
	"taizhang/closure"
	"taizhang/events"
	"taizhang/gate"
	"taizhang/param"
	"taizhang/projections"
	"taizhang/projections/compliance"
	"taizhang/projections/plan"
	"taizhang/web"
)

// Pages are the web app's server-rendered pages. Every route goes through
// the gate, the one authorisation point (package httpserver's route table);
// the pages only choose what to show from the principal's role, and read
// and write through the JSON API's Service.
type Pages struct {
	api   *api.Service
	gate  *gate.Gate
	authn *auth.Authenticator
	log   *slog.Logger
	r     *web.Renderer
}

// New returns the pages over a (which must use g) in a's zone; authn
// signs in and out.
func New(a *api.Service, g *gate.Gate, authn *auth.Authenticator, log *slog.Logger) (*Pages, error) {
	r, err := web.New(a.Config().Zone)
	if err != nil {
		return nil, fmt.Errorf("web templates: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pages{api: a, gate: g, authn: authn, log: log, r: r}, nil
}

// isPage reports whether a path belongs to the web app's pages (which
// answer errors as HTML) rather than to the API.
func isPage(path string) bool {
	for _, p := range []string{"/api/", "/healthz", "/readyz", "/metrics", "/static/", "/thumbs/", "/sw.js"} {
		if strings.HasPrefix(path, p) {
			return false
		}
	}
	return true
}

// langCookie remembers the chosen language.
const langCookie = "lang"

// lang is the request's language (langOf); a ?lang= choice is
// remembered in a cookie.
func (pg *Pages) lang(w http.ResponseWriter, r *http.Request) string {
	if l := web.NormLang(r.URL.Query().Get("lang")); l != "" {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	return pg.langOf(r)
}

// say writes the compliance engine's messages in the request's language,
// dates as the pages show them.
func (pg *Pages) say(r *http.Request, ms []compliance.Message) string {
	l := pg.langOf(r)
	return compliance.Say(l, ms, func(d plan.Date) string { return pg.r.Date(l, d) })
}

// langOf is the request's language: ?lang=, else the cookie, else the
// script of the published plans (defaultLang).
func (pg *Pages) langOf(r *http.Request) string {
	if l := web.NormLang(r.URL.Query().Get("lang")); l != "" {
		return l
	}
	if c, err := r.Cookie(langCookie); err == nil {
		if l := web.NormLang(c.Value); l != "" {
			return l
		}
	}
	return pg.defaultLang()
}

// defaultLang is the language of a deployment's pages for a visitor who
// chose none: the script the published plans are written in (their
// titles, issuers, phases and requirements), so that the chrome and the
// plans read alike: zh-Hant for traditional plans, zh-Hans for simplified
// ones or when no plan is published.
func (pg *Pages) defaultLang() string {
	var texts []string
	for _, pv := range pg.api.PlansAsOf(time.Time{}) {
		texts = append(texts, pv.Plan.Title, pv.Plan.Issuer)
		for _, ph := range pv.Plan.Phases {
			texts = append(texts, ph.Name)
		}
		for _, rq := range pv.Plan.Requirements {
			texts = append(texts, rq.Title)
		}
	}
	if l := web.Script(texts...); l != "" {
		return l
	}
	return web.LangZH
}

// page returns the layout data for r with the given title key (and args).
func (pg *Pages) page(w http.ResponseWriter, r *http.Request, data any, titleKey string, args ...any) *web.Page {
	p := gate.Principal(r)
	l := pg.lang(w, r)
	return &web.Page{Lang: l, Title: pg.r.T(l, titleKey, args...), User: p.User, Role: string(p.Role), Unit: p.Unit,
		CSRF: pg.api.CSRFToken(r), URL: r.URL, Data: data}
}

// render renders a page; a rendering failure answers 500.
func (pg *Pages) render(w http.ResponseWriter, r *http.Request, status int, name string, p *web.Page) {
	if err := pg.r.Render(w, status, name, p); err != nil {
		pg.log.ErrorContext(r.Context(), "render page", "page", name, "path", r.URL.Path, "err", err)
		http.Error(w, "internal error; see the server log for request "+gate.RequestID(r.Context()), http.StatusInternalServerError)
	}
}

type errorData struct {
	Status    int
	Message   string
	Next      string
	RequestID string // to quote to the operator, who finds it in the log
}

// Fail answers err on a page path as an HTML error page; it reports false
// for API paths (answered as JSON by gate.Gate.Fail, which calls it:
// gate.Gate.SetErrorPage).
func (pg *Pages) Fail(w http.ResponseWriter, r *http.Request, status int, err error) bool {
	if !isPage(r.URL.Path) {
		return false
	}
	l := pg.lang(w, r)
	msg := ""
	switch status {
	case http.StatusBadRequest, http.StatusUnsupportedMediaType:
		msg = pg.r.T(l, fmt.Sprintf("error.%d", status), err.Error())
	case http.StatusLocked:
		var q *events.QuarantinedError
		if errors.As(err, &q) {
			msg = pg.r.T(l, "error.423", q.Unit, q.Seq)
		} else {
			msg = pg.r.T(l, "error.423_other", err.Error())
		}
	case http.StatusUnprocessableEntity:
		var rf *closure.Refusal
		if errors.As(err, &rf) {
			msg = pg.r.T(l, "closure."+rf.Message, rf.Args...)
		} else {
			msg = pg.r.T(l, "error.422", err.Error())
		}
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusRequestEntityTooLarge,
		http.StatusServiceUnavailable:
		msg = pg.r.T(l, fmt.Sprintf("error.%d", status))
	default:
		msg = pg.r.T(l, "error.500")
	}
	p := pg.page(w, r, errorData{Status: status, Message: msg, Next: url.QueryEscape(r.URL.RequestURI()), RequestID: gate.RequestID(r.Context())}, "title.error")
	if status == http.StatusUnauthorized {
		p.User, p.Role = "", ""
	}
	pg.render(w, r, status, "error", p)
	return true
}

// failErr answers err as an error page (status from the error table).
func (pg *Pages) failErr(w http.ResponseWriter, r *http.Request, err error) { pg.gate.Fail(w, r, err) }

// localNext returns next if it is a path on this site, else "/".
func localNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}

type loginData struct {
	Error string
	Next  string
	User  string
}

// Login serves GET /login: the sign-in form.
func (pg *Pages) Login(w http.ResponseWriter, r *http.Request) {
	pg.render(w, r, http.StatusOK, "login", pg.page(w, r, loginData{Next: localNext(r.URL.Query().Get("next"))}, "title.login"))
}

// LoginPassword serves POST /login: signs in with a user and password.
func (pg *Pages) LoginPassword(w http.ResponseWriter, r *http.Request) {
	pg.signIn(w, r, func() (auth.Principal, error) {
		return pg.authn.StartSession(w, r, r.PostFormValue("user"), r.PostFormValue("password"))
	})
}

// LoginToken serves POST /login/token: signs in with an API token.
func (pg *Pages) LoginToken(w http.ResponseWriter, r *http.Request) {
	pg.signIn(w, r, func() (auth.Principal, error) {
		return pg.authn.StartTokenSession(w, r, strings.TrimSpace(r.PostFormValue("token")))
	})
}

func (pg *Pages) signIn(w http.ResponseWriter, r *http.Request, start func() (auth.Principal, error)) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		pg.failErr(w, r, fmt.Errorf("%w: %v", param.ErrBadRequest, err))
		return
	}
	next := localNext(r.PostFormValue("next"))
	if _, err := start(); err != nil {
		pg.log.InfoContext(r.Context(), "sign-in refused", "err", err)
		p := pg.page(w, r, nil, "title.login")
		p.Data = loginData{Error: pg.r.T(p.Lang, "error.login", err.Error()), Next: next, User: r.PostFormValue("user")}
		pg.render(w, r, http.StatusUnauthorized, "login", p)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// Logout serves POST /logout: the session ends.
func (pg *Pages) Logout(w http.ResponseWriter, r *http.Request) {
	pg.authn.EndSession(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

type unitsData struct {
	Plans   []planLink
	Plan    string
	Phases  []plan.Phase
	Phase   string
	Towns   []planLink
	Town    string
	Legend  []string
	Columns []column
	Rows    []heatRow
	Units   []projections.Unit
}

type column struct{ Label, Title string }

type heatRow struct {
	ID, Name string
	Cells    []string // a status, or "na" where the requirement does not apply
	Met, Due int
}

// Units lists the units the principal may see and, for one plan, a heat
// map units × requirements coloured by status, filtered by ?plan=, ?phase=
// and ?town= (the parent unit).
func (pg *Pages) Units(w http.ResponseWriter, r *http.Request) {
	s := pg.api
	p := gate.Principal(r)
	q := r.URL.Query()
	d := unitsData{Plan: q.Get("plan"), Phase: q.Get("phase"), Town: q.Get("town"),
		Legend: []string{compliance.StatusMet, compliance.StatusPartial, compliance.StatusMissing, compliance.StatusOverdue, compliance.StatusNotDue}}
	plans := s.PlansAsOf(time.Time{})
	var pv *projections.PlanVersion
	for i := range plans {
		d.Plans = append(d.Plans, planLink{ID: plans[i].Plan.ID, Title: plans[i].Plan.Title})
		if plans[i].Plan.ID == d.Plan {
			pv = &plans[i]
		}
	}
	if d.Plan != "" && pv == nil {
		pg.failErr(w, r, fmt.Errorf("%w: no plan %q", param.ErrBadRequest, d.Plan))
		return
	}
	if pv == nil && len(plans) > 0 {
		pv, d.Plan = &plans[0], plans[0].Plan.ID
	}
	if pv != nil {
		d.Phases = pv.Plan.Phases
		if d.Phase != "" && !slices.ContainsFunc(d.Phases, func(ph plan.Phase) bool { return ph.ID == d.Phase }) {
			pg.failErr(w, r, fmt.Errorf("%w: plan %s has no phase %q", param.ErrBadRequest, d.Plan, d.Phase))
			return
		}
	} else if d.Phase != "" {
		pg.failErr(w, r, fmt.Errorf("%w: no plan to take phase %q from", param.ErrBadRequest, d.Phase))
		return
	}
	now := s.Now()
	err := s.Archive().Read(func(a *projections.Archive) error {
		all := a.Units()
		names := map[string]string{}
		parents := map[string]bool{}
		for _, u := range all {
			names[u.ID] = u.Name
			if auth.Decide(p, auth.ActUnitRead, u.ID, a.Within) == nil { // not s.inScope: this holds the archive's read lock
				d.Units = append(d.Units, u)
				if u.Parent != "" {
					parents[u.Parent] = true
				}
			}
		}
		for _, u := range all {
			if parents[u.ID] {
				d.Towns = append(d.Towns, planLink{ID: u.ID, Title: u.Name})
			}
		}
		if d.Town != "" && !parents[d.Town] {
			return fmt.Errorf("%w: %q is not a town (parent unit) here", param.ErrBadRequest, d.Town)
		}
		if pv == nil {
			return nil
		}
		var reqs []*plan.Requirement
		for i := range pv.Plan.Requirements {
			if rq := &pv.Plan.Requirements[i]; d.Phase == "" || inPhase(pv.Plan, rq, d.Phase) {
				reqs = append(reqs, rq)
			}
		}
		for i, rq := range reqs { // numbered: refs repeat (several requirements per item of the text)
			d.Columns = append(d.Columns, column{Label: fmt.Sprint(i + 1), Title: strings.TrimSpace(rq.Ref + " " + rq.Title)})
		}
		for _, u := range d.Units {
			cu := compliance.UnitOf(u)
			if d.Town != "" && u.Parent != d.Town && u.ID != d.Town || !api.AppliesToUnit(pv.Plan, cu) {
				continue
			}
			rep, err := compliance.Evaluate(pv.Plan, cu, a.Unit(u.ID).Items(), now)
			if err != nil {
				return fmt.Errorf("compliance of %s with plan %s: %w", u.ID, pv.Plan.ID, err)
			}
			st := map[string]string{}
			for _, res := range rep.Requirements {
				st[res.Requirement] = res.Status
			}
			row := heatRow{ID: u.ID, Name: u.Name}
			for _, rq := range reqs {
				c, ok := st[rq.ID]
				if !ok {
					c = "na"
				}
				switch c {
				case compliance.StatusMet:
					row.Met++
					row.Due++
				case compliance.StatusNotDue, "na":
				default:
					row.Due++
				}
				row.Cells = append(row.Cells, c)
			}
			d.Rows = append(d.Rows, row)
		}
		return nil
	})
	if err != nil {
		pg.failErr(w, r, err)
		return
	}
	pg.render(w, r, http.StatusOK, "units", pg.page(w, r, d, "title.units"))
}

// inPhase reports whether a requirement belongs to a phase of the plan: it
// names the phase, or its dates (deadline, range or windows) fall in it.
func inPhase(p *plan.Plan, rq *plan.Requirement, phase string) bool {
	if rq.Rule.Phase != "" {
		return rq.Rule.Phase == phase
	}
	var span plan.Span
	for _, ph := range p.Phases {
		if ph.ID == phase {
			span = ph.Span
		}
	}
	in := func(d plan.Date) bool { return !d.IsZero() && !d.Before(span.Start) && !span.End.Before(d) }
	overlaps := func(a, b plan.Date) bool {
		if a.IsZero() {
			a = p.Period.Start
		}
		if b.IsZero() {
			b = p.Period.End
		}
		return !b.Before(span.Start) && !span.End.Before(a)
	}
	switch rq.Rule.Kind {
	case plan.RuleDeadline:
		return in(rq.Rule.By)
	case plan.RuleWindows:
		for _, w := range rq.Rule.Windows {
			if overlaps(w.Start, w.End) {
				return true
			}
		}
		return false
	default:
		return overlaps(rq.Rule.From, rq.Rule.To)
	}
}

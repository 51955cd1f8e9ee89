package pages

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"taizhang/api"
	"taizhang/auth"
	"taizhang/events"
	"taizhang/gate"
	"taizhang/projections"
	"taizhang/projections/audit"
	"taizhang/projections/compliance"
)

// gap is a requirement not yet met, on a submitter's home page.
type gap struct {
	PlanTitle, Requirement, Ref, Title, Status, Missing, Due string
}

// findingLine is an open finding on a home page (Unit and UnitName only on
// an inspector's or supervisor's, which span units).
type findingLine struct {
	ID, Description, Due string
	Overdue              bool
	Unit, UnitName       string
}

// unitBehind is a unit with requirements overdue or still owed.
type unitBehind struct {
	ID, Name      string
	Overdue, Owed int
}

// homeShown is how many lines of each list a home page shows; the rest are
// counted and linked.
const homeShown = 8

type homeData struct {
	Unit         *projections.Unit // a submitter's unit
	Gaps         []gap
	OpenFindings []findingLine

	// An inspector's, supervisor's or admin's: the units behind, most
	// overdue first, and the open findings in scope, overdue first.
	Behind                    []unitBehind
	BehindAll                 int
	FindingsAll, FindingsLate int
	// A supervisor's or admin's (Audit): bursts, reuse and denied reads.
	Audit                 bool
	Bursts                []audit.Burst
	ReuseExact, ReuseNear int
	Denied                []auth.AccessEntry // newest first
	DeniedAll             int
	NoAccessLog           bool // the server keeps no access log to read
	Plans                 []planLink
}

type planLink struct{ ID, Title string }

// Home is the signed-in person's next things to do: a submitter sees what
// its unit owes (compliance gaps, nearest deadline first) and its open
// findings; an inspector the units behind and the open findings; a
// supervisor or admin the open findings, the backfill bursts before
// inspections, reused photos and denied reads of its scope. Each list
// links to the page that shows it all.
func (pg *Pages) Home(w http.ResponseWriter, r *http.Request) {
	p := gate.Principal(r)
	var d homeData
	title := "title.home"
	var err error
	if p.Role == events.RoleSubmitter && p.Unit != "" {
		title = "title.home_submitter"
		err = pg.clerkHome(r, p, &d)
	} else {
		err = pg.overseerHome(r, p, &d)
	}
	if err != nil {
		pg.failErr(w, r, err)
		return
	}
	pg.render(w, r, http.StatusOK, "home", pg.page(w, r, d, title))
}

// clerkHome fills a submitter's home: its unit's gaps and open findings.
func (pg *Pages) clerkHome(r *http.Request, p auth.Principal, d *homeData) error {
	s := pg.api
	plans := s.PlansAsOf(time.Time{})
	titles := map[string]string{}
	for _, pv := range plans {
		titles[pv.Plan.ID] = pv.Plan.Title
	}
	err := s.WithUnitArchive(r.Context(), p.Unit, time.Time{}, func(ua *projections.UnitArchive) error {
		u := ua.Unit
		d.Unit = &u
		ans, err := s.ComplianceIn(ua, plans, time.Time{}, "")
		if err != nil {
			return err
		}
		for _, rep := range ans.Plans {
			for _, res := range rep.Requirements {
				switch res.Status {
				case compliance.StatusMissing, compliance.StatusPartial, compliance.StatusOverdue:
					g := gap{PlanTitle: titles[rep.Plan], Requirement: res.Requirement, Ref: res.Ref, Title: res.Title, Status: res.Status, Missing: pg.say(r, res.Owed)}
					if !res.Due.IsZero() {
						g.Due = res.Due.String()
					}
					d.Gaps = append(d.Gaps, g)
				}
			}
		}
		now := s.Now()
		for _, f := range ua.Findings() {
			if !f.Resolved {
				d.OpenFindings = append(d.OpenFindings, findingLine{ID: f.ID.String(), Description: f.Finding.Description, Due: f.Finding.Due,
					Overdue: f.Overdue(now, s.Config().Zone)})
			}
		}
		return nil
	})
	slices.SortStableFunc(d.Gaps, func(a, b gap) int {
		switch {
		case a.Due == b.Due:
			return 0
		case a.Due == "":
			return 1
		case b.Due == "":
			return -1
		}
		return strings.Compare(a.Due, b.Due) // YYYY-MM-DD sorts as dates
	})
	return err
}

// overseerHome fills an inspector's, supervisor's or admin's home from the
// units it may read.
func (pg *Pages) overseerHome(r *http.Request, p auth.Principal, d *homeData) error {
	s := pg.api
	d.Audit = pg.gate.Authorize(p, auth.ActAudit, "") == nil
	plans := s.PlansAsOf(time.Time{})
	for _, pv := range plans {
		d.Plans = append(d.Plans, planLink{ID: pv.Plan.ID, Title: pv.Plan.Title})
	}
	now := s.Now()
	err := s.Archive().Read(func(a *projections.Archive) error {
		in := map[string]bool{}
		for _, u := range a.Units() {
			if auth.Decide(p, auth.ActUnitRead, u.ID, a.Within) != nil {
				continue
			}
			in[u.ID] = true
			ua := a.Unit(u.ID)
			b := unitBehind{ID: u.ID, Name: u.Name}
			cu := compliance.UnitOf(u)
			for _, pv := range plans {
				if !api.AppliesToUnit(pv.Plan, cu) {
					continue
				}
				rep, err := compliance.Evaluate(pv.Plan, cu, ua.Items(), now)
				if err != nil {
					return fmt.Errorf("compliance of %s with plan %s: %w", u.ID, pv.Plan.ID, err)
				}
				for _, res := range rep.Requirements {
					switch res.Status {
					case compliance.StatusOverdue:
						b.Overdue++
					case compliance.StatusMissing, compliance.StatusPartial:
						b.Owed++
					}
				}
			}
			if b.Overdue+b.Owed > 0 {
				d.Behind = append(d.Behind, b)
			}
			for _, f := range ua.Findings() {
				if !f.Resolved {
					d.OpenFindings = append(d.OpenFindings, findingLine{ID: f.ID.String(), Description: f.Finding.Description, Due: f.Finding.Due,
						Overdue: f.Overdue(now, s.Config().Zone), Unit: u.ID, UnitName: u.Name})
				}
			}
		}
		if d.Audit {
			o := audit.Options{Zone: s.Config().Zone}
			if p.Role != events.RoleAdmin && p.Unit != "" {
				o.Scope = func(unit string) bool { return in[unit] }
			}
			d.Bursts = audit.Bursts(a, o).Bursts
			rep := audit.Reuse(a, o)
			d.ReuseExact, d.ReuseNear = len(rep.Exact), len(rep.Near)
		}
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortStableFunc(d.Behind, func(a, b unitBehind) int {
		return cmp.Or(cmp.Compare(b.Overdue, a.Overdue), cmp.Compare(b.Owed, a.Owed), strings.Compare(a.ID, b.ID))
	})
	slices.SortStableFunc(d.OpenFindings, func(a, b findingLine) int {
		if a.Overdue != b.Overdue {
			if a.Overdue {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Due, b.Due)
	})
	d.BehindAll, d.FindingsAll = len(d.Behind), len(d.OpenFindings)
	for _, f := range d.OpenFindings {
		if f.Overdue {
			d.FindingsLate++
		}
	}
	d.Behind, d.OpenFindings = d.Behind[:min(len(d.Behind), homeShown)], d.OpenFindings[:min(len(d.OpenFindings), homeShown)]
	if d.Audit {
		pg.deniedReads(r, p, d)
	}
	return nil
}

// deniedReads fills the reads refused to people of p's scope, or to
// anyone on its units, newest first; a server without a readable access
// log says so on the page.
func (pg *Pages) deniedReads(r *http.Request, p auth.Principal, d *homeData) {
	rd, ok := pg.gate.AccessLog().(auth.AccessReader)
	if !ok {
		d.NoAccessLog = true
		return
	}
	f := auth.AccessFilter{Outcome: auth.OutcomeDenied, Limit: 500}
	pg.api.ScopeAccess(p, &f)
	entries, err := rd.ListAccess(r.Context(), f)
	if err != nil {
		pg.log.WarnContext(r.Context(), "home: read the access log", "err", err)
		d.NoAccessLog = true
		return
	}
	for i := len(entries) - 1; i >= 0; i-- {
		if e := entries[i]; e.Method == http.MethodGet {
			d.DeniedAll++
			if len(d.Denied) < homeShown {
				d.Denied = append(d.Denied, e)
			}
		}
	}
}

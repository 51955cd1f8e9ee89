package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"taizhang/events"
	"taizhang/gate"
	"taizhang/param"
	"taizhang/projections"
	"taizhang/projections/compliance"
	"taizhang/projections/plan"
)

// AppliesToUnit reports whether any requirement of p applies to u.
func AppliesToUnit(p *plan.Plan, u compliance.Unit) bool {
	for i := range p.Requirements {
		if compliance.Applies(p, &p.Requirements[i], u) {
			return true
		}
	}
	return false
}

// PlansAsOf returns the plan versions in force at t (all latest if zero).
func (s *Service) PlansAsOf(t time.Time) []projections.PlanVersion {
	var out []projections.PlanVersion
	_ = s.archive.Read(func(a *projections.Archive) error {
		out = a.Plans(t)
		return nil
	})
	return out
}

// latestRecorded returns the newest recorded time among ua's items.
func latestRecorded(ua *projections.UnitArchive) time.Time {
	var t time.Time
	for _, it := range ua.Items() {
		if u := it.UpdatedAt(); u.After(t) {
			t = u
		}
	}
	return t
}

// ComplianceAnswer is a unit's compliance with every plan that applies to
// it, as of a time.
type ComplianceAnswer struct {
	Unit  string              `json:"unit"`
	AsOf  time.Time           `json:"as_of"`
	Plans []compliance.Report `json:"plans"`
}

// Compliance evaluates the unit against the plans in force at as_of (or
// now); ?plan= limits it to one plan; ?lang= (zh-Hant, the default;
// zh-Hans; en) is the language of the words missing, why and name.
func (s *Service) Compliance(w http.ResponseWriter, r *http.Request) {
	unit := r.PathValue("unit")
	asOf, err := s.AsOf(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	only, err := param.Get(r, "plan")
	if err == nil {
		only, err = param.PlanID("plan", only)
	}
	var lang string
	if err == nil {
		if lang, err = param.Get(r, "lang"); err == nil {
			lang, err = param.Enum("lang", lang, compliance.Langs...)
		}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ans, err := s.complianceOf(r.Context(), unit, asOf, only)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if only != "" && len(ans.Plans) == 0 {
		s.fail(w, r, fmt.Errorf("plan %s does not apply to unit %s (or does not exist): %w", only, unit, events.ErrNotFound))
		return
	}
	if lang != "" {
		for i := range ans.Plans {
			ans.Plans[i].Say(lang)
		}
	}
	gate.WriteJSON(w, http.StatusOK, ans)
}

// complianceOf evaluates the unit against the plans in force at asOf (zero:
// now), or only against plan only if it is not empty.
func (s *Service) complianceOf(ctx context.Context, unit string, asOf time.Time, only string) (ComplianceAnswer, error) {
	plans := s.PlansAsOf(asOf)
	var ans ComplianceAnswer
	err := s.WithUnitArchive(ctx, unit, asOf, func(ua *projections.UnitArchive) error {
		var err error
		ans, err = s.ComplianceIn(ua, plans, asOf, only)
		return err
	})
	return ans, err
}

// ComplianceIn evaluates ua (the unit's archive as of asOf; zero: now)
// against plans, or only against plan only if it is not empty.
func (s *Service) ComplianceIn(ua *projections.UnitArchive, plans []projections.PlanVersion, asOf time.Time, only string) (ComplianceAnswer, error) {
	unit := ua.Unit.ID
	ans := ComplianceAnswer{Unit: unit, Plans: []compliance.Report{}}
	at := asOf
	if at.IsZero() {
		at = s.now()
		if l := latestRecorded(ua); l.After(at) { // another replica's clock ran ahead
			at = l
		}
	}
	ans.AsOf = at.UTC()
	u := compliance.UnitOf(ua.Unit)
	for _, pv := range plans {
		if only != "" && pv.Plan.ID != only || !AppliesToUnit(pv.Plan, u) {
			continue
		}
		rep, err := compliance.Evaluate(pv.Plan, u, ua.Items(), at)
		if err != nil {
			return ans, fmt.Errorf("compliance of %s with plan %s: %w", unit, pv.Plan.ID, err)
		}
		ans.Plans = append(ans.Plans, rep)
	}
	return ans, nil
}

// RankEntry is one unit's place in a ranking.
type RankEntry struct {
	Rank  int     `json:"rank"`
	Unit  string  `json:"unit"`
	Name  string  `json:"name"`
	Met   int     `json:"met"`
	Due   int     `json:"due"`
	Share float64 `json:"share"`
}

// Ranking is a plan's ranking of its units at the end of a period.
type Ranking struct {
	Plan    string      `json:"plan"`
	Version int         `json:"plan_version"`
	Period  string      `json:"period"`
	AsOf    time.Time   `json:"as_of"`
	Units   []RankEntry `json:"units"`
}

// ShowRanking ranks the plan's units by the share of due requirements met at
// the end of ?period=YYYY-MM (or now, if the period has not ended): ties by
// more requirements met, then by unit id.
func (s *Service) ShowRanking(w http.ResponseWriter, r *http.Request) {
	id, err := param.PlanID("plan", r.PathValue("plan"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	period, err := param.Get(r, "period")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	month, err := param.Month("period", period)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rk, err := s.Rank(r.Context(), id, month)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	gate.WriteJSON(w, http.StatusOK, rk)
}

// Rank computes a ranking from the maintained projections; a unit whose
// items were corrected after the period's end is folded from its history
// cut at that time instead, so the answer is always exact.
func (s *Service) Rank(ctx context.Context, id string, month time.Time) (Ranking, error) {
	var pv projections.PlanVersion
	var ok bool
	_ = s.archive.Read(func(a *projections.Archive) error {
		pv, ok = a.Plan(id, time.Time{})
		return nil
	})
	if !ok {
		return Ranking{}, fmt.Errorf("plan %s: %w", id, events.ErrNotFound)
	}
	loc := pv.Plan.Location()
	end := time.Date(month.Year(), month.Month()+1, 1, 0, 0, 0, 0, loc).Add(-time.Microsecond)
	if now := s.now(); end.After(now) {
		end = now
	}
	// The plan as it stood at the period's end, if it existed then.
	_ = s.archive.Read(func(a *projections.Archive) error {
		if v, ok := a.Plan(id, end); ok {
			pv = v
		}
		return nil
	})
	rk := Ranking{Plan: id, Version: pv.Version, Period: month.Format("2006-01"), AsOf: end.UTC(), Units: []RankEntry{}}
	var redo []projections.Unit
	err := s.archive.Read(func(a *projections.Archive) error {
		for _, u := range a.Units() {
			cu := compliance.UnitOf(u)
			if !u.RegisteredAt.After(end) && AppliesToUnit(pv.Plan, cu) {
				met, due, err := compliance.Score(pv.Plan, cu, a.Unit(u.ID).Items(), end)
				if errors.Is(err, compliance.ErrNotAsOf) {
					redo = append(redo, u)
					continue
				}
				if err != nil {
					return err
				}
				rk.Units = append(rk.Units, RankEntry{Unit: u.ID, Name: u.Name, Met: met, Due: due})
			}
		}
		return nil
	})
	if err != nil {
		return Ranking{}, err
	}
	for _, u := range redo {
		recs, _, err := s.SoundHistory(ctx, u.ID, end)
		if err != nil {
			return Ranking{}, err
		}
		ua, err := projections.FoldUnit(recs)
		if err != nil {
			return Ranking{}, err
		}
		if ua == nil {
			continue
		}
		met, due, err := compliance.Score(pv.Plan, compliance.UnitOf(ua.Unit), ua.Items(), end)
		if err != nil {
			return Ranking{}, err
		}
		rk.Units = append(rk.Units, RankEntry{Unit: u.ID, Name: u.Name, Met: met, Due: due})
	}
	for i := range rk.Units {
		if e := &rk.Units[i]; e.Due > 0 {
			e.Share = float64(e.Met) / float64(e.Due)
		}
	}
	slices.SortFunc(rk.Units, func(a, b RankEntry) int {
		if c := cmp.Compare(b.Share, a.Share); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Met, a.Met); c != 0 {
			return c
		}
		return strings.Compare(a.Unit, b.Unit)
	})
	for i := range rk.Units {
		rk.Units[i].Rank = i + 1
		if i > 0 && rk.Units[i].Share == rk.Units[i-1].Share && rk.Units[i].Met == rk.Units[i-1].Met {
			rk.Units[i].Rank = rk.Units[i-1].Rank // a tie shares its place; the order stays by id
		}
	}
	return rk, nil
}

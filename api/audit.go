package api

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"

	"taizhang/auth"
	"taizhang/events"
	"taizhang/gate"
	"taizhang/param"
	"taizhang/projections"
	"taizhang/projections/audit"
)

// auditViews are the audit views GET /api/v1/audit/{view} answers, each
// computed by projections/audit from the live archive.
var auditViews = map[string]func(*projections.Archive, audit.Options) any{
	"corrections": func(a *projections.Archive, o audit.Options) any { return audit.Corrections(a, o) },
	"backfill":    func(a *projections.Archive, o audit.Options) any { return audit.Backfill(a, o) },
	"bursts":      func(a *projections.Archive, o audit.Options) any { return audit.Bursts(a, o) },
	"reuse":       func(a *projections.Archive, o audit.Options) any { return audit.Reuse(a, o) },
	"photo-times": func(a *projections.Archive, o audit.Options) any { return audit.PhotoTimes(a, o) },
	"actors":      func(a *projections.Archive, o audit.Options) any { return audit.Actors(a, o) },
	"devices":     func(a *projections.Archive, o audit.Options) any { return audit.Devices(a, o) },
}

// AuditViews names the audit views AuditView answers, sorted.
func AuditViews() []string { return slices.Sorted(maps.Keys(auditViews)) }

// AuditFilter is the filter an audit answer was computed with, as given.
type AuditFilter struct {
	Unit          string `json:"unit,omitempty"`
	From          string `json:"from,omitempty"`
	To            string `json:"to,omitempty"`
	Actor         string `json:"actor,omitempty"`
	ThresholdDays int    `json:"threshold_days,omitempty"`
}

// AuditView answers one audit view as JSON: the view's report, with
// "view", "filter" and "applied" (the ledger sequence the archive had
// reached) beside its fields. Query: unit, from and to (YYYY-MM-DD,
// inclusive, on recorded time, in the server's zone), actor,
// threshold_days (backfill and bursts), and for the views that have them
// window_days and min_items (bursts), near_distance (reuse), flagged=true
// (backfill: only flagged items).
func (s *Service) AuditView(view string) http.HandlerFunc {
	compute := auditViews[view]
	return func(w http.ResponseWriter, r *http.Request) {
		o, f, err := s.AuditOptions(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		var report any
		var applied uint64
		err = s.archive.Read(func(a *projections.Archive) error {
			if o.Unit != "" && a.Unit(o.Unit) == nil {
				return fmt.Errorf("unit %s: %w", o.Unit, events.ErrNotFound)
			}
			report, applied = compute(a, o), a.Applied()
			return nil
		})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		body, err := json.Marshal(report)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(body, &fields); err != nil {
			s.fail(w, r, err)
			return
		}
		fields["view"], _ = json.Marshal(view)
		fields["filter"], _ = json.Marshal(f)
		fields["applied"], _ = json.Marshal(applied)
		gate.WriteJSON(w, http.StatusOK, fields)
	}
}

// AuditOptions reads an audit view's query, every parameter checked by
// the parsers of params.go.
func (s *Service) AuditOptions(r *http.Request) (audit.Options, AuditFilter, error) {
	var f AuditFilter
	o := audit.Options{Zone: s.cfg.Zone}
	q, err := param.Query(r)
	if err != nil {
		return o, f, err
	}
	str := func(name string, dst *string) {
		if err == nil {
			*dst, err = q.Get(name)
		}
	}
	str("unit", &f.Unit)
	str("from", &f.From)
	str("to", &f.To)
	str("actor", &f.Actor)
	if err != nil {
		return o, f, err
	}
	if f.Unit, err = param.Unit("unit", f.Unit); err != nil {
		return o, f, err
	}
	if len(f.Actor) > 100 {
		return o, f, fmt.Errorf("%w: actor too long", param.ErrBadRequest)
	}
	o.Filter = audit.Filter{Unit: f.Unit, Actor: f.Actor}
	if o.From, err = param.Date("from", f.From, s.cfg.Zone); err != nil {
		return o, f, err
	}
	if o.To, err = param.Date("to", f.To, s.cfg.Zone); err != nil {
		return o, f, err
	}
	if !o.To.IsZero() {
		o.To = o.To.AddDate(0, 0, 1) // to is inclusive
	}
	if !o.From.IsZero() && !o.To.IsZero() && !o.From.Before(o.To) {
		return o, f, fmt.Errorf("%w: from %s is after to %s", param.ErrBadRequest, f.From, f.To)
	}
	for _, p := range []struct {
		name string
		v    *int
		max  int
	}{{"threshold_days", &o.ThresholdDays, 3660}, {"window_days", &o.WindowDays, 366}, {"min_items", &o.MinBurst, 10000}, {"near_distance", &o.NearDistance, 32}} {
		v, err := q.Get(p.name)
		if err != nil {
			return o, f, err
		}
		if *p.v, err = param.IntRange(p.name, v, 1, p.max); err != nil {
			return o, f, err
		}
	}
	f.ThresholdDays = o.ThresholdDays
	v, err := q.Get("flagged")
	if err != nil {
		return o, f, err
	}
	if o.FlaggedOnly, err = param.Bool("flagged", v); err != nil {
		return o, f, err
	}
	// The principal's scope: a unit asked for must be in it, and a scoped
	// supervisor's views hold only its units.
	p := gate.Principal(r)
	if err := s.gate.Authorize(p, auth.ActAudit, f.Unit); err != nil {
		return o, f, err
	}
	if p.Role != events.RoleAdmin && p.Unit != "" {
		in := map[string]bool{}
		_ = s.archive.Read(func(a *projections.Archive) error {
			for _, u := range a.Units() {
				in[u.ID] = p.Sees(u.ID, a.Within)
			}
			return nil
		})
		o.Scope = func(unit string) bool { return in[unit] }
	}
	return o, f, nil
}

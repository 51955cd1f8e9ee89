package services

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"taizhang/events"
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
}

// AuditFilter is the filter an audit answer was computed with, as given.
type AuditFilter struct {
	Unit          string `json:"unit,omitempty"`
	From          string `json:"from,omitempty"`
	To            string `json:"to,omitempty"`
	Actor         string `json:"actor,omitempty"`
	ThresholdDays int    `json:"threshold_days,omitempty"`
}

// auditView answers one audit view as JSON: the view's report, with
// "view", "filter" and "applied" (the ledger sequence the archive had
// reached) beside its fields. Query: unit, from and to (YYYY-MM-DD,
// inclusive, on recorded time, in the server's zone), actor,
// threshold_days (backfill and bursts), and for the views that have them
// window_days and min_items (bursts), near_distance (reuse), flagged=true
// (backfill: only flagged items).
func (s *Server) auditView(view string) http.HandlerFunc {
	compute := auditViews[view]
	return func(w http.ResponseWriter, r *http.Request) {
		o, f, err := s.auditOptions(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		var report any
		var applied uint64
		p := principal(r)
		err = s.archive.Read(func(a *projections.Archive) error {
			if o.Unit != "" && a.Unit(o.Unit) == nil {
				return fmt.Errorf("unit %s: %w", o.Unit, events.ErrNotFound)
			}
			if err := decide(p, ActAudit, o.Unit, a.Within); err != nil {
				return err
			}
			if p.Role != events.RoleAdmin && p.Unit != "" { // a scoped supervisor: only its subtree
				o.Scope = func(unit string) bool { return p.sees(unit, a.Within) }
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
		writeJSON(w, http.StatusOK, fields)
	}
}

// auditOptions reads an audit view's query.
func (s *Server) auditOptions(r *http.Request) (audit.Options, AuditFilter, error) {
	q := r.URL.Query()
	f := AuditFilter{Unit: q.Get("unit"), From: q.Get("from"), To: q.Get("to"), Actor: q.Get("actor")}
	o := audit.Options{Zone: s.cfg.Zone, Filter: audit.Filter{Unit: f.Unit, Actor: f.Actor}}
	if f.Unit != "" {
		if err := events.ValidUnitID(f.Unit); err != nil {
			return o, f, err
		}
	}
	if len(f.Actor) > 100 {
		return o, f, fmt.Errorf("%w: actor too long", errBadRequest)
	}
	date := func(name, v string) (time.Time, error) {
		if v == "" {
			return time.Time{}, nil
		}
		d, err := time.ParseInLocation(time.DateOnly, v, s.cfg.Zone)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: %s %q is not a YYYY-MM-DD date", errBadRequest, name, v)
		}
		return d, nil
	}
	var err error
	if o.From, err = date("from", f.From); err != nil {
		return o, f, err
	}
	if o.To, err = date("to", f.To); err != nil {
		return o, f, err
	}
	if !o.To.IsZero() {
		o.To = o.To.AddDate(0, 0, 1) // to is inclusive
	}
	if !o.From.IsZero() && !o.To.IsZero() && !o.From.Before(o.To) {
		return o, f, fmt.Errorf("%w: from %s is after to %s", errBadRequest, f.From, f.To)
	}
	for _, p := range []struct {
		name string
		v    *int
		max  int
	}{{"threshold_days", &o.ThresholdDays, 3660}, {"window_days", &o.WindowDays, 366}, {"min_items", &o.MinBurst, 10000}, {"near_distance", &o.NearDistance, 32}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > p.max {
			return o, f, fmt.Errorf("%w: %s %q must be a whole number from 1 to %d", errBadRequest, p.name, v, p.max)
		}
		*p.v = n
	}
	f.ThresholdDays = o.ThresholdDays
	switch v := q.Get("flagged"); v {
	case "", "false", "0":
	case "true", "1":
		o.FlaggedOnly = true
	default:
		return o, f, fmt.Errorf("%w: flagged %q must be true or false", errBadRequest, v)
	}
	return o, f, nil
}

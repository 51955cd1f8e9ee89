package audit

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"taizhang/events"
	"taizhang/projections"
)

// ActorActivity is what one actor (a user in one role) did in the ledger.
type ActorActivity struct {
	Actor            string      `json:"actor"`
	Role             events.Role `json:"role"`
	Submitted        int         `json:"submitted"`      // evidence items, rectifications included
	Rectifications   int         `json:"rectifications"` // of which rectifications
	Amended          int         `json:"amended"`
	Retracted        int         `json:"retracted"`
	FindingsRecorded int         `json:"findings_recorded"`
	FindingsResolved int         `json:"findings_resolved"`
	FindingsReopened int         `json:"findings_reopened"`
	PlansPublished   int         `json:"plans_published"` // versions, first and revised
	// Exported counts the unit archives this actor exported (bags).
	Exported int       `json:"exported"`
	Units    []string  `json:"units"` // the units acted on, sorted
	First    time.Time `json:"first"` // the first and last event counted, recorded time
	Last     time.Time `json:"last"`
}

// ActorsReport lists actors by id, then role.
type ActorsReport struct {
	Actors []ActorActivity `json:"actors"`
}

// Actors counts, per actor and role, the evidence submitted, amended and
// retracted, the findings recorded, resolved and reopened, and the plan
// versions published, over the events the filter selects (by unit,
// recorded time and actor; plans belong to no unit, so a unit filter
// leaves them out). Unit registrations are not counted: the archive keeps
// a unit, not who registered it.
func Actors(a *projections.Archive, o Options) ActorsReport {
	o = o.withDefaults()
	type key struct {
		id   string
		role events.Role
	}
	acts := map[key]*ActorActivity{}
	note := func(unit string, l projections.Link, count func(*ActorActivity)) {
		t := l.RecordedAt.Time()
		if !o.match(unit, t, l.Actor().ID) {
			return
		}
		k := key{l.Actor().ID, l.Actor().Role}
		x := acts[k]
		if x == nil {
			x = &ActorActivity{Actor: k.id, Role: k.role, Units: []string{}, First: t, Last: t}
			acts[k] = x
		}
		count(x)
		if unit != "" && !slices.Contains(x.Units, unit) {
			x.Units = append(x.Units, unit)
		}
		if t.Before(x.First) {
			x.First = t
		}
		if t.After(x.Last) {
			x.Last = t
		}
	}
	for _, ua := range units(a, o.Filter) {
		unit := ua.Unit.ID
		for _, l := range ua.Exports() {
			note(unit, l, func(x *ActorActivity) { x.Exported++ })
		}
		for _, it := range ua.Items() {
			for i, l := range it.Chain {
				switch {
				case i == 0:
					rect := it.Finding() != ""
					note(unit, l, func(x *ActorActivity) {
						x.Submitted++
						if rect {
							x.Rectifications++
						}
					})
				case l.Type() == events.TypeEvidenceAmended:
					note(unit, l, func(x *ActorActivity) { x.Amended++ })
				case l.Type() == events.TypeEvidenceRetracted:
					note(unit, l, func(x *ActorActivity) { x.Retracted++ })
				}
			}
		}
		for _, f := range ua.Findings() {
			for _, l := range f.Chain {
				switch l.Type() {
				case events.TypeFindingRecorded:
					note(unit, l, func(x *ActorActivity) { x.FindingsRecorded++ })
				case events.TypeFindingResolved:
					note(unit, l, func(x *ActorActivity) { x.FindingsResolved++ })
				case events.TypeFindingReopened:
					note(unit, l, func(x *ActorActivity) { x.FindingsReopened++ })
				}
			}
		}
	}
	if o.Unit == "" && o.Scope == nil {
		for _, pv := range a.Plans(time.Time{}) {
			for _, v := range a.PlanVersions(pv.Plan.ID) {
				l := projections.NewLink(v.Seq, v.EventID, events.TypePlanPublished, v.PublishedBy, "", v.RecordedAt, v.RecordedAt, v.Version)
				note("", l, func(x *ActorActivity) { x.PlansPublished++ })
			}
		}
	}
	rep := ActorsReport{Actors: make([]ActorActivity, 0, len(acts))}
	for _, x := range acts {
		slices.Sort(x.Units)
		rep.Actors = append(rep.Actors, *x)
	}
	slices.SortFunc(rep.Actors, func(x, y ActorActivity) int {
		return cmp.Or(strings.Compare(x.Actor, y.Actor), strings.Compare(string(x.Role), string(y.Role)))
	})
	return rep
}

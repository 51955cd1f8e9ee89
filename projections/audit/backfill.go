package audit

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"taizhang/projections"
	"taizhang/projections/plan"
)

// BackfillItem is an item's lag: how long after the date it claims
// (occurred_at, as it stands after amendments) it was first recorded.
type BackfillItem struct {
	ItemRef
	LagDays float64 `json:"lag_days"`
	Flagged bool    `json:"flagged"` // the lag is over the threshold
}

// BackfillUnit sums up one unit's lags.
type BackfillUnit struct {
	Unit          string  `json:"unit"`
	Name          string  `json:"name"`
	Items         int     `json:"items"`
	Flagged       int     `json:"flagged"`
	MaxLagDays    float64 `json:"max_lag_days"`
	MedianLagDays float64 `json:"median_lag_days"`
}

// BackfillReport is the lag of every item the filter selects (or, with
// Options.FlaggedOnly, of the flagged ones) and the sum per unit.
type BackfillReport struct {
	ThresholdDays int            `json:"threshold_days"`
	Units         []BackfillUnit `json:"units"`
	Items         []BackfillItem `json:"items"`
}

// Backfill measures recorded_at − occurred_at for every evidence item the
// filter selects (by unit, first recorded time and submitter), flagging
// those over the threshold. Units are sorted by id, items by unit and
// recorded time. Retracted items are included and marked: a backfilled
// item does not stop having been backfilled when it is withdrawn.
func Backfill(a *projections.Archive, o Options) BackfillReport {
	o = o.withDefaults()
	rep := BackfillReport{ThresholdDays: o.ThresholdDays, Units: []BackfillUnit{}, Items: []BackfillItem{}}
	limit := time.Duration(o.ThresholdDays) * day
	for _, ua := range units(a, o.Filter) {
		sum := BackfillUnit{Unit: ua.Unit.ID, Name: ua.Unit.Name}
		var lags []float64
		for _, it := range ua.Items() {
			if !o.match(ua.Unit.ID, it.RecordedAt(), it.Chain[0].Actor().ID) {
				continue
			}
			bi := BackfillItem{ItemRef: refOf(ua.Unit.ID, it), LagDays: lagDays(it), Flagged: it.RecordedAt().Sub(it.OccurredAt()) > limit}
			lags = append(lags, bi.LagDays)
			sum.Items++
			if bi.Flagged {
				sum.Flagged++
			}
			sum.MaxLagDays = max(sum.MaxLagDays, bi.LagDays)
			if bi.Flagged || !o.FlaggedOnly {
				rep.Items = append(rep.Items, bi)
			}
		}
		if sum.Items == 0 {
			continue
		}
		slices.Sort(lags)
		sum.MedianLagDays = lags[len(lags)/2]
		if len(lags)%2 == 0 {
			sum.MedianLagDays = (lags[len(lags)/2-1] + lags[len(lags)/2]) / 2
		}
		rep.Units = append(rep.Units, sum)
	}
	slices.SortFunc(rep.Items, func(x, y BackfillItem) int { return compareRefs(x.ItemRef, y.ItemRef) })
	return rep
}

// Anchor is a moment an inspection or a deadline falls on: the start of a
// plan phase (its first day's first instant) or the end of a deadline day.
type Anchor struct {
	Plan string    `json:"plan"`
	Kind string    `json:"kind"` // AnchorPhase or AnchorDeadline
	ID   string    `json:"id"`   // the phase's or the requirement's id
	Name string    `json:"name"` // the phase's name or the requirement's title
	Date plan.Date `json:"date"` // the phase's first day or the deadline day
	At   time.Time `json:"at"`
}

// Anchor kinds.
const (
	AnchorPhase    = "phase_start"
	AnchorDeadline = "deadline"
)

// Burst is a cluster of backfilled items a unit recorded in the window
// before an anchor.
type Burst struct {
	Unit string `json:"unit"`
	Name string `json:"name"`
	// Before is the anchor the window precedes, and Also the other anchors
	// at the same instant.
	Before      Anchor    `json:"before"`
	Also        []Anchor  `json:"also,omitempty"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"` // exclusive: the anchor
	Count       int       `json:"count"`
	// OccurredFrom and OccurredTo are the earliest and latest claimed
	// dates among the items, in the anchor's plan's zone.
	OccurredFrom plan.Date      `json:"occurred_from"`
	OccurredTo   plan.Date      `json:"occurred_to"`
	Items        []BackfillItem `json:"items"`
}

// BurstsReport lists bursts by unit and anchor time.
type BurstsReport struct {
	ThresholdDays int     `json:"threshold_days"`
	WindowDays    int     `json:"window_days"`
	MinItems      int     `json:"min_items"`
	Bursts        []Burst `json:"bursts"`
}

// Bursts finds, per unit, backfilled items (lag over the threshold) that
// were recorded within WindowDays before a phase start or a deadline of a
// plan that applies to the unit. Each such item belongs to the first
// anchor after its recorded time (so it is counted once, however many
// anchors are near); an anchor with at least MinBurst items is a burst.
// The plans are the latest version of each; a deadline counts for the
// units its requirement applies to. The filter selects items as Backfill
// does.
func Bursts(a *projections.Archive, o Options) BurstsReport {
	o = o.withDefaults()
	rep := BurstsReport{ThresholdDays: o.ThresholdDays, WindowDays: o.WindowDays, MinItems: o.MinBurst, Bursts: []Burst{}}
	plans := a.Plans(time.Time{})
	window := time.Duration(o.WindowDays) * day
	limit := time.Duration(o.ThresholdDays) * day
	for _, ua := range units(a, o.Filter) {
		anchors := anchorsFor(plans, ua.Unit)
		if len(anchors) == 0 {
			continue
		}
		groups := map[int][]BackfillItem{} // by index of the first anchor at an instant
		for _, it := range ua.Items() {
			rec := it.RecordedAt()
			if !o.match(ua.Unit.ID, rec, it.Chain[0].Actor().ID) || rec.Sub(it.OccurredAt()) <= limit {
				continue
			}
			// The first anchor after rec.
			i, _ := slices.BinarySearchFunc(anchors, rec, func(x Anchor, t time.Time) int {
				if x.At.After(t) {
					return 1
				}
				return -1
			})
			if i < len(anchors) && anchors[i].At.Sub(rec) <= window {
				groups[i] = append(groups[i], BackfillItem{ItemRef: refOf(ua.Unit.ID, it), LagDays: lagDays(it), Flagged: true})
			}
		}
		idx := make([]int, 0, len(groups))
		for i := range groups {
			idx = append(idx, i)
		}
		slices.Sort(idx)
		for _, i := range idx {
			items := groups[i]
			if len(items) < o.MinBurst {
				continue
			}
			an := anchors[i]
			b := Burst{Unit: ua.Unit.ID, Name: ua.Unit.Name, Before: an, WindowStart: an.At.Add(-window), WindowEnd: an.At, Count: len(items), Items: items}
			for _, x := range anchors[i+1:] {
				if !x.At.Equal(an.At) {
					break
				}
				b.Also = append(b.Also, x)
			}
			loc := an.At.Location()
			for k, bi := range items {
				d := plan.DateOf(bi.OccurredAt, loc)
				if k == 0 || d.Before(b.OccurredFrom) {
					b.OccurredFrom = d
				}
				if k == 0 || b.OccurredTo.Before(d) {
					b.OccurredTo = d
				}
			}
			slices.SortFunc(b.Items, func(x, y BackfillItem) int { return compareRefs(x.ItemRef, y.ItemRef) })
			rep.Bursts = append(rep.Bursts, b)
		}
	}
	return rep
}

// anchorsFor returns the phase starts and deadlines of the plans that
// apply to u, sorted by instant (then plan, kind and id).
func anchorsFor(plans []projections.PlanVersion, u projections.Unit) []Anchor {
	var out []Anchor
	for _, pv := range plans {
		p := pv.Plan
		applies := false
		loc := p.Location()
		for i := range p.Requirements {
			r := &p.Requirements[i]
			if !p.Applies(r.AppliesTo, u.ID, u.Type) {
				continue
			}
			applies = true
			if r.Rule.Kind == plan.RuleDeadline && !r.Rule.By.IsZero() {
				out = append(out, Anchor{Plan: p.ID, Kind: AnchorDeadline, ID: r.ID, Name: r.Title, Date: r.Rule.By, At: r.Rule.By.End(loc)})
			}
		}
		if !applies {
			continue
		}
		for _, ph := range p.Phases {
			out = append(out, Anchor{Plan: p.ID, Kind: AnchorPhase, ID: ph.ID, Name: ph.Name, Date: ph.Start, At: ph.Start.Start(loc)})
		}
	}
	slices.SortFunc(out, func(x, y Anchor) int {
		return cmp.Or(x.At.Compare(y.At), strings.Compare(x.Plan, y.Plan), strings.Compare(y.Kind, x.Kind), strings.Compare(x.ID, y.ID))
	})
	return out
}

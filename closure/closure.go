// Package closure decides whether an inspector may close a finding
// (整改銷號) on the evidence the unit filed for it. A finding is closed on
// proof, not on a reason alone: a rectification naming it, a photo in that
// rectification taken after the finding was recorded, at the same place as
// the finding's own photos when positions are known, and a resolver who is
// not the person who filed the rectification. Check returns the evidence it
// relied on, which the resolve event records, or a Refusal naming the rule
// that failed in words a clerk understands. The package holds rules only: the
// caller gathers the finding and its rectifications from the projections.
package closure

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
)

// ErrNotClosable is wrapped by every Refusal.
var ErrNotClosable = errors.New("the finding cannot be closed yet")

// The rules a closure must meet, as named in a Refusal.
const (
	RuleRectification = "rectification" // a rectification naming the finding was filed
	RuleSeparation    = "separation"    // the resolver did not file it
	RulePhoto         = "photo"         // it holds a photo
	RuleAfter         = "after"         // the photo was taken after the finding was recorded
	RulePlace         = "place"         // and near the finding's photos
)

// DefaultMaxDistance is the distance in metres an after-photo may be from
// the finding's photos when both carry a position.
const DefaultMaxDistance = 200.0

// Refusal says which rule a closure failed and why. It wraps ErrNotClosable.
// Detail is the English sentence; Message and Args are the same sentence
// for a translation catalogue (key "closure."+Message, with Args in order).
type Refusal struct {
	Rule    string
	Detail  string
	Message string
	Args    []any
}

// Error returns the detail, which is meant for the clerk and the inspector.
func (r *Refusal) Error() string { return r.Detail }

// Unwrap returns ErrNotClosable.
func (r *Refusal) Unwrap() error { return ErrNotClosable }

// Photo is a photo of a finding or a rectification. TakenAt is its capture
// time: the EXIF time read in the deployment's zone when FromEXIF, else the
// time the ledger recorded the event that attached it.
type Photo struct {
	SHA256   string
	TakenAt  time.Time
	FromEXIF bool
	GPS      *events.GPS
}

// Finding is the finding to close: when it was recorded and its photos
// (the "before" pictures).
type Finding struct {
	ID         uuid.UUID
	RecordedAt time.Time
	Photos     []Photo
}

// Rectification is a standing (not retracted) evidence item of the unit
// naming the finding. Filers are the actor ids of everyone who submitted or
// amended it.
type Rectification struct {
	Evidence uuid.UUID
	Filers   []string
	Photos   []Photo
}

// Rules are the deployment's closure settings. A zero MaxDistance means
// DefaultMaxDistance.
type Rules struct {
	MaxDistance float64
}

// Check decides whether resolver may close f on rects. It returns the
// basis of the closure (the first rectification photo, in filing order,
// that meets every rule), or a *Refusal wrapping ErrNotClosable naming the
// rule the closest candidate failed.
func Check(f Finding, rects []Rectification, resolver string, r Rules) (events.ClosureBasis, error) {
	max := r.MaxDistance
	if max <= 0 {
		max = DefaultMaxDistance
	}
	if len(rects) == 0 {
		return events.ClosureBasis{}, &Refusal{Rule: RuleRectification, Message: RuleRectification,
			Detail: "no rectification has been filed for this finding: the unit must submit rectification evidence naming it before it can be closed"}
	}
	var others []Rectification
	for _, rc := range rects {
		if !filedBy(rc, resolver) {
			others = append(others, rc)
		}
	}
	if len(others) == 0 {
		return events.ClosureBasis{}, &Refusal{Rule: RuleSeparation, Message: RuleSeparation,
			Detail: "you filed the rectification for this finding yourself: someone else with the role to close findings must check it and close it"}
	}
	before := positions(f.Photos)
	var refusal *Refusal
	worse := func(rf *Refusal) {
		if refusal == nil || rank(rf) > rank(refusal) {
			refusal = rf
		}
	}
	for _, rc := range others {
		if len(rc.Photos) == 0 {
			worse(&Refusal{Rule: RulePhoto, Message: RulePhoto,
				Detail: "the rectification has no photo: attach a photo showing the problem put right, taken after the finding"})
			continue
		}
		for _, p := range rc.Photos {
			if !p.TakenAt.After(f.RecordedAt) {
				taken, recorded := p.TakenAt.Format(minute), f.RecordedAt.Format(minute)
				msg, how := "after", ""
				if !p.FromEXIF {
					msg, how = "after_recorded", " (no camera time; the time it was filed)"
				}
				worse(&Refusal{Rule: RuleAfter, Message: msg, Args: []any{taken, recorded},
					Detail: fmt.Sprintf("the rectification's photo was taken %s%s, before the finding was recorded on %s: a new photo taken after the finding is needed", taken, how, recorded)})
				continue
			}
			basis := events.ClosureBasis{Evidence: rc.Evidence, Photo: p.SHA256, TakenAt: p.TakenAt.UTC(), TakenFrom: takenFrom(p)}
			if len(before) > 0 {
				if p.GPS == nil {
					worse(&Refusal{Rule: RulePlace, Message: "place_unknown",
						Detail: "the finding's photos show where the problem was, but the rectification's photo carries no position: take the photo on the spot with location turned on"})
					continue
				}
				d := nearest(*p.GPS, before)
				if d > max {
					dist, limit := fmt.Sprintf("%.0f", d), fmt.Sprintf("%.0f", max)
					worse(&Refusal{Rule: RulePlace, Message: RulePlace, Args: []any{dist, limit},
						Detail: fmt.Sprintf("the rectification's photo was taken %s m from where the finding's photo was taken (at most %s m): a photo of the same place is needed", dist, limit)})
					continue
				}
				d = math.Round(d*10) / 10
				basis.Distance = &d
			}
			return basis, nil
		}
	}
	return events.ClosureBasis{}, refusal
}

// rank orders refusals by how close their candidate came to closing: a
// photo too far away beats one without a position, which beats one too
// old, which beats none at all.
func rank(rf *Refusal) int {
	switch {
	case rf.Rule == RulePhoto:
		return 1
	case rf.Rule == RuleAfter:
		return 2
	case rf.Message == "place_unknown":
		return 3
	case rf.Rule == RulePlace:
		return 4
	}
	return 0
}

func filedBy(rc Rectification, actor string) bool {
	for _, a := range rc.Filers {
		if a == actor {
			return true
		}
	}
	return false
}

func positions(ps []Photo) []events.GPS {
	var out []events.GPS
	for _, p := range ps {
		if p.GPS != nil {
			out = append(out, *p.GPS)
		}
	}
	return out
}

func nearest(p events.GPS, among []events.GPS) float64 {
	best := math.Inf(1)
	for _, q := range among {
		best = math.Min(best, Distance(p, q))
	}
	return best
}

func takenFrom(p Photo) string {
	if p.FromEXIF {
		return events.TakenFromEXIF
	}
	return events.TakenFromRecorded
}

const minute = "2006-01-02 15:04"

// Distance returns the great-circle distance between a and b in metres
// (haversine, on a sphere of the Earth's mean radius).
func Distance(a, b events.GPS) float64 {
	const r = 6371008.8
	rad := math.Pi / 180
	dLat := (b.Lat - a.Lat) * rad
	dLon := (b.Lon - a.Lon) * rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(a.Lat*rad)*math.Cos(b.Lat*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(h)))
}

package projections

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
)

// FindingItem is an inspector's finding as it stands: its state, the
// rectifications the unit submitted for it and its full chain.
type FindingItem struct {
	ID             uuid.UUID
	Finding        events.Finding
	Photos         []events.Attachment
	Resolved       bool
	Version        int
	Chain          []Link
	Rectifications []uuid.UUID // evidence ids naming this finding, in order
	Closures       []Closure   // each resolve, in order
}

// Closure is one resolve of a finding: the event's sequence and the
// evidence it was closed on, or Override when the resolver overrode the
// closure rules (with the reason on its link). Both are unset for resolves
// recorded before the rules existed.
type Closure struct {
	Seq      uint64               `json:"seq"`
	Basis    *events.ClosureBasis `json:"basis,omitempty"`
	Override bool                 `json:"override,omitempty"`
}

// ClosureAt returns the closure recorded at seq, or nil.
func (f *FindingItem) ClosureAt(seq uint64) *Closure {
	for i := range f.Closures {
		if f.Closures[i].Seq == seq {
			return &f.Closures[i]
		}
	}
	return nil
}

// Finding states.
const (
	FindingOpen     = "open"
	FindingResolved = "resolved"
)

// Status is FindingOpen or FindingResolved.
func (f *FindingItem) Status() string {
	if f.Resolved {
		return FindingResolved
	}
	return FindingOpen
}

// Overdue reports whether the finding is open after its due date, as of t
// in zone loc.
func (f *FindingItem) Overdue(t time.Time, loc *time.Location) bool {
	due, err := time.ParseInLocation(time.DateOnly, f.Finding.Due, loc)
	return err == nil && !f.Resolved && !t.Before(due.AddDate(0, 0, 1))
}

// MarshalJSON encodes the finding with its status.
func (f *FindingItem) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID uuid.UUID `json:"id"`
		events.Finding
		Photos         []events.Attachment `json:"photos"`
		Status         string              `json:"status"`
		Version        int                 `json:"version"`
		RecordedAt     time.Time           `json:"recorded_at"`
		Rectifications []uuid.UUID         `json:"rectifications"`
		Closures       []Closure           `json:"closures"`
		Chain          []Link              `json:"chain"`
	}{f.ID, f.Finding, nonNil(f.Photos), f.Status(), f.Version, f.Chain[0].RecordedAt.Time(), nonNilIDs(f.Rectifications), nonNilClosures(f.Closures), f.Chain})
}

func nonNil(a []events.Attachment) []events.Attachment {
	if a == nil {
		return []events.Attachment{}
	}
	return a
}

func nonNilClosures(a []Closure) []Closure {
	if a == nil {
		return []Closure{}
	}
	return a
}

func nonNilIDs(a []uuid.UUID) []uuid.UUID {
	if a == nil {
		return []uuid.UUID{}
	}
	return a
}

func (u *UnitArchive) applyFinding(a *Archive, rec events.Record) error {
	ev := rec.Event
	switch ev.Type {
	case events.TypeFindingRecorded:
		var p events.FindingRecorded
		if err := ev.DecodeData(&p); err != nil {
			return err
		}
		if u.findex == nil {
			u.findex = map[uuid.UUID]int{}
		}
		if _, dup := u.findex[ev.ID]; dup {
			return nil
		}
		u.findex[ev.ID] = len(u.findings)
		u.findings = append(u.findings, &FindingItem{ID: ev.ID, Finding: p.Finding, Photos: slices.Clone(ev.Attachments), Version: 1, Chain: []Link{a.link(rec, 1)}})
	case events.TypeFindingResolved, events.TypeFindingReopened:
		if ev.Corrects == nil {
			return nil
		}
		i, ok := u.findex[*ev.Corrects]
		if !ok {
			return nil
		}
		f := u.findings[i]
		f.Version = ev.EntityVersion()
		f.Resolved = ev.Type == events.TypeFindingResolved
		f.Chain = append(f.Chain, a.link(rec, f.Version))
		if f.Resolved {
			var p events.FindingChanged
			if err := ev.DecodeData(&p); err != nil {
				return err
			}
			f.Closures = append(f.Closures, Closure{Seq: rec.Seq, Basis: p.Basis, Override: p.Override})
		}
	}
	return nil
}

// rectified notes that evidence id answers finding fid.
func (u *UnitArchive) rectified(fid string, id uuid.UUID) {
	f, err := uuid.Parse(fid)
	if err != nil {
		return
	}
	if i, ok := u.findex[f]; ok {
		u.findings[i].Rectifications = append(u.findings[i].Rectifications, id)
	}
}

// Finding returns the unit's finding id, or nil.
func (u *UnitArchive) Finding(id uuid.UUID) *FindingItem {
	if i, ok := u.findex[id]; ok {
		return u.findings[i]
	}
	return nil
}

// Findings returns the unit's findings in the order they were recorded.
func (u *UnitArchive) Findings() []*FindingItem { return u.findings }

// FindingsView lists a unit's findings as of a time: open (including
// overdue), overdue, and resolved.
type FindingsView struct {
	Unit     string         `json:"unit"`
	AsOf     time.Time      `json:"as_of"`
	Open     []*FindingItem `json:"open"`
	Overdue  []*FindingItem `json:"overdue"`
	Resolved []*FindingItem `json:"resolved"`
}

// FindingsView returns the findings as they stand, judged at t (the as-of
// time, or now) in zone loc.
func (u *UnitArchive) FindingsView(t time.Time, loc *time.Location) FindingsView {
	v := FindingsView{Unit: u.Unit.ID, AsOf: t.UTC(), Open: []*FindingItem{}, Overdue: []*FindingItem{}, Resolved: []*FindingItem{}}
	for _, f := range u.findings {
		switch {
		case f.Resolved:
			v.Resolved = append(v.Resolved, f)
		default:
			v.Open = append(v.Open, f)
			if f.Overdue(t, loc) {
				v.Overdue = append(v.Overdue, f)
			}
		}
	}
	return v
}

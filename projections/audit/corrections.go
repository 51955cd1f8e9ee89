package audit

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
	"taizhang/projections"
)

// Kinds of correction.
const (
	CorrectionAmended         = "amended"          // evidence amended
	CorrectionRetracted       = "retracted"        // evidence retracted
	CorrectionFindingReopened = "finding_reopened" // a resolved finding reopened (a rectification rejected)
	// CorrectionClosureOverridden is a finding resolved against the closure
	// rules (package closure) on the resolver's reason alone.
	CorrectionClosureOverridden = "closure_overridden"
)

// Correction is one amendment, retraction, reopened finding or overridden
// closure: who, when,
// why, and what it changed.
type Correction struct {
	Unit       string        `json:"unit"`
	Kind       string        `json:"kind"`
	Target     uuid.UUID     `json:"target"` // the evidence or finding corrected
	Title      string        `json:"title"`  // the evidence's title or the finding's description, as it stands
	EventID    uuid.UUID     `json:"event_id"`
	Seq        uint64        `json:"seq"`
	Actor      events.Actor  `json:"actor"`
	Client     events.Client `json:"client"`
	RecordedAt time.Time     `json:"recorded_at"`
	Reason     string        `json:"reason"`
	Version    int           `json:"version"` // the target's version after the correction
	// Changes lists each changed field with its value before and after:
	// the fields an amendment set, or the status a retraction or a
	// reopening changed.
	Changes []FieldChange `json:"changes"`
	// AttachmentsAdded and AttachmentsRemoved are digests an amendment
	// attached or took off.
	AttachmentsAdded   []string `json:"attachments_added,omitempty"`
	AttachmentsRemoved []string `json:"attachments_removed,omitempty"`
}

// FieldChange is one field's value before and after a correction.
type FieldChange struct {
	Field  string `json:"field"`
	Before any    `json:"before"`
	After  any    `json:"after"`
}

// CorrectionsReport lists corrections in the order they were recorded.
type CorrectionsReport struct {
	Corrections []Correction `json:"corrections"`
}

// Corrections lists every amendment, retraction, reopened finding and
// overridden closure the
// filter selects (by the correction's unit, recorded time and actor).
func Corrections(a *projections.Archive, o Options) CorrectionsReport {
	o = o.withDefaults()
	rep := CorrectionsReport{Corrections: []Correction{}}
	for _, ua := range units(a, o.Filter) {
		unit := ua.Unit.ID
		for _, it := range ua.Items() {
			for i, l := range it.Chain {
				if i == 0 || !o.match(unit, l.RecordedAt.Time(), l.Actor().ID) {
					continue
				}
				c := correction(unit, it.ID, it.Title, l)
				switch l.Type() {
				case events.TypeEvidenceAmended:
					c.Kind = CorrectionAmended
					c.Changes = amendChanges(l, o.Zone)
					if l.Changes != nil {
						c.AttachmentsRemoved = l.Changes.RemoveAttachments
					}
					for i := range l.Attachments {
						c.AttachmentsAdded = append(c.AttachmentsAdded, l.Attachments.Digest(i))
					}
				case events.TypeEvidenceRetracted:
					c.Kind = CorrectionRetracted
					c.Changes = []FieldChange{{"status", projections.StatusCurrent, projections.StatusRetracted}}
				default:
					continue
				}
				rep.Corrections = append(rep.Corrections, c)
			}
		}
		for _, f := range ua.Findings() {
			for i, l := range f.Chain {
				if i == 0 || !o.match(unit, l.RecordedAt.Time(), l.Actor().ID) {
					continue
				}
				c := correction(unit, f.ID, f.Finding.Description, l)
				switch l.Type() {
				case events.TypeFindingReopened:
					c.Kind = CorrectionFindingReopened
					c.Changes = []FieldChange{{"status", projections.FindingResolved, projections.FindingOpen}}
				case events.TypeFindingResolved:
					if cl := f.ClosureAt(l.Seq); cl == nil || !cl.Override {
						continue
					}
					c.Kind = CorrectionClosureOverridden
					c.Changes = []FieldChange{{"status", projections.FindingOpen, projections.FindingResolved}}
				default:
					continue
				}
				rep.Corrections = append(rep.Corrections, c)
			}
		}
	}
	slices.SortFunc(rep.Corrections, func(x, y Correction) int {
		return cmp.Or(x.RecordedAt.Compare(y.RecordedAt), cmp.Compare(x.Seq, y.Seq), strings.Compare(x.Unit, y.Unit))
	})
	return rep
}

func correction(unit string, target uuid.UUID, title string, l projections.Link) Correction {
	return Correction{Unit: unit, Target: target, Title: title, EventID: l.EventID, Seq: l.Seq, Actor: l.Actor(), Client: l.Client(),
		RecordedAt: l.RecordedAt.Time(), Reason: l.Reason(), Version: l.Version, Changes: []FieldChange{}}
}

// amendChanges lists the fields an amendment set, in a fixed order, with
// the values the archive recorded before it (Link.Before).
func amendChanges(l projections.Link, zone *time.Location) []FieldChange {
	out := []FieldChange{}
	if l.Changes == nil {
		return out
	}
	c, b := &l.Changes.Changes, l.Changes.Before
	if b == nil {
		b = &events.Changes{}
	}
	add := func(field string, set bool, before, after any) {
		if set {
			out = append(out, FieldChange{field, before, after})
		}
	}
	str := func(p *string) any {
		if p == nil {
			return nil
		}
		return *p
	}
	add("kind", c.Kind != nil, deref(b.Kind), deref(c.Kind))
	add("title", c.Title != nil, str(b.Title), str(c.Title))
	add("body", c.Body != nil, str(b.Body), str(c.Body))
	when := func(t *time.Time) any {
		if t == nil {
			return nil
		}
		return t.In(zone).Format(time.RFC3339)
	}
	add("occurred_at", c.OccurredAt != nil, when(b.OccurredAt), when(c.OccurredAt))
	add("requirements", c.Requirements != nil, deref(b.Requirements), deref(c.Requirements))
	add("tags", c.Tags != nil, deref(b.Tags), deref(c.Tags))
	add("figures", c.Figures != nil, deref(b.Figures), deref(c.Figures))
	return out
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

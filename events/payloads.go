package events

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Limits on payload fields, so that an event stays well under MaxEventSize.
const (
	MaxNameLen         = 200   // characters in a unit name or title
	MaxBodyLen         = 20000 // characters in an evidence body
	MaxRequirements    = 32
	MaxRequirementLen  = 100
	MaxAttachments     = 64
	MaxReasonLen       = 2000
	MaxAttachmentName  = 255
	MaxUnitTypeLen     = 64
	MaxReportedFigures = 32
	MaxTags            = 16
	MaxTagLen          = 50
)

// UnitRegistered is the payload of TypeUnitRegistered.
type UnitRegistered struct {
	Name      string `json:"name"`
	UnitType  string `json:"type"`
	Parent    string `json:"parent,omitempty"`
	Headcount int    `json:"headcount,omitempty"`
}

// Validate returns an error wrapping ErrInvalid if u is not a valid unit.
func (u UnitRegistered) Validate() error {
	if strings.TrimSpace(u.Name) == "" || !utf8.ValidString(u.Name) || utf8.RuneCountInString(u.Name) > MaxNameLen {
		return fmt.Errorf("%w: unit name must be 1-%d characters of UTF-8", ErrInvalid, MaxNameLen)
	}
	if strings.TrimSpace(u.UnitType) == "" || utf8.RuneCountInString(u.UnitType) > MaxUnitTypeLen || !utf8.ValidString(u.UnitType) {
		return fmt.Errorf("%w: unit type must be 1-%d characters", ErrInvalid, MaxUnitTypeLen)
	}
	if u.Parent != "" {
		if err := ValidUnitID(u.Parent); err != nil {
			return fmt.Errorf("parent: %w", err)
		}
	}
	if u.Headcount < 0 {
		return fmt.Errorf("%w: headcount must not be negative", ErrInvalid)
	}
	return nil
}

// Kind is the kind of a piece of evidence.
type Kind string

// Evidence kinds.
const (
	KindActivity      Kind = "activity"
	KindPhoto         Kind = "photo"
	KindStudyNote     Kind = "study_note"
	KindSummary       Kind = "summary"
	KindRectification Kind = "rectification"
	KindDocument      Kind = "document"
)

// Kinds lists the evidence kinds in a stable order.
var Kinds = []Kind{KindActivity, KindPhoto, KindStudyNote, KindSummary, KindRectification, KindDocument}

// Valid reports whether k is a known evidence kind.
func (k Kind) Valid() bool {
	for _, v := range Kinds {
		if k == v {
			return true
		}
	}
	return false
}

// Evidence holds the fields a submitter states about a piece of evidence.
// The date it claims is the envelope's OccurredAt.
type Evidence struct {
	Kind         Kind     `json:"kind"`
	Title        string   `json:"title"`
	Body         string   `json:"body,omitempty"`
	Requirements []string `json:"requirements,omitempty"`
	// Tags classify the item, e.g. the activity type chosen from a plan's
	// menu (選課菜單).
	Tags []string `json:"tags,omitempty"`
	// Figures are numbers the item reports, e.g. {"volunteers": 130}.
	Figures map[string]float64 `json:"figures,omitempty"`
	// Finding is the id of the finding a rectification answers.
	Finding string `json:"finding,omitempty"`
}

// Validate returns an error wrapping ErrInvalid naming the first bad field.
func (e Evidence) Validate() error {
	if e.Kind == "" {
		return fmt.Errorf("%w: kind is required", ErrInvalid)
	}
	if !e.Kind.Valid() {
		return fmt.Errorf("%w: unknown kind %q (want one of %s)", ErrInvalid, e.Kind, kindList())
	}
	if strings.TrimSpace(e.Title) == "" || utf8.RuneCountInString(e.Title) > MaxNameLen || !utf8.ValidString(e.Title) {
		return fmt.Errorf("%w: title must be 1-%d characters", ErrInvalid, MaxNameLen)
	}
	if utf8.RuneCountInString(e.Body) > MaxBodyLen || !utf8.ValidString(e.Body) {
		return fmt.Errorf("%w: body must be at most %d characters", ErrInvalid, MaxBodyLen)
	}
	if err := validRequirements(e.Requirements); err != nil {
		return err
	}
	if e.Kind == KindRectification && e.Finding == "" {
		return fmt.Errorf("%w: a rectification must name the finding it answers", ErrInvalid)
	}
	if e.Finding != "" {
		if id, err := uuid.Parse(e.Finding); err != nil || id == uuid.Nil || len(e.Finding) != 36 {
			return fmt.Errorf("%w: finding %q is not a finding id", ErrInvalid, e.Finding)
		}
	}
	if err := validTags(e.Tags); err != nil {
		return err
	}
	return validFigures(e.Figures)
}

func validTags(ts []string) error {
	if len(ts) > MaxTags {
		return fmt.Errorf("%w: at most %d tags", ErrInvalid, MaxTags)
	}
	for _, t := range ts {
		if strings.TrimSpace(t) == "" || utf8.RuneCountInString(t) > MaxTagLen || !utf8.ValidString(t) {
			return fmt.Errorf("%w: bad tag %q", ErrInvalid, t)
		}
	}
	return nil
}

func validFigures(fs map[string]float64) error {
	if len(fs) > MaxReportedFigures {
		return fmt.Errorf("%w: at most %d figures", ErrInvalid, MaxReportedFigures)
	}
	for k, v := range fs {
		if strings.TrimSpace(k) == "" || len(k) > MaxRequirementLen || !utf8.ValidString(k) {
			return fmt.Errorf("%w: bad figure name %q", ErrInvalid, k)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return fmt.Errorf("%w: figure %s must be a finite number >= 0", ErrInvalid, k)
		}
	}
	return nil
}

func validRequirements(rs []string) error {
	if len(rs) > MaxRequirements {
		return fmt.Errorf("%w: at most %d requirements", ErrInvalid, MaxRequirements)
	}
	for _, r := range rs {
		if strings.TrimSpace(r) == "" || len(r) > MaxRequirementLen || !utf8.ValidString(r) {
			return fmt.Errorf("%w: bad requirement id %q", ErrInvalid, r)
		}
	}
	return nil
}

func kindList() string {
	s := make([]string, len(Kinds))
	for i, k := range Kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// EvidenceSubmitted is the payload of TypeEvidenceSubmitted. The event's id is
// the evidence id; its attachments are the evidence's first attachments.
//
// Device, if set, is the signature of the device that captured it, as the
// submission carried it (see SignedContent); the ledger records only
// well-formed signatures that verified over the content at submission.
type EvidenceSubmitted struct {
	Evidence
	Version int              `json:"version"`
	Device  *DeviceSignature `json:"device,omitempty"`
}

// Changes lists what an amendment changes; nil fields stay as they were.
type Changes struct {
	Kind              *Kind               `json:"kind,omitempty"`
	Title             *string             `json:"title,omitempty"`
	Body              *string             `json:"body,omitempty"`
	OccurredAt        *time.Time          `json:"occurred_at,omitempty"`
	Requirements      *[]string           `json:"requirements,omitempty"`
	Tags              *[]string           `json:"tags,omitempty"`
	Figures           *map[string]float64 `json:"figures,omitempty"`
	RemoveAttachments []string            `json:"remove_attachments,omitempty"`
}

// Empty reports whether c changes nothing (new attachments aside).
func (c Changes) Empty() bool {
	return c.Kind == nil && c.Title == nil && c.Body == nil && c.OccurredAt == nil && c.Requirements == nil &&
		c.Tags == nil && c.Figures == nil && len(c.RemoveAttachments) == 0
}

// Validate returns an error wrapping ErrInvalid if a changed field would be
// invalid evidence.
func (c Changes) Validate() error {
	probe, _ := c.Apply(Evidence{Kind: KindActivity, Title: "x"}, time.Time{})
	return probe.Validate()
}

// Apply returns ev with c applied; occurred is the evidence's claimed time.
func (c Changes) Apply(ev Evidence, occurred time.Time) (Evidence, time.Time) {
	if c.Kind != nil {
		ev.Kind = *c.Kind
	}
	if c.Title != nil {
		ev.Title = *c.Title
	}
	if c.Body != nil {
		ev.Body = *c.Body
	}
	if c.Requirements != nil {
		ev.Requirements = append([]string(nil), (*c.Requirements)...)
	}
	if c.Tags != nil {
		ev.Tags = append([]string(nil), (*c.Tags)...)
	}
	if c.Figures != nil {
		ev.Figures = maps.Clone(*c.Figures)
	}
	if c.OccurredAt != nil {
		occurred = c.OccurredAt.UTC().Truncate(time.Microsecond)
	}
	return ev, occurred
}

// EvidenceAmended is the payload of TypeEvidenceAmended: the changes, and the
// evidence's version after this amendment. New attachments are the event's.
type EvidenceAmended struct {
	Changes Changes `json:"changes"`
	Version int     `json:"version"`
}

// EvidenceRetracted is the payload of TypeEvidenceRetracted, with the
// evidence's version after the retraction. The reason is the envelope's.
type EvidenceRetracted struct {
	Version int `json:"version"`
}

// PlanPublished is the payload of TypePlanPublished and TypePlanRevised:
// the plan as checked (JSON of projections/plan.Plan), the file it came
// from, and its version (1 when first published).
type PlanPublished struct {
	PlanID  string          `json:"plan_id"`
	Version int             `json:"version"`
	Plan    json.RawMessage `json:"plan"`
	Source  string          `json:"source"`
	File    string          `json:"file,omitempty"`
}

// SetData encodes v as e's Data.
func (e *Event) SetData(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s payload: %w", e.Type, err)
	}
	e.Data = b
	return nil
}

// DecodeData decodes e's Data into v.
func (e *Event) DecodeData(v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("%w: %s payload of event %s: %v", ErrInvalid, e.Type, e.ID, err)
	}
	return nil
}

// EntityVersion returns the version recorded in an evidence or finding
// event's payload, or 0 for other events.
func (e *Event) EntityVersion() int {
	switch e.Type {
	case TypeEvidenceSubmitted, TypeEvidenceAmended, TypeEvidenceRetracted,
		TypeFindingRecorded, TypeFindingResolved, TypeFindingReopened:
		if v, ok := fastVersion(e.Data); ok {
			return v
		}
		var v struct {
			Version int `json:"version"`
		}
		if json.Unmarshal(e.Data, &v) == nil {
			return v.Version
		}
	}
	return 0
}

package events

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Finding event types: an inspector records a problem (問題) on a unit,
// resolves it once the unit's rectification (整改) satisfies, or reopens it
// with a reason.
const (
	TypeFindingRecorded Type = "finding.recorded"
	TypeFindingResolved Type = "finding.resolved"
	TypeFindingReopened Type = "finding.reopened"
)

// Severities of a finding.
const (
	SeverityLow    = "low"
	SeverityMedium = "medium"
	SeverityHigh   = "high"
)

// Finding is what an inspector states about a problem. Due is a
// YYYY-MM-DD date by which the unit must rectify it.
type Finding struct {
	Plan        string `json:"plan,omitempty"`
	Requirement string `json:"requirement,omitempty"`
	Description string `json:"description"`
	Severity    string `json:"severity"`
	Due         string `json:"due"`
}

// Validate returns an error wrapping ErrInvalid naming the first bad field.
func (f Finding) Validate() error {
	if strings.TrimSpace(f.Description) == "" || utf8.RuneCountInString(f.Description) > MaxBodyLen || !utf8.ValidString(f.Description) {
		return fmt.Errorf("%w: description must be 1-%d characters", ErrInvalid, MaxBodyLen)
	}
	switch f.Severity {
	case SeverityLow, SeverityMedium, SeverityHigh:
	default:
		return fmt.Errorf("%w: severity must be low, medium or high", ErrInvalid)
	}
	if _, err := time.Parse(time.DateOnly, f.Due); err != nil {
		return fmt.Errorf("%w: due %q must be a YYYY-MM-DD date", ErrInvalid, f.Due)
	}
	if f.Plan != "" {
		if err := ValidUnitID(f.Plan); err != nil {
			return fmt.Errorf("plan: %w", err)
		}
	}
	if len(f.Requirement) > MaxRequirementLen || !utf8.ValidString(f.Requirement) {
		return fmt.Errorf("%w: bad requirement id", ErrInvalid)
	}
	return nil
}

// FindingRecorded is the payload of TypeFindingRecorded; the event's id is
// the finding's id and its attachments are the inspector's photos.
type FindingRecorded struct {
	Finding
	Version int `json:"version"`
}

// FindingChanged is the payload of TypeFindingResolved and
// TypeFindingReopened: the finding's version after the event. The reason is
// the envelope's (required to reopen, and to override). A resolve names
// the evidence it relied on (Basis), or says it overrode the closure rules
// (Override, with the envelope's reason); events recorded before closure
// rules existed have neither.
type FindingChanged struct {
	Version  int           `json:"version"`
	Basis    *ClosureBasis `json:"basis,omitempty"`
	Override bool          `json:"override,omitempty"`
}

// Where a ClosureBasis's capture time came from.
const (
	TakenFromEXIF     = "exif"     // the photo's EXIF capture time
	TakenFromRecorded = "recorded" // no EXIF time: when the ledger recorded it
)

// ClosureBasis is the evidence a finding was closed on: the rectification,
// the photo in it taken after the finding, when (and from what) that time
// is known, and its distance in metres from the finding's photos when both
// carried a position.
type ClosureBasis struct {
	Evidence  uuid.UUID `json:"evidence"`
	Photo     string    `json:"photo"`
	TakenAt   time.Time `json:"taken_at"`
	TakenFrom string    `json:"taken_from"`
	Distance  *float64  `json:"distance_m,omitempty"`
}

// NewFinding is a finding to record.
type NewFinding struct {
	ID          uuid.UUID // client id; a new v7 id if zero
	Unit        string
	Finding     Finding
	Attachments []Attachment
	Actor       Actor
	Client      Client
}

// FindingDecision resolves or reopens a finding. A resolve carries the
// Basis the closure rules found, or Override with a Reason.
type FindingDecision struct {
	Unit            string
	Finding         uuid.UUID
	ExpectedVersion int
	Reason          string
	Basis           *ClosureBasis
	Override        bool
	Actor           Actor
	Client          Client
}

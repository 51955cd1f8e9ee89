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
// the envelope's (required to reopen).
type FindingChanged struct {
	Version int `json:"version"`
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

// FindingDecision resolves or reopens a finding.
type FindingDecision struct {
	Unit            string
	Finding         uuid.UUID
	ExpectedVersion int
	Reason          string
	Actor           Actor
	Client          Client
}

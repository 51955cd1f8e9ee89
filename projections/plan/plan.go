// Package plan is taizhang's model of an implementation plan (實施方案):
// its period and phases, the units it applies to, and its requirements,
// each with the evidence it accepts and one rule saying how much of it is
// owed when. Plans are written as YAML files (deploy/plans/README.md
// documents the format), checked by Parse with every error listed by file
// and line, and published into the ledger so that which version applied on
// a date is on record.
package plan

import (
	"time"
)

// Date is a calendar date in the plan's time zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// String returns YYYY-MM-DD.
func (d Date) String() string {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
}

// IsZero reports whether d is unset.
func (d Date) IsZero() bool { return d == Date{} }

// Start returns the first instant of d in loc.
func (d Date) Start(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// End returns the first instant after d in loc (an exclusive bound).
func (d Date) End(loc *time.Location) time.Time { return d.Start(loc).AddDate(0, 0, 1) }

// Before reports whether d is before e.
func (d Date) Before(e Date) bool {
	if d.Year != e.Year {
		return d.Year < e.Year
	}
	if d.Month != e.Month {
		return d.Month < e.Month
	}
	return d.Day < e.Day
}

// DateOf returns t's date in loc.
func DateOf(t time.Time, loc *time.Location) Date {
	y, m, d := t.In(loc).Date()
	return Date{y, m, d}
}

// Span is an inclusive range of dates.
type Span struct {
	Start Date `json:"start"`
	End   Date `json:"end"`
}

// Plan is one implementation plan.
type Plan struct {
	ID           string        `json:"id"`
	Title        string        `json:"title"`
	Issuer       string        `json:"issuer"`
	Source       string        `json:"source,omitempty"` // where the text comes from
	TimeZone     string        `json:"timezone"`         // IANA name; Asia/Shanghai by default
	Period       Span          `json:"period"`
	Phases       []Phase       `json:"phases,omitempty"`
	AppliesTo    Scope         `json:"applies_to"`
	Requirements []Requirement `json:"requirements"`
}

// Phase is a named part of the plan period.
type Phase struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Span
}

// Scope selects units: by type, by explicit id, or both (a unit in either
// list is selected). An empty Scope on a requirement means the plan's.
type Scope struct {
	Types []string `json:"types,omitempty"`
	Units []string `json:"units,omitempty"`
}

// Empty reports whether s selects nothing by itself.
func (s Scope) Empty() bool { return len(s.Types) == 0 && len(s.Units) == 0 }

// Requirement is one thing the plan requires of each unit it applies to.
type Requirement struct {
	ID        string   `json:"id"`
	Ref       string   `json:"ref"`   // the seed text's own item number, e.g. "三（一）1"
	Title     string   `json:"title"` // in the plan's own words
	AppliesTo Scope    `json:"applies_to,omitempty"`
	Accepts   Accepts  `json:"accepts"`
	Requires  []string `json:"attachments,omitempty"` // attachment kinds each item must carry: photo, document
	Rule      Rule     `json:"rule"`
	Note      string   `json:"note,omitempty"` // how a vague text was read
}

// Accepts says which evidence items count for a requirement. An item
// counts if it names the requirement (by id), its kind is listed (any kind
// if none are), and, if Tags is set, it carries at least one of them (a
// menu of allowed activity types is a list of tags).
type Accepts struct {
	Kinds []string `json:"kinds,omitempty"`
	Tags  []string `json:"tags,omitempty"`
}

// Attachment kinds a requirement can ask each item to carry.
const (
	AttachPhoto    = "photo"    // an image: JPEG, PNG, WebP, HEIC, GIF
	AttachDocument = "document" // PDF, Office, plain text
)

// Rule kinds.
const (
	RuleCount    = "count"    // at least Min items over the period or a phase
	RuleEvery    = "every"    // at least Min items per calendar period between From and To
	RuleWindows  = "windows"  // at least Min items inside each named window
	RuleDeadline = "deadline" // at least Min items on or before By
	RuleRatio    = "ratio"    // a reported figure / unit headcount >= MinRatio
	RulePresence = "presence" // at least one standing item shown by a photo, optionally renewed every Renew
)

// Calendar periods for RuleEvery and RulePresence's Renew.
const (
	EveryWeek      = "week" // ISO weeks, Monday to Sunday
	EveryMonth     = "month"
	EveryTwoMonths = "two_months" // Jan-Feb, Mar-Apr, ...
	EveryQuarter   = "quarter"
	EveryYear      = "year"
)

// Rule is how much evidence a requirement needs and when. Exactly one kind.
type Rule struct {
	Kind string `json:"kind"`
	Min  int    `json:"min,omitempty"`

	// count: the plan period, or one phase by id.
	Phase string `json:"phase,omitempty"`

	// every: the calendar period and the dates it runs between
	// (default: the plan period).
	Every string `json:"every,omitempty"`
	From  Date   `json:"from,omitzero"`
	To    Date   `json:"to,omitzero"`

	// windows: named date windows, e.g. the festivals of a year.
	Windows []Window `json:"windows,omitempty"`

	// deadline: the last date an item may occur on to count.
	By Date `json:"by,omitzero"`

	// ratio: the figure an item reports (Evidence.Figures) over the unit's
	// headcount, at least MinRatio (e.g. 0.10 for 10%).
	Figure   string  `json:"figure,omitempty"`
	MinRatio float64 `json:"min_ratio,omitempty"`

	// presence: optional renewal period ("定期更新").
	Renew string `json:"renew,omitempty"`
}

// Window is a named inclusive date range.
type Window struct {
	Name string `json:"name"`
	Span
}

// MarshalText encodes d as YYYY-MM-DD.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses YYYY-MM-DD.
func (d *Date) UnmarshalText(b []byte) error {
	t, err := time.Parse(time.DateOnly, string(b))
	if err != nil {
		return err
	}
	*d = Date{t.Year(), t.Month(), t.Day()}
	return nil
}

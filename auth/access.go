package auth

import (
	"context"
	"time"

	"taizhang/events"
)

// AccessEntry is one line of the access log: who did what to what, when,
// from where, and how it ended. It never holds a credential: no token,
// password or cookie, no request body.
type AccessEntry struct {
	Time  time.Time   `json:"time"`
	Actor string      `json:"actor,omitempty"`
	Role  events.Role `json:"role,omitempty"`
	// ActorUnit is the unit the actor's scope is rooted at (a submitter's
	// unit, an inspector's or supervisor's town), empty for an unscoped
	// actor or none: it lets the supervisor over the actor see what the
	// actor did, also to units outside that supervisor's scope.
	ActorUnit string `json:"actor_unit,omitempty"`
	Via       string `json:"via,omitempty"`
	Action    Action `json:"action"`
	Method    string `json:"method"`
	Path      string `json:"path"`
	Query     string `json:"query,omitempty"`
	Unit      string `json:"unit,omitempty"`
	Client    string `json:"client"`
	Status    int    `json:"status"`
	Outcome   string `json:"outcome"` // allowed, denied or failed
	Reason    string `json:"reason,omitempty"`
}

// Access outcomes.
const (
	OutcomeAllowed = "allowed"
	OutcomeDenied  = "denied"
	OutcomeFailed  = "failed"
)

// AccessFilter selects access log entries; zero fields select all.
type AccessFilter struct {
	Actor, Unit, Outcome string
	Action               Action
	Since, Until         time.Time // Until exclusive
	Limit                int       // the newest Limit entries (default 1000)
	// Scope, when set, selects entries about a unit in the reader's scope
	// and entries whose actor's scope is rooted in it (ActorUnit), so a
	// supervisor sees what the people under them did elsewhere too.
	Scope func(unit string) bool
	// ActorUnits gives, for entries recorded without ActorUnit (before it
	// was recorded), the scope root each user has now.
	ActorUnits map[string]string
}

// Match reports whether e passes f.
func (f AccessFilter) Match(e AccessEntry) bool {
	return (f.Actor == "" || e.Actor == f.Actor) && (f.Unit == "" || e.Unit == f.Unit) &&
		(f.Outcome == "" || e.Outcome == f.Outcome) && (f.Action == "" || e.Action == f.Action) &&
		(f.Since.IsZero() || !e.Time.Before(f.Since)) && (f.Until.IsZero() || e.Time.Before(f.Until)) &&
		(f.Scope == nil || (e.Unit != "" && f.Scope(e.Unit)) || f.actorInScope(e))
}

func (f AccessFilter) actorInScope(e AccessEntry) bool {
	u := e.ActorUnit
	if u == "" && e.Actor != "" {
		u = f.ActorUnits[e.Actor]
	}
	return u != "" && f.Scope(u)
}

// AccessLog records access entries apart from the evidence ledger. Record
// must not block a request for long: implementations buffer and write in the
// background, and write what they hold before Close returns.
type AccessLog interface {
	Record(e AccessEntry)
}

// AccessReader reads the access log back.
type AccessReader interface {
	ListAccess(ctx context.Context, f AccessFilter) ([]AccessEntry, error)
}

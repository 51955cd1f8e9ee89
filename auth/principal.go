package auth

import (
	"time"

	"taizhang/events"
)

// Principal is who a request acts as: a user of the users chain (its role
// and scope as the ledger says now) and how it signed in.
type Principal struct {
	User    string      `json:"user"`
	Name    string      `json:"name,omitempty"`
	Role    events.Role `json:"role"`
	Unit    string      `json:"unit,omitempty"`    // the scope: a submitter's unit, an inspector's or supervisor's subtree root
	Subtree bool        `json:"subtree,omitempty"` // the scope includes the unit's sub-units
	TokenID string      `json:"token_id,omitempty"`
	Via     string      `json:"via,omitempty"` // "token", "session", or how an asserted user was authenticated ("nats")
	Created time.Time   `json:"created,omitzero"`
	Expires time.Time   `json:"expires,omitzero"`

	// CSRF is the session's CSRF token (sessions only); never shown as
	// part of the principal.
	CSRF string `json:"-"`
}

// PrincipalOf returns the principal for a user's current state.
func PrincipalOf(u events.User) Principal {
	return Principal{User: u.ID, Name: u.Name, Role: u.Role, Unit: u.Scope, Subtree: u.Subtree}
}

// Actor returns the ledger actor for p.
func (p Principal) Actor() events.Actor { return events.Actor{ID: p.User, Role: p.Role} }

// Sees reports whether unit is within p's scope; within(root, unit) says
// whether unit is root or below it (nil: only root itself).
func (p Principal) Sees(unit string, within func(root, unit string) bool) bool {
	switch {
	case p.Role == events.RoleAdmin:
		return true
	case p.Unit == "":
		return p.Role == events.RoleInspector || p.Role == events.RoleSupervisor // ledger-wide
	case unit == p.Unit:
		return true
	case p.Subtree && within != nil:
		return within(p.Unit, unit)
	}
	return false
}

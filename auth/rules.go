package auth

import (
	"fmt"
	"slices"

	"taizhang/events"
)

// Action is what a route does, for authorisation.
type Action string

// Actions, one per kind of route.
const (
	ActHealth        Action = "health"         // anyone, no token
	ActPublic        Action = "public"         // anyone, no token: the login page, static assets
	ActHome          Action = "home"           // any signed-in role: the web app's pages that show no unit
	ActUnitCreate    Action = "unit.create"    // admin
	ActUnitList      Action = "unit.list"      // any role; each sees the units in its scope
	ActUnitRead      Action = "unit.read"      // unit-scoped read
	ActEvidenceWrite Action = "evidence.write" // admin, or the unit's submitter
	ActBlobRead      Action = "blob.read"      // any role; the blob must belong to a unit in scope
	ActTokenCreate   Action = "token.create"   // admin
	ActTokenAdmin    Action = "token.admin"    // admin: list and revoke tokens
	ActUserWrite     Action = "user.write"     // admin: create, change, disable, enable users, set passwords
	ActUserRead      Action = "user.read"      // admin, supervisor: users and who could do what when
	ActPlanPublish   Action = "plan.publish"   // admin
	ActPlanRead      Action = "plan.read"      // any role
	ActFindingWrite  Action = "finding.write"  // admin, inspector in scope
	ActVerify        Action = "verify"         // any role; the unit is authorised as a unit read
	ActAudit         Action = "audit"          // admin, supervisor (scoped views)
	ActAccessLog     Action = "audit.access"   // admin, supervisor (scoped): the access log
	ActSession       Action = "session"        // any signed-in user: who am I, sign out
	ActStatus        Action = "status"         // any role: this replica's state (GET /api/v1/status)

	// ActDevice: register, list and revoke device keys. Anyone signed in
	// may for themselves; for another user the handler asks Decide for
	// ActUserWrite (register, revoke) or ActUserRead (list).
	ActDevice Action = "device"

	ActCheckpointRead   Action = "checkpoint.read"   // any role
	ActCheckpointCreate Action = "checkpoint.create" // admin

	// ActCosign is the action of posting a witness cosignature: a supervisor
	// (who runs a witness with their own key) or an admin. What makes a
	// cosignature count is its key, which every verifier chooses to trust or
	// not, not who posted it.
	ActCosign Action = "checkpoint.cosign"

	// ActUnitExport: export a unit's archive as a bag; the readers of the
	// unit's history (admin, inspector, supervisor, the unit's submitter).
	ActUnitExport = ActUnitRead
)

// Reach is how far a role may use an action.
type Reach uint8

// How far: not at all, anywhere, or within the principal's scope.
const (
	Never      Reach = iota // refused
	Everywhere              // any unit (or the route names none)
	InScope                 // only units within the principal's scope
)

// String is the reach as the README's table and GET /api/v1/users/{user}/can say it.
func (r Reach) String() string {
	return [...]string{"-", "all units", "own scope"}[r]
}

// rule is one row of the authorisation table: what each role may do.
type rule struct {
	admin, submitter, inspector, supervisor Reach
	why                                     string // said to whoever is refused
}

// of is the reach of role under r.
func (r rule) of(role events.Role) Reach {
	switch role {
	case events.RoleAdmin:
		return r.admin
	case events.RoleSubmitter:
		return r.submitter
	case events.RoleInspector:
		return r.inspector
	case events.RoleSupervisor:
		return r.supervisor
	}
	return Never
}

// rules is the route x role x scope table: every route's action must have
// a row (an action without one is refused for everybody: fail closed). The
// README's table is rendered from it (Reach and TestAuthzTableInREADME). Nobody may
// delete anything: there is no delete action.
var rules = map[Action]rule{
	ActHome:             {Everywhere, Everywhere, Everywhere, Everywhere, ""},
	ActSession:          {Everywhere, Everywhere, Everywhere, Everywhere, ""},
	ActStatus:           {Everywhere, Everywhere, Everywhere, Everywhere, ""},
	ActDevice:           {Everywhere, Everywhere, Everywhere, Everywhere, ""},
	ActUnitList:         {Everywhere, InScope, InScope, InScope, ""},
	ActPlanRead:         {Everywhere, Everywhere, Everywhere, Everywhere, ""},
	ActCheckpointRead:   {Everywhere, Everywhere, Everywhere, Everywhere, ""},
	ActVerify:           {Everywhere, InScope, InScope, InScope, ""},
	ActBlobRead:         {Everywhere, InScope, InScope, InScope, ""},
	ActUnitRead:         {Everywhere, InScope, InScope, InScope, "this unit is outside your scope"},
	ActEvidenceWrite:    {Everywhere, InScope, Never, Never, "only the unit's submitter (or an admin) writes its evidence"},
	ActFindingWrite:     {Everywhere, Never, InScope, Never, "only an inspector of the unit records, resolves or reopens findings"},
	ActAudit:            {Everywhere, Never, Never, InScope, "only a supervisor or an admin reads the audit views"},
	ActAccessLog:        {Everywhere, Never, Never, InScope, "only a supervisor or an admin reads the access log"},
	ActUserRead:         {Everywhere, Never, Never, Everywhere, "only a supervisor or an admin reads the users"},
	ActUnitCreate:       {Everywhere, Never, Never, Never, "only an admin registers units"},
	ActTokenCreate:      {Everywhere, Never, Never, Never, "only an admin creates tokens"},
	ActTokenAdmin:       {Everywhere, Never, Never, Never, "only an admin lists or revokes tokens"},
	ActUserWrite:        {Everywhere, Never, Never, Never, "only an admin manages users"},
	ActPlanPublish:      {Everywhere, Never, Never, Never, "only an admin publishes plans"},
	ActCheckpointCreate: {Everywhere, Never, Never, Never, "only an admin makes a checkpoint on demand"},
	ActCosign:           {Everywhere, Never, Never, Everywhere, "only a supervisor (or an admin) posts witness cosignatures"},
}

// Decide is the one authorisation decision every route passes through. unit
// is the unit the route names, or "" (then an in-scope rule allows, and the
// handler shows only what is in scope). within(root, unit) says whether unit
// is in root's subtree. An action without a rule is refused.
func Decide(p Principal, act Action, unit string, within func(root, unit string) bool) error {
	r, ok := rules[act]
	if !ok {
		return fmt.Errorf("%w: no rule allows %s for role %s", ErrForbidden, act, p.Role)
	}
	switch r.of(p.Role) {
	case Everywhere:
		return nil
	case InScope:
		if unit == "" || p.Sees(unit, within) {
			return nil
		}
		return fmt.Errorf("%w: unit %s is outside your scope", ErrForbidden, unit)
	}
	why := r.why
	if why == "" {
		why = fmt.Sprintf("a %s may not do this", p.Role)
	}
	return fmt.Errorf("%w: %s", ErrForbidden, why)
}

// ReachOf returns how far role may use act; ok is false for an action
// without a rule (refused for everybody).
func ReachOf(act Action, role events.Role) (r Reach, ok bool) {
	ru, ok := rules[act]
	return ru.of(role), ok
}

// Actions returns the actions that have a rule, sorted.
func Actions() []Action {
	acts := make([]Action, 0, len(rules))
	for a := range rules {
		acts = append(acts, a)
	}
	slices.Sort(acts)
	return acts
}

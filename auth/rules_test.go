package auth

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"taizhang/events"
)

// within is a two-town tree: zhen-a holds cun-a1 and cun-a2, zhen-b holds cun-b1.
func within(root, unit string) bool {
	parent := map[string]string{"cun-a1": "zhen-a", "cun-a2": "zhen-a", "cun-b1": "zhen-b"}
	for u := unit; u != ""; u = parent[u] {
		if u == root {
			return true
		}
	}
	return false
}

// TestDecide: each role against a unit in and out of its scope, for the
// kinds of rule the table has (everywhere, in scope, never), with a
// subtree scope, a single-unit scope and a ledger-wide one.
func TestDecide(t *testing.T) {
	admin := Principal{User: "root", Role: events.RoleAdmin}
	clerk := Principal{User: "clerk", Role: events.RoleSubmitter, Unit: "cun-a1"}
	townInsp := Principal{User: "ti", Role: events.RoleInspector, Unit: "zhen-a", Subtree: true}
	unitInsp := Principal{User: "ui", Role: events.RoleInspector, Unit: "zhen-a"} // no subtree: only zhen-a itself
	wideSup := Principal{User: "ws", Role: events.RoleSupervisor}
	townSup := Principal{User: "ts", Role: events.RoleSupervisor, Unit: "zhen-b", Subtree: true}
	stranger := Principal{User: "x", Role: events.Role("janitor")}
	for _, c := range []struct {
		p    Principal
		act  Action
		unit string
		ok   bool
	}{
		{admin, ActUnitCreate, "", true},
		{admin, ActEvidenceWrite, "cun-b1", true},
		{clerk, ActEvidenceWrite, "cun-a1", true},
		{clerk, ActEvidenceWrite, "cun-a2", false},
		{clerk, ActUnitRead, "zhen-a", false}, // a submitter's scope has no subtree
		{clerk, ActUnitList, "", true},        // in scope with no unit: the handler filters
		{clerk, ActFindingWrite, "cun-a1", false},
		{clerk, ActUnitCreate, "", false},
		{townInsp, ActFindingWrite, "cun-a2", true},
		{townInsp, ActFindingWrite, "cun-b1", false},
		{townInsp, ActEvidenceWrite, "cun-a1", false},
		{unitInsp, ActUnitRead, "zhen-a", true},
		{unitInsp, ActUnitRead, "cun-a1", false},
		{wideSup, ActAudit, "cun-b1", true},
		{wideSup, ActUserRead, "", true},
		{townSup, ActAccessLog, "cun-b1", true},
		{townSup, ActAccessLog, "cun-a1", false},
		{townSup, ActUserWrite, "", false},
		{stranger, ActPlanRead, "", false}, // a role the table does not know
		{admin, Action("no.such.action"), "", false},
	} {
		err := Decide(c.p, c.act, c.unit, within)
		if (err == nil) != c.ok {
			t.Errorf("Decide(%s %s, %s, %q) = %v, want allowed %v", c.p.Role, c.p.User, c.act, c.unit, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrForbidden) {
			t.Errorf("Decide(%s, %s): %v does not wrap ErrForbidden", c.p.User, c.act, err)
		}
	}
	// A refusal says why, in the rule's words.
	err := Decide(clerk, ActFindingWrite, "cun-a1", within)
	if err == nil || !strings.Contains(err.Error(), "only an inspector") {
		t.Errorf("refusal %v does not say who may", err)
	}
	// Without a tree (within nil) a subtree scope holds only its root.
	if Decide(townInsp, ActUnitRead, "cun-a1", nil) == nil {
		t.Error("a subtree scope reaches below its root with no tree to ask")
	}
}

// TestReachOfAndActions: every action that has a rule is listed once,
// sorted, and has a reach for each role; an unknown action has none.
func TestReachOfAndActions(t *testing.T) {
	acts := Actions()
	if len(acts) < 15 || !slices.IsSorted(acts) || len(slices.Compact(slices.Clone(acts))) != len(acts) {
		t.Fatalf("Actions() = %v", acts)
	}
	for _, a := range acts {
		r, ok := ReachOf(a, events.RoleAdmin)
		if !ok || r != Everywhere {
			t.Errorf("admin's reach of %s: %v %v, want all units", a, r, ok)
		}
	}
	if _, ok := ReachOf(Action("no.such.action"), events.RoleAdmin); ok {
		t.Error("an action without a rule has a reach")
	}
	if r, _ := ReachOf(ActEvidenceWrite, events.RoleInspector); r != Never || r.String() != "-" {
		t.Errorf("inspector's reach of evidence.write: %q", r)
	}
	if r, _ := ReachOf(ActEvidenceWrite, events.RoleSubmitter); r != InScope || r.String() != "own scope" {
		t.Errorf("submitter's reach of evidence.write: %q", r)
	}
}

// TestPrincipalJSON: a principal as the API shows it never carries the
// session's CSRF token, and Actor names the user and role.
func TestPrincipalJSON(t *testing.T) {
	p := PrincipalOf(events.User{ID: "clerk", Name: "文員", Role: events.RoleSubmitter, Scope: "cun-a1"})
	p.CSRF = "secret-csrf-value"
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "secret-csrf-value") || strings.Contains(strings.ToLower(string(b)), "csrf") {
		t.Errorf("principal JSON shows the CSRF token: %s", b)
	}
	if a := p.Actor(); a.ID != "clerk" || a.Role != events.RoleSubmitter {
		t.Errorf("Actor() = %+v", a)
	}
	if !p.Sees("cun-a1", within) || p.Sees("cun-a2", within) {
		t.Error("Sees: a submitter sees exactly its unit")
	}
}

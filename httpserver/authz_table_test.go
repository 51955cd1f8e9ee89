package httpserver

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"taizhang/api"
	"taizhang/auth"
	"taizhang/events"
	"taizhang/gate"
)

var update = flag.Bool("update", false, "rewrite the README's authorisation table")

// AuthzTable renders the route x role x scope table from the router and
// the rules, as the README shows it.
func AuthzTable(routes []gate.Route) string {
	var b strings.Builder
	b.WriteString("| Route | Action | admin | submitter | inspector | supervisor |\n|---|---|---|---|---|---|\n")
	for _, rt := range routes {
		cells := []string{"anyone", "anyone", "anyone", "anyone"}
		if rt.Action != auth.ActHealth && rt.Action != auth.ActPublic {
			for i, role := range []string{"admin", "submitter", "inspector", "supervisor"} {
				reach, ok := auth.ReachOf(rt.Action, roleOf(role))
				switch {
				case !ok:
					cells[i] = "**no rule: refused**"
				default:
					cells[i] = reach.String()
				}
			}
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", rt.Pattern, rt.Action, strings.Join(cells, " | "))
	}
	return b.String()
}

// TestAuthzTableInREADME keeps the README's table the one the code has
// (go test ./httpserver -run AuthzTable -update rewrites it).
func TestAuthzTableInREADME(t *testing.T) {
	const begin, end = "<!-- authz-table:begin -->\n", "<!-- authz-table:end -->"
	table := AuthzTable(New(nil, nil, nil, nil, Config{}, nil).Routes())
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q ... %q section", begin, end)
	}
	if have := s[i+len(begin) : j]; have != table {
		if *update {
			if err := os.WriteFile("../README.md", []byte(s[:i+len(begin)]+table+s[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("README's authorisation table is out of date; run go test ./httpserver -run AuthzTable -update")
	}
	if strings.Contains(table, "no rule") {
		t.Error("a route has no rule")
	}
}

func roleOf(s string) events.Role { return events.Role(s) }

// TestEveryRouteHasARule checks that the one decision point knows every
// route's action (an unknown action is refused for every role: fail closed),
// and the scope rules for unit routes.
func TestEveryRouteHasARule(t *testing.T) {
	s := New(nil, nil, nil, nil, Config{}, nil)
	admin := auth.Principal{User: "a", Role: events.RoleAdmin}
	clerk := auth.Principal{User: "c", Role: events.RoleSubmitter, Unit: "dongcun"}
	insp := auth.Principal{User: "i", Role: events.RoleInspector}
	sup := auth.Principal{User: "s", Role: events.RoleSupervisor}
	if len(s.Routes()) < 10 {
		t.Fatalf("only %d routes", len(s.Routes()))
	}
	for _, r := range s.Routes() {
		if r.Action == auth.ActHealth || r.Action == auth.ActPublic {
			continue
		}
		if _, ok := auth.ReachOf(r.Action, events.RoleAdmin); !ok {
			t.Errorf("route %s: action %s has no rule", r.Pattern, r.Action)
		}
		allowed := 0
		for _, p := range []auth.Principal{admin, clerk, insp, sup} {
			if auth.Decide(p, r.Action, "dongcun", nil) == nil {
				allowed++
			}
		}
		if allowed == 0 {
			t.Errorf("route %s (%s): no role may use it", r.Pattern, r.Action)
		}
		if auth.Decide(admin, r.Action, "dongcun", nil) != nil {
			t.Errorf("route %s: admin refused", r.Pattern)
		}
		if r.Unit && auth.Decide(clerk, r.Action, "xicun", nil) == nil {
			t.Errorf("route %s: a submitter may act on another unit", r.Pattern)
		}
	}
	if err := auth.Decide(admin, auth.Action("new.route"), "", nil); !errors.Is(err, auth.ErrForbidden) {
		t.Fatal("an action without a rule is allowed")
	}
	for _, p := range []auth.Principal{insp, sup} {
		if auth.Decide(p, auth.ActEvidenceWrite, "dongcun", nil) == nil {
			t.Errorf("%s may submit evidence", p.Role)
		}
	}
	if auth.Decide(clerk, auth.ActUnitCreate, "", nil) == nil || auth.Decide(insp, auth.ActTokenCreate, "", nil) == nil {
		t.Error("a non-admin may register units or create tokens")
	}
}

// TestAuditRoutes: every audit view has its API route, authorised as
// auth.ActAudit.
func TestAuditRoutes(t *testing.T) {
	n := 0
	for _, r := range New(nil, nil, nil, nil, Config{}, nil).Routes() {
		if r.Action == auth.ActAudit && strings.HasPrefix(r.Pattern, "GET /api/") {
			n++
		}
	}
	if views := api.AuditViews(); n != len(views) {
		t.Errorf("%d audit API routes for %d views (%v)", n, len(views), views)
	}
}

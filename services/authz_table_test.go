package services

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

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
// (go test ./services -run AuthzTable -update rewrites it).
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
		t.Errorf("README's authorisation table is out of date; run go test ./services -run AuthzTable -update")
	}
	if strings.Contains(table, "no rule") {
		t.Error("a route has no rule")
	}
}

func roleOf(s string) events.Role { return events.Role(s) }

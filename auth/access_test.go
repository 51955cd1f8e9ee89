package auth

import (
	"testing"
)

// TestAccessFilterScope: a scoped reader sees entries about its units and
// entries by actors whose scope is rooted in it, recorded (ActorUnit) or,
// for entries from before ActorUnit was recorded, as the user is now.
func TestAccessFilterScope(t *testing.T) {
	town := map[string]bool{"cun-a1": true, "zhen-a": true}
	f := AccessFilter{Scope: func(u string) bool { return town[u] }, ActorUnits: map[string]string{"old-clerk": "cun-a1", "b-clerk": "cun-b1"}}
	for _, c := range []struct {
		name string
		e    AccessEntry
		want bool
	}{
		{"about a unit of the town", AccessEntry{Actor: "x", Unit: "cun-a1"}, true},
		{"by an actor of the town, elsewhere", AccessEntry{Actor: "clerk", ActorUnit: "cun-a1", Unit: "cun-b1"}, true},
		{"by an inspector of the town, elsewhere", AccessEntry{Actor: "insp", ActorUnit: "zhen-a", Unit: "cun-b1"}, true},
		{"old entry, actor now of the town", AccessEntry{Actor: "old-clerk", Unit: "cun-b1"}, true},
		{"old entry, actor of another town", AccessEntry{Actor: "b-clerk", Unit: "cun-b1"}, false},
		{"recorded actor unit wins over today's", AccessEntry{Actor: "old-clerk", ActorUnit: "cun-b1", Unit: "cun-b1"}, false},
		{"another town's actor and unit", AccessEntry{Actor: "y", ActorUnit: "cun-b1", Unit: "cun-b2"}, false},
		{"no unit, unscoped actor", AccessEntry{Actor: "admin"}, false},
	} {
		if got := f.Match(c.e); got != c.want {
			t.Errorf("%s: Match = %v, want %v", c.name, got, c.want)
		}
	}
	if !(AccessFilter{}).Match(AccessEntry{Actor: "admin"}) {
		t.Error("an unscoped filter refuses an entry")
	}
}

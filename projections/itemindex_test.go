package projections

import (
	"math/rand/v2"
	"testing"

	"github.com/google/uuid"
)

// TestItemIndex: every item is found at its position, whether ids come in
// order (the ledger's UUIDv7), at random (client-chosen v4) or mixed, and
// an id never added is not found.
func TestItemIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for name, gen := range map[string]func(i int) uuid.UUID{
		"v7": func(int) uuid.UUID { return uuid.Must(uuid.NewV7()) },
		"v4": func(int) uuid.UUID { return uuid.New() },
		"mixed": func(i int) uuid.UUID {
			if rng.IntN(5) == 0 {
				return uuid.New()
			}
			return uuid.Must(uuid.NewV7())
		},
		"descending": func(i int) uuid.UUID { var id uuid.UUID; id[0], id[1] = byte(255-i/256), byte(255-i%256); return id },
	} {
		var x itemIndex
		var items []*Item
		for i := range 3000 {
			id := gen(i)
			if _, dup := x.find(items, id); dup {
				t.Fatalf("%s: %s found before it was added", name, id)
			}
			x.add(items, id)
			items = append(items, &Item{ID: id})
		}
		for i, it := range items {
			if got, ok := x.find(items, it.ID); !ok || got != i {
				t.Fatalf("%s: item %d found at %d (%v)", name, i, got, ok)
			}
		}
		for range 100 {
			if _, ok := x.find(items, uuid.New()); ok {
				t.Fatalf("%s: found an id never added", name)
			}
		}
		if name == "v7" && len(x.others) != 0 {
			t.Fatalf("v7: %d of 3000 ids in the map", len(x.others))
		}
	}
}

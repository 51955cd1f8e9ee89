package projections

import (
	"bytes"
	"sort"

	"github.com/google/uuid"
)

// itemIndex finds a unit's items by id. The ledger makes ids that grow
// with time (UUIDv7), so most items come in id order: those are found by
// a binary search over their positions (4 bytes an item), and only an
// item whose id is not above every earlier one's (an id a client chose,
// or another writer's clock) takes a map entry. A map of every item was
// about 55 bytes an item, a tenth of the archive at a million events.
type itemIndex struct {
	sorted []int32             // positions in items of the ids in increasing order
	others map[uuid.UUID]int32 // the rest
}

// find returns the position in items of the item with id id.
func (x *itemIndex) find(items []*Item, id uuid.UUID) (int, bool) {
	if i, ok := x.others[id]; ok {
		return int(i), true
	}
	k := sort.Search(len(x.sorted), func(k int) bool { return bytes.Compare(items[x.sorted[k]].ID[:], id[:]) >= 0 })
	if k < len(x.sorted) && items[x.sorted[k]].ID == id {
		return int(x.sorted[k]), true
	}
	return 0, false
}

// add records that the item with id id is at len(items) (it is appended
// next); id must not be in the index.
func (x *itemIndex) add(items []*Item, id uuid.UUID) {
	n := int32(len(items))
	if len(x.sorted) == 0 || bytes.Compare(items[x.sorted[len(x.sorted)-1]].ID[:], id[:]) < 0 {
		x.sorted = append(x.sorted, n)
		return
	}
	if x.others == nil {
		x.others = map[uuid.UUID]int32{}
	}
	x.others[id] = n
}

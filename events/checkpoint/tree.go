package checkpoint

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"taizhang/events"
)

// Hasher is the RFC 6962 hasher (SHA-256) every tree here uses.
var Hasher = rfc6962.DefaultHasher

// Hash is a Merkle tree hash. It is written in base64, as in checkpoints.
type Hash [32]byte

// String returns the standard base64 form.
func (h Hash) String() string { return base64.StdEncoding.EncodeToString(h[:]) }

// MarshalText encodes h in standard base64.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText decodes standard base64 of 32 bytes.
func (h *Hash) UnmarshalText(b []byte) error {
	v, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// ParseHash decodes standard base64 of 32 bytes.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("%w: hash %q is not base64 of 32 bytes", ErrMalformed, s)
	}
	copy(h[:], b)
	return h, nil
}

func toBytes(hs []Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

func fromBytes(bs [][]byte) []Hash {
	out := make([]Hash, len(bs))
	for i, b := range bs {
		copy(out[i][:], b)
	}
	return out
}

// LeafHash returns the RFC 6962 leaf hash of an event hash: SHA-256 of 0x00
// and the 32 bytes. The ledger tree's leaves are the events' hashes in stream
// order.
func LeafHash(h events.Hash) Hash {
	var b [33]byte
	copy(b[1:], h[:])
	return sha256.Sum256(b[:])
}

// hashChildren is RFC 6962's interior node hash, SHA-256 of 0x01, left and
// right, without the allocations of the generic hasher (tests check that it
// agrees with Hasher.HashChildren).
func hashChildren(l, r *Hash) Hash {
	var b [65]byte
	b[0] = rfc6962.RFC6962NodeHashPrefix
	copy(b[1:], l[:])
	copy(b[33:], r[:])
	return sha256.Sum256(b[:])
}

// chunked is an append-only slice kept in chunks of 64Ki elements, so that
// growing a large tree never copies what it holds.
type chunked[T any] struct {
	c [][]T
	n uint64
}

const chunkBits = 16

func (s *chunked[T]) add(v T) {
	if len(s.c) == 0 || len(s.c[len(s.c)-1]) == 1<<chunkBits {
		var c []T
		if len(s.c) > 0 { // the first chunk grows as a slice: small trees stay small
			c = make([]T, 0, 1<<chunkBits)
		}
		s.c = append(s.c, c)
	}
	last := &s.c[len(s.c)-1]
	*last = append(*last, v)
	s.n++
}

func (s *chunked[T]) at(i uint64) T { return s.c[i>>chunkBits][i&(1<<chunkBits-1)] }

// tree is an append-only RFC 6962 Merkle tree that keeps every complete
// interior node, so that the root at any earlier size and inclusion and
// consistency proofs cost O(log n). Which nodes make up a root or a proof
// is decided by the transparency-dev/merkle library (compact.RangeNodes,
// proof.Inclusion, proof.Consistency); the tree only stores them. Leaf
// (level 0) hashes are not stored: the owner recomputes them with leaf.
type tree struct {
	size  uint64
	leaf  func(i uint64) Hash
	inner []chunked[Hash] // inner[k-1] holds the nodes of level k
	last  Hash            // leaf hash of the last leaf
}

// add appends a leaf by its leaf hash.
func (t *tree) add(lh Hash) {
	idx, cur, left := t.size, lh, t.last
	t.last = lh
	for level := 0; idx&1 == 1; level++ {
		if level > 0 {
			left = t.inner[level-1].at(idx - 1)
		}
		cur = hashChildren(&left, &cur)
		idx >>= 1
		if len(t.inner) == level {
			t.inner = append(t.inner, chunked[Hash]{})
		}
		t.inner[level].add(cur)
	}
	t.size++
}

func (t *tree) node(id compact.NodeID) Hash {
	if id.Level == 0 {
		return t.leaf(id.Index)
	}
	return t.inner[id.Level-1].at(id.Index)
}

func (t *tree) nodes(ids []compact.NodeID) [][]byte {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h := t.node(id)
		out[i] = h[:]
	}
	return out
}

var rangeFactory = &compact.RangeFactory{Hash: Hasher.HashChildren}

// root returns the root hash of the first n leaves.
func (t *tree) root(n uint64) (Hash, error) {
	if n > t.size {
		return Hash{}, fmt.Errorf("tree size %d exceeds %d", n, t.size)
	}
	if n == 0 {
		return Hash(Hasher.EmptyRoot()), nil
	}
	r, err := rangeFactory.NewRange(0, n, t.nodes(compact.RangeNodes(0, n, nil)))
	if err != nil {
		return Hash{}, err
	}
	b, err := r.GetRootHash(nil)
	if err != nil {
		return Hash{}, err
	}
	return Hash(b), nil
}

func (t *tree) inclusion(index, n uint64) ([]Hash, error) {
	if n > t.size {
		return nil, fmt.Errorf("tree size %d exceeds %d", n, t.size)
	}
	return t.rehash(proof.Inclusion(index, n))
}

func (t *tree) consistency(n1, n2 uint64) ([]Hash, error) {
	if n2 > t.size {
		return nil, fmt.Errorf("tree size %d exceeds %d", n2, t.size)
	}
	return t.rehash(proof.Consistency(n1, n2))
}

// rehash fills in a proof's node hashes from the tree (inclusion and
// consistency proofs alike), passing on err from building the proof.
func (t *tree) rehash(p proof.Nodes, err error) ([]Hash, error) {
	if err != nil {
		return nil, err
	}
	hs, err := p.Rehash(t.nodes(p.IDs), Hasher.HashChildren)
	return fromBytes(hs), err
}

// Log is the Merkle tree over the whole ledger: leaf i is the Hash of the
// event at ledger sequence i+1, in stream order. It also knows each event's
// unit, so that it can give every unit's chain head as of any size. It
// keeps about 70 bytes per event in memory (the event hash, its unit and the
// interior nodes). A Log is not safe for concurrent use.
type Log struct {
	t      tree
	hashes chunked[events.Hash]
	units  chunked[uint32] // per leaf: index into names
	names  []string
	ids    map[string]uint32
	heads  []head // per unit index, as of the current size
}

type head struct {
	hash  events.Hash
	count uint64
}

// NewLog returns an empty Log.
func NewLog() *Log {
	l := &Log{ids: map[string]uint32{}}
	l.t.leaf = func(i uint64) Hash { return LeafHash(l.hashes.at(i)) }
	return l
}

// Append adds the next event of the ledger: its unit (chain) and Hash.
func (l *Log) Append(unit string, h events.Hash) {
	u, ok := l.ids[unit]
	if !ok {
		u = uint32(len(l.names))
		l.ids[unit] = u
		l.names = append(l.names, unit)
		l.heads = append(l.heads, head{})
	}
	l.hashes.add(h)
	l.units.add(u)
	l.heads[u] = head{hash: h, count: l.heads[u].count + 1}
	l.t.add(LeafHash(h))
}

// Size returns the number of leaves (events).
func (l *Log) Size() uint64 { return l.t.size }

// EventHash returns the event hash at leaf index i (ledger sequence i+1).
func (l *Log) EventHash(i uint64) events.Hash { return l.hashes.at(i) }

// Unit returns the unit of the event at leaf index i.
func (l *Log) Unit(i uint64) string { return l.names[l.units.at(i)] }

// Root returns the root hash of the first n leaves.
func (l *Log) Root(n uint64) (Hash, error) { return l.t.root(n) }

// Inclusion returns the inclusion proof of leaf index in the tree of the
// first n leaves.
func (l *Log) Inclusion(index, n uint64) ([]Hash, error) { return l.t.inclusion(index, n) }

// Consistency returns the consistency proof from the tree of the first n1
// leaves to that of the first n2.
func (l *Log) Consistency(n1, n2 uint64) ([]Hash, error) { return l.t.consistency(n1, n2) }

// Heads returns every unit's chain head as of the first n leaves, sorted by
// unit.
func (l *Log) Heads(n uint64) ([]UnitHead, error) {
	if n > l.Size() {
		return nil, fmt.Errorf("tree size %d exceeds %d", n, l.Size())
	}
	if n == l.Size() {
		out := make([]UnitHead, 0, len(l.names))
		for u, h := range l.heads {
			out = append(out, UnitHead{Unit: l.names[u], Head: h.hash, Count: h.count})
		}
		sortHeads(out)
		return out, nil
	}
	c := l.HeadsCursor()
	c.Advance(n)
	return c.Heads(), nil
}

// HeadsCursor walks the log from the start, giving the unit heads as of
// increasing sizes in time linear in the leaves walked.
type HeadsCursor struct {
	l     *Log
	pos   uint64
	heads []head
	seen  []uint32 // unit indexes with at least one event, in first-seen order
}

// HeadsCursor returns a cursor at size 0.
func (l *Log) HeadsCursor() *HeadsCursor { return &HeadsCursor{l: l} }

// Advance moves the cursor to size n (at most the log's size); it cannot
// move back.
func (c *HeadsCursor) Advance(n uint64) {
	n = min(n, c.l.Size())
	for ; c.pos < n; c.pos++ {
		u := c.l.units.at(c.pos)
		for int(u) >= len(c.heads) {
			c.heads = append(c.heads, head{})
		}
		if c.heads[u].count == 0 {
			c.seen = append(c.seen, u)
		}
		c.heads[u] = head{hash: c.l.hashes.at(c.pos), count: c.heads[u].count + 1}
	}
}

// Pos returns the size the cursor is at.
func (c *HeadsCursor) Pos() uint64 { return c.pos }

// Heads returns the unit heads at the cursor, sorted by unit.
func (c *HeadsCursor) Heads() []UnitHead {
	out := make([]UnitHead, 0, len(c.seen))
	for _, u := range c.seen {
		out = append(out, UnitHead{Unit: c.l.names[u], Head: c.heads[u].hash, Count: c.heads[u].count})
	}
	sortHeads(out)
	return out
}

// UnitHead is one chain's head: its last event's hash and its number of
// events. The checkpoint commits to the sorted list of all of them.
type UnitHead struct {
	Unit  string      `json:"unit"`
	Head  events.Hash `json:"head"`
	Count uint64      `json:"count"`
}

// Leaf returns the leaf data of h in the unit heads tree:
// "unit\x00headhex\x00count" (count in decimal).
func (h UnitHead) Leaf() []byte {
	b := make([]byte, 0, len(h.Unit)+64+24)
	b = append(b, h.Unit...)
	b = append(b, 0)
	b = append(b, h.Head.String()...)
	b = append(b, 0)
	return strconv.AppendUint(b, h.Count, 10)
}

func sortHeads(hs []UnitHead) {
	slices.SortFunc(hs, func(a, b UnitHead) int {
		switch {
		case a.Unit < b.Unit:
			return -1
		case a.Unit > b.Unit:
			return 1
		}
		return 0
	})
}

// headsTree builds the RFC 6962 tree over heads (sorted by unit).
func headsTree(heads []UnitHead) *tree {
	leaves := make([]Hash, len(heads))
	t := &tree{leaf: func(i uint64) Hash { return leaves[i] }}
	for i, h := range heads {
		leaves[i] = Hash(Hasher.HashLeaf(h.Leaf()))
		t.add(leaves[i])
	}
	return t
}

// HeadsRoot returns the root of the RFC 6962 tree whose leaves are the
// heads (sorted by unit, see Leaf).
func HeadsRoot(heads []UnitHead) Hash {
	r, _ := headsTree(heads).root(uint64(len(heads)))
	return r
}

// HeadsProof returns the index of unit in heads (sorted by unit) and its
// inclusion proof in the heads tree; ok is false if unit has no head.
func HeadsProof(heads []UnitHead, unit string) (index uint64, proof []Hash, ok bool) {
	i, found := slices.BinarySearchFunc(heads, unit, func(h UnitHead, u string) int {
		switch {
		case h.Unit < u:
			return -1
		case h.Unit > u:
			return 1
		}
		return 0
	})
	if !found {
		return 0, nil, false
	}
	p, err := headsTree(heads).inclusion(uint64(i), uint64(len(heads)))
	if err != nil {
		return 0, nil, false
	}
	return uint64(i), p, true
}

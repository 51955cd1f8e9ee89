package checkpoint

import (
	"fmt"

	"github.com/transparency-dev/merkle/proof"

	"taizhang/events"
)

// InclusionProof proves that the event at ledger sequence Seq (leaf index
// Seq-1) is in the tree of Size leaves whose root is Root.
type InclusionProof struct {
	Seq       uint64      `json:"seq"`
	Index     uint64      `json:"leaf_index"`
	Size      uint64      `json:"tree_size"`
	EventHash events.Hash `json:"event_hash"`
	LeafHash  Hash        `json:"leaf_hash"`
	Root      Hash        `json:"root_hash"`
	Hashes    []Hash      `json:"proof"`
}

// Verify checks the proof with the library's verifier against root (a
// checkpoint's root at Size).
func (p InclusionProof) Verify(root Hash) error {
	lh := LeafHash(p.EventHash)
	if lh != p.LeafHash {
		return fmt.Errorf("leaf hash %s is not the leaf hash of event %s", p.LeafHash, p.EventHash)
	}
	return proof.VerifyInclusion(Hasher, p.Index, p.Size, lh[:], toBytes(p.Hashes), root[:])
}

// ConsistencyProof proves that the tree of From leaves is a prefix of the
// tree of To leaves.
type ConsistencyProof struct {
	From     uint64 `json:"from"`
	To       uint64 `json:"to"`
	FromRoot Hash   `json:"from_root"`
	ToRoot   Hash   `json:"to_root"`
	Hashes   []Hash `json:"proof"`
}

// Verify checks the proof with the library's verifier between root1 (at
// From) and root2 (at To).
func (p ConsistencyProof) Verify(root1, root2 Hash) error {
	return VerifyConsistency(p.From, p.To, p.Hashes, root1, root2)
}

// VerifyConsistency checks a consistency proof between two roots with the
// library's verifier.
func VerifyConsistency(size1, size2 uint64, hashes []Hash, root1, root2 Hash) error {
	return proof.VerifyConsistency(Hasher, size1, size2, toBytes(hashes), root1[:], root2[:])
}

// UnitProof proves a unit's head as of a tree size: its leaf (see
// UnitHead.Leaf) is at Index in the unit heads tree of Units leaves whose
// root, UnitsRoot, a checkpoint of that size carries.
type UnitProof struct {
	UnitHead
	Size      uint64 `json:"tree_size"`
	Index     uint64 `json:"leaf_index"`
	Units     uint64 `json:"units"`
	UnitsRoot Hash   `json:"units_root"`
	Hashes    []Hash `json:"proof"`
}

// Verify checks the proof with the library's verifier against a
// checkpoint's unit heads root.
func (p UnitProof) Verify(unitsRoot Hash) error {
	return proof.VerifyInclusion(Hasher, p.Index, p.Units, Hasher.HashLeaf(p.Leaf()), toBytes(p.Hashes), unitsRoot[:])
}

// Stored is a checkpoint as stored in the checkpoint stream: its sequence
// there, its signed note, and what it says. Problem says why it could not
// be parsed or did not verify, if so.
type Stored struct {
	Seq uint64 `json:"seq"`
	Checkpoint
	Note    string `json:"note"`
	Problem string `json:"problem,omitempty"`
	// Cosignatures are the witness cosignatures the server holds for it
	// (their lines are appended to Note where served so).
	Cosignatures []Cosignature `json:"cosignatures,omitempty"`
}

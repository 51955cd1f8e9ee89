package events

import (
	"fmt"
	"time"
)

// TypeUnitExported records that a unit's archive was exported as a bag:
// who exported what, as of when, and the digest of what they got.
const TypeUnitExported Type = "unit.exported"

// UnitExported is the payload of TypeUnitExported.
type UnitExported struct {
	AsOf   time.Time `json:"as_of"`
	Events int       `json:"events"`
	// TreeSize and RootHash name the signed checkpoint the bag's proofs
	// are against (RootHash in base64, as in the checkpoint).
	TreeSize uint64 `json:"tree_size"`
	RootHash string `json:"root_hash"`
	// BagSHA256 is the SHA-256 of the whole zip as sent, TagManifestSHA256
	// that of its tagmanifest-sha256.txt (which pins every other file).
	BagSHA256         string `json:"bag_sha256"`
	TagManifestSHA256 string `json:"tagmanifest_sha256"`
	Bytes             int64  `json:"bytes"`
}

// Validate returns an error wrapping ErrInvalid naming the first bad field.
func (x UnitExported) Validate() error {
	if x.AsOf.IsZero() || x.TreeSize == 0 || x.RootHash == "" {
		return fmt.Errorf("%w: unit.exported needs as_of, tree_size and root_hash", ErrInvalid)
	}
	if _, err := ParseHash(x.BagSHA256); err != nil || x.BagSHA256 == "" {
		return fmt.Errorf("%w: unit.exported: bad bag_sha256 %q", ErrInvalid, x.BagSHA256)
	}
	return nil
}

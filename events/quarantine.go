package events

import (
	"crypto/sha256"
	"errors"
	"fmt"
)

// ErrQuarantined: the chain (a unit, or the plans or users chain) holds a
// stored message that is not a sound event of it (it does not decode, its
// hash does not match, it names another unit, or it does not link to the
// event before it). The chain is served up to that message and refuses
// writes until an operator has looked at it.
var ErrQuarantined = errors.New("quarantined")

// Damage says why the stored message at a record's sequence is not a sound
// event of the chain its subject names. A record with Damage must not be
// folded into any state; its Event, if not nil, is what the message
// decoded to and is for display only.
type Damage struct {
	// Unit is the chain the message's subject names (not the unit the
	// message itself claims, which may be forged).
	Unit string `json:"unit"`
	// Reason is one line a supervisor can act on.
	Reason string `json:"reason"`
}

// Error makes a Damage an error.
func (d *Damage) Error() string { return fmt.Sprintf("chain %s: %s", d.Unit, d.Reason) }

// Quarantine is a chain stopped at its first damaged message.
type Quarantine struct {
	Unit string `json:"unit"`
	// Seq is the ledger sequence of the first damaged message.
	Seq uint64 `json:"seq"`
	// Reason is why that message is not a sound event of the chain.
	Reason string `json:"reason"`
	// Good is how many of the chain's events before Seq are sound; they
	// are served as usual.
	Good int `json:"good"`
}

// QuarantinedError is the refusal of a write to, or a read past, a
// quarantined chain. It wraps ErrQuarantined.
type QuarantinedError struct{ Quarantine }

// Error names the unit and the sequence in words a clerk understands. A
// negative Good means the count is not known (the ledger found the damage
// at the unit's head, without reading the chain).
func (e *QuarantinedError) Error() string {
	if e.Good < 0 {
		return fmt.Sprintf("unit %s is quarantined: the ledger message at sequence %d is damaged or forged (%s); "+
			"nothing can be added to it until an administrator has examined the ledger (taizhang verify --unit %s)",
			e.Unit, e.Seq, e.Reason, e.Unit)
	}
	return fmt.Sprintf("unit %s is quarantined: the ledger message at sequence %d is damaged or forged (%s); "+
		"its %d earlier events are kept and readable, but nothing can be added to it until an administrator "+
		"has examined the ledger (taizhang verify --unit %s)", e.Unit, e.Seq, e.Reason, e.Good, e.Unit)
}

// Unwrap makes errors.Is(err, ErrQuarantined) true.
func (e *QuarantinedError) Unwrap() error { return ErrQuarantined }

// Chain returns the chain the record belongs to: the one its subject
// names if it is damaged, its event's unit otherwise.
func (r Record) Chain() string {
	if r.Damage != nil {
		return r.Damage.Unit
	}
	if r.Event == nil {
		return ""
	}
	return r.Event.Unit
}

// UndecodableError is a stored message that does not decode as an event,
// met by a read of a chain. It wraps ErrQuarantined and the decoding error
// (which wraps ErrInvalid). Digest is StoredDigest of the message.
type UndecodableError struct {
	Seq    uint64
	Err    error
	Digest Hash
}

// StoredDigest is the hash that stands for a stored message that does not
// decode as an event wherever every message needs one (a checkpoint's
// leaves): the SHA-256 of its bytes.
func StoredDigest(data []byte) Hash { return sha256.Sum256(data) }

func (e *UndecodableError) Error() string {
	return fmt.Sprintf("ledger message %d does not decode as an event: %v", e.Seq, e.Err)
}

// Unwrap returns ErrQuarantined and the decoding error.
func (e *UndecodableError) Unwrap() []error { return []error{ErrQuarantined, e.Err} }

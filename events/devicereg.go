package events

import (
	"fmt"
	"time"
)

// DeviceVerdict is what checking a recorded device signature found.
type DeviceVerdict string

// Device verdicts. Only DeviceOK is a signature that holds; the ledger
// refuses a DeviceBadSignature at submission, so one found in a stored
// event means the event was altered after it was recorded. DeviceUnknownKey
// and DeviceRevokedKey are recorded (a device revoked while its offline
// queue waited still delivers what it captured) and flagged for the
// supervisor.
const (
	DeviceOK           DeviceVerdict = "ok"
	DeviceBadSignature DeviceVerdict = "bad_signature" // does not verify over the content, or malformed
	DeviceUnknownKey   DeviceVerdict = "unknown_key"   // not registered to the submitter before the submission
	DeviceRevokedKey   DeviceVerdict = "revoked_key"   // revoked before the submission
)

// DeviceCheck is the verdict on one signed submission: the key, the
// device's capture time, the verdict and why, and whether the device's
// clock said it captured the evidence after the ledger recorded it (Late,
// by Ahead).
type DeviceCheck struct {
	Key        string        `json:"key"`
	CapturedAt time.Time     `json:"captured_at"`
	Verdict    DeviceVerdict `json:"verdict"`
	Reason     string        `json:"reason,omitempty"`
	Late       bool          `json:"late,omitempty"`
	Ahead      time.Duration `json:"ahead,omitempty"` // captured_at - recorded_at, when Late
}

// Flagged reports whether the check is one a supervisor must see: any
// verdict but DeviceOK, or a late capture time.
func (c DeviceCheck) Flagged() bool { return c.Verdict != DeviceOK || c.Late }

// RegisteredDevice is a device key as the users chain holds it: who it
// signs for, and the sequences (and recorded times) of its registration
// and revocation (0 if not revoked).
type RegisteredDevice struct {
	Device
	RegisteredSeq uint64    `json:"registered_seq"`
	RegisteredAt  time.Time `json:"registered_at"`
	RegisteredBy  Actor     `json:"registered_by"`
	RevokedSeq    uint64    `json:"revoked_seq,omitempty"`
	RevokedAt     time.Time `json:"revoked_at,omitzero"`
	RevokedBy     *Actor    `json:"revoked_by,omitempty"`
	Reason        string    `json:"reason,omitempty"` // of the revocation
}

// ActiveAt reports whether the key could sign at ledger sequence seq:
// registered before it and not revoked before it.
func (d RegisteredDevice) ActiveAt(seq uint64) bool {
	return d.RegisteredSeq < seq && (d.RevokedSeq == 0 || d.RevokedSeq > seq)
}

// DeviceRegistry is the device keys of the users chain, folded from its
// records. Because each key keeps the sequences of its registration and
// revocation, a submission at any sequence is checked against the
// registry as it stood then, whether the registry was built before or
// alongside the submissions. The zero value is not usable; use
// NewDeviceRegistry. It is not safe for concurrent writes.
type DeviceRegistry struct {
	keys  map[string]*RegisteredDevice
	order []string // key ids, in registration order
}

// NewDeviceRegistry returns an empty registry.
func NewDeviceRegistry() *DeviceRegistry {
	return &DeviceRegistry{keys: map[string]*RegisteredDevice{}}
}

// Apply folds one record of the users chain in; records that are not
// device events are ignored. A key registers once: a second registration
// of it, or a revocation of a key not registered or already revoked, is
// ignored (the ledger never appends one). It returns an error wrapping
// ErrInvalid for a device event whose payload does not decode.
func (r *DeviceRegistry) Apply(rec Record) error {
	ev := rec.Event
	if ev == nil || !IsDeviceType(ev.Type) {
		return nil
	}
	var d Device
	if err := ev.DecodeData(&d); err != nil {
		return err
	}
	cur := r.keys[d.Key]
	switch ev.Type {
	case TypeDeviceRegistered:
		if cur == nil {
			r.keys[d.Key] = &RegisteredDevice{Device: d, RegisteredSeq: rec.Seq, RegisteredAt: ev.RecordedAt, RegisteredBy: ev.Actor}
			r.order = append(r.order, d.Key)
		}
	case TypeDeviceRevoked:
		if cur != nil && cur.RevokedSeq == 0 && cur.User == d.User {
			by := ev.Actor
			cur.RevokedSeq, cur.RevokedAt, cur.RevokedBy, cur.Reason = rec.Seq, ev.RecordedAt, &by, ev.Reason
		}
	}
	return nil
}

// Lookup returns a key by id.
func (r *DeviceRegistry) Lookup(key string) (RegisteredDevice, bool) {
	d := r.keys[key]
	if d == nil {
		return RegisteredDevice{}, false
	}
	return *d, true
}

// Devices returns the keys registered to user (every key if user is ""),
// in registration order, revoked ones included.
func (r *DeviceRegistry) Devices(user string) []RegisteredDevice {
	out := []RegisteredDevice{}
	for _, k := range r.order {
		if d := r.keys[k]; user == "" || d.User == user {
			out = append(out, *d)
		}
	}
	return out
}

// Len returns how many keys were ever registered.
func (r *DeviceRegistry) Len() int { return len(r.order) }

// Check checks the device signature of a recorded submission rec: the
// signature over the content rebuilt from the event (DeviceBadSignature if
// it fails), then the key against the registry as of rec's sequence: it
// must have been registered to the event's actor before it
// (DeviceUnknownKey) and not revoked before it (DeviceRevokedKey). Late
// is set when the device's capture time is after the recorded time. ok is
// false for an unsigned submission or another event type.
func (r *DeviceRegistry) Check(rec Record) (c DeviceCheck, ok bool) {
	ev := rec.Event
	if ev == nil || ev.Type != TypeEvidenceSubmitted {
		return DeviceCheck{}, false
	}
	content, sig, err := ContentOf(ev)
	if err != nil || sig == nil {
		return DeviceCheck{}, false
	}
	c = DeviceCheck{Key: sig.Key, CapturedAt: sig.CapturedAt.UTC(), Verdict: DeviceOK}
	if sig.CapturedAt.After(ev.RecordedAt) {
		c.Late, c.Ahead = true, sig.CapturedAt.Sub(ev.RecordedAt)
	}
	if err := sig.Verify(content); err != nil {
		c.Verdict, c.Reason = DeviceBadSignature, err.Error()
		return c, true
	}
	c.Verdict, c.Reason = r.standing(sig, ev.Actor.ID, rec.Seq)
	return c, true
}

// standing is the registry's verdict on a verified signature by sig's key
// for user at seq.
func (r *DeviceRegistry) standing(sig *DeviceSignature, user string, seq uint64) (DeviceVerdict, string) {
	d, found := r.Lookup(sig.Key)
	switch {
	case !found || d.RegisteredSeq >= seq:
		return DeviceUnknownKey, fmt.Sprintf("key %s was not registered when the submission was recorded", sig.Key)
	case d.PublicKey != sig.PublicKey:
		return DeviceUnknownKey, fmt.Sprintf("key %s is registered with another public key", sig.Key)
	case d.User != user:
		return DeviceUnknownKey, fmt.Sprintf("key %s is registered to %s, not to the submitter %s", sig.Key, d.User, user)
	case !d.ActiveAt(seq):
		return DeviceRevokedKey, fmt.Sprintf("key %s was revoked (seq %d) before the submission", sig.Key, d.RevokedSeq)
	}
	return DeviceOK, ""
}

package events

import (
	"time"

	"github.com/google/uuid"
)

// Submission is a new piece of evidence.
type Submission struct {
	ID          uuid.UUID // the client's evidence id; a new v7 id if zero
	Unit        string
	Evidence    Evidence
	OccurredAt  time.Time
	Attachments []Attachment
	Actor       Actor
	Client      Client
	// Device, if set, is the capturing device's signature over the
	// submission (SignedContent); it needs ID set, since the id is signed.
	Device *DeviceSignature
}

// Correction is an amendment or a retraction of a piece of evidence.
type Correction struct {
	Unit            string
	Evidence        uuid.UUID
	ExpectedVersion int // the version the corrector saw; required (>= 1)
	Reason          string
	Changes         Changes      // amendments only
	Attachments     []Attachment // new attachments, amendments only
	Actor           Actor
	Client          Client
}

// UserCommand asks for one user event: create, change, disable or enable.
// For a change, User is the whole new state (its Disabled is ignored). ID,
// when set, makes a retry idempotent.
type UserCommand struct {
	ID     uuid.UUID
	Type   Type
	User   User
	Reason string
	Actor  Actor
	Client Client
}

// DeviceCommand asks for one device event: register a key to a user
// (TypeDeviceRegistered) or revoke it (TypeDeviceRevoked, with a reason).
// For a revocation only Device.User and Device.Key count. ID, when set,
// makes a retry idempotent.
type DeviceCommand struct {
	ID     uuid.UUID
	Type   Type
	Device Device
	Reason string
	Actor  Actor
	Client Client
}

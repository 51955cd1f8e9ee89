package projections

import (
	"slices"
	"time"

	"taizhang/events"
)

// UserVersion is a user's state as one user event left it.
type UserVersion struct {
	events.User
	Seq        uint64       `json:"seq"`
	Type       events.Type  `json:"type"`
	RecordedAt time.Time    `json:"recorded_at"`
	By         events.Actor `json:"by"`
	Reason     string       `json:"reason,omitempty"`
}

func (a *Archive) applyUser(rec events.Record) error {
	ev := rec.Event
	if events.IsDeviceType(ev.Type) {
		return a.devices.Apply(rec)
	}
	if !events.IsUserType(ev.Type) {
		return nil
	}
	var u events.User
	if err := ev.DecodeData(&u); err != nil {
		return err
	}
	a.users[u.ID] = append(a.users[u.ID], UserVersion{User: u, Seq: rec.Seq, Type: ev.Type, RecordedAt: ev.RecordedAt,
		By: ev.Actor, Reason: ev.Reason})
	return nil
}

// Devices returns the device registry as of the last applied record.
// The caller must not change it, and must hold the projection's read lock
// (projections.Live's Read or Lookup) while using it.
func (a *Archive) Devices() *events.DeviceRegistry { return a.devices }

// User returns a user's state as of asOf (the latest if asOf is zero); ok is
// false if the user did not exist then.
func (a *Archive) User(id string, asOf time.Time) (UserVersion, bool) {
	vs := a.users[id]
	for i := len(vs) - 1; i >= 0; i-- {
		if asOf.IsZero() || !vs[i].RecordedAt.After(asOf) {
			return vs[i], true
		}
	}
	return UserVersion{}, false
}

// UserHistory returns every recorded state of a user, oldest first.
func (a *Archive) UserHistory(id string) []UserVersion { return a.users[id] }

// Users returns every user that existed at asOf (zero: now), sorted by id,
// in its state then.
func (a *Archive) Users(asOf time.Time) []UserVersion {
	ids := make([]string, 0, len(a.users))
	for id := range a.users {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := []UserVersion{}
	for _, id := range ids {
		if v, ok := a.User(id, asOf); ok {
			out = append(out, v)
		}
	}
	return out
}

// Within reports whether unit is root or, following registered parents, one
// of root's descendants. Parents are fixed at registration, so the answer
// does not depend on time.
func (a *Archive) Within(root, unit string) bool {
	for i := 0; unit != "" && i < 64; i++ { // bounded: a parent cycle cannot hang a request
		if unit == root {
			return true
		}
		u := a.units[unit]
		if u == nil {
			return false
		}
		unit = u.Unit.Parent
	}
	return false
}

// References reports whether any event of the unit (evidence in any
// version, finding photos) has an attachment with this digest.
func (u *UnitArchive) References(digest string) bool {
	q := queryDigest(digest)
	hasPhoto := func(as []events.Attachment) bool {
		for _, a := range as {
			if a.SHA256 == digest {
				return true
			}
		}
		return false
	}
	has := func(as Attachments) bool { return as.index(q) >= 0 }
	for _, it := range u.items {
		for _, l := range it.Chain {
			if has(l.Attachments) {
				return true
			}
		}
	}
	for _, f := range u.findings {
		if hasPhoto(f.Photos) {
			return true
		}
		for _, l := range f.Chain {
			if has(l.Attachments) {
				return true
			}
		}
	}
	return false
}

package jetstream

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
)

// RecordDevice appends a device event to the users chain: a key registered
// to a user, or revoked. A registration needs the user to exist and be
// enabled, and a key never registered before (a revoked key stays revoked:
// a new key is a new device). It returns an error wrapping
// events.ErrNotFound for an unknown user or key, events.ErrExists for a
// key already registered, events.ErrConflict for revoking a revoked key or
// registering to a disabled user, and events.ErrInvalid for a bad command.
// A command whose ID was already recorded answers with that record.
func (l *Ledger) RecordDevice(ctx context.Context, c events.DeviceCommand) (*events.Record, error) {
	if !events.IsDeviceType(c.Type) {
		return nil, fmt.Errorf("%w: %q is not a device event", events.ErrInvalid, c.Type)
	}
	if err := events.ValidUserID(c.Device.User); err != nil {
		return nil, err
	}
	if c.Type == events.TypeDeviceRegistered {
		if err := c.Device.Validate(); err != nil {
			return nil, err
		}
	}
	if c.Type == events.TypeDeviceRevoked && strings.TrimSpace(c.Reason) == "" {
		return nil, fmt.Errorf("%w: revoking a device needs a reason", events.ErrInvalid)
	}
	if len(c.Reason) > events.MaxReasonLen*4 {
		return nil, fmt.Errorf("%w: reason too long", events.ErrInvalid)
	}
	id := c.ID
	if id == uuid.Nil {
		var err error
		if id, err = uuid.NewV7(); err != nil {
			return nil, err
		}
	}
	rec, _, err := l.append(ctx, op{
		unit: events.UsersChain,
		decide: func(t *tx) (*events.Event, error) {
			recs, err := l.read(t.ctx, l.UnitSubjects(events.UsersChain), time.Time{})
			if err != nil {
				return nil, err
			}
			reg := events.NewDeviceRegistry()
			var user *events.User
			for i := range recs {
				if recs[i].Event.ID == id {
					return nil, &errDone{rec: &recs[i]}
				}
				if err := reg.Apply(recs[i]); err != nil {
					return nil, err
				}
				var u events.User
				if events.IsUserType(recs[i].Event.Type) && recs[i].Event.DecodeData(&u) == nil && u.ID == c.Device.User {
					user = &u
				}
			}
			next, err := nextDevice(c, user, reg)
			if err != nil {
				return nil, err
			}
			ev := &events.Event{ID: id, Type: c.Type, Actor: c.Actor, Client: c.Client, OccurredAt: l.cfg.Now(), Reason: c.Reason}
			return ev, ev.SetData(next)
		},
	})
	return rec, err
}

// nextDevice decides a device command against the user's state and the
// registry: the payload to record, or why not.
func nextDevice(c events.DeviceCommand, user *events.User, reg *events.DeviceRegistry) (events.Device, error) {
	if user == nil {
		return events.Device{}, fmt.Errorf("user %s is not in the users chain (a token made with --role and --unit names no user; an admin adds one with 'taizhang user add'): %w",
			c.Device.User, events.ErrNotFound)
	}
	cur, found := reg.Lookup(c.Device.Key)
	switch c.Type {
	case events.TypeDeviceRegistered:
		if found {
			return events.Device{}, fmt.Errorf("device key %s is already registered (to %s): %w", c.Device.Key, cur.User, events.ErrExists)
		}
		if user.Disabled {
			return events.Device{}, fmt.Errorf("user %s is disabled: %w", user.ID, events.ErrConflict)
		}
		return c.Device, nil
	default:
		if !found || cur.User != c.Device.User {
			return events.Device{}, fmt.Errorf("device key %s of user %s: %w", c.Device.Key, c.Device.User, events.ErrNotFound)
		}
		if cur.RevokedSeq != 0 {
			return events.Device{}, fmt.Errorf("device key %s is already revoked: %w", c.Device.Key, events.ErrConflict)
		}
		return cur.Device, nil
	}
}

// Devices returns the device registry folded from the users chain as it
// is now.
func (l *Ledger) Devices(ctx context.Context) (*events.DeviceRegistry, error) {
	recs, err := l.read(ctx, l.UnitSubjects(events.UsersChain), time.Time{})
	if err != nil {
		return nil, err
	}
	reg := events.NewDeviceRegistry()
	for _, r := range recs {
		if err := reg.Apply(r); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

// checkDevice checks a signed submission before it is appended: the
// signature well formed and valid over the content as the ledger will
// record it. A failure wraps events.ErrInvalid and events.ErrBadSignature:
// such a submission is refused, so that a stored signature that does not
// verify can only be an altered event. Whether the key is registered is
// not checked here: that verdict is the registry's as of the event's
// sequence (events.DeviceRegistry.Check), recorded either way and flagged
// for the supervisor.
func checkDevice(s *events.Submission) error {
	if s.ID == uuid.Nil {
		return fmt.Errorf("%w: a signed submission must carry its evidence id (the device signs it)", events.ErrInvalid)
	}
	d := *s.Device
	d.CapturedAt = d.CapturedAt.UTC().Truncate(time.Microsecond)
	atts := make([]events.SignedAttachment, len(s.Attachments))
	for i, a := range s.Attachments {
		atts[i] = events.SignedAttachment{SHA256: a.SHA256, Size: a.Size}
	}
	c := events.Content(s.Unit, s.ID, s.Evidence, s.OccurredAt, atts)
	if err := d.Verify(c); err != nil {
		return fmt.Errorf("%w: %w", events.ErrInvalid, err)
	}
	s.Device = &d
	return nil
}

package jetstream

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
)

// RecordUser appends a user event to the users chain. It returns an error
// wrapping events.ErrExists when creating a user that exists,
// events.ErrNotFound when changing one that does not, events.ErrConflict when
// disabling a disabled user (or enabling an enabled one), and
// events.ErrInvalid for a bad user or a missing reason.
func (l *Ledger) RecordUser(ctx context.Context, c events.UserCommand) (*events.Record, error) {
	if !events.IsUserType(c.Type) {
		return nil, fmt.Errorf("%w: %q is not a user event", events.ErrInvalid, c.Type)
	}
	if err := events.ValidUserID(c.User.ID); err != nil {
		return nil, err
	}
	if c.Type != events.TypeUserCreated && strings.TrimSpace(c.Reason) == "" {
		return nil, fmt.Errorf("%w: %s needs a reason", events.ErrInvalid, c.Type)
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
			var cur *events.User
			for i := range recs {
				if recs[i].Event.ID == id {
					return nil, &errDone{rec: &recs[i]}
				}
				var u events.User
				if recs[i].Event.DecodeData(&u) == nil && u.ID == c.User.ID {
					cur = &u
				}
			}
			next := c.User
			switch c.Type {
			case events.TypeUserCreated:
				if cur != nil {
					return nil, fmt.Errorf("user %s: %w", c.User.ID, events.ErrExists)
				}
				next.Disabled = false
			default:
				if cur == nil {
					return nil, fmt.Errorf("user %s: %w", c.User.ID, events.ErrNotFound)
				}
				switch c.Type {
				case events.TypeUserChanged:
					next.Disabled = cur.Disabled
				case events.TypeUserDisabled:
					if cur.Disabled {
						return nil, fmt.Errorf("user %s is already disabled: %w", c.User.ID, events.ErrConflict)
					}
					next = *cur
					next.Disabled = true
				case events.TypeUserEnabled:
					if !cur.Disabled {
						return nil, fmt.Errorf("user %s is not disabled: %w", c.User.ID, events.ErrConflict)
					}
					next = *cur
					next.Disabled = false
				}
			}
			next.Normalize()
			if err := next.Validate(); err != nil {
				return nil, err
			}
			ev := &events.Event{ID: id, Type: c.Type, Actor: c.Actor, Client: c.Client, OccurredAt: l.cfg.Now(), Reason: c.Reason}
			return ev, ev.SetData(next)
		},
	})
	return rec, err
}

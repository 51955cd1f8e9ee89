package jetstream

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"taizhang/events"
)

// RecordExport appends a unit.exported event to the unit's chain: who
// exported the unit's archive, as of when, and the digest of the bag. It
// returns events.ErrNotFound if the unit has no events.
func (l *Ledger) RecordExport(ctx context.Context, unit string, x events.UnitExported, actor events.Actor, client events.Client) (*events.Record, error) {
	if err := events.ValidUnitID(unit); err != nil {
		return nil, err
	}
	if err := x.Validate(); err != nil {
		return nil, err
	}
	evID, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	rec, _, err := l.append(ctx, op{
		unit: unit,
		decide: func(t *tx) (*events.Event, error) {
			if !t.unitExists {
				return nil, fmt.Errorf("record export of unit %s: %w", unit, events.ErrNotFound)
			}
			ev := &events.Event{ID: evID, Type: events.TypeUnitExported, Actor: actor, Client: client, OccurredAt: l.cfg.Now()}
			return ev, ev.SetData(x)
		},
	})
	return rec, err
}

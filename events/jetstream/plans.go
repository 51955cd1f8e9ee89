package jetstream

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
)

// PublishPlan records a plan (already checked, as JSON) in the ledger's
// plans chain: plan.published the first time, plan.revised with the next
// version when its content changed. Publishing the same content again
// appends nothing and returns the existing record with created false.
func (l *Ledger) PublishPlan(ctx context.Context, planID string, planJSON []byte, source, file string, actor events.Actor, client events.Client) (rec *events.Record, created bool, err error) {
	if err := events.ValidUnitID(planID); err != nil {
		return nil, false, fmt.Errorf("plan id: %w", err)
	}
	canon, err := events.CanonicalJSON(planJSON)
	if err != nil {
		return nil, false, fmt.Errorf("%w: plan is not JSON: %v", events.ErrInvalid, err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, false, err
	}
	return l.append(ctx, op{
		unit: events.PlansChain,
		decide: func(t *tx) (*events.Event, error) {
			recs, err := l.read(t.ctx, l.UnitSubjects(events.PlansChain), time.Time{})
			if err != nil {
				return nil, err
			}
			var last *events.Record
			var lastPlan events.PlanPublished
			for i := range recs {
				var p events.PlanPublished
				if recs[i].Event.DecodeData(&p) == nil && p.PlanID == planID {
					last, lastPlan = &recs[i], p
				}
			}
			typ, version := events.TypePlanPublished, 1
			if last != nil {
				if last.Event.ID == id { // our own earlier attempt landed
					return nil, &errDone{rec: last}
				}
				if prev, err := events.CanonicalJSON(lastPlan.Plan); err == nil && bytes.Equal(prev, canon) {
					return nil, &errDone{rec: last}
				}
				typ, version = events.TypePlanRevised, lastPlan.Version+1
			}
			ev := &events.Event{ID: id, Type: typ, Actor: actor, Client: client, OccurredAt: l.cfg.Now()}
			return ev, ev.SetData(events.PlanPublished{PlanID: planID, Version: version, Plan: canon, Source: source, File: file})
		},
	})
}

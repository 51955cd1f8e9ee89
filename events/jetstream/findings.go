package jetstream

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"taizhang/events"
)

// checkFinding returns an error unless id (if set) is a finding of unit.
// It is called from decide functions, after the index has applied the
// unit's head.
func (l *Ledger) checkFinding(unit, id string) error {
	if id == "" {
		return nil
	}
	fid, err := uuid.Parse(id)
	if err != nil {
		return fmt.Errorf("%w: finding %q", events.ErrInvalid, id)
	}
	e := l.idx.lookup(fid)
	if e == nil || e.unit != unit || e.first != events.TypeFindingRecorded {
		return fmt.Errorf("finding %s in unit %s: %w", id, unit, events.ErrNotFound)
	}
	return nil
}

// RecordFinding appends a finding.recorded event whose id is the finding
// id. The same id again appends nothing and returns the original record
// (created false). Errors: events.ErrNotFound for an unknown unit,
// events.ErrExists for an id used elsewhere, events.ErrInvalid for bad
// content.
func (l *Ledger) RecordFinding(ctx context.Context, f events.NewFinding) (rec *events.Record, created bool, err error) {
	if err := events.ValidUnitID(f.Unit); err != nil {
		return nil, false, err
	}
	if err := f.Finding.Validate(); err != nil {
		return nil, false, err
	}
	if f.ID == uuid.Nil {
		if f.ID, err = uuid.NewV7(); err != nil {
			return nil, false, err
		}
	}
	return l.append(ctx, op{
		unit:   f.Unit,
		entity: f.ID,
		decide: func(t *tx) (*events.Event, error) {
			if e := l.idx.lookup(f.ID); e != nil {
				if e.unit != f.Unit || e.first != events.TypeFindingRecorded {
					return nil, fmt.Errorf("record finding %s: id already used: %w", f.ID, events.ErrExists)
				}
				first, err := l.loadSeq(t.ctx, e.seqs[0])
				if err != nil {
					return nil, err
				}
				return nil, &errDone{rec: first}
			}
			if !t.unitExists {
				return nil, fmt.Errorf("unit %s: %w", f.Unit, events.ErrNotFound)
			}
			ev := &events.Event{ID: f.ID, Type: events.TypeFindingRecorded, Actor: f.Actor, Client: f.Client,
				OccurredAt: l.cfg.Now(), Attachments: f.Attachments}
			return ev, ev.SetData(events.FindingRecorded{Finding: f.Finding, Version: 1})
		},
	})
}

// ResolveFinding appends finding.resolved; ReopenFinding appends
// finding.reopened (a reason is required). A resolve must carry either a
// Basis (the closure rules' finding, checked by package closure) naming
// standing evidence of the same unit, or Override with a reason; never
// both. Errors: events.ErrInvalid for a resolve with neither or both, or
// a reopen with either; events.ErrNotFound for an unknown unit or finding;
// events.ErrConflict for a stale ExpectedVersion, a finding already in
// that state, or a basis that is not standing evidence of the unit.
func (l *Ledger) ResolveFinding(ctx context.Context, d events.FindingDecision) (*events.Record, error) {
	switch {
	case d.Basis != nil && d.Override:
		return nil, fmt.Errorf("%w: a resolve either names its basis or overrides the closure rules, not both", events.ErrInvalid)
	case d.Basis == nil && !d.Override:
		return nil, fmt.Errorf("%w: a resolve must name the rectification it relied on, or override the closure rules with a reason", events.ErrInvalid)
	case d.Override && strings.TrimSpace(d.Reason) == "":
		return nil, fmt.Errorf("%w: a reason is required to override the closure rules", events.ErrInvalid)
	}
	return l.decideFinding(ctx, d, events.TypeFindingResolved)
}

// ReopenFinding: see ResolveFinding.
func (l *Ledger) ReopenFinding(ctx context.Context, d events.FindingDecision) (*events.Record, error) {
	if strings.TrimSpace(d.Reason) == "" {
		return nil, fmt.Errorf("%w: a reason is required to reopen a finding", events.ErrInvalid)
	}
	if d.Basis != nil || d.Override {
		return nil, fmt.Errorf("%w: a reopen has no closure basis or override", events.ErrInvalid)
	}
	return l.decideFinding(ctx, d, events.TypeFindingReopened)
}

func (l *Ledger) decideFinding(ctx context.Context, d events.FindingDecision, typ events.Type) (*events.Record, error) {
	if err := events.ValidUnitID(d.Unit); err != nil {
		return nil, err
	}
	if d.ExpectedVersion < 1 {
		return nil, fmt.Errorf("%w: expected_version is required", events.ErrInvalid)
	}
	if len([]rune(d.Reason)) > events.MaxReasonLen {
		return nil, fmt.Errorf("%w: reason longer than %d characters", events.ErrInvalid, events.MaxReasonLen)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	rec, _, err := l.append(ctx, op{
		unit:   d.Unit,
		entity: d.Finding,
		decide: func(t *tx) (*events.Event, error) {
			e := l.idx.lookup(d.Finding)
			if !t.unitExists || e == nil || e.unit != d.Unit || e.first != events.TypeFindingRecorded {
				return nil, fmt.Errorf("finding %s in unit %s: %w", d.Finding, d.Unit, events.ErrNotFound)
			}
			last, err := l.loadSeq(t.ctx, e.seqs[len(e.seqs)-1])
			if err != nil {
				return nil, err
			}
			if last.Event.ID == id {
				return nil, &errDone{rec: last}
			}
			resolved := e.last == events.TypeFindingResolved
			if typ == events.TypeFindingResolved && resolved {
				return nil, fmt.Errorf("finding %s is already resolved: %w", d.Finding, events.ErrConflict)
			}
			if typ == events.TypeFindingReopened && !resolved {
				return nil, fmt.Errorf("finding %s is open, not resolved: %w", d.Finding, events.ErrConflict)
			}
			if e.version != d.ExpectedVersion {
				return nil, fmt.Errorf("finding %s is at version %d, not %d: %w", d.Finding, e.version, d.ExpectedVersion, events.ErrConflict)
			}
			if b := d.Basis; b != nil {
				be := l.idx.lookup(b.Evidence)
				if be == nil || be.unit != d.Unit || be.first != events.TypeEvidenceSubmitted || be.last == events.TypeEvidenceRetracted {
					return nil, fmt.Errorf("closure basis %s is not standing evidence of unit %s: %w", b.Evidence, d.Unit, events.ErrConflict)
				}
			}
			fid := d.Finding
			ev := &events.Event{ID: id, Type: typ, Actor: d.Actor, Client: d.Client, OccurredAt: l.cfg.Now(),
				Corrects: &fid, Reason: strings.TrimSpace(d.Reason)}
			return ev, ev.SetData(events.FindingChanged{Version: e.version + 1, Basis: d.Basis, Override: d.Override})
		},
	})
	return rec, err
}

package api

import (
	"context"
	"errors"
	"time"

	"taizhang/auth"
	"taizhang/events"
	"taizhang/projections"
)

// SoundHistory is the unit's history as of asOf (see Ledger.History) cut
// before its quarantine, if it has one: the events every page and answer
// about a quarantined unit show, with the quarantine to say so. A history
// that ends at a message that does not decode gives its prefix, after
// waiting for the archive projection to have quarantined the unit.
func (s *Service) SoundHistory(ctx context.Context, unit string, asOf time.Time) ([]events.Record, *events.Quarantine, error) {
	recs, err := s.ledger.History(ctx, unit, asOf)
	if err != nil {
		if !errors.Is(err, events.ErrQuarantined) {
			return nil, nil, err
		}
		seq, herr := s.UnitSeq(ctx, unit)
		if herr != nil {
			return nil, nil, herr
		}
		if werr := s.waitApplied(ctx, seq); werr != nil {
			return nil, nil, werr
		}
	}
	q := s.archive.QuarantineOf(unit)
	if q == nil {
		if err != nil {
			return nil, nil, err
		}
		return recs, nil, nil
	}
	for i, r := range recs {
		if r.Seq >= q.Seq {
			recs = recs[:i]
			break
		}
	}
	return recs, q, nil
}

// QuarantinedFor returns the quarantined chains p may see: every one for
// a principal with no scope, the units of its scope otherwise (the plans
// and users chains to everyone who may audit).
func (s *Service) QuarantinedFor(p auth.Principal) []events.Quarantine {
	var out []events.Quarantine
	_ = s.archive.Read(func(a *projections.Archive) error {
		for _, q := range a.Quarantined() {
			if q.Unit == events.PlansChain || q.Unit == events.UsersChain || p.Sees(q.Unit, a.Within) {
				out = append(out, q)
			}
		}
		return nil
	})
	return out
}

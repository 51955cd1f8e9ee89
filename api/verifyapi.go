package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"taizhang/auth"
	"taizhang/events"
	"taizhang/gate"
	"taizhang/param"
	"taizhang/verify"
)

// OneUnit adapts the API's ledger to verify.Ledger for one unit's check
// (Run lists units only when no unit is given).
type OneUnit struct{ Ledger }

// Units lists no unit: the check is of the one unit asked for.
func (OneUnit) Units(context.Context) ([]string, error) { return nil, nil }

// oneUnitStored is OneUnit for a ledger that also hands over its events
// as stored, so that the check takes verify's StoredLedger path.
type oneUnitStored struct {
	OneUnit
	stored interface {
		StoredHistory(ctx context.Context, unit string, fn func(seq uint64, data []byte) error) error
	}
}

func (o oneUnitStored) StoredHistory(ctx context.Context, unit string, fn func(seq uint64, data []byte) error) error {
	return o.stored.StoredHistory(ctx, unit, fn)
}

// VerifyUnit is the quick unit check, GET /api/v1/verify?unit=U: the unit's
// hash chain recomputed and linked, and every attachment it names re-read
// and re-hashed. 200 with the report either way; "ok" says whether
// anything was found wrong. For the whole ledger and its checkpoints, run
// `taizhang verify`, which does not trust the server.
func (s *Service) VerifyUnit(w http.ResponseWriter, r *http.Request) {
	unit, err := param.Get(r, "unit")
	if err == nil {
		unit, err = param.Unit("unit", unit)
	}
	if err == nil && unit == "" {
		err = fmt.Errorf("%w: ?unit= is required", events.ErrInvalid)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.gate.Authorize(gate.Principal(r), auth.ActUnitRead, unit); err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.UnitSeq(r.Context(), unit); err != nil {
		s.fail(w, r, err)
		return
	}
	start := time.Now()
	var l verify.Ledger = OneUnit{s.ledger}
	if st, ok := s.ledger.(verify.StoredLedger); ok {
		l = oneUnitStored{OneUnit{s.ledger}, st}
	}
	rep, err := verify.Run(r.Context(), l, s.blobs, verify.Options{Unit: unit})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	gate.WriteJSON(w, http.StatusOK, map[string]any{"unit": unit, "ok": rep.OK(), "report": rep, "took_ms": time.Since(start).Milliseconds()})
}

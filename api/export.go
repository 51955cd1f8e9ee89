package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"taizhang/events"
	"taizhang/export"
	"taizhang/gate"
)

// exportRecorder is the ledger method that records an export
// (events/jetstream.Ledger.RecordExport); a ledger without it cannot
// export, since every export must be recorded.
type exportRecorder interface {
	RecordExport(ctx context.Context, unit string, x events.UnitExported, actor events.Actor, client events.Client) (*events.Record, error)
}

// Trailers of the export answer.
const (
	TrailerBagSHA256 = "X-Taizhang-Bag-Sha256"
	TrailerExportSeq = "X-Taizhang-Export-Seq"
)

// ExportUnit streams the unit's archive as of as_of (default now) as a
// BagIt bag in a zip, then records the export in the unit's chain.
func (s *Service) ExportUnit(w http.ResponseWriter, r *http.Request) {
	unit := r.PathValue("unit")
	asOf, err := s.AsOf(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	cps := s.cp(w, r)
	if cps == nil {
		return
	}
	rec, ok := s.ledger.(exportRecorder)
	if !ok {
		s.fail(w, r, fmt.Errorf("%w: this ledger cannot record exports", events.ErrUnavailable))
		return
	}
	if asOf.IsZero() {
		asOf = s.now()
	}
	asOf = asOf.UTC()
	ans, err := s.complianceOf(r.Context(), unit, asOf, "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p := gate.Principal(r)
	bag, err := export.Prepare(r.Context(), s.ledger, s.blobs, cosignedCheckpoints{cps, s}, export.Options{
		Unit: unit, AsOf: asOf, Exporter: fmt.Sprintf("%s (%s)", p.User, p.Role), Compliance: ans, Now: s.cfg.Now,
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", `attachment; filename="`+bag.Name()+`.zip"`)
	h.Set("Trailer", TrailerBagSHA256+", "+TrailerExportSeq)
	w.WriteHeader(http.StatusOK)
	res, err := bag.WriteTo(r.Context(), w)
	if err != nil {
		s.log.ErrorContext(r.Context(), "export failed mid-stream; connection cut", "unit", unit, "err", err)
		panic(http.ErrAbortHandler)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
	defer cancel()
	ev, err := rec.RecordExport(ctx, unit, events.UnitExported{
		AsOf: res.AsOf, Events: res.Events, TreeSize: res.TreeSize, RootHash: res.RootHash,
		BagSHA256: res.BagSHA256, TagManifestSHA256: res.TagManifestSHA256, Bytes: res.Bytes,
	}, p.Actor(), clientOf(r))
	if err != nil {
		// The bag is sent; not recording it must not pass silently.
		s.log.ErrorContext(r.Context(), "export sent but not recorded in the ledger", "unit", unit, "bag_sha256", res.BagSHA256, "err", err)
		panic(http.ErrAbortHandler)
	}
	h.Set(TrailerBagSHA256, res.BagSHA256)
	h.Set(TrailerExportSeq, strconv.FormatUint(ev.Seq, 10))
	s.log.InfoContext(r.Context(), "unit exported", "unit", unit, "as_of", res.AsOf, "events", res.Events, "attachments", res.Attachments,
		"bytes", res.Bytes, "bag_sha256", res.BagSHA256, "by", p.User, "seq", ev.Seq)
}

package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"taizhang/closure"
	"taizhang/events"
	"taizhang/gate"
	"taizhang/param"
	"taizhang/projections"
)

// FindingInput is the JSON of a new finding (the "finding" part of a
// multipart upload with "attachment" photos, or the whole JSON body).
type FindingInput struct {
	ID          string `json:"id"`
	Plan        string `json:"plan"`
	Requirement string `json:"requirement"`
	Description string `json:"description"`
	Severity    string `json:"severity"`
	Due         string `json:"due"`
}

// DecisionInput resolves or reopens a finding. A resolve is checked
// against the closure rules (package closure) unless Override is set,
// which requires a reason and is listed on the supervisor's audit pages.
type DecisionInput struct {
	Reason          string `json:"reason"`
	ExpectedVersion int    `json:"expected_version"`
	Override        bool   `json:"override"`
}

// RecordFinding answers POST /api/v1/units/{unit}/findings: records an
// inspector's finding (FindingInput) on the unit.
func (s *Service) RecordFinding(w http.ResponseWriter, r *http.Request) {
	unit := r.PathValue("unit")
	if _, err := s.UnitSeq(r.Context(), unit); err != nil {
		s.fail(w, r, err)
		return
	}
	var in FindingInput
	up, err := s.readJSONOrUpload(w, r, "finding", &in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer up.Close()
	nf := events.NewFinding{Unit: unit, Attachments: up.Files(), Actor: gate.Principal(r).Actor(), Client: clientOf(r),
		Finding: events.Finding{Plan: in.Plan, Requirement: in.Requirement, Description: strings.TrimSpace(in.Description), Severity: in.Severity, Due: in.Due}}
	if in.ID != "" {
		id, err := uuid.Parse(in.ID)
		if err != nil || len(in.ID) != 36 {
			s.fail(w, r, fmt.Errorf("%w: id %q is not a UUID", events.ErrInvalid, in.ID))
			return
		}
		nf.ID = id
	}
	if err := up.Commit(r.Context()); err != nil {
		s.fail(w, r, err)
		return
	}
	rec, created, err := s.ledger.RecordFinding(r.Context(), nf)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	writeReceipt(w, r, status, rec)
}

// ResolveFinding answers POST /api/v1/units/{unit}/findings/{id}/resolve:
// resolves a finding (DecisionInput), checking its closure basis.
func (s *Service) ResolveFinding(w http.ResponseWriter, r *http.Request) { s.decideFinding(w, r, true) }

// ReopenFinding answers POST /api/v1/units/{unit}/findings/{id}/reopen:
// reopens a resolved finding (DecisionInput).
func (s *Service) ReopenFinding(w http.ResponseWriter, r *http.Request) { s.decideFinding(w, r, false) }

func (s *Service) decideFinding(w http.ResponseWriter, r *http.Request, resolve bool) {
	id, err := param.ID("finding id", r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in DecisionInput
	if err := s.decodeJSON(r, w, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	d := events.FindingDecision{Unit: r.PathValue("unit"), Finding: id, ExpectedVersion: in.ExpectedVersion, Reason: in.Reason,
		Override: in.Override, Actor: gate.Principal(r).Actor(), Client: clientOf(r)}
	var rec *events.Record
	if resolve {
		rec, err = s.Resolve(r.Context(), d)
	} else {
		rec, err = s.ledger.ReopenFinding(r.Context(), d)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeReceipt(w, r, http.StatusOK, rec)
}

// Resolve closes a finding: on the basis the closure rules find in the
// unit's live archive, or, with d.Override, on the resolver's reason alone.
// Errors: a *closure.Refusal (wrapping closure.ErrNotClosable) naming the
// rule that failed; events.ErrConflict for a finding already resolved or
// at another version; the ledger's errors.
func (s *Service) Resolve(ctx context.Context, d events.FindingDecision) (*events.Record, error) {
	if !d.Override {
		basis, err := s.closureBasis(ctx, d)
		if err != nil {
			return nil, err
		}
		d.Basis = &basis
	}
	return s.ledger.ResolveFinding(ctx, d)
}

// closureBasis runs the closure rules over the finding and the standing
// rectifications that name it.
func (s *Service) closureBasis(ctx context.Context, d events.FindingDecision) (events.ClosureBasis, error) {
	var basis events.ClosureBasis
	err := s.WithUnitArchive(ctx, d.Unit, time.Time{}, func(ua *projections.UnitArchive) error {
		f := ua.Finding(d.Finding)
		switch {
		case f == nil:
			return fmt.Errorf("finding %s in unit %s: %w", d.Finding, d.Unit, events.ErrNotFound)
		case f.Resolved:
			return fmt.Errorf("finding %s is already resolved: %w", d.Finding, events.ErrConflict)
		case d.ExpectedVersion >= 1 && f.Version != d.ExpectedVersion:
			return fmt.Errorf("finding %s is at version %d, not %d: %w", d.Finding, f.Version, d.ExpectedVersion, events.ErrConflict)
		}
		recorded := f.Chain[0].RecordedAt.Time().In(s.cfg.Zone)
		cf := closure.Finding{ID: f.ID, RecordedAt: recorded}
		for _, at := range f.Photos {
			if p, ok := s.closurePhoto(at, recorded); ok {
				cf.Photos = append(cf.Photos, p)
			}
		}
		var rects []closure.Rectification
		for _, id := range f.Rectifications {
			if it := ua.Item(id); it != nil && !it.Retracted {
				rects = append(rects, s.rectificationOf(it))
			}
		}
		var err error
		basis, err = closure.Check(cf, rects, d.Actor.ID, closure.Rules{MaxDistance: s.cfg.ClosureDistance})
		return err
	})
	return basis, err
}

// rectificationOf is a rectification item as the closure rules see it:
// everyone who filed or amended it, and its photos with the time each was
// recorded (the first link that attached it).
func (s *Service) rectificationOf(it *projections.Item) closure.Rectification {
	rc := closure.Rectification{Evidence: it.ID}
	seen := map[string]bool{}
	for _, l := range it.Chain {
		if a := l.Actor().ID; !seen[a] {
			seen[a] = true
			rc.Filers = append(rc.Filers, a)
		}
	}
	for _, at := range it.Attachments.All() {
		recorded := it.Chain[0].RecordedAt.Time().In(s.cfg.Zone)
		for _, l := range it.Chain {
			if l.Attachments.Has(at.SHA256) {
				recorded = l.RecordedAt.Time().In(s.cfg.Zone)
				break
			}
		}
		if p, ok := s.closurePhoto(at, recorded); ok {
			rc.Photos = append(rc.Photos, p)
		}
	}
	return rc
}

// closurePhoto returns an image attachment as a closure.Photo: taken at
// its EXIF time, read in the deployment's zone, else at recorded.
func (s *Service) closurePhoto(at events.Attachment, recorded time.Time) (closure.Photo, bool) {
	if !strings.HasPrefix(at.MediaType, "image/") {
		return closure.Photo{}, false
	}
	p := closure.Photo{SHA256: at.SHA256, TakenAt: recorded, GPS: at.GPS}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05", at.TakenAt, s.cfg.Zone); err == nil {
		p.TakenAt, p.FromEXIF = t, true
	}
	return p, true
}

// ListFindings answers GET /api/v1/units/{unit}/findings: lists the unit's findings as of ?as_of=.
func (s *Service) ListFindings(w http.ResponseWriter, r *http.Request) {
	unit := r.PathValue("unit")
	asOf, err := s.AsOf(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var body []byte
	err = s.WithUnitArchive(r.Context(), unit, asOf, func(ua *projections.UnitArchive) error {
		at := asOf
		if at.IsZero() {
			at = s.now()
		}
		var err error
		body, err = json.Marshal(ua.FindingsView(at, s.cfg.Zone))
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(append(body, '\n'))
}

// WithUnitArchive calls fn with the unit's archive as of asOf: folded from
// the events recorded by then, or (asOf zero) the live projection once it
// has applied the unit's last event, under its read lock.
func (s *Service) WithUnitArchive(ctx context.Context, unit string, asOf time.Time, fn func(*projections.UnitArchive) error) error {
	if !asOf.IsZero() {
		recs, q, err := s.SoundHistory(ctx, unit, asOf)
		if err != nil {
			return err
		}
		ua, err := projections.FoldUnit(recs)
		if err != nil {
			return err
		}
		if ua == nil || ua.Unit.RegisteredAt.IsZero() {
			return fmt.Errorf("unit %s was not registered as of %s: %w", unit, asOf.UTC().Format(time.RFC3339), events.ErrNotFound)
		}
		if q != nil {
			ua.Unit.Quarantine = q // the unit is quarantined now, whatever the date
		}
		return fn(ua)
	}
	seq, err := s.UnitSeq(ctx, unit)
	if err != nil {
		return err
	}
	if err := s.waitApplied(ctx, seq); err != nil {
		return err
	}
	return s.archive.Read(func(a *projections.Archive) error {
		ua := a.Unit(unit)
		if ua == nil {
			return fmt.Errorf("unit %s: %w", unit, events.ErrNotFound)
		}
		return fn(ua)
	})
}

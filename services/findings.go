package services

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
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

// DecisionInput resolves or reopens a finding.
type DecisionInput struct {
	Reason          string `json:"reason"`
	ExpectedVersion int    `json:"expected_version"`
}

func (s *Server) recordFinding(w http.ResponseWriter, r *http.Request) {
	unit := r.PathValue("unit")
	if _, err := s.unitSeq(r.Context(), unit); err != nil {
		s.fail(w, r, err)
		return
	}
	var in FindingInput
	up, err := s.readJSONOrUpload(w, r, "finding", &in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer up.close()
	nf := events.NewFinding{Unit: unit, Attachments: up.files(), Actor: principal(r).Actor(), Client: clientOf(r),
		Finding: events.Finding{Plan: in.Plan, Requirement: in.Requirement, Description: strings.TrimSpace(in.Description), Severity: in.Severity, Due: in.Due}}
	if in.ID != "" {
		id, err := uuid.Parse(in.ID)
		if err != nil || len(in.ID) != 36 {
			s.fail(w, r, fmt.Errorf("%w: id %q is not a UUID", events.ErrInvalid, in.ID))
			return
		}
		nf.ID = id
	}
	if err := up.commit(r.Context()); err != nil {
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

func (s *Server) resolveFinding(w http.ResponseWriter, r *http.Request) { s.decideFinding(w, r, true) }
func (s *Server) reopenFinding(w http.ResponseWriter, r *http.Request)  { s.decideFinding(w, r, false) }

func (s *Server) decideFinding(w http.ResponseWriter, r *http.Request, resolve bool) {
	id, err := parseID("finding id", r.PathValue("id"))
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
		Actor: principal(r).Actor(), Client: clientOf(r)}
	var rec *events.Record
	if resolve {
		rec, err = s.ledger.ResolveFinding(r.Context(), d)
	} else {
		rec, err = s.ledger.ReopenFinding(r.Context(), d)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeReceipt(w, r, http.StatusOK, rec)
}

func (s *Server) listFindings(w http.ResponseWriter, r *http.Request) {
	unit := r.PathValue("unit")
	asOf, err := s.asOf(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var body []byte
	err = s.withUnitArchive(r.Context(), unit, asOf, func(ua *projections.UnitArchive) error {
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

// withUnitArchive calls fn with the unit's archive as of asOf: folded from
// the events recorded by then, or (asOf zero) the live projection once it
// has applied the unit's last event, under its read lock.
func (s *Server) withUnitArchive(ctx context.Context, unit string, asOf time.Time, fn func(*projections.UnitArchive) error) error {
	if !asOf.IsZero() {
		recs, q, err := s.soundHistory(ctx, unit, asOf)
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
	seq, err := s.unitSeq(ctx, unit)
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

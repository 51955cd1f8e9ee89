package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"taizhang/events"
	"taizhang/gate"
	"taizhang/param"
	"taizhang/projections"
	"taizhang/projections/plan"
)

// maxPlanSize bounds a plan file.
const maxPlanSize = 1 << 20

// PlanAnswer is the answer to a plan publication.
type PlanAnswer struct {
	Plan     string      `json:"plan"`
	Version  int         `json:"version"`
	Sequence uint64      `json:"sequence"`
	Hash     events.Hash `json:"hash"`
	Created  bool        `json:"created"`
}

// PublishPlan takes a plan file (YAML) as the body, checks it and records
// it; ?file= names the file in messages. 201 for a new plan or version,
// 200 when the same content was already published.
func (s *Service) PublishPlan(w http.ResponseWriter, r *http.Request) {
	file, err := param.Get(r, "file")
	if err == nil {
		file, err = param.File("file", file, "plan.yaml")
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPlanSize))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := plan.Parse(file, body)
	var probs plan.Problems
	if errors.As(err, &probs) {
		s.fail(w, r, fmt.Errorf("%w: the plan has %d problems:\n%v", events.ErrInvalid, len(probs), probs))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	js, err := json.Marshal(p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rec, created, err := s.ledger.PublishPlan(r.Context(), p.ID, js, string(body), file, gate.Principal(r).Actor(), clientOf(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	gate.NoteSeq(r.Context(), rec.Seq)
	// Answer once the projection has the plan, so a read right after sees it.
	if err := s.waitApplied(r.Context(), rec.Seq); err != nil {
		s.fail(w, r, err)
		return
	}
	var pp events.PlanPublished
	_ = rec.Event.DecodeData(&pp)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	gate.WriteJSON(w, status, PlanAnswer{Plan: p.ID, Version: pp.Version, Sequence: rec.Seq, Hash: rec.Event.Hash, Created: created})
}

// PlanSummary is a plan in a listing.
type PlanSummary struct {
	ID           string    `json:"id"`
	Title        string    `json:"title"`
	Issuer       string    `json:"issuer"`
	Period       plan.Span `json:"period"`
	Version      int       `json:"version"`
	RecordedAt   time.Time `json:"recorded_at"`
	Requirements int       `json:"requirements"`
}

// ListPlans answers GET /api/v1/plans: lists the published plans (PlanSummary).
func (s *Service) ListPlans(w http.ResponseWriter, r *http.Request) {
	asOf, err := s.AsOf(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := []PlanSummary{}
	_ = s.archive.Read(func(a *projections.Archive) error {
		for _, v := range a.Plans(asOf) {
			out = append(out, PlanSummary{ID: v.Plan.ID, Title: v.Plan.Title, Issuer: v.Plan.Issuer, Period: v.Plan.Period,
				Version: v.Version, RecordedAt: v.RecordedAt, Requirements: len(v.Plan.Requirements)})
		}
		return nil
	})
	gate.WriteJSON(w, http.StatusOK, map[string]any{"plans": out})
}

// ShowPlan answers GET /api/v1/plans/{plan}: one published plan (PlanAnswer).
func (s *Service) ShowPlan(w http.ResponseWriter, r *http.Request) {
	asOf, err := s.AsOf(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	id, err := param.PlanID("plan", r.PathValue("plan"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var body []byte
	err = s.archive.Read(func(a *projections.Archive) error {
		v, ok := a.Plan(id, asOf)
		if !ok {
			return fmt.Errorf("plan %s: %w", id, events.ErrNotFound)
		}
		var err error
		body, err = json.Marshal(v)
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(append(body, '\n'))
}

package api

import (
	"context"
	"fmt"
	"net/http"

	"taizhang/events"
	"taizhang/events/checkpoint"
	"taizhang/gate"
	"taizhang/param"
)

// Cosignatures is what the API needs of the witness cosignature log
// (events/jetstream.CosignatureLog): witnesses, each with its own key, post
// C2SP tlog-cosignature lines over checkpoints, and checkpoints are served
// with them appended.
type Cosignatures interface {
	// Add checks a cosignature line by key over checkpoint cpSeq and
	// records it; created is false if that line was already recorded.
	Add(ctx context.Context, cpSeq uint64, line, key, by string) (rec checkpoint.CosignatureRecord, created bool, err error)
	// ForCheckpoint returns the cosignatures recorded for checkpoint cpSeq.
	ForCheckpoint(ctx context.Context, cpSeq uint64) ([]checkpoint.CosignatureRecord, error)
}

// SetCosignatures gives the API the cosignature log; without one the
// cosignature route answers 503 and checkpoints are served without
// cosignatures. Call it before serving.
func (s *Service) SetCosignatures(c Cosignatures) { s.cosigs = c }

// WithCosignatures returns cp with the cosignatures recorded for it, their
// lines appended to its note (each witness's newest line only).
func (s *Service) WithCosignatures(ctx context.Context, cp checkpoint.Stored) (checkpoint.Stored, error) {
	if s.cosigs == nil || cp.Problem != "" {
		return cp, nil
	}
	recs, err := s.cosigs.ForCheckpoint(ctx, cp.Seq)
	if err != nil {
		return cp, err
	}
	newest := map[string]int{}
	cp.Cosignatures = nil
	for _, r := range recs {
		if r.Problem != "" {
			continue
		}
		if i, ok := newest[r.Witness]; ok {
			if r.Time.After(cp.Cosignatures[i].Time) {
				cp.Cosignatures[i] = r.Cosignature
			}
			continue
		}
		newest[r.Witness] = len(cp.Cosignatures)
		cp.Cosignatures = append(cp.Cosignatures, r.Cosignature)
	}
	lines := make([]string, len(cp.Cosignatures))
	for i, c := range cp.Cosignatures {
		lines[i] = c.Line
	}
	cp.Note = string(checkpoint.AppendSignatures([]byte(cp.Note), lines...))
	return cp, nil
}

type cosignatureInput struct {
	// Cosignature is the witness's note signature line ("— name base64").
	Cosignature string `json:"cosignature"`
	// Key is the witness's verifier key (name+hash+base64(0x04 || key)).
	Key string `json:"key"`
}

// PostCosignature records a witness's cosignature of checkpoint {seq}:
// 201 with the record, 200 if that line was already recorded.
func (s *Service) PostCosignature(w http.ResponseWriter, r *http.Request) {
	if s.cosigs == nil {
		s.fail(w, r, fmt.Errorf("%w: witness cosignatures are not enabled on this server", events.ErrUnavailable))
		return
	}
	seq, err := param.Uint("seq", r.PathValue("seq"), 0, 1<<53)
	if err == nil && seq == 0 {
		err = fmt.Errorf("%w: the checkpoint sequence must be 1 or more", param.ErrBadRequest)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in cosignatureInput
	if err := s.decodeJSON(r, w, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if in.Cosignature == "" || in.Key == "" {
		s.fail(w, r, fmt.Errorf("%w: cosignature (the note signature line) and key (the witness's verifier key) are required", param.ErrBadRequest))
		return
	}
	rec, created, err := s.cosigs.Add(r.Context(), seq, in.Cosignature, in.Key, gate.Principal(r).User)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		s.log.InfoContext(r.Context(), "checkpoint cosigned", "checkpoint", seq, "size", rec.Size, "witness", rec.Witness, "by", rec.By)
	}
	gate.WriteJSON(w, status, rec)
}

// ShowCheckpoint answers checkpoint {seq} with its cosignatures, as JSON or
// (?format=note) as the note.
func (s *Service) ShowCheckpoint(w http.ResponseWriter, r *http.Request) {
	if err := noteFormat(r); err != nil {
		s.fail(w, r, err)
		return
	}
	seq, err := param.Uint("seq", r.PathValue("seq"), 0, 1<<53)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c := s.cp(w, r)
	if c == nil {
		return
	}
	list, err := c.List(r.Context(), seq, 1)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(list) == 0 || list[0].Seq != seq {
		s.fail(w, r, fmt.Errorf("checkpoint %d: %w", seq, events.ErrNotFound))
		return
	}
	cp, err := s.WithCosignatures(r.Context(), list[0])
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeCheckpoint(w, r, http.StatusOK, cp)
}

// cosignedCheckpoints gives exports the cosignatures already recorded for
// the checkpoint they reuse (an export makes a new checkpoint only if the
// ledger grew; a new one has none yet).
type cosignedCheckpoints struct {
	Checkpoints
	s *Service
}

func (c cosignedCheckpoints) Checkpoint(ctx context.Context) (checkpoint.Stored, bool, error) {
	cp, created, err := c.Checkpoints.Checkpoint(ctx)
	if err != nil || created {
		return cp, created, err
	}
	cp, err = c.s.WithCosignatures(ctx, cp)
	return cp, created, err
}

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

// Checkpoints is what the API needs of the checkpointer (the signed
// checkpoints over the whole ledger and the proofs against them;
// events/jetstream.Checkpointer). Sizes are tree sizes (numbers of events);
// 0 means the latest checkpoint's.
type Checkpoints interface {
	// PublicKey returns the note verifier key checkpoints are signed with.
	PublicKey() string
	// Checkpoint makes a checkpoint of every event appended so far, unless
	// one of that size or larger exists; created says which.
	Checkpoint(ctx context.Context) (s checkpoint.Stored, created bool, err error)
	// Latest returns the newest valid checkpoint, or events.ErrNotFound.
	Latest(ctx context.Context) (checkpoint.Stored, error)
	List(ctx context.Context, from uint64, limit int) ([]checkpoint.Stored, error)
	Inclusion(ctx context.Context, seq, size uint64) (checkpoint.InclusionProof, error)
	Consistency(ctx context.Context, from, to uint64) (checkpoint.ConsistencyProof, error)
	UnitProof(ctx context.Context, unit string, size uint64) (checkpoint.UnitProof, error)
}

// SetCheckpoints gives the API the checkpointer; without one the
// checkpoint and proof routes answer 503. Call it before serving.
func (s *Service) SetCheckpoints(c Checkpoints) { s.checkpoints = c }

// ErrNoCheckpoints answers the checkpoint and proof routes of a server
// without checkpoints (503).
var ErrNoCheckpoints = fmt.Errorf("%w: checkpoints are not enabled on this server", events.ErrUnavailable)

// cp returns the checkpointer, or fails the request.
func (s *Service) cp(w http.ResponseWriter, r *http.Request) Checkpoints {
	if s.checkpoints == nil {
		s.fail(w, r, ErrNoCheckpoints)
	}
	return s.checkpoints
}

// uintParam parses an optional non-negative integer query parameter (def
// if absent; see parseUint).
func uintParam(r *http.Request, name string, def uint64) (uint64, error) {
	v, err := param.Get(r, name)
	if err != nil {
		return 0, err
	}
	return param.Uint(name, v, def, 1<<53)
}

// CheckpointKey answers GET /api/v1/checkpoints/key: the key checkpoints are signed with.
func (s *Service) CheckpointKey(w http.ResponseWriter, r *http.Request) {
	c := s.cp(w, r)
	if c == nil {
		return
	}
	gate.WriteJSON(w, http.StatusOK, map[string]string{"key": c.PublicKey(), "format": "C2SP signed-note verifier key (Ed25519)"})
}

// writeCheckpoint answers a checkpoint as JSON, or as the bare signed note
// (text/plain, what transparency-log tooling and witnesses read) with
// ?format=note.
func writeCheckpoint(w http.ResponseWriter, r *http.Request, status int, cp checkpoint.Stored) {
	if f, _ := param.Get(r, "format"); f == "note" { // checked by noteFormat first
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(cp.Note))
		return
	}
	gate.WriteJSON(w, status, cp)
}

// noteFormat checks the optional format parameter: "json" (the default)
// or "note".
func noteFormat(r *http.Request) error {
	v, err := param.Get(r, "format")
	if err == nil {
		_, err = param.Enum("format", v, "json", "note")
	}
	return err
}

// LatestCheckpoint answers GET /api/v1/checkpoints/latest: the newest
// checkpoint (?format=json or note).
func (s *Service) LatestCheckpoint(w http.ResponseWriter, r *http.Request) {
	if err := noteFormat(r); err != nil {
		s.fail(w, r, err)
		return
	}
	c := s.cp(w, r)
	if c == nil {
		return
	}
	cp, err := c.Latest(r.Context())
	if err == nil {
		cp, err = s.WithCosignatures(r.Context(), cp)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeCheckpoint(w, r, http.StatusOK, cp)
}

// CreateCheckpoint answers POST /api/v1/checkpoints: a checkpoint of the
// ledger now, signed (201), or the latest one when the ledger has not
// grown since (200).
func (s *Service) CreateCheckpoint(w http.ResponseWriter, r *http.Request) {
	if err := noteFormat(r); err != nil {
		s.fail(w, r, err)
		return
	}
	c := s.cp(w, r)
	if c == nil {
		return
	}
	cp, created, err := c.Checkpoint(r.Context())
	if err == nil && !created {
		cp, err = s.WithCosignatures(r.Context(), cp)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		s.log.InfoContext(r.Context(), "checkpoint on demand", "seq", cp.Seq, "size", cp.Size, "by", gate.Principal(r).User)
	}
	writeCheckpoint(w, r, status, cp)
}

// ListCheckpoints answers GET /api/v1/checkpoints: lists the stored checkpoints.
func (s *Service) ListCheckpoints(w http.ResponseWriter, r *http.Request) {
	c := s.cp(w, r)
	if c == nil {
		return
	}
	from, err := uintParam(r, "from", 1)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	limit, err := uintParam(r, "limit", 100)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	limit = min(max(limit, 1), 1000)
	list, err := c.List(r.Context(), max(from, 1), int(limit))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := map[string]any{"checkpoints": list}
	if uint64(len(list)) == limit {
		out["next"] = list[len(list)-1].Seq + 1
	}
	gate.WriteJSON(w, http.StatusOK, out)
}

// proofQuery reads a proof route's numeric parameters, keeping the first
// error.
type proofQuery struct {
	r   *http.Request
	err error
}

// uint returns parameter name (0 if absent).
func (q *proofQuery) uint(name string) uint64 {
	v, err := uintParam(q.r, name, 0)
	if q.err == nil {
		q.err = err
	}
	return v
}

// require notes that a required parameter is missing: name, and what it is.
func (q *proofQuery) require(missing bool, name, what string) {
	if q.err == nil && missing {
		q.err = fmt.Errorf("%w: %s (%s) is required", param.ErrBadRequest, name, what)
	}
}

// proof answers a proof route: the checkpointer must be on, prove reads
// the parameters through q and asks for the proof, which is the JSON
// answer; a bad parameter is 400, any other error maps as every error does.
func (s *Service) proof(w http.ResponseWriter, r *http.Request, prove func(c Checkpoints, q *proofQuery) (any, error)) {
	c := s.cp(w, r)
	if c == nil {
		return
	}
	q := &proofQuery{r: r}
	p, err := prove(c, q)
	if q.err != nil {
		err = q.err
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	gate.WriteJSON(w, http.StatusOK, p)
}

// InclusionProof answers GET /api/v1/proofs/inclusion?seq=&size=.
func (s *Service) InclusionProof(w http.ResponseWriter, r *http.Request) {
	s.proof(w, r, func(c Checkpoints, q *proofQuery) (any, error) {
		seq := q.uint("seq")
		q.require(seq == 0, "seq", "the event's ledger sequence")
		size := q.uint("size")
		if q.err != nil {
			return nil, q.err
		}
		return c.Inclusion(r.Context(), seq, size)
	})
}

// ConsistencyProof answers GET /api/v1/proofs/consistency?from=&to=.
func (s *Service) ConsistencyProof(w http.ResponseWriter, r *http.Request) {
	s.proof(w, r, func(c Checkpoints, q *proofQuery) (any, error) {
		from := q.uint("from")
		v, _ := param.Get(r, "from")
		q.require(v == "", "from", "the earlier tree size")
		to := q.uint("to")
		if q.err != nil {
			return nil, q.err
		}
		return c.Consistency(r.Context(), from, to)
	})
}

// UnitProof answers GET /api/v1/units/{unit}/proof?size=.
func (s *Service) UnitProof(w http.ResponseWriter, r *http.Request) {
	s.proof(w, r, func(c Checkpoints, q *proofQuery) (any, error) {
		size := q.uint("size")
		if q.err != nil {
			return nil, q.err
		}
		return c.UnitProof(r.Context(), r.PathValue("unit"), size)
	})
}

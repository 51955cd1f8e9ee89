package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"taizhang/events"
	"taizhang/events/checkpoint"
)

// errNotHolder stops a publish when this process lost the checkpoint
// lease while preparing it.
var errNotHolder = fmt.Errorf("%w: this process no longer holds the checkpoint lease", events.ErrUnavailable)

// holds reports whether this process may append checkpoints.
func (c *Checkpointer) holds() bool { return c.cfg.Holds == nil || c.cfg.Holds() }

// cpReply is the lease holder's answer to an on-demand checkpoint request.
type cpReply struct {
	Seq     uint64 `json:"seq,omitempty"`
	Note    string `json:"note,omitempty"`
	Created bool   `json:"created,omitempty"`
	Error   string `json:"error,omitempty"`
	Code    string `json:"code,omitempty"` // "not_found", "conflict" or "unavailable"
}

// answer serves an on-demand checkpoint request if this process holds the
// lease; otherwise it stays silent and leaves it to the holder.
func (c *Checkpointer) answer(ctx context.Context, m *nats.Msg) {
	if !c.holds() || m.Reply == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 25*time.Second)
	defer cancel()
	s, created, err := c.Checkpoint(ctx)
	r := cpReply{Seq: s.Seq, Note: s.Note, Created: created}
	if err != nil {
		r = cpReply{Error: err.Error(), Code: "unavailable"}
		switch {
		case errors.Is(err, events.ErrNotFound):
			r.Code = "not_found"
		case errors.Is(err, events.ErrConflict):
			r.Code = "conflict"
		}
	}
	b, _ := json.Marshal(r)
	if err := m.Respond(b); err != nil {
		c.cfg.Log.Warn("checkpoint request: reply failed", "err", err)
	}
}

// askHolder asks the lease holder for an on-demand checkpoint and checks
// the answer's signature with this log's key.
func (c *Checkpointer) askHolder(ctx context.Context) (checkpoint.Stored, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	m, err := c.l.nc.RequestWithContext(ctx, c.cfg.RequestSubject, nil)
	if err != nil {
		return checkpoint.Stored{}, false, fmt.Errorf("%w: no replica holding the checkpoint lease answered (%v); retry in a few seconds",
			events.ErrUnavailable, err)
	}
	var r cpReply
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return checkpoint.Stored{}, false, fmt.Errorf("%w: checkpoint lease holder's answer: %v", events.ErrUnavailable, err)
	}
	if r.Error != "" {
		kind := events.ErrUnavailable
		switch r.Code {
		case "not_found":
			kind = events.ErrNotFound
		case "conflict":
			kind = events.ErrConflict
		}
		return checkpoint.Stored{}, false, fmt.Errorf("%w: the checkpoint lease holder: %s", kind, r.Error)
	}
	s := stored(r.Seq, []byte(r.Note), c.verifier)
	if s.Problem != "" {
		return checkpoint.Stored{}, false, fmt.Errorf("%w: the checkpoint lease holder answered a checkpoint that does not verify: %s", events.ErrConflict, s.Problem)
	}
	return s, r.Created, nil
}

package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"taizhang/events"
	"taizhang/events/checkpoint"
)

// Defaults of the cosignature stream.
const (
	DefaultCosignatureStream = "TAIZHANG_COSIGNATURES"
	// DefaultCosignatureSubject prefixes the subjects of the cosignature
	// stream: one subject a checkpoint, <prefix>.<checkpoint sequence>.
	DefaultCosignatureSubject = "tz.cosig"
	// MaxCosignatures bounds the cosignatures recorded for one checkpoint
	// (the note format allows 100 signature lines in all).
	MaxCosignatures = 64
)

// CosignatureLog is the stream of witness cosignatures,
// TAIZHANG_COSIGNATURES: file storage, deletes and purges denied, no
// limits, a subject a checkpoint (tz.cosig.<checkpoint sequence>). Each
// message is one checkpoint.CosignatureRecord as JSON, recorded only after
// its signature verified over that checkpoint's note.
//
// Cosignatures are not events of the ledger: each one would grow the tree
// and call for a new checkpoint to cosign, forever. They need no chain:
// each is signed by its witness over the checkpoint it names, so the
// operator can neither forge nor alter one; it can only withhold some,
// which a verifier's quorum catches.
type CosignatureLog struct {
	cps    *CheckpointLog
	list   func(ctx context.Context, from uint64, limit int) ([]checkpoint.Stored, error)
	skew   time.Duration
	stream js.Stream
	prefix string
	now    func() time.Time
}

// OpenCosignatureLog opens the cosignature stream beside cps's checkpoint
// stream, creating it if create is set; without create a missing stream is
// events.ErrNotFound. Like the ledger, it refuses an existing stream that
// could lose messages.
func OpenCosignatureLog(ctx context.Context, cps *CheckpointLog, create bool) (*CosignatureLog, error) {
	l := cps.l
	st, err := openAppendOnly(ctx, l, "cosignature", DefaultCosignatureStream, "taizhang witness cosignatures of the signed checkpoints, append-only",
		DefaultCosignatureSubject+".*", 16<<10, create)
	if err != nil {
		return nil, err
	}
	return &CosignatureLog{cps: cps, list: cps.List, skew: 5 * time.Minute, stream: st, prefix: DefaultCosignatureSubject, now: cps.cfg.Now}, nil
}

// StartCosignatures opens (creating if needed) the cosignature stream of
// the checkpointer's log, for a server: Add checks each checkpoint's
// signature with the checkpointer's key, and refuses cosignatures stamped
// more than skew past this server's clock.
func StartCosignatures(ctx context.Context, cp *Checkpointer, skew time.Duration) (*CosignatureLog, error) {
	c, err := OpenCosignatureLog(ctx, cp.CheckpointLog, true)
	if err != nil {
		return nil, err
	}
	c.list, c.skew = cp.List, skew
	return c, nil
}

func (c *CosignatureLog) subject(cpSeq uint64) string {
	return c.prefix + "." + strconv.FormatUint(cpSeq, 10)
}

// ForCheckpoint returns the cosignatures recorded for checkpoint cpSeq, in
// the order they were recorded.
func (c *CosignatureLog) ForCheckpoint(ctx context.Context, cpSeq uint64) ([]checkpoint.CosignatureRecord, error) {
	subj := c.subject(cpSeq)
	last, err := c.stream.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, js.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cosignatures of checkpoint %d: %w", cpSeq, unavailable(err))
	}
	var out []checkpoint.CosignatureRecord
	err = c.cps.l.consumeStream(ctx, c.stream, js.OrderedConsumerConfig{FilterSubjects: []string{subj}}, func(m js.Msg) error {
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("read cosignatures: %w", err)
		}
		out = append(out, decodeCosignature(md.Sequence.Stream, m.Data()))
		if md.Sequence.Stream >= last.Sequence {
			return errEnough
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return nil, fmt.Errorf("cosignatures of checkpoint %d: %w", cpSeq, err)
	}
	return out, nil
}

// All returns every recorded cosignature, in the order recorded.
func (c *CosignatureLog) All(ctx context.Context) ([]checkpoint.CosignatureRecord, error) {
	info, err := c.stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("cosignature stream info: %w", unavailable(err))
	}
	end := info.State.LastSeq
	out := []checkpoint.CosignatureRecord{}
	if end == 0 {
		return out, nil
	}
	err = c.cps.l.consumeStream(ctx, c.stream, js.OrderedConsumerConfig{}, func(m js.Msg) error {
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("read cosignatures: %w", err)
		}
		out = append(out, decodeCosignature(md.Sequence.Stream, m.Data()))
		if md.Sequence.Stream >= end {
			return errEnough
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return nil, fmt.Errorf("read cosignatures: %w", err)
	}
	return out, nil
}

func decodeCosignature(seq uint64, data []byte) checkpoint.CosignatureRecord {
	var r checkpoint.CosignatureRecord
	if err := json.Unmarshal(data, &r); err != nil {
		r = checkpoint.CosignatureRecord{Problem: fmt.Sprintf("not a cosignature record: %v", err)}
	}
	r.Seq = seq
	return r
}

// Add records a witness's cosignature line of checkpoint cpSeq after
// checking it: the checkpoint must exist and verify, key must be a witness
// key (cosignature/v1), line must be its signature over that checkpoint's
// note body, and its timestamp not far past this server's
// clock (see StartCosignatures). by names who posted it. The same line twice is recorded once
// (created false). Errors wrap events.ErrNotFound (no such checkpoint),
// events.ErrInvalid (a bad key or signature) or events.ErrConflict (too
// many cosignatures of one checkpoint).
func (c *CosignatureLog) Add(ctx context.Context, cpSeq uint64, line, key, by string) (checkpoint.CosignatureRecord, bool, error) {
	list, err := c.list(ctx, cpSeq, 1)
	if err != nil {
		return checkpoint.CosignatureRecord{}, false, err
	}
	if len(list) == 0 || list[0].Seq != cpSeq {
		return checkpoint.CosignatureRecord{}, false, fmt.Errorf("checkpoint %d: %w", cpSeq, events.ErrNotFound)
	}
	cp := list[0]
	if cp.Problem != "" {
		return checkpoint.CosignatureRecord{}, false, fmt.Errorf("%w: checkpoint %d is not a valid checkpoint of this log (%s): it cannot be cosigned", events.ErrConflict, cpSeq, cp.Problem)
	}
	v, err := checkpoint.NewCosignatureVerifier(key)
	if err != nil {
		return checkpoint.CosignatureRecord{}, false, fmt.Errorf("%w: %v", events.ErrInvalid, err)
	}
	body, _, err := checkpoint.SplitNote([]byte(cp.Note))
	if err != nil {
		return checkpoint.CosignatureRecord{}, false, fmt.Errorf("checkpoint %d: %w", cpSeq, err)
	}
	cs, err := checkpoint.CheckCosignature(body, line, v)
	if err != nil {
		return checkpoint.CosignatureRecord{}, false, fmt.Errorf("%w: checkpoint %d: %v", events.ErrInvalid, cpSeq, err)
	}
	now := c.now()
	if cs.Time.After(now.Add(c.skew)) {
		return checkpoint.CosignatureRecord{}, false, fmt.Errorf("%w: the cosignature's time %s is after this server's clock (%s): check the witness's clock",
			events.ErrInvalid, cs.Time.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	for range 8 {
		have, err := c.ForCheckpoint(ctx, cpSeq)
		if err != nil {
			return checkpoint.CosignatureRecord{}, false, err
		}
		var lastSeq uint64
		for _, r := range have {
			if r.Line == cs.Line {
				return r, false, nil
			}
			lastSeq = r.Seq
		}
		if len(have) >= MaxCosignatures {
			return checkpoint.CosignatureRecord{}, false, fmt.Errorf("%w: checkpoint %d already has %d cosignatures, the most recorded", events.ErrConflict, cpSeq, len(have))
		}
		rec := checkpoint.CosignatureRecord{Checkpoint: cpSeq, Size: cp.Size, Root: cp.Root, Cosignature: cs, Recorded: now.UTC(), By: by}
		data, err := json.Marshal(rec)
		if err != nil {
			return checkpoint.CosignatureRecord{}, false, fmt.Errorf("encode cosignature: %w", err)
		}
		// Expecting the subject's last sequence: two posts of the same
		// line at once record it once.
		ack, err := c.cps.l.js.PublishMsg(ctx, &nats.Msg{Subject: c.subject(cpSeq), Data: data}, js.WithExpectLastSequencePerSubject(lastSeq))
		var apiErr *js.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == js.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == js.JSErrCodeStreamWrongLastSequenceConstant) {
			continue
		}
		if err != nil {
			return checkpoint.CosignatureRecord{}, false, fmt.Errorf("record cosignature: %w", unavailable(err))
		}
		rec.Seq = ack.Sequence
		return rec, true, nil
	}
	return checkpoint.CosignatureRecord{}, false, fmt.Errorf("%w: record cosignature of checkpoint %d: too many concurrent posts", events.ErrUnavailable, cpSeq)
}

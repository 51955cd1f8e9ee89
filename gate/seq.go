package gate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"taizhang/param"
)

// The gate's half of the read-your-writes protocol between replicas (the
// status half is GET /api/v1/status, in package httpserver): every answer to
// a write carries the ledger sequence of the event it recorded (NoteSeq)
// in X-Taizhang-Seq; any request may carry a minimum sequence, as
// ?min_seq=N or in X-Taizhang-Min-Seq, and the gate answers it once the
// projections have applied N, or after Config.MinSeqWait with 503 and
// Retry-After.

// Header names of the read-your-writes protocol.
const (
	HeaderSeq    = "X-Taizhang-Seq"
	HeaderMinSeq = "X-Taizhang-Min-Seq"
)

// seqNote collects the ledger sequence a request's write recorded, for
// the X-Taizhang-Seq header.
type seqNote struct{ seq uint64 }

type seqKey struct{}

// NoteSeq records that the request (whose context ctx is) wrote or found
// the event at seq; the answer carries the largest such seq in
// X-Taizhang-Seq.
func NoteSeq(ctx context.Context, seq uint64) {
	if n, ok := ctx.Value(seqKey{}).(*seqNote); ok && seq > n.seq {
		n.seq = seq
	}
}

// ErrTooBehind is a minimum sequence this replica did not reach in time
// (503 behind).
var ErrTooBehind = errors.New("replica is behind the requested sequence")

// minSeq reads the request's minimum sequence from ?min_seq= and
// X-Taizhang-Min-Seq (the larger if both); 0 if neither is given.
func minSeq(r *http.Request) (uint64, error) {
	v, err := param.Get(r, "min_seq")
	if err != nil {
		return 0, err
	}
	q, err := param.Uint("min_seq", v, 0, 1<<53)
	if err != nil {
		return 0, err
	}
	if h := strings.TrimSpace(r.Header.Get(HeaderMinSeq)); h != "" {
		n, err := strconv.ParseUint(h, 10, 64)
		if err != nil || n > 1<<53 {
			return 0, fmt.Errorf("%w: %s must be a ledger sequence (a non-negative integer), got %q", param.ErrBadRequest, HeaderMinSeq, h)
		}
		q = max(q, n)
	}
	return q, nil
}

// awaitMinSeq waits, at most Config.MinSeqWait, until the archive
// projection and the ledger's id index (which idempotent repeats and
// expected_version checks read) have applied the request's minimum
// sequence. It answers the
// request itself (400 for a malformed minimum, 503 with Retry-After when
// the wait runs out) and returns false when it did.
func (g *Gate) awaitMinSeq(w http.ResponseWriter, r *http.Request) bool {
	want, err := minSeq(r)
	if err != nil {
		g.Fail(w, r, err)
		return false
	}
	archive := g.cfg.Archive
	if want == 0 || archive.Applied() >= want {
		return true
	}
	ctx, cancel := context.WithTimeout(r.Context(), g.cfg.MinSeqWait)
	defer cancel()
	err = archive.WaitFor(ctx, want)
	if x := g.cfg.Index; x != nil && err == nil {
		err = x.WaitIndex(ctx, want)
	}
	if err != nil {
		w.Header().Set("Retry-After", "1")
		g.Fail(w, r, fmt.Errorf("%w: replica %s has applied the ledger up to sequence %d, not yet %d (asked for with min_seq or %s), after waiting %s; retry shortly or ask another replica: %v",
			ErrTooBehind, g.cfg.Replica, archive.Applied(), want, HeaderMinSeq, g.cfg.MinSeqWait, err))
		return false
	}
	return true
}

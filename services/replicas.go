package services

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"taizhang/events"
	"taizhang/projections"
)

// Several replicas of the API share one ledger. What makes that safe for a
// client:
//
//   - every answer to a write carries the ledger sequence of the event it
//     recorded (or found, for an idempotent repeat) in X-Taizhang-Seq;
//   - any request may carry a minimum sequence, as ?min_seq=N or in
//     X-Taizhang-Min-Seq: the replica answers once its projections have
//     applied N (read your writes on any replica), or after
//     Config.MinSeqWait with 503 and Retry-After;
//   - GET /api/v1/status says how far this replica is, with a digest of
//     its projection that equals every other replica's at the same
//     sequence.

// Header names of the read-your-writes protocol.
const (
	HeaderSeq    = "X-Taizhang-Seq"
	HeaderMinSeq = "X-Taizhang-Min-Seq"
)

// seqNote collects the ledger sequence a request's write recorded, for
// the X-Taizhang-Seq header.
type seqNote struct{ seq uint64 }

type seqKey struct{}

// noteSeq records that the request (whose context ctx is) wrote or found
// the event at seq; the answer carries the largest such seq in
// X-Taizhang-Seq.
func noteSeq(ctx context.Context, seq uint64) {
	if n, ok := ctx.Value(seqKey{}).(*seqNote); ok && seq > n.seq {
		n.seq = seq
	}
}

// errTooBehind is a minimum sequence this replica did not reach in time.
var errTooBehind = errors.New("replica is behind the requested sequence")

// minSeq reads the request's minimum sequence from ?min_seq= and
// X-Taizhang-Min-Seq (the larger if both); 0 if neither is given.
func minSeq(r *http.Request) (uint64, error) {
	v, err := param(r, "min_seq")
	if err != nil {
		return 0, err
	}
	q, err := parseUint("min_seq", v, 0, 1<<53)
	if err != nil {
		return 0, err
	}
	if h := strings.TrimSpace(r.Header.Get(HeaderMinSeq)); h != "" {
		n, err := strconv.ParseUint(h, 10, 64)
		if err != nil || n > 1<<53 {
			return 0, fmt.Errorf("%w: %s must be a ledger sequence (a non-negative integer), got %q", errBadRequest, HeaderMinSeq, h)
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
func (s *Server) awaitMinSeq(w http.ResponseWriter, r *http.Request) bool {
	want, err := minSeq(r)
	if err != nil {
		s.fail(w, r, err)
		return false
	}
	if want == 0 || s.archive.Applied() >= want {
		return true
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.MinSeqWait)
	defer cancel()
	err = s.archive.WaitFor(ctx, want)
	if x, ok := s.ledger.(interface {
		WaitIndex(context.Context, uint64) error
	}); ok && err == nil {
		err = x.WaitIndex(ctx, want)
	}
	if err != nil {
		w.Header().Set("Retry-After", "1")
		s.fail(w, r, fmt.Errorf("%w: replica %s has applied the ledger up to sequence %d, not yet %d (asked for with min_seq or %s), after waiting %s; retry shortly or ask another replica: %v",
			errTooBehind, s.cfg.Replica, s.archive.Applied(), want, HeaderMinSeq, s.cfg.MinSeqWait, err))
		return false
	}
	return true
}

// LeaseInfo is what the status shows of a lease (events/jetstream.Lease).
type LeaseInfo interface {
	// Holder names the replica that holds the lease, or "" if none does.
	Holder() string
	// Held reports whether this replica holds it.
	Held() bool
}

// SetCheckpointLease gives the status endpoint the checkpoint lease. Call
// it before serving.
func (s *Server) SetCheckpointLease(l LeaseInfo) { s.cpLease = l }

// Status is the answer of GET /api/v1/status.
type Status struct {
	// Replica names this process (serve --name).
	Replica string `json:"replica"`
	// LedgerLastSeq is the ledger stream's last sequence, or 0 with
	// LedgerError set when the stream did not answer.
	LedgerLastSeq uint64 `json:"ledger_last_seq"`
	LedgerError   string `json:"ledger_error,omitempty"`
	// Projections are this replica's projections and how far each got.
	Projections []ProjectionStatus `json:"projections"`
	// Digest is the archive projection's digest at Projections' archive
	// applied sequence (projections.Archive.Digest): equal on every
	// replica that applied the same sequence.
	Digest        string `json:"digest"`
	DigestVersion string `json:"digest_version"`
	// CheckpointLease says who appends checkpoints.
	CheckpointLease *LeaseStatus `json:"checkpoint_lease,omitempty"`
	// Quarantined lists the quarantined chains the caller may see (its
	// scope's units, and the plans and users chains), never null.
	Quarantined []events.Quarantine `json:"quarantined"`
}

// ProjectionStatus is one projection's progress.
type ProjectionStatus struct {
	Name    string `json:"name"`
	Applied uint64 `json:"applied"`
	// Behind is how many ledger events it has still to apply.
	Behind uint64 `json:"behind"`
	Error  string `json:"error,omitempty"`
}

// LeaseStatus is a lease's holder as this replica sees it.
type LeaseStatus struct {
	Holder string `json:"holder"`
	Held   bool   `json:"held_by_this_replica"`
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	st := Status{Replica: s.cfg.Replica, DigestVersion: projections.DigestVersion}
	if l, ok := s.ledger.(interface {
		LastSeq(context.Context) (uint64, error)
	}); ok {
		last, err := l.LastSeq(ctx)
		if err != nil {
			st.LedgerError = err.Error()
		}
		st.LedgerLastSeq = last
	}
	applied, digest := s.archive.Status()
	st.Digest = digest
	add := func(name string, applied uint64, err error) {
		p := ProjectionStatus{Name: name, Applied: applied}
		if st.LedgerLastSeq > applied {
			p.Behind = st.LedgerLastSeq - applied
		}
		if err != nil {
			p.Error = err.Error()
		}
		st.Projections = append(st.Projections, p)
	}
	add("archive", applied, s.archive.Err())
	if x, ok := s.ledger.(interface{ IndexApplied() uint64 }); ok {
		add("id_index", x.IndexApplied(), nil)
	}
	if c, ok := s.checkpoints.(interface {
		Size() uint64
		Err() error
	}); ok {
		add("checkpoint_tree", c.Size(), c.Err())
	}
	if st.Quarantined = s.quarantinedFor(principal(r)); st.Quarantined == nil {
		st.Quarantined = []events.Quarantine{}
	}
	if s.cpLease != nil {
		st.CheckpointLease = &LeaseStatus{Holder: s.cpLease.Holder(), Held: s.cpLease.Held()}
	}
	writeJSON(w, http.StatusOK, st)
}

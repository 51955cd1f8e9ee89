package httpserver

import (
	"context"
	"net/http"
	"time"

	"taizhang/events"
	"taizhang/gate"
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
	if c, ok := s.api.Checkpoints().(interface {
		Size() uint64
		Err() error
	}); ok {
		add("checkpoint_tree", c.Size(), c.Err())
	}
	if st.Quarantined = s.api.QuarantinedFor(gate.Principal(r)); st.Quarantined == nil {
		st.Quarantined = []events.Quarantine{}
	}
	if s.cpLease != nil {
		st.CheckpointLease = &LeaseStatus{Holder: s.cpLease.Holder(), Held: s.cpLease.Held()}
	}
	gate.WriteJSON(w, http.StatusOK, st)
}

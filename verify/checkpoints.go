package verify

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"taizhang/events"
	"taizhang/events/checkpoint"
)

// CheckpointLog is what verification reads of the checkpoint stream.
type CheckpointLog interface {
	// Origin is the origin line every checkpoint of the ledger carries.
	Origin() string
	// List returns the stored checkpoints from sequence from, all of them
	// if limit <= 0.
	List(ctx context.Context, from uint64, limit int) ([]checkpoint.Stored, error)
}

// CheckpointReport says what was checked of the checkpoints.
type CheckpointReport struct {
	Count int `json:"count"`
	// Key is the verifier key the signatures were checked with; empty if
	// they were not checked (no key given or found).
	Key          string `json:"key,omitempty"`
	LatestSeq    uint64 `json:"latest_seq,omitempty"`
	LatestSize   uint64 `json:"latest_size,omitempty"`
	LedgerEvents uint64 `json:"ledger_events"`
	// Witnesses is what was checked of the witness cosignatures, if
	// witness keys were given.
	Witnesses *WitnessReport `json:"witnesses,omitempty"`
}

// leaf is one ledger event as verification read it.
type leaf struct {
	seq  uint64
	unit string
	hash events.Hash
}

// readCheckpoints lists every checkpoint, before the ledger is read, so
// that on a live ledger no checkpoint can be newer than what is read next.
func readCheckpoints(ctx context.Context, opt Options) ([]checkpoint.Stored, error) {
	if opt.Checkpoints == nil || opt.Unit != "" {
		return nil, nil
	}
	list, err := opt.Checkpoints.List(ctx, 1, 0)
	if err != nil {
		return nil, fmt.Errorf("verify: read checkpoints: %w", err)
	}
	return list, nil
}

// checkCheckpoints checks every checkpoint's signature, the consistency of
// each with the next (with proofs computed from the ledger's events and the
// library's verifier), each one's unit heads root, and the latest against
// the ledger as read: its root must be the root of the first N events.
func checkCheckpoints(rep *Report, list []checkpoint.Stored, cosigs []checkpoint.CosignatureRecord, leaves []leaf, opt Options) {
	if opt.Checkpoints == nil || opt.Unit != "" {
		return
	}
	slices.SortFunc(leaves, func(a, b leaf) int { return cmp.Compare(a.seq, b.seq) })
	tree := checkpoint.NewLog()
	for _, l := range leaves {
		if l.seq != tree.Size()+1 {
			break // a gap: messages that could not be read (reported as "read")
		}
		tree.Append(l.unit, l.hash)
	}
	readable := tree.Size()
	var ledgerEnd uint64
	if len(leaves) > 0 {
		ledgerEnd = leaves[len(leaves)-1].seq
	}
	cr := &CheckpointReport{Count: len(list), Key: opt.CheckpointKey, LedgerEvents: ledgerEnd}
	rep.Checkpoints = cr
	problem := func(seq uint64, format string, args ...any) {
		rep.Problems = append(rep.Problems, Problem{Kind: "checkpoint", Checkpoint: seq, Msg: fmt.Sprintf(format, args...)})
	}
	origin := opt.Checkpoints.Origin()
	v, err := checkpoint.NewVerifier(opt.CheckpointKey)
	if opt.CheckpointKey == "" {
		v = nil
	} else if err != nil {
		problem(0, "%v", err)
		v, cr.Key = nil, ""
	}

	type checked struct {
		checkpoint.Stored
		known   bool // its size is within the events read
		matches bool // its root is the root of the ledger's first Size events
	}
	var good []checked
	cursor := tree.HeadsCursor()
	for _, s := range list {
		var cp checkpoint.Checkpoint
		var err error
		if v != nil {
			cp, err = checkpoint.Open([]byte(s.Note), v)
		} else {
			cp, err = checkpoint.ParseNote([]byte(s.Note))
		}
		if err != nil {
			problem(s.Seq, "%v", err)
			continue
		}
		if cp.Origin != origin {
			problem(s.Seq, "origin %q is not this ledger's %q", cp.Origin, origin)
			continue
		}
		c := checked{Stored: checkpoint.Stored{Seq: s.Seq, Checkpoint: cp, Note: s.Note}}
		if cp.Size <= readable {
			c.known = true
			root, _ := tree.Root(cp.Size)
			c.matches = root == cp.Root
			if c.matches {
				var heads []checkpoint.UnitHead
				if cp.Size >= cursor.Pos() {
					cursor.Advance(cp.Size)
					heads = cursor.Heads()
				} else {
					heads, _ = tree.Heads(cp.Size)
				}
				if uint64(len(heads)) != cp.Units || checkpoint.HeadsRoot(heads) != cp.UnitsRoot {
					problem(s.Seq, "unit heads root %s (%d units) is not that of the ledger's %d units as of its first %d events (%s)",
						cp.UnitsRoot, cp.Units, len(heads), cp.Size, checkpoint.HeadsRoot(heads))
				}
			}
		}
		good = append(good, c)
	}

	for i := 1; i < len(good); i++ {
		p, c := good[i-1], good[i]
		if c.Size < p.Size {
			problem(c.Seq, "tree size %d is smaller than checkpoint %d's %d: the log went back", c.Size, p.Seq, p.Size)
			continue
		}
		if !p.known || !c.known {
			continue // no proof without the events
		}
		hashes, err := tree.Consistency(p.Size, c.Size)
		if err == nil {
			err = checkpoint.VerifyConsistency(p.Size, c.Size, hashes, p.Root, c.Root)
		}
		if err == nil {
			continue
		}
		switch {
		case p.matches && !c.matches && p.Size == c.Size:
			problem(c.Seq, "not consistent with the earlier checkpoint %d: the same tree size %d with another root (%s, not %s): a fork",
				p.Seq, c.Size, c.Root, p.Root)
		case p.matches && !c.matches:
			// The first p.Size events are as checkpointed; c differs in
			// what follows, or is not a tree of these events at all.
			problem(c.Seq, "not consistent with the earlier checkpoint %d over the ledger's events: the consistency proof from tree size %d to %d does not verify "+
				"between their roots (%s, %s); this checkpoint is forged, or ledger events %d to %d were changed after it", p.Seq, p.Size, c.Size, p.Root, c.Root, p.Size+1, c.Size)
		case !p.matches && c.matches:
			problem(p.Seq, "not consistent with the later checkpoint %d, which matches the ledger's events: the consistency proof from tree size %d to %d does not verify "+
				"between their roots (%s, %s); this checkpoint is forged", c.Seq, p.Size, c.Size, p.Root, c.Root)
		}
		// Neither matching the ledger: the ledger changed before both;
		// the latest's check below says so.
	}

	ws := make([]witnessed, len(good))
	for i, c := range good {
		ws[i] = witnessed{Stored: c.Stored, matches: c.matches}
	}
	checkWitnesses(rep, cr, ws, cosigs, opt)
	if len(good) == 0 {
		return
	}
	last := good[len(good)-1]
	cr.LatestSeq, cr.LatestSize = last.Seq, last.Size
	switch {
	case last.Size > ledgerEnd:
		problem(last.Seq, "commits to %d events, but the ledger holds %d: events were removed or the stream was replaced", last.Size, ledgerEnd)
	case !last.known:
		problem(last.Seq, "not checked against the ledger: its messages from seq %d could not be read", readable+1)
	case !last.matches:
		root, _ := tree.Root(last.Size)
		problem(last.Seq, "root %s for the first %d events, but the ledger's first %d events have root %s: events were changed, removed or reordered after this checkpoint, or it is forged",
			last.Root, last.Size, last.Size, root)
	}
}

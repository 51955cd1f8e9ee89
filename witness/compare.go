package witness

import (
	"context"
	"errors"
	"fmt"

	"taizhang/events/checkpoint"
)

// ErrSplitView is what Compare finds when two witnesses were shown
// different histories of one log.
var ErrSplitView = errors.New("SPLIT VIEW: two witnesses were shown different histories of the log")

// ProofFunc fetches a consistency proof between two tree sizes (from the
// server; the proof is checked, not trusted).
type ProofFunc func(ctx context.Context, from, to uint64) (checkpoint.ConsistencyProof, error)

// Comparison is what Compare checked.
type Comparison struct {
	// Common counts the tree sizes both witnesses cosigned (their roots
	// must be equal).
	Common int
	// ProofChecked is true if the two latest checkpoints were of
	// different sizes and a consistency proof between them verified.
	ProofChecked bool
	// Splits describes every disagreement, each with the two signed
	// notes that show it.
	Splits []Split
	// Note says what could not be checked.
	Note string
}

// Split is one disagreement between two witnesses' records.
type Split struct {
	Why   string
	NoteA string
	NoteB string
}

// Compare checks the state directories a and b of two witnesses of the
// same log against each other: the latest checkpoint each cosigned must
// carry the log's signature; at every tree size both cosigned the roots
// must be equal; and if their latest sizes differ and proof is not nil, a
// consistency proof from the smaller to the larger must verify against
// both roots. Any disagreement is returned as an error wrapping
// ErrSplitView, with the Comparison listing each one.
func Compare(ctx context.Context, a, b string, proof ProofFunc) (Comparison, error) {
	var cmp Comparison
	sa, err := LoadState(a)
	if err != nil {
		return cmp, err
	}
	sb, err := LoadState(b)
	if err != nil {
		return cmp, err
	}
	if sa.LogKey == "" || sa.LogKey != sb.LogKey {
		return cmp, fmt.Errorf("the witnesses pin different log keys (%q and %q): not the same log", sa.LogKey, sb.LogKey)
	}
	if sa.Last == nil || sb.Last == nil {
		return cmp, fmt.Errorf("a witness has cosigned nothing yet: nothing to compare")
	}
	op, err := checkpoint.NewVerifier(sa.LogKey)
	if err != nil {
		return cmp, fmt.Errorf("log key: %w", err)
	}
	for _, s := range []*State{sa, sb} {
		if _, err := checkpoint.CheckWitnessed([]byte(s.Last.Note), op, nil, 0); err != nil {
			return cmp, fmt.Errorf("a witness's last cosigned checkpoint does not carry the log's signature: %w", err)
		}
	}
	ha, err := History(a)
	if err != nil {
		return cmp, err
	}
	hb, err := History(b)
	if err != nil {
		return cmp, err
	}
	bySize := map[uint64]HistoryEntry{}
	for _, h := range append(ha, HistoryEntry{Seq: sa.Last.Seq, Size: sa.Last.Size, Root: sa.Last.Root, Note: sa.Last.Note}) {
		bySize[h.Size] = h
	}
	seen := map[uint64]bool{}
	for _, h := range append(hb, HistoryEntry{Seq: sb.Last.Seq, Size: sb.Last.Size, Root: sb.Last.Root, Note: sb.Last.Note}) {
		o, ok := bySize[h.Size]
		if !ok || seen[h.Size] {
			continue
		}
		seen[h.Size] = true
		cmp.Common++
		if o.Root != h.Root {
			cmp.Splits = append(cmp.Splits, Split{
				Why:   fmt.Sprintf("at tree size %d witness A cosigned root %s (checkpoint #%d), witness B root %s (checkpoint #%d)", h.Size, o.Root, o.Seq, h.Root, h.Seq),
				NoteA: o.Note, NoteB: h.Note})
		}
	}
	la, lb := sa.Last, sb.Last
	switch {
	case la.Size == lb.Size:
	case proof == nil:
		cmp.Note = fmt.Sprintf("the latest checkpoints differ in size (%d and %d) and no server was given to prove them consistent", la.Size, lb.Size)
	default:
		small, big := la, lb
		if small.Size > big.Size {
			small, big = big, small
		}
		p, err := proof(ctx, small.Size, big.Size)
		if err != nil {
			return cmp, fmt.Errorf("consistency proof from %d to %d: %w", small.Size, big.Size, err)
		}
		if err := checkpoint.VerifyConsistency(small.Size, big.Size, p.Hashes, small.Root, big.Root); err != nil {
			cmp.Splits = append(cmp.Splits, Split{
				Why:   fmt.Sprintf("checkpoint #%d (%d events, root %s) and checkpoint #%d (%d events, root %s) are not proven consistent: %v", small.Seq, small.Size, small.Root, big.Seq, big.Size, big.Root, err),
				NoteA: la.Note, NoteB: lb.Note})
		} else {
			cmp.ProofChecked = true
		}
	}
	if len(cmp.Splits) > 0 {
		return cmp, fmt.Errorf("%w: %s", ErrSplitView, cmp.Splits[0].Why)
	}
	return cmp, nil
}

package verify

import (
	"context"
	"fmt"
	"strings"

	"taizhang/events/checkpoint"
)

// CosignatureLog is what verification reads of the witness cosignature
// stream (events/jetstream.CosignatureLog).
type CosignatureLog interface {
	All(ctx context.Context) ([]checkpoint.CosignatureRecord, error)
}

// WitnessReport says what was checked of the witness cosignatures.
type WitnessReport struct {
	Quorum  int      `json:"quorum"`
	Trusted []string `json:"trusted"` // name+hash of each trusted witness key
	// Seq and Size name the newest checkpoint that matches the ledger and
	// is cosigned by at least Quorum trusted witnesses (0 if none);
	// Cosigners are those witnesses.
	Seq       uint64   `json:"witnessed_seq,omitempty"`
	Size      uint64   `json:"witnessed_size,omitempty"`
	Cosigners []string `json:"cosigners,omitempty"`
	// Records counts the cosignatures the server recorded, of any key.
	Records int `json:"records"`
}

// readCosignatures reads every recorded cosignature when witness keys are
// given.
func readCosignatures(ctx context.Context, opt Options) ([]checkpoint.CosignatureRecord, error) {
	if opt.Checkpoints == nil || opt.Unit != "" || len(opt.WitnessKeys) == 0 {
		return nil, nil
	}
	if opt.Cosignatures == nil {
		return nil, nil
	}
	recs, err := opt.Cosignatures.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("verify: read cosignatures: %w", err)
	}
	return recs, nil
}

// witnessed is a checkpoint that passed the other checks, for
// checkWitnesses.
type witnessed struct {
	checkpoint.Stored
	matches bool // its root is the root of the ledger's first Size events
}

// checkWitnesses re-verifies every recorded cosignature by a trusted
// witness over the note of the checkpoint it names, and finds the newest
// checkpoint that matches the ledger and carries the quorum. No such
// checkpoint, with a quorum asked for, is a problem; so is a cosignature
// that claims a trusted key and does not verify.
func checkWitnesses(rep *Report, cr *CheckpointReport, list []witnessed, recs []checkpoint.CosignatureRecord, opt Options) {
	if len(opt.WitnessKeys) == 0 {
		return
	}
	problem := func(seq uint64, format string, args ...any) {
		rep.Problems = append(rep.Problems, Problem{Kind: "witness", Checkpoint: seq, Msg: fmt.Sprintf(format, args...)})
	}
	wr := &WitnessReport{Quorum: opt.WitnessQuorum, Records: len(recs)}
	cr.Witnesses = wr
	var trusted []*checkpoint.CosignatureVerifier
	for _, k := range opt.WitnessKeys {
		v, err := checkpoint.NewCosignatureVerifier(k)
		if err != nil {
			problem(0, "witness key %q: %v", k, err)
			continue
		}
		trusted = append(trusted, v)
		wr.Trusted = append(wr.Trusted, v.String())
	}
	byWitness := map[string]*checkpoint.CosignatureVerifier{}
	for _, v := range trusted {
		byWitness[v.String()] = v
	}
	bySeq := map[uint64][]checkpoint.CosignatureRecord{}
	for _, r := range recs {
		bySeq[r.Checkpoint] = append(bySeq[r.Checkpoint], r)
	}
	best, bestN, bestSeq := []string(nil), -1, uint64(0)
	for i := len(list) - 1; i >= 0; i-- {
		c := list[i]
		body, _, err := checkpoint.SplitNote([]byte(c.Note))
		if err != nil {
			continue
		}
		who := map[string]bool{}
		var names []string
		for _, r := range bySeq[c.Seq] {
			v, ok := byWitness[r.Witness]
			if !ok {
				continue
			}
			if _, err := checkpoint.CheckCosignature(body, r.Line, v); err != nil {
				problem(c.Seq, "cosignature record %d claims trusted witness %s but does not verify over this checkpoint: %v", r.Seq, r.Witness, err)
				continue
			}
			if !who[r.Witness] {
				who[r.Witness] = true
				names = append(names, r.Witness)
			}
		}
		if len(names) > bestN {
			best, bestN, bestSeq = names, len(names), c.Seq
		}
		if wr.Seq == 0 && c.matches && len(names) >= opt.WitnessQuorum && len(names) > 0 {
			wr.Seq, wr.Size, wr.Cosigners = c.Seq, c.Size, names
		}
	}
	if wr.Seq == 0 && opt.WitnessQuorum > 0 {
		msg := fmt.Sprintf("witness quorum not met: no checkpoint that matches the ledger is cosigned by %d of the %d trusted witnesses", opt.WitnessQuorum, len(trusted))
		if bestN > 0 {
			msg += fmt.Sprintf(" (the most: checkpoint %d, by %s)", bestSeq, strings.Join(best, ", "))
		} else {
			msg += " (none of them cosigned any checkpoint the server recorded)"
		}
		problem(0, "%s", msg)
	}
}

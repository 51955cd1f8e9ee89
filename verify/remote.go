package verify

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"taizhang/events"
	"taizhang/events/checkpoint"
)

// Server is what RunRemote asks of a running taizhang over its API (the
// client package's Client, wrapped in cmd/taizhang): nothing it answers is
// trusted until checked here.
type Server interface {
	// Units lists the unit ids the caller may read, sorted.
	Units(ctx context.Context) ([]string, error)
	// History returns a unit's events as the server serves them.
	History(ctx context.Context, unit string) ([]events.Record, error)
	// LatestCheckpoint returns the newest signed checkpoint note, with
	// any witness cosignature lines the server holds.
	LatestCheckpoint(ctx context.Context) ([]byte, error)
	// UnitProof proves a unit's head in the checkpoint of tree size size.
	UnitProof(ctx context.Context, unit string, size uint64) (checkpoint.UnitProof, error)
	// Check runs the server's own check of a unit (its chain as stored
	// and the fixity of its attachments): ok, and the problems it found.
	Check(ctx context.Context, unit string) (ok bool, problems []string, err error)
}

// RemoteOptions say what RunRemote trusts. CheckpointKey is the operator's
// checkpoint verifier key; without it the note's signature cannot be
// checked and the report says so (Report.Checkpoints stays nil).
// WitnessKeys and WitnessQuorum, as in Options, ask for that many trusted
// witnesses' cosignatures on the checkpoint.
type RemoteOptions struct {
	Unit          string
	CheckpointKey string
	WitnessKeys   []string
	WitnessQuorum int
}

// RemoteReport is what RunRemote found.
type RemoteReport struct {
	Units      []RemoteUnit           `json:"units"`
	Events     int                    `json:"events"`
	Checkpoint *checkpoint.Checkpoint `json:"checkpoint,omitempty"` // the newest, as checked
	Signed     bool                   `json:"signed"`               // its signature checked with CheckpointKey
	Witnesses  []string               `json:"witnesses,omitempty"`  // trusted witnesses whose cosignature verified
	Problems   []Problem              `json:"problems"`
	// Devices is the device signature check (nil if nothing was signed
	// and no key registered); DeviceRegistry says why the keys could not
	// be checked against the registry, if they could not.
	Devices        *DeviceReport `json:"devices,omitempty"`
	DeviceRegistry string        `json:"device_registry,omitempty"`
}

// RemoteUnit is one unit's verdict: its chain as served (every hash
// recomputed here, every link checked), its head proven in the checkpoint,
// and the server's own check.
type RemoteUnit struct {
	Unit     string      `json:"unit"`
	Events   int         `json:"events"`
	Head     events.Hash `json:"head"`
	ChainOK  bool        `json:"chain_ok"`
	Proven   bool        `json:"proven"` // the head as of the checkpoint is the one it commits to
	ServerOK bool        `json:"server_ok"`
}

// OK reports whether nothing was found wrong.
func (r *RemoteReport) OK() bool { return len(r.Problems) == 0 }

// RunRemote verifies a running server from outside: for each unit (or
// opt.Unit) it reads the history the server serves and recomputes every
// hash and link itself, checks that the unit's events up to the newest
// checkpoint end in the head the checkpoint's unit-heads tree commits to
// (an inclusion proof, checked against the root in the signed note), and
// asks the server's own check for the attachments, which only the server
// can read. A server that serves one history to this client and signed
// another is caught by the proof; one that rewrote history and re-signed
// is caught by a witness quorum or by a checkpoint kept from before.
// Errors are for an unreachable or refusing server or bad options;
// everything found wrong is a Problem.
func RunRemote(ctx context.Context, srv Server, opt RemoteOptions) (*RemoteReport, error) {
	rep := &RemoteReport{Problems: []Problem{}}
	cp, err := remoteCheckpoint(ctx, srv, opt, rep)
	if err != nil {
		return nil, err
	}
	units := []string{opt.Unit}
	if opt.Unit == "" {
		if units, err = srv.Units(ctx); err != nil {
			return nil, fmt.Errorf("list units: %w", err)
		}
	}
	served := map[string][]events.Record{}
	for _, u := range units {
		ru, recs, err := remoteUnit(ctx, srv, u, cp, rep)
		if err != nil {
			return nil, err
		}
		served[u] = recs
		rep.Units = append(rep.Units, ru)
		rep.Events += ru.Events
	}
	checkRemoteDevices(ctx, srv, served, rep)
	return rep, nil
}

// remoteCheckpoint reads and checks the newest checkpoint: its signature
// with opt.CheckpointKey and its witnesses, if asked. It returns nil if
// the ledger has none yet or it did not check out (a Problem says why).
func remoteCheckpoint(ctx context.Context, srv Server, opt RemoteOptions, rep *RemoteReport) (*checkpoint.Checkpoint, error) {
	msg, err := srv.LatestCheckpoint(ctx)
	if err != nil || msg == nil {
		return nil, err
	}
	problem := func(f string, a ...any) {
		rep.Problems = append(rep.Problems, Problem{Kind: "checkpoint", Msg: fmt.Sprintf(f, a...)})
	}
	var c checkpoint.Checkpoint
	switch {
	case opt.CheckpointKey == "":
		if len(opt.WitnessKeys) > 0 {
			return nil, fmt.Errorf("witness keys need the operator's checkpoint key too")
		}
		if c, err = checkpoint.ParseNote(msg); err != nil {
			problem("the newest checkpoint does not parse: %v", err)
			return nil, nil
		}
	default:
		v, err := checkpoint.NewVerifier(opt.CheckpointKey)
		if err != nil {
			return nil, fmt.Errorf("checkpoint key: %w", err)
		}
		if len(opt.WitnessKeys) > 0 {
			wv := make([]*checkpoint.CosignatureVerifier, 0, len(opt.WitnessKeys))
			for _, k := range opt.WitnessKeys {
				w, err := checkpoint.NewCosignatureVerifier(k)
				if err != nil {
					return nil, fmt.Errorf("witness key %q: %w", k, err)
				}
				wv = append(wv, w)
			}
			w, err := checkpoint.CheckWitnessed(msg, v, wv, opt.WitnessQuorum)
			if err != nil {
				problem("the newest checkpoint: %v", err)
				return nil, nil
			}
			c = w.Checkpoint
			for _, cs := range w.Cosigned {
				rep.Witnesses = append(rep.Witnesses, cs.Witness)
			}
		} else if c, err = checkpoint.Open(msg, v); err != nil {
			problem("the newest checkpoint is not signed with the given key: %v", err)
			return nil, nil
		}
		rep.Signed = true
	}
	rep.Checkpoint = &c
	return &c, nil
}

// remoteUnit checks one unit's served history and its proof in cp, and
// returns the history.
func remoteUnit(ctx context.Context, srv Server, unit string, cp *checkpoint.Checkpoint, rep *RemoteReport) (RemoteUnit, []events.Record, error) {
	ru := RemoteUnit{Unit: unit}
	problem := func(kind string, seq uint64, f string, a ...any) {
		rep.Problems = append(rep.Problems, Problem{Kind: kind, Unit: unit, Seq: seq, Msg: fmt.Sprintf(f, a...)})
	}
	recs, err := srv.History(ctx, unit)
	if err != nil {
		return ru, nil, fmt.Errorf("history of %s: %w", unit, err)
	}
	ru.Events = len(recs)
	if len(recs) > 0 {
		ru.Head = recs[len(recs)-1].Event.Hash
	}
	ordered := slices.IsSortedFunc(recs, func(a, b events.Record) int { return cmp.Compare(a.Seq, b.Seq) })
	if err := events.VerifyChain(recs); err != nil || !ordered {
		if err == nil {
			err = fmt.Errorf("events not in ledger order")
		}
		problem("chain", 0, "the history served does not hold together: %v", err)
	} else {
		ru.ChainOK = true
	}
	if cp != nil {
		if err := proveHead(ctx, srv, unit, recs, cp); err != nil {
			problem("proof", 0, "%v", err)
		} else {
			ru.Proven = true
		}
	}
	ok, probs, err := srv.Check(ctx, unit)
	if err != nil {
		return ru, nil, fmt.Errorf("server check of %s: %w", unit, err)
	}
	ru.ServerOK = ok
	for _, p := range probs {
		problem("server", 0, "the server's own check: %s", p)
	}
	if !ok && len(probs) == 0 {
		problem("server", 0, "the server's own check failed")
	}
	return ru, recs, nil
}

// proveHead checks that the unit's events up to cp's tree size end in the
// head cp's unit-heads tree holds for the unit, with the count it says.
// A unit registered after cp has nothing to prove.
func proveHead(ctx context.Context, srv Server, unit string, recs []events.Record, cp *checkpoint.Checkpoint) error {
	var n int
	for n < len(recs) && recs[n].Seq <= cp.Size {
		n++
	}
	if n == 0 {
		return nil
	}
	p, err := srv.UnitProof(ctx, unit, cp.Size)
	if err != nil {
		return fmt.Errorf("no proof of the unit in checkpoint %d: %w", cp.Size, err)
	}
	switch {
	case p.Unit != unit || p.Size != cp.Size:
		return fmt.Errorf("the proof is of unit %s at tree size %d, not of %s at %d", p.Unit, p.Size, unit, cp.Size)
	case p.UnitsRoot != cp.UnitsRoot || p.Units != cp.Units:
		return fmt.Errorf("the proof's unit-heads root is not the one checkpoint %d commits to", cp.Size)
	}
	if err := p.Verify(cp.UnitsRoot); err != nil {
		return fmt.Errorf("the proof does not verify against checkpoint %d: %w", cp.Size, err)
	}
	if p.Count != uint64(n) || p.Head != recs[n-1].Event.Hash {
		return fmt.Errorf("checkpoint %d commits to %d events ending in %.16s, the history served has %d ending in %.16s: the server shows a history it did not sign",
			cp.Size, p.Count, p.Head.String(), n, recs[n-1].Event.Hash.String())
	}
	return nil
}

// Package verify checks that the ledger was not rewritten and that the
// attachments it names are intact: every unit's hash chain (each event's
// hash recomputed, each link checked, no gap, no fork) and the fixity of
// every referenced blob (re-read and re-hashed). It reads the stores
// directly, so a supervisor need not trust a running server.
package verify

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"taizhang/blobstore"
	"taizhang/events"
	"taizhang/internal/parallel"
)

// Ledger is what verification reads of the ledger.
type Ledger interface {
	// Units returns every unit id with events in the ledger, sorted.
	Units(ctx context.Context) ([]string, error)
	History(ctx context.Context, unit string, asOf time.Time) ([]events.Record, error)
}

// StoredLedger is a Ledger that also hands over a chain's events as they
// are stored (the JetStream ledger does; see its StoredHistory). Run then
// checks each event's stored bytes with events.CheckStored while the next
// ones are read: the same verdicts as decoding the history and recomputing
// every hash, without the generic JSON decoder and encoder for events
// stored in canonical form.
type StoredLedger interface {
	Ledger
	StoredHistory(ctx context.Context, unit string, fn func(seq uint64, data []byte) error) error
}

// Problem is one thing found wrong, naming what it is about.
type Problem struct {
	Kind  string `json:"kind"` // "chain", "blob_missing", "blob_corrupt", "read", "checkpoint"
	Unit  string `json:"unit,omitempty"`
	Seq   uint64 `json:"seq,omitempty"`
	Event string `json:"event,omitempty"`
	Blob  string `json:"blob,omitempty"`
	Msg   string `json:"message"`

	Checkpoint uint64 `json:"checkpoint,omitempty"` // kind "checkpoint": its sequence in the checkpoint stream
}

func (p Problem) String() string {
	var where []string
	if p.Unit != "" {
		where = append(where, "unit "+p.Unit)
	}
	if p.Seq != 0 {
		where = append(where, fmt.Sprintf("seq %d", p.Seq))
	}
	if p.Event != "" {
		where = append(where, "event "+p.Event)
	}
	if p.Blob != "" {
		where = append(where, "blob "+p.Blob)
	}
	if p.Checkpoint != 0 {
		where = append(where, fmt.Sprintf("checkpoint %d", p.Checkpoint))
	}
	return fmt.Sprintf("%s: %s: %s", p.Kind, strings.Join(where, ", "), p.Msg)
}

// UnitReport is one unit's chain. Good is how many of its events come
// before its first problem (all of them if OK); BrokenAt and Reason name
// that problem's sequence and what it is.
type UnitReport struct {
	Unit     string      `json:"unit"`
	Events   int         `json:"events"`
	Head     events.Hash `json:"head"`
	OK       bool        `json:"ok"`
	Good     int         `json:"good"`
	BrokenAt uint64      `json:"broken_at,omitempty"`
	Reason   string      `json:"reason,omitempty"`
}

// broken notes a problem of the unit's chain at seq, the first one of it
// if good events came before it.
func (u *UnitReport) broken(good int, seq uint64, reason string) {
	if u.OK {
		u.OK, u.Good, u.BrokenAt, u.Reason = false, good, seq, reason
	}
}

// Report is the result of a verification.
type Report struct {
	Units        []UnitReport `json:"units"`
	Events       int          `json:"events"`
	Blobs        int          `json:"blobs"`         // distinct blobs referenced
	BlobsChecked int          `json:"blobs_checked"` // re-read and re-hashed
	BlobBytes    int64        `json:"blob_bytes"`
	Problems     []Problem    `json:"problems"`

	Checkpoints *CheckpointReport `json:"checkpoints,omitempty"` // nil if not checked
}

// OK reports whether nothing was found wrong.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Options tune a verification.
type Options struct {
	Unit   string  // only this unit; all if empty
	Sample float64 // share of blobs to re-hash, (0, 1]; 1 (all) if 0
	NoBlob bool    // chains only
	Seed   uint64  // for the sample (0: from the clock)
	// Progress, if set, is called after each blob checked.
	Progress func(done, total int)

	// Checkpoints, if set, are checked against the ledger (not with Unit):
	// signatures with CheckpointKey (a note verifier key; not checked if
	// empty), each consistent with the next, the latest against the events.
	Checkpoints   CheckpointLog
	CheckpointKey string
	// WitnessKeys, if any, are the trusted witnesses' verifier keys: the
	// cosignatures read from Cosignatures are checked, and with
	// WitnessQuorum > 0 a checkpoint matching the ledger must be
	// cosigned by that many of them (a "witness" problem otherwise).
	Cosignatures  CosignatureLog
	WitnessKeys   []string
	WitnessQuorum int
}

// Run verifies the ledger's chains and the blobs they reference.
// Problems are reported in the Report, not as errors; Run returns an error
// only if it could not do its work (a store unreachable).
func Run(ctx context.Context, l Ledger, blobs blobstore.Store, opt Options) (*Report, error) {
	rep := &Report{Units: []UnitReport{}, Problems: []Problem{}}
	units := []string{opt.Unit}
	if opt.Unit == "" {
		var err error
		if units, err = l.Units(ctx); err != nil {
			return nil, fmt.Errorf("verify: list units: %w", err)
		}
	}
	type ref struct {
		unit, event string
		seq         uint64
	}
	refs := map[string]ref{} // blob -> first event naming it
	var order []string
	cps, err := readCheckpoints(ctx, opt)
	if err != nil {
		return nil, err
	}
	cosigs, err := readCosignatures(ctx, opt)
	if err != nil {
		return nil, err
	}
	var leaves []leaf
	for _, u := range units {
		recs, hashErrs, err := readChain(ctx, l, u)
		var undecodable *events.UndecodableError
		if errors.As(err, &undecodable) && recs != nil {
			// A history that stops at a message it cannot decode: check
			// the events before it, and report it as their chain's end.
			recs, hashErrs = append(recs, events.Record{Seq: undecodable.Seq}), append(hashErrs, undecodable)
		} else if errors.Is(err, events.ErrNotFound) || errors.Is(err, events.ErrInvalid) {
			rep.Problems = append(rep.Problems, Problem{Kind: "read", Unit: u, Msg: err.Error()})
			ur := UnitReport{Unit: u}
			ur.broken(0, 0, err.Error())
			rep.Units = append(rep.Units, ur)
			continue
		} else if err != nil {
			return nil, fmt.Errorf("verify: unit %s: %w", u, err)
		}
		ur := UnitReport{Unit: u, OK: true}
		leaves = slices.Grow(leaves, len(recs))
		var prev events.Hash
		for k, r := range recs {
			ev := r.Event
			if ev == nil { // does not decode: not an event of the chain
				msg := hashErrs[k].Error()
				ur.broken(ur.Events, r.Seq, msg)
				rep.Problems = append(rep.Problems, Problem{Kind: "chain", Unit: u, Seq: r.Seq, Msg: msg})
				var ue *events.UndecodableError
				if errors.As(hashErrs[k], &ue) { // checkpoints hold every message, this one as its digest
					leaves = append(leaves, leaf{seq: r.Seq, unit: u, hash: ue.Digest})
				}
				continue
			}
			ur.Events++
			if err := hashErrs[k]; err != nil {
				ur.broken(ur.Events-1, r.Seq, err.Error())
				rep.Problems = append(rep.Problems, Problem{Kind: "chain", Unit: u, Seq: r.Seq, Event: ev.ID.String(), Msg: err.Error()})
			} else if ev.Prev != prev {
				msg := fmt.Sprintf("links to previous hash %q, but the previous event's hash is %q (an event was inserted, removed or rewritten)", ev.Prev, prev)
				ur.broken(ur.Events-1, r.Seq, msg)
				rep.Problems = append(rep.Problems, Problem{Kind: "chain", Unit: u, Seq: r.Seq, Event: ev.ID.String(), Msg: msg})
			}
			if ev.Unit != u {
				msg := fmt.Sprintf("event names unit %q but is stored under %q", ev.Unit, u)
				ur.broken(ur.Events-1, r.Seq, msg)
				rep.Problems = append(rep.Problems, Problem{Kind: "chain", Unit: u, Seq: r.Seq, Event: ev.ID.String(), Msg: msg})
			}
			prev = ev.Hash
			leaves = append(leaves, leaf{seq: r.Seq, unit: u, hash: ev.Hash})
			for _, a := range ev.Attachments {
				if _, ok := refs[a.SHA256]; !ok {
					refs[a.SHA256] = ref{unit: u, event: ev.ID.String(), seq: r.Seq}
					order = append(order, a.SHA256)
				}
			}
		}
		ur.Head = prev
		if ur.OK {
			ur.Good = ur.Events
		}
		rep.Events += ur.Events
		rep.Units = append(rep.Units, ur)
	}
	checkCheckpoints(rep, cps, cosigs, leaves, opt)
	rep.Blobs = len(order)
	if opt.NoBlob || blobs == nil {
		return rep, nil
	}
	if opt.Sample > 0 && opt.Sample < 1 {
		seed := opt.Seed
		if seed == 0 {
			seed = uint64(time.Now().UnixNano())
		}
		rng := rand.New(rand.NewPCG(seed, 1))
		n := max(1, int(float64(len(order))*opt.Sample+0.5))
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		order = order[:min(n, len(order))]
		slices.Sort(order)
	}
	// Re-hash on all cores, then report in order. Hashing is the bottleneck
	// when the blobs come from the page cache; from a disk or over the
	// network a blob's worker also waits, so there are two workers a core
	// for the reads of one to overlap the hashing of another.
	type result struct {
		size      int64
		kind, msg string
		fatal     error
	}
	results := make([]result, len(order))
	next := make(chan int)
	var done sync.WaitGroup
	var mu sync.Mutex
	checked := 0
	for range min(2*runtime.GOMAXPROCS(0), max(1, len(order))) {
		done.Add(1)
		go func() {
			defer done.Done()
			for i := range next {
				h, res := order[i], &results[i]
				if r, err := blobstore.ParseRef(h); err != nil {
					res.kind, res.msg = "blob_corrupt", "the event names a malformed digest"
				} else {
					info, err := blobstore.Verify(ctx, blobs, r)
					res.size = info.Size
					switch {
					case errors.Is(err, blobstore.ErrNotFound):
						res.kind, res.msg = "blob_missing", "referenced by the ledger but not in the blob store"
					case errors.Is(err, blobstore.ErrCorrupt):
						res.kind, res.msg = "blob_corrupt", "stored bytes do not match their digest: "+err.Error()
					case err != nil:
						res.fatal = fmt.Errorf("verify: blob %s: %w", h, err)
					}
				}
				if opt.Progress != nil {
					mu.Lock()
					checked++
					opt.Progress(checked, len(order))
					mu.Unlock()
				}
			}
		}()
	}
feed:
	for i := range order {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	done.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i, res := range results {
		if res.fatal != nil {
			return nil, res.fatal
		}
		if res.kind != "" {
			where := refs[order[i]]
			rep.Problems = append(rep.Problems, Problem{Kind: res.kind, Unit: where.unit, Seq: where.seq, Event: where.event, Blob: order[i], Msg: res.msg})
			if res.kind == "blob_missing" {
				continue
			}
		}
		rep.BlobsChecked++
		rep.BlobBytes += res.size
	}
	return rep, nil
}

// readChain reads a unit's chain and recomputes each event's hash: the
// records in ledger order and, for each, nil or the error of its hash. A
// message that does not decode is a record without an event and an
// *events.UndecodableError (from the stored ledger, which reads on past
// it), or the end of the read: History's *events.UndecodableError with the
// events before it.
func readChain(ctx context.Context, l Ledger, unit string) ([]events.Record, []error, error) {
	if sl, ok := l.(StoredLedger); ok {
		return checkStored(ctx, sl, unit)
	}
	recs, err := l.History(ctx, unit, time.Time{})
	if err != nil {
		return recs, verifyHashes(recs), err
	}
	return recs, verifyHashes(recs), nil
}

// storedBatch is how many stored events a worker checks at a time.
const storedBatch = 256

// checkStored reads a unit's chain as stored and checks every event with
// events.CheckStored on all cores while the rest is read. A message that
// does not decode gives a record without an event and an
// *events.UndecodableError.
func checkStored(ctx context.Context, l StoredLedger, unit string) ([]events.Record, []error, error) {
	type batch struct {
		seqs []uint64
		data [][]byte
		recs []events.Record
		errs []error
	}
	workers := runtime.GOMAXPROCS(0)
	jobs := make(chan *batch, 2*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range jobs {
				b.recs, b.errs = make([]events.Record, len(b.data)), make([]error, len(b.data))
				for k, data := range b.data {
					ev, err := events.CheckStored(data)
					b.recs[k], b.errs[k] = events.Record{Seq: b.seqs[k], Event: ev}, err
				}
			}
		}()
	}
	var batches []*batch
	cur := &batch{}
	flush := func() {
		batches = append(batches, cur)
		jobs <- cur
		cur = &batch{}
	}
	err := l.StoredHistory(ctx, unit, func(seq uint64, data []byte) error {
		cur.seqs, cur.data = append(cur.seqs, seq), append(cur.data, data)
		if len(cur.data) == storedBatch {
			flush()
		}
		return nil
	})
	if len(cur.data) > 0 {
		flush()
	}
	close(jobs)
	wg.Wait()
	if err != nil {
		return nil, nil, err
	}
	var recs []events.Record
	var errs []error
	for _, b := range batches {
		for k, err := range b.errs {
			if err != nil && b.recs[k].Event == nil { // does not decode: Run reports it and goes on
				b.errs[k] = &events.UndecodableError{Seq: b.seqs[k], Err: err, Digest: events.StoredDigest(b.data[k])}
			}
		}
		recs, errs = append(recs, b.recs...), append(errs, b.errs...)
	}
	return recs, errs, nil
}

// verifyHashes recomputes every event's hash, on all cores: it is the
// costly part of checking a chain (the links are then checked in order).
func verifyHashes(recs []events.Record) []error {
	errs := make([]error, len(recs))
	parallel.Chunks(len(recs), 256, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			errs[k] = recs[k].Event.VerifyHash()
		}
	})
	return errs
}

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
	Devices     *DeviceReport     `json:"devices,omitempty"`     // nil if nothing was signed and no key registered
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
	cps, err := readCheckpoints(ctx, opt)
	if err != nil {
		return nil, err
	}
	cosigs, err := readCosignatures(ctx, opt)
	if err != nil {
		return nil, err
	}
	c := &chains{rep: rep, refs: map[string]blobRef{}, devices: events.NewDeviceRegistry()}
	for _, u := range units {
		if err := c.checkUnit(ctx, l, u); err != nil {
			return nil, err
		}
	}
	if err := c.checkDevices(ctx, l); err != nil {
		return nil, err
	}
	checkCheckpoints(rep, cps, cosigs, c.leaves, opt)
	rep.Blobs = len(c.order)
	if opt.NoBlob || blobs == nil {
		return rep, nil
	}
	order := sample(c.order, opt)
	results, err := checkBlobs(ctx, blobs, order, opt.Progress)
	if err != nil {
		return nil, err
	}
	for i, res := range results {
		if res.kind != "" {
			where := c.refs[order[i]]
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

// blobRef is the first event naming a blob.
type blobRef struct {
	unit, event string
	seq         uint64
}

// chains collects, unit by unit, the chains' reports and problems, the
// checkpoint tree's leaves and the blobs the events name.
type chains struct {
	rep    *Report
	refs   map[string]blobRef // blob -> first event naming it
	order  []string           // the blobs, in the order first named
	leaves []leaf

	devices  *events.DeviceRegistry // from the users chain
	sawUsers bool                   // the users chain was read with the units
	signed   []events.Record        // submissions that may carry a device signature
}

// checkUnit reads and checks one unit's chain: each event's hash, its
// link to the one before, the unit it names. A unit that cannot be read
// as a chain is a "read" problem; an error is returned only if the ledger
// could not be read at all.
func (c *chains) checkUnit(ctx context.Context, l Ledger, u string) error {
	recs, hashErrs, err := readChain(ctx, l, u)
	var undecodable *events.UndecodableError
	if errors.As(err, &undecodable) && recs != nil {
		// A history that stops at a message it cannot decode: check
		// the events before it, and report it as their chain's end.
		recs, hashErrs = append(recs, events.Record{Seq: undecodable.Seq}), append(hashErrs, undecodable)
	} else if errors.Is(err, events.ErrNotFound) || errors.Is(err, events.ErrInvalid) {
		c.rep.Problems = append(c.rep.Problems, Problem{Kind: "read", Unit: u, Msg: err.Error()})
		ur := UnitReport{Unit: u}
		ur.broken(0, 0, err.Error())
		c.rep.Units = append(c.rep.Units, ur)
		return nil
	} else if err != nil {
		return fmt.Errorf("verify: unit %s: %w", u, err)
	}
	ur := UnitReport{Unit: u, OK: true}
	c.leaves = slices.Grow(c.leaves, len(recs))
	var prev events.Hash
	for k, r := range recs {
		if r.Event == nil { // does not decode: not an event of the chain
			c.undecodable(&ur, u, r.Seq, hashErrs[k])
			continue
		}
		c.checkEvent(&ur, u, r, hashErrs[k], prev)
		prev = r.Event.Hash
	}
	if u == events.UsersChain {
		c.sawUsers = true
		for _, r := range recs {
			c.applyDevice(r)
		}
	}
	ur.Head = prev
	if ur.OK {
		ur.Good = ur.Events
	}
	c.rep.Events += ur.Events
	c.rep.Units = append(c.rep.Units, ur)
	return nil
}

// undecodable notes a message of the chain that is not an event.
func (c *chains) undecodable(ur *UnitReport, u string, seq uint64, err error) {
	msg := err.Error()
	ur.broken(ur.Events, seq, msg)
	c.rep.Problems = append(c.rep.Problems, Problem{Kind: "chain", Unit: u, Seq: seq, Msg: msg})
	var ue *events.UndecodableError
	if errors.As(err, &ue) { // checkpoints hold every message, this one as its digest
		c.leaves = append(c.leaves, leaf{seq: seq, unit: u, hash: ue.Digest})
	}
}

// checkEvent checks one event of u's chain (hashErr is its hash's
// verdict, prev the hash of the event before it) and notes its leaf and
// the blobs it names.
func (c *chains) checkEvent(ur *UnitReport, u string, r events.Record, hashErr error, prev events.Hash) {
	ev := r.Event
	ur.Events++
	problem := func(msg string) {
		ur.broken(ur.Events-1, r.Seq, msg)
		c.rep.Problems = append(c.rep.Problems, Problem{Kind: "chain", Unit: u, Seq: r.Seq, Event: ev.ID.String(), Msg: msg})
	}
	if hashErr != nil {
		problem(hashErr.Error())
	} else if ev.Prev != prev {
		problem(fmt.Sprintf("links to previous hash %q, but the previous event's hash is %q (an event was inserted, removed or rewritten)", ev.Prev, prev))
	}
	if ev.Unit != u {
		problem(fmt.Sprintf("event names unit %q but is stored under %q", ev.Unit, u))
	}
	c.leaves = append(c.leaves, leaf{seq: r.Seq, unit: u, hash: ev.Hash})
	if deviceProbe(ev) {
		c.signed = append(c.signed, r)
	}
	for _, a := range ev.Attachments {
		if _, ok := c.refs[a.SHA256]; !ok {
			c.refs[a.SHA256] = blobRef{unit: u, event: ev.ID.String(), seq: r.Seq}
			c.order = append(c.order, a.SHA256)
		}
	}
}

// sample returns the blobs to re-hash: all of them, or with 0 < Sample < 1
// that share of them (at least one), drawn with Seed and sorted.
func sample(order []string, opt Options) []string {
	if opt.Sample <= 0 || opt.Sample >= 1 {
		return order
	}
	seed := opt.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	n := max(1, int(float64(len(order))*opt.Sample+0.5))
	order = slices.Clone(order)
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	order = order[:min(n, len(order))]
	slices.Sort(order)
	return order
}

// blobResult is one blob's verdict: its size, and a problem kind and
// message if it is missing or corrupt.
type blobResult struct {
	size      int64
	kind, msg string
}

// checkBlobs re-hashes the blobs of order on all cores and returns their
// verdicts in order; progress, if set, is told of each. Hashing is the
// bottleneck when the blobs come from the page cache; from a disk or over
// the network a blob's worker also waits, so there are two workers a core
// for the reads of one to overlap the hashing of another. An error is a
// store that could not be read, or ctx's.
func checkBlobs(ctx context.Context, blobs blobstore.Store, order []string, progress func(done, total int)) ([]blobResult, error) {
	results := make([]blobResult, len(order))
	fatal := make([]error, len(order))
	next := make(chan int)
	var done sync.WaitGroup
	var mu sync.Mutex
	checked := 0
	for range min(2*runtime.GOMAXPROCS(0), max(1, len(order))) {
		done.Go(func() {
			for i := range next {
				results[i], fatal[i] = checkBlob(ctx, blobs, order[i])
				if progress != nil {
					mu.Lock()
					checked++
					progress(checked, len(order))
					mu.Unlock()
				}
			}
		})
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
	for _, err := range fatal {
		if err != nil {
			return nil, err
		}
	}
	return results, nil
}

// checkBlob re-reads and re-hashes one blob.
func checkBlob(ctx context.Context, blobs blobstore.Store, h string) (blobResult, error) {
	r, err := blobstore.ParseRef(h)
	if err != nil {
		return blobResult{kind: "blob_corrupt", msg: "the event names a malformed digest"}, nil
	}
	info, err := blobstore.Verify(ctx, blobs, r)
	res := blobResult{size: info.Size}
	switch {
	case errors.Is(err, blobstore.ErrNotFound):
		res.kind, res.msg = "blob_missing", "referenced by the ledger but not in the blob store"
	case errors.Is(err, blobstore.ErrCorrupt):
		res.kind, res.msg = "blob_corrupt", "stored bytes do not match their digest: "+err.Error()
	case err != nil:
		return res, fmt.Errorf("verify: blob %s: %w", h, err)
	}
	return res, nil
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

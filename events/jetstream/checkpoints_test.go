package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"taizhang/events"
	"taizhang/events/checkpoint"
	tzjs "taizhang/events/jetstream"
	"taizhang/internal/testenv"
)

type cpKey struct {
	signer note.Signer
	vkey   string
}

func newCPKey(t testing.TB) cpKey {
	t.Helper()
	skey, vkey, err := checkpoint.GenerateKey(checkpoint.Origin(tzjs.DefaultStream))
	if err != nil {
		t.Fatal(err)
	}
	s, err := checkpoint.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return cpKey{s, vkey}
}

func startCP(t testing.TB, l *tzjs.Ledger, k cpKey, interval time.Duration) *tzjs.Checkpointer {
	t.Helper()
	c, err := tzjs.StartCheckpointer(context.Background(), l, tzjs.CheckpointConfig{Signer: k.signer, VerifierKey: k.vkey, Interval: interval})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// ledgerRecords reads the whole ledger in stream order.
func ledgerRecords(t *testing.T, l *tzjs.Ledger) []events.Record {
	t.Helper()
	ctx := context.Background()
	last, err := l.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var recs []events.Record
	if last == 0 {
		return nil
	}
	errDone := errors.New("done")
	err = l.Follow(ctx, 1, func(r events.Record) error {
		recs = append(recs, r)
		if r.Seq == last {
			return errDone
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		t.Fatal(err)
	}
	return recs
}

// libRoot is the root of the first n records' hashes, computed with the
// library's compact range, independently of package checkpoint.
func libRoot(t *testing.T, recs []events.Record, n uint64) []byte {
	t.Helper()
	h := rfc6962.DefaultHasher
	f := &compact.RangeFactory{Hash: h.HashChildren}
	r := f.NewEmptyRange(0)
	for i := uint64(0); i < n; i++ {
		if recs[i].Seq != i+1 {
			t.Fatalf("record %d has seq %d", i, recs[i].Seq)
		}
		if err := r.Append(h.HashLeaf(recs[i].Event.Hash[:]), nil); err != nil {
			t.Fatal(err)
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		return h.EmptyRoot()
	}
	return root
}

// libHeads is every unit's head as of the first n records.
func libHeads(recs []events.Record, n uint64) map[string]checkpoint.UnitHead {
	heads := map[string]checkpoint.UnitHead{}
	for _, r := range recs[:n] {
		h := heads[r.Event.Unit]
		heads[r.Event.Unit] = checkpoint.UnitHead{Unit: r.Event.Unit, Head: r.Event.Hash, Count: h.Count + 1}
	}
	return heads
}

// checkAll checks a checkpoint list against the ledger's records: each
// verifies, sizes strictly increase (never two checkpoints of one size),
// each root and unit heads root is the one recomputed from the events, and
// consecutive checkpoints are proved consistent by the library's verifier.
func checkAll(t *testing.T, c *tzjs.Checkpointer, list []checkpoint.Stored, recs []events.Record) {
	t.Helper()
	ctx := context.Background()
	for i, s := range list {
		if s.Problem != "" {
			t.Fatalf("checkpoint %d: %s", s.Seq, s.Problem)
		}
		if string(libRoot(t, recs, s.Size)) != string(s.Root[:]) {
			t.Fatalf("checkpoint %d: root %s differs from the library's over the events", s.Seq, s.Root)
		}
		heads := libHeads(recs, s.Size)
		var sorted []checkpoint.UnitHead
		for _, h := range heads {
			sorted = append(sorted, h)
		}
		ref := checkpointHeadsRoot(sorted)
		if ref != s.UnitsRoot || s.Units != uint64(len(heads)) {
			t.Fatalf("checkpoint %d: unit heads root %s (%d units), recomputed %s (%d)", s.Seq, s.UnitsRoot, s.Units, ref, len(heads))
		}
		if i == 0 {
			continue
		}
		prev := list[i-1]
		if s.Size <= prev.Size {
			t.Fatalf("checkpoint %d has size %d after checkpoint %d of size %d", s.Seq, s.Size, prev.Seq, prev.Size)
		}
		p, err := c.Consistency(ctx, prev.Size, s.Size)
		if err != nil {
			t.Fatal(err)
		}
		hs := make([][]byte, len(p.Hashes))
		for j := range p.Hashes {
			hs[j] = p.Hashes[j][:]
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, prev.Size, s.Size, hs, prev.Root[:], s.Root[:]); err != nil {
			t.Fatalf("checkpoints %d -> %d: %v", prev.Seq, s.Seq, err)
		}
	}
}

// checkpointHeadsRoot sorts heads and computes their root with the
// library's compact range.
func checkpointHeadsRoot(heads []checkpoint.UnitHead) checkpoint.Hash {
	for i := range heads { // insertion sort: few units
		for j := i; j > 0 && heads[j].Unit < heads[j-1].Unit; j-- {
			heads[j], heads[j-1] = heads[j-1], heads[j]
		}
	}
	h := rfc6962.DefaultHasher
	f := &compact.RangeFactory{Hash: h.HashChildren}
	r := f.NewEmptyRange(0)
	for _, u := range heads {
		_ = r.Append(h.HashLeaf(u.Leaf()), nil)
	}
	root, _ := r.GetRootHash(nil)
	if len(heads) == 0 {
		root = h.EmptyRoot()
	}
	return checkpoint.Hash(root)
}

func TestCheckpointerUnderConcurrentAppends(t *testing.T) {
	ctx := context.Background()
	n := testenv.StartNATS(t)
	l := openLedger(t, n)
	k := newCPKey(t)
	c := startCP(t, l, k, 20*time.Millisecond)

	units := []string{"dongcun", "xicun", "nancun", "beicun"}
	for _, u := range units {
		register(t, l, u)
	}
	stop := make(chan struct{})
	var onDemand sync.WaitGroup
	onDemand.Go(func() { // checkpoints on demand while appends run
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, _, err := c.Checkpoint(ctx); err != nil {
				t.Error(err)
				return
			}
		}
	})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for i := 0; i < 25; i++ {
				submit(t, l, units[g%len(units)], uuid.New(), fmt.Sprintf("g%d-%d", g, i))
			}
		})
	}
	wg.Wait()
	close(stop)
	onDemand.Wait()

	last, err := l.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	final, created, err := c.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if final.Size != last {
		t.Fatalf("final checkpoint of %d events, the ledger has %d (created %v)", final.Size, last, created)
	}
	latest, err := c.Latest(ctx)
	if err != nil || latest.Seq != final.Seq {
		t.Fatalf("latest %d (%v), want %d", latest.Seq, err, final.Seq)
	}
	list, err := c.List(ctx, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) < 2 {
		t.Fatalf("only %d checkpoints", len(list))
	}
	recs := ledgerRecords(t, l)
	checkAll(t, c, list, recs)

	// Inclusion proofs for several events, checked with the library's
	// verifier against the final checkpoint's root.
	for _, seq := range []uint64{1, 2, 5, last / 2, last - 1, last} {
		p, err := c.Inclusion(ctx, seq, final.Size)
		if err != nil {
			t.Fatal(err)
		}
		if p.EventHash != recs[seq-1].Event.Hash || p.Root != final.Root {
			t.Fatalf("seq %d: proof for %s under %s", seq, p.EventHash, p.Root)
		}
		hs := make([][]byte, len(p.Hashes))
		for j := range p.Hashes {
			hs[j] = p.Hashes[j][:]
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, seq-1, final.Size, rfc6962.DefaultHasher.HashLeaf(recs[seq-1].Event.Hash[:]), hs, final.Root[:]); err != nil {
			t.Fatalf("inclusion of seq %d: %v", seq, err)
		}
		// and in an earlier checkpoint that holds it
		for _, s := range list {
			if s.Size >= seq {
				p, err := c.Inclusion(ctx, seq, s.Size)
				if err != nil {
					t.Fatal(err)
				}
				if err := p.Verify(s.Root); err != nil {
					t.Fatalf("seq %d in checkpoint %d: %v", seq, s.Seq, err)
				}
				break
			}
		}
	}
	// Each unit's head, proved against the unit heads root.
	for _, u := range units {
		up, err := c.UnitProof(ctx, u, final.Size)
		if err != nil {
			t.Fatal(err)
		}
		want := libHeads(recs, final.Size)[u]
		if up.UnitHead != want || up.Verify(final.UnitsRoot) != nil {
			t.Fatalf("unit %s: %+v, want %+v", u, up.UnitHead, want)
		}
	}
	// Every appended message carries its event's hash in a header.
	m, err := l.Stream().GetMsg(ctx, last)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Header.Get("Tz-Hash"); got != recs[last-1].Event.Hash.String() {
		t.Fatalf("Tz-Hash %q, want %s", got, recs[last-1].Event.Hash)
	}
	// Bad requests.
	if _, err := c.Inclusion(ctx, last+1, final.Size); !errors.Is(err, events.ErrInvalid) {
		t.Fatalf("seq beyond the tree: %v", err)
	}
	if _, err := c.Inclusion(ctx, 1, last+5); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("size beyond the ledger: %v", err)
	}
	if _, err := c.Consistency(ctx, 5, 3); !errors.Is(err, events.ErrInvalid) {
		t.Fatalf("from > to: %v", err)
	}
	if _, err := c.UnitProof(ctx, "nope", 0); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("unknown unit: %v", err)
	}
}

// TestTwoCheckpointersOneStream runs two checkpointers (two ledgers, two
// connections: two serve processes) on one stream, both ticking fast and
// checkpointing on demand while events are appended: they never write two
// checkpoints of the same size, and what they write is one consistent log.
func TestTwoCheckpointersOneStream(t *testing.T) {
	ctx := context.Background()
	n := testenv.StartNATS(t)
	l1, l2 := openLedger(t, n), openLedger(t, n)
	k := newCPKey(t)
	c1 := startCP(t, l1, k, 2*time.Millisecond)
	c2 := startCP(t, l2, k, 3*time.Millisecond)
	register(t, l1, "dongcun")
	register(t, l2, "xicun")

	var wg sync.WaitGroup
	stop := make(chan struct{})
	made := [2]int{}
	for i, c := range []*tzjs.Checkpointer{c1, c2} {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, created, err := c.Checkpoint(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if created {
					made[i]++
				}
			}
		})
	}
	var writers sync.WaitGroup
	for g := 0; g < 4; g++ {
		writers.Go(func() {
			l, unit := l1, "dongcun"
			if g%2 == 1 {
				l, unit = l2, "xicun"
			}
			for i := 0; i < 30; i++ {
				submit(t, l, unit, uuid.New(), fmt.Sprintf("g%d-%d", g, i))
			}
		})
	}
	writers.Wait()
	close(stop)
	wg.Wait()
	final, _, err := c2.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last, _ := l1.LastSeq(ctx)
	if final.Size != last {
		t.Fatalf("final checkpoint of %d, ledger %d", final.Size, last)
	}
	list, err := c1.List(ctx, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d checkpoints over %d events; on demand: %d by the first, %d by the second", len(list), last, made[0], made[1])
	checkAll(t, c1, list, ledgerRecords(t, l1))
	// Paging.
	page, err := c2.List(ctx, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != min(3, len(list)-1) || page[0].Seq != 2 {
		t.Fatalf("page from 2: %d entries, first %d", len(page), page[0].Seq)
	}
}

// TestCheckpointerReadsBodiesWithoutHeader: messages without the Tz-Hash
// header (written before it existed, or by hand) are decoded instead, and
// the follower returns to headers only after a run of messages with it.
func TestCheckpointerReadsBodiesWithoutHeader(t *testing.T) {
	ctx := context.Background()
	n := testenv.StartNATS(t)
	l := openLedger(t, n)
	j, err := js.New(n.Connect(t))
	if err != nil {
		t.Fatal(err)
	}
	var prev events.Hash
	raw := func(withHeader bool, count int) {
		var acks []js.PubAckFuture
		for i := 0; i < count; i++ {
			ev := &events.Event{ID: uuid.New(), Type: events.TypeUnitRegistered, Schema: 1, Unit: "raw",
				Actor: admin, Client: events.ClientAPI, OccurredAt: time.Now(), RecordedAt: time.Now()}
			if err := ev.Seal(prev); err != nil {
				t.Fatal(err)
			}
			prev = ev.Hash
			data, _ := events.Encode(ev)
			m := &nats.Msg{Subject: "tz.ev.raw", Data: data, Header: nats.Header{}}
			if withHeader {
				m.Header.Set("Tz-Hash", ev.Hash.String())
			}
			a, err := j.PublishMsgAsync(m)
			if err != nil {
				t.Fatal(err)
			}
			acks = append(acks, a)
		}
		for _, a := range acks {
			select {
			case <-a.Ok():
			case err := <-a.Err():
				t.Fatal(err)
			}
		}
	}
	raw(false, 3)
	k := newCPKey(t)
	early := startCP(t, l, k, 0) // follows live from here
	register(t, l, "dongcun")
	raw(true, 1100)
	raw(false, 2)
	register(t, l, "xicun")
	late := startCP(t, l, k, 0) // catches up from the start
	recs := ledgerRecords(t, l)
	for _, c := range []*tzjs.Checkpointer{early, late} {
		s, _, err := c.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.Size != uint64(len(recs)) || string(libRoot(t, recs, s.Size)) != string(s.Root[:]) {
			t.Fatalf("checkpoint of %d with root %s; %d events", s.Size, s.Root, len(recs))
		}
	}
}

// TestCheckpointerRefusesForeignKeyAndFork: a writer with another key does
// not interleave its checkpoints; garbage on the stream is passed over; a
// validly signed checkpoint that disagrees with the ledger stops writing.
func TestCheckpointerRefusesForeignKeyAndFork(t *testing.T) {
	ctx := context.Background()
	n := testenv.StartNATS(t)
	l := openLedger(t, n)
	k := newCPKey(t)
	c := startCP(t, l, k, 0)
	register(t, l, "dongcun")
	first, created, err := c.Checkpoint(ctx)
	if err != nil || !created || first.Seq != 1 || first.Size != 1 {
		t.Fatalf("first checkpoint: %+v %v %v", first, created, err)
	}
	if again, created, err := c.Checkpoint(ctx); err != nil || created || again.Seq != 1 {
		t.Fatalf("nothing new: %+v %v %v", again, created, err)
	}

	other := startCP(t, l, newCPKey(t), 0)
	register(t, l, "xicun")
	if _, _, err := other.Checkpoint(ctx); !errors.Is(err, events.ErrConflict) {
		t.Fatalf("another key: %v", err)
	}

	j := l.JetStream()
	if _, err := j.Publish(ctx, tzjs.DefaultCheckpointSubject, []byte("not a checkpoint")); err != nil {
		t.Fatal(err)
	}
	s, created, err := c.Checkpoint(ctx)
	if err != nil || !created || s.Seq != 3 || s.Size != 2 {
		t.Fatalf("after garbage: %+v %v %v", s, created, err)
	}
	list, _ := c.List(ctx, 1, 0)
	if len(list) != 3 || list[1].Problem == "" || list[0].Problem != "" || list[2].Problem != "" {
		t.Fatalf("list: %+v", list)
	}

	// A checkpoint signed with the right key but a root the ledger does not have.
	forged := s.Checkpoint
	forged.Size = 2
	forged.Root[0] ^= 0xff
	msg, err := checkpoint.Sign(forged, k.signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Publish(ctx, tzjs.DefaultCheckpointSubject, msg); err != nil {
		t.Fatal(err)
	}
	register(t, l, "nancun")
	if _, _, err := c.Checkpoint(ctx); !errors.Is(err, events.ErrConflict) {
		t.Fatalf("after a forged checkpoint: %v", err)
	}
}

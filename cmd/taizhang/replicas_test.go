package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"taizhang/events/checkpoint"
	tzjs "taizhang/events/jetstream"
	"taizhang/gate"
	"taizhang/httpserver"
	"taizhang/internal/testenv"
)

// replicaStatus reads a replica's GET /api/v1/status.
func replicaStatus(t *testing.T, s *server) httpserver.Status {
	t.Helper()
	r := s.get(t, s.Admin, "/api/v1/status")
	if r.Status != 200 {
		t.Fatalf("status: %d %s", r.Status, r.Body)
	}
	var st httpserver.Status
	r.decode(t, &st)
	return st
}

func applied(st httpserver.Status, name string) uint64 {
	for _, p := range st.Projections {
		if p.Name == name {
			return p.Applied
		}
	}
	return 0
}

// getWith GETs path with one extra request header.
func (s *server) getWith(t *testing.T, token, path, header, value string) reply {
	t.Helper()
	return s.doWith(t, token, http.MethodGet, path, "", nil, http.Header{header: {value}})
}

// storedCheckpoint is one message of the checkpoint stream, read raw.
type storedCheckpoint struct {
	seq    uint64
	writer string
	cp     checkpoint.Checkpoint
}

// readCheckpoints reads the whole checkpoint stream from the cluster,
// checking each signature with vkey.
func readCheckpoints(t *testing.T, j js.JetStream, vkey string) []storedCheckpoint {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := j.Stream(ctx, tzjs.DefaultCheckpointStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v := mustVerifier(t, vkey)
	var out []storedCheckpoint
	for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("checkpoint %d: %v", seq, err)
		}
		cp, err := checkpoint.Open(m.Data, v)
		if err != nil {
			t.Fatalf("checkpoint %d does not verify: %v", seq, err)
		}
		out = append(out, storedCheckpoint{seq: seq, writer: m.Header.Get(tzjs.HdrWriter), cp: cp})
	}
	return out
}

// checkLinear checks that the checkpoint chain never forks: each
// checkpoint is larger than the one before it and consistent with it, as
// proved by the replica's consistency proof and checked with the library.
func checkLinear(t *testing.T, s *server, cps []storedCheckpoint) {
	t.Helper()
	for i := 1; i < len(cps); i++ {
		a, b := cps[i-1].cp, cps[i].cp
		if b.Size <= a.Size {
			t.Fatalf("checkpoint %d (size %d) does not grow past checkpoint %d (size %d)", cps[i].seq, b.Size, cps[i-1].seq, a.Size)
		}
		var p checkpoint.ConsistencyProof
		r := s.get(t, s.Admin, fmt.Sprintf("/api/v1/proofs/consistency?from=%d&to=%d", a.Size, b.Size))
		if r.Status != 200 {
			t.Fatalf("consistency %d -> %d: %d %s", a.Size, b.Size, r.Status, r.Body)
		}
		r.decode(t, &p)
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, a.Size, b.Size, proofBytes(p.Hashes), a.Root[:], b.Root[:]); err != nil {
			t.Fatalf("checkpoint %d is not consistent with checkpoint %d: %v", cps[i].seq, cps[i-1].seq, err)
		}
	}
}

// TestReplicasOnCluster runs two serve replicas on one 3-node NATS cluster
// (R3 streams) and one MinIO bucket: a submission repeated through the
// other replica is one event; a write through A is read through B with
// min_seq; both reach the same status digest; exactly one holds the
// checkpoint lease and the checkpoint chain stays linear; when A stops, B
// takes the lease over and keeps checkpointing.
func TestReplicasOnCluster(t *testing.T) {
	c := testenv.StartCluster(t, 3)
	m := testenv.MinIO(t)
	keyDir := t.TempDir()
	skey, vkey, err := checkpoint.GenerateKey(checkpoint.Origin(tzjs.DefaultStream))
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(keyDir, "checkpoint.key")
	if err := os.WriteFile(keyFile, []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	common := append([]string{"--nats", c.URLs, "--replicas", "3", "--checkpoint-key", keyFile,
		"--checkpoint-interval", "200ms", "--lease-ttl", "3s", "--min-seq-wait", "300ms"}, minioArgs(m)...)
	a := startServer(t, "", append([]string{"--name", "replica-a"}, common...)...)
	b := startServer(t, "", append([]string{"--name", "replica-b"}, common...)...)

	nc, err := nats.Connect(c.URLs)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	j, _ := js.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	info, err := j.Stream(ctx, tzjs.DefaultStream)
	cancel()
	if err != nil || info.CachedInfo().Config.Replicas != 3 {
		t.Fatalf("ledger stream: %v %+v", err, info)
	}

	if r := a.postJSON(t, a.Admin, "/api/v1/units", map[string]any{"id": "dongcun", "name": "東村", "type": "village"}); r.Status != 201 || r.Header.Get(gate.HeaderSeq) == "" {
		t.Fatalf("register through A: %d %v %s", r.Status, r.Header, r.Body)
	}

	// One submission, sent through A and then again through B: one event.
	id := uuid.NewString()
	meta := map[string]any{"id": id, "kind": "photo", "title": "宣傳欄", "occurred_at": "2016-07-01"}
	photo := pngPhoto(t, 41)
	r1 := a.submit(t, a.Admin, "dongcun", meta, file{"a.png", photo})
	if r1.Status != 201 {
		t.Fatalf("submit through A: %d %s", r1.Status, r1.Body)
	}
	var s1, s2 submitAnswer
	r1.decode(t, &s1)
	if r1.Header.Get(gate.HeaderSeq) != strconv.FormatUint(s1.Sequence, 10) {
		t.Fatalf("201 carries %s %q, receipt says %d", gate.HeaderSeq, r1.Header.Get(gate.HeaderSeq), s1.Sequence)
	}
	r2 := b.submit(t, b.Admin, "dongcun", meta, file{"a.png", photo})
	if r2.Status != 200 {
		t.Fatalf("the same submission through B: %d %s (want 200, an idempotent repeat)", r2.Status, r2.Body)
	}
	r2.decode(t, &s2)
	if s2.ID != s1.ID || s2.Sequence != s1.Sequence || r2.Header.Get(gate.HeaderSeq) != r1.Header.Get(gate.HeaderSeq) {
		t.Fatalf("repeat through B answered %+v, first %+v", s2, s1)
	}
	n := 0
	for _, h := range b.history(t, b.Admin, "dongcun", "") {
		if h.ID.String() == id {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d events for evidence %s, want 1", n, id)
	}

	// Read your write: written through A, read through B with the 201's
	// sequence as the minimum; answered at once, with the item.
	for i := range 5 {
		w := a.submit(t, a.Admin, "dongcun", map[string]any{"kind": "activity", "title": fmt.Sprintf("集中學習 %d", i), "occurred_at": "2016-07-02"})
		if w.Status != 201 {
			t.Fatalf("submit %d through A: %d %s", i, w.Status, w.Body)
		}
		var ans submitAnswer
		w.decode(t, &ans)
		seq := w.Header.Get(gate.HeaderSeq)
		var rd reply
		if i%2 == 0 {
			rd = b.get(t, b.Admin, "/api/v1/units/dongcun/archive?min_seq="+seq)
		} else {
			rd = b.getWith(t, b.Admin, "/api/v1/units/dongcun/archive", gate.HeaderMinSeq, seq)
		}
		if rd.Status != 200 || !strings.Contains(string(rd.Body), ans.ID) {
			t.Fatalf("read %d through B with min_seq %s: %d, item %s present: %v", i, seq, rd.Status, ans.ID, strings.Contains(string(rd.Body), ans.ID))
		}
	}
	// A minimum beyond the ledger: 503 with Retry-After once the bound passes.
	last := replicaStatus(t, b).LedgerLastSeq
	far := b.get(t, b.Admin, fmt.Sprintf("/api/v1/units/dongcun/archive?min_seq=%d", last+1000))
	if far.Status != 503 || far.Header.Get("Retry-After") == "" || far.errCode(t) != "behind" || !strings.Contains(string(far.Body), "replica-b") {
		t.Fatalf("min_seq beyond the ledger: %d %v %s", far.Status, far.Header, far.Body)
	}
	if bad := b.get(t, b.Admin, "/api/v1/units/dongcun/archive?min_seq=x"); bad.Status != 400 {
		t.Fatalf("min_seq=x: %d %s", bad.Status, bad.Body)
	}
	// The CLI carries TAIZHANG_MIN_SEQ (and then the sequence of its own
	// last write) to the server.
	t.Setenv("TAIZHANG_MIN_SEQ", strconv.FormatUint(last+1000, 10))
	if code, _, errs := cli(t, b, b.Admin, "archive", "--unit", "dongcun"); code == 0 || !strings.Contains(errs, "not yet") {
		t.Fatalf("CLI with TAIZHANG_MIN_SEQ beyond the ledger: %d %q", code, errs)
	}
	t.Setenv("TAIZHANG_MIN_SEQ", strconv.FormatUint(last, 10))
	if code, out, errs := cli(t, b, b.Admin, "archive", "--unit", "dongcun"); code != 0 || !strings.Contains(out, "集中學習 4") {
		t.Fatalf("CLI with TAIZHANG_MIN_SEQ: %d %q %q", code, out, errs)
	}
	os.Unsetenv("TAIZHANG_MIN_SEQ")

	// Both replicas reach the same applied sequence and digest.
	var stA, stB httpserver.Status
	testenv.Eventually(t, 30*time.Second, func() error {
		stA, stB = replicaStatus(t, a), replicaStatus(t, b)
		la, lb := applied(stA, "archive"), applied(stB, "archive")
		if la != stA.LedgerLastSeq || lb != stB.LedgerLastSeq || la != lb {
			return fmt.Errorf("archive applied A %d of %d, B %d of %d", la, stA.LedgerLastSeq, lb, stB.LedgerLastSeq)
		}
		if stA.Digest != stB.Digest {
			return fmt.Errorf("digests differ at %d: A %s, B %s", la, stA.Digest, stB.Digest)
		}
		return nil
	})
	if stA.Replica != "replica-a" || stB.Replica != "replica-b" || stA.Digest == "" || applied(stA, "id_index") != stA.LedgerLastSeq {
		t.Fatalf("status A %+v, B %+v", stA, stB)
	}
	t.Logf("both replicas at seq %d, digest %s", stA.LedgerLastSeq, stA.Digest)

	// Exactly one replica holds the checkpoint lease, and both name it.
	var holder, other *server
	testenv.Eventually(t, 30*time.Second, func() error {
		stA, stB = replicaStatus(t, a), replicaStatus(t, b)
		la, lb := stA.CheckpointLease, stB.CheckpointLease
		if la == nil || lb == nil {
			t.Fatalf("status without checkpoint_lease: %+v %+v", stA, stB)
		}
		if la.Held == lb.Held || la.Holder != lb.Holder {
			return fmt.Errorf("lease: A %+v, B %+v", la, lb)
		}
		return nil
	})
	holder, other = a, b
	holderName := "replica-a"
	if stB.CheckpointLease.Held {
		holder, other, holderName = b, a, "replica-b"
	}
	if stA.CheckpointLease.Holder != holderName {
		t.Fatalf("lease holder named %q, want %q", stA.CheckpointLease.Holder, holderName)
	}

	// Over several checkpoint intervals, with the ledger growing: the
	// checkpoints that appear are all the holder's, and the chain is linear.
	grow := func(s *server, k int) {
		t.Helper()
		w := s.submit(t, s.Admin, "dongcun", map[string]any{"kind": "activity", "title": fmt.Sprintf("例會 %d", k), "occurred_at": "2016-07-03"})
		if w.Status != 201 {
			t.Fatalf("submit: %d %s", w.Status, w.Body)
		}
	}
	waitCheckpointOf := func(s *server, size uint64) {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, func() error {
			var cp checkpoint.Stored
			r := s.get(t, s.Admin, "/api/v1/checkpoints/latest")
			if r.Status != 200 {
				return fmt.Errorf("latest checkpoint: %d %s", r.Status, r.Body)
			}
			r.decode(t, &cp)
			if cp.Size < size {
				return fmt.Errorf("latest checkpoint has %d events, want %d", cp.Size, size)
			}
			return nil
		})
	}
	before := len(readCheckpoints(t, j, vkey))
	for k := range 4 {
		grow(other, k) // written through the replica that does not checkpoint
		waitCheckpointOf(other, replicaStatus(t, other).LedgerLastSeq)
	}
	cps := readCheckpoints(t, j, vkey)
	if len(cps)-before < 4 {
		t.Fatalf("%d checkpoints during 4 growths, want at least 4", len(cps)-before)
	}
	for _, cp := range cps[before:] {
		if cp.writer != holderName {
			t.Fatalf("checkpoint %d written by %q while %s held the lease", cp.seq, cp.writer, holderName)
		}
	}
	checkLinear(t, other, cps)

	// On demand through the replica that does not hold the lease: the
	// holder writes it.
	grow(other, 10)
	want := replicaStatus(t, other).LedgerLastSeq
	r := other.postJSON(t, other.Admin, "/api/v1/checkpoints", nil)
	var od checkpoint.Stored
	if r.Status != 201 && r.Status != 200 {
		t.Fatalf("on-demand checkpoint through the non-holder: %d %s", r.Status, r.Body)
	}
	r.decode(t, &od)
	if od.Size < want || od.Problem != "" {
		t.Fatalf("on-demand checkpoint: %+v, want size >= %d", od, want)
	}

	// Stop the holder: the other replica takes the lease over and keeps
	// checkpointing, and the chain stays linear.
	stopped := time.Now()
	holder.stop(t)
	if !strings.Contains(holder.log.String(), "lease released") {
		t.Fatalf("the stopped holder did not release its lease:\n%s", holder.log.String())
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		st := replicaStatus(t, other)
		if l := st.CheckpointLease; l == nil || !l.Held {
			return fmt.Errorf("lease after the holder stopped: %+v", l)
		}
		return nil
	})
	takeover := time.Since(stopped)
	otherName := "replica-a"
	if holderName == "replica-a" {
		otherName = "replica-b"
	}
	before = len(readCheckpoints(t, j, vkey))
	for k := range 3 {
		grow(other, 20+k)
		waitCheckpointOf(other, replicaStatus(t, other).LedgerLastSeq)
	}
	cps = readCheckpoints(t, j, vkey)
	if len(cps)-before < 3 {
		t.Fatalf("%d checkpoints after the takeover, want at least 3", len(cps)-before)
	}
	for _, cp := range cps[before:] {
		if cp.writer != otherName {
			t.Fatalf("checkpoint %d written by %q after %s took over", cp.seq, cp.writer, otherName)
		}
	}
	checkLinear(t, other, cps)
	t.Logf("%d checkpoints, linear; lease moved from %s to %s %s after the stop began", len(cps), holderName, otherName, takeover.Round(time.Millisecond))
}

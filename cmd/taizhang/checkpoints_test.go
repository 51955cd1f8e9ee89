package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"taizhang/events/checkpoint"
	tzjs "taizhang/events/jetstream"
)

func proofBytes(hs []checkpoint.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

// publishRawCheckpoints opens the stopped server's embedded store and
// publishes notes straight onto the checkpoint stream, bypassing the
// service (as an operator with raw access could); it returns their
// sequences.
func publishRawCheckpoints(t *testing.T, data string, notes ...[]byte) []uint64 {
	t.Helper()
	ns, err := tzjs.StartEmbedded(tzjs.EmbeddedConfig{StoreDir: filepath.Join(data, "nats"), NoListen: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	nc, err := nats.Connect(ns.ClientURL(), nats.InProcessServer(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	j, _ := js.New(nc)
	var seqs []uint64
	for _, n := range notes {
		ack, err := j.Publish(context.Background(), tzjs.DefaultCheckpointSubject, n)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, ack.Sequence)
	}
	return seqs
}

// TestCheckpointsAPIAndVerify makes checkpoints through the API, checks
// the proofs it serves with the library's verifier, and has taizhang verify
// find a checkpoint with a bad signature and one that is not consistent
// with an earlier one, each named by its sequence.
func TestCheckpointsAPIAndVerify(t *testing.T) {
	s := startServer(t, "", "--checkpoint-interval", "1h")
	fillLedger(t, s) // a unit and two items: 3 events

	// The key: generated on first start, 0600, logged and served.
	keyPath := filepath.Join(s.Data, "checkpoint.key")
	fi, err := os.Stat(keyPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("checkpoint.key: %v %v", fi, err)
	}
	skeyB, _ := os.ReadFile(keyPath)
	vkey, err := checkpoint.VerifierKey(string(skeyB))
	if err != nil {
		t.Fatal(err)
	}
	var key struct{ Key string }
	s.get(t, s.Admin, "/api/v1/checkpoints/key").decode(t, &key)
	if key.Key != vkey || !strings.Contains(s.log.String(), vkey) || !strings.HasPrefix(vkey, "taizhang/TAIZHANG_LEDGER+") {
		t.Fatalf("served key %q, derived %q", key.Key, vkey)
	}

	var tok struct{ Token string }
	s.postJSON(t, s.Admin, "/api/v1/tokens", map[string]any{"role": "inspector", "user": "insp"}).decode(t, &tok)
	if r := s.postJSON(t, tok.Token, "/api/v1/checkpoints", nil); r.Status != 403 {
		t.Fatalf("inspector makes a checkpoint: %d %s", r.Status, r.Body)
	}
	// The first start recorded the first admin (user.created, seq 1) and
	// checkpointed it: checkpoint 1 of 1 event. fillLedger added 3 events,
	// the inspector's token its user (seq 5).
	var first checkpoint.Stored
	if r := s.get(t, tok.Token, "/api/v1/checkpoints/latest"); r.Status != 200 {
		t.Fatalf("latest at start: %d %s", r.Status, r.Body)
	} else if r.decode(t, &first); first.Seq != 1 || first.Size != 1 {
		t.Fatalf("checkpoint at first start: %+v", first)
	}

	var cp1, again, latest checkpoint.Stored
	r := s.postJSON(t, s.Admin, "/api/v1/checkpoints", nil)
	if r.Status != 201 {
		t.Fatalf("checkpoint: %d %s", r.Status, r.Body)
	}
	r.decode(t, &cp1)
	if cp1.Seq != 2 || cp1.Size != 5 || cp1.Units != 2 {
		t.Fatalf("first checkpoint: %+v", cp1)
	}
	if r := s.postJSON(t, s.Admin, "/api/v1/checkpoints", nil); r.Status != 200 {
		t.Fatalf("nothing new: %d", r.Status)
	} else if r.decode(t, &again); again.Seq != 2 {
		t.Fatalf("nothing new gave %+v", again)
	}
	r = s.get(t, tok.Token, "/api/v1/checkpoints/latest?format=note")
	if r.Status != 200 || !strings.HasPrefix(string(r.Body), "taizhang/TAIZHANG_LEDGER\n5\n"+cp1.Root.String()+"\n") || string(r.Body) != cp1.Note {
		t.Fatalf("note: %d %s", r.Status, r.Body)
	}
	if _, err := checkpoint.Open(r.Body, mustVerifier(t, vkey)); err != nil {
		t.Fatal(err)
	}

	// Inclusion of each event, checked with the library's verifier.
	hist := s.history(t, s.Admin, "dongcun", "")
	for _, h := range hist {
		var p checkpoint.InclusionProof
		s.get(t, tok.Token, fmt.Sprintf("/api/v1/proofs/inclusion?seq=%d&size=5", h.Seq)).decode(t, &p)
		if p.EventHash != h.Hash || p.Index != h.Seq-1 {
			t.Fatalf("proof for seq %d names %s at %d", h.Seq, p.EventHash, p.Index)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, h.Seq-1, 5, rfc6962.DefaultHasher.HashLeaf(h.Hash[:]), proofBytes(p.Hashes), cp1.Root[:]); err != nil {
			t.Fatalf("inclusion of seq %d: %v", h.Seq, err)
		}
	}

	// A fourth event, a second checkpoint, consistent with the first.
	s.submit(t, s.Admin, "dongcun", map[string]any{"kind": "activity", "title": "集中學習", "occurred_at": "2016-07-03"})
	var cp2 checkpoint.Stored
	s.postJSON(t, s.Admin, "/api/v1/checkpoints", nil).decode(t, &cp2)
	if cp2.Seq != 3 || cp2.Size != 6 {
		t.Fatalf("second checkpoint: %+v", cp2)
	}
	var cons checkpoint.ConsistencyProof
	s.get(t, tok.Token, "/api/v1/proofs/consistency?from=5&to=6").decode(t, &cons)
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, 5, 6, proofBytes(cons.Hashes), cp1.Root[:], cp2.Root[:]); err != nil {
		t.Fatalf("consistency 5 -> 6: %v", err)
	}
	var list struct{ Checkpoints []checkpoint.Stored }
	s.get(t, tok.Token, "/api/v1/checkpoints?from=1").decode(t, &list)
	if len(list.Checkpoints) != 3 || list.Checkpoints[2].Root != cp2.Root || list.Checkpoints[1].Problem != "" {
		t.Fatalf("list: %+v", list)
	}
	s.get(t, tok.Token, "/api/v1/checkpoints/latest").decode(t, &latest)
	if latest.Seq != 3 {
		t.Fatalf("latest: %+v", latest)
	}
	var up checkpoint.UnitProof
	s.get(t, tok.Token, "/api/v1/units/dongcun/proof").decode(t, &up)
	if up.Count != 4 || up.Size != 6 || up.Verify(cp2.UnitsRoot) != nil {
		t.Fatalf("unit proof: %+v", up)
	}
	for path, want := range map[string]int{
		"/api/v1/proofs/inclusion":                 400,
		"/api/v1/proofs/inclusion?seq=9":           400,
		"/api/v1/proofs/inclusion?seq=1&size=99":   404,
		"/api/v1/proofs/inclusion?seq=x":           400,
		"/api/v1/proofs/consistency?from=4&to=3":   400,
		"/api/v1/proofs/consistency":               400,
		"/api/v1/units/xicun/proof":                404,
		"/api/v1/proofs/consistency?from=1&to=999": 404,
	} {
		if r := s.get(t, tok.Token, path); r.Status != want {
			t.Errorf("%s: %d %s, want %d", path, r.Status, r.Body, want)
		}
	}
	s.stop(t)

	code, out, errs := runVerify(t, "--data", s.Data)
	if code != 0 || !strings.Contains(out, "checkpoints: 3, latest #3 of 6 events") || !strings.Contains(out, "signatures checked with "+vkey) {
		t.Fatalf("clean verify: %d\n%s%s", code, out, errs)
	}

	// 3: the latest checkpoint with its root changed (the signature no
	// longer verifies); 4: a checkpoint signed with the real key, of the
	// same size as checkpoint 2 but another root (a fork).
	other := cp1.Root.String()
	badSig := strings.Replace(cp2.Note, "\n"+cp2.Root.String()+"\n", "\n"+other+"\n", 1)
	signer, err := checkpoint.NewSigner(string(skeyB))
	if err != nil {
		t.Fatal(err)
	}
	fork := cp2.Checkpoint
	fork.Root[0] ^= 0x80
	forkNote, err := checkpoint.Sign(fork, signer)
	if err != nil {
		t.Fatal(err)
	}
	seqs := publishRawCheckpoints(t, s.Data, []byte(badSig), forkNote)
	if seqs[0] != 4 || seqs[1] != 5 {
		t.Fatalf("raw checkpoints at %v", seqs)
	}

	code, out, _ = runVerify(t, "--data", s.Data, "--no-blobs", "--json")
	var rep struct {
		Problems []struct {
			Kind       string
			Checkpoint uint64
			Message    string
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var sawSig, sawFork bool
	for _, p := range rep.Problems {
		if p.Kind != "checkpoint" {
			t.Errorf("unexpected problem %+v", p)
		}
		switch {
		case p.Checkpoint == 4 && strings.Contains(p.Message, "signature does not verify"):
			sawSig = true
		case p.Checkpoint == 5 && strings.Contains(p.Message, "not consistent with the earlier checkpoint 3"):
			sawFork = true
		case p.Checkpoint == 5:
		default:
			t.Errorf("unexpected problem %+v", p)
		}
	}
	if code != 1 || !sawSig || !sawFork {
		t.Fatalf("verify after tampering: %d %s", code, out)
	}
	code, out, _ = runVerify(t, "--data", s.Data, "--no-blobs")
	if code != 1 || !strings.Contains(out, "checkpoint: checkpoint 4: checkpoint signature does not verify") ||
		!strings.Contains(out, "checkpoint: checkpoint 5: not consistent with the earlier checkpoint 3") {
		t.Fatalf("verify text: %d\n%s", code, out)
	}

	// With another public key no checkpoint is accepted; with the right one
	// given explicitly, the same two are found.
	_, otherKey, _ := checkpoint.GenerateKey(checkpoint.Origin(tzjs.DefaultStream))
	code, out, _ = runVerify(t, "--data", s.Data, "--no-blobs", "--checkpoint-pubkey", otherKey)
	if code != 1 || strings.Count(out, "is not signed by the expected key") != 5 {
		t.Fatalf("verify with another key: %d\n%s", code, out)
	}
	pubFile := filepath.Join(t.TempDir(), "pub")
	os.WriteFile(pubFile, []byte(vkey+"\n"), 0o644)
	code, out, _ = runVerify(t, "--data", s.Data, "--no-blobs", "--checkpoint-pubkey", pubFile)
	if code != 1 || !strings.Contains(out, "checkpoint 4: checkpoint signature") || !strings.Contains(out, "checkpoint 5: not consistent") {
		t.Fatalf("verify with the key from a file: %d\n%s", code, out)
	}
}

func mustVerifier(t *testing.T, vkey string) note.Verifier {
	t.Helper()
	v, err := checkpoint.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

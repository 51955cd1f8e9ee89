package witness_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"taizhang/events/checkpoint"
	"taizhang/witness"
	"taizhang/witness/witnesstest"
)

type fixture struct {
	log *witnesstest.Log
	srv *httptest.Server
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	l, err := witnesstest.New()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(l)
	t.Cleanup(srv.Close)
	return fixture{l, srv}
}

// newWitness makes a state directory pinned to the fake log's key and a
// witness of it that uses token; logs go to logs.
func (f fixture) newWitness(t *testing.T, name, token string, logs *bytes.Buffer) (*witness.Witness, string, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	vkey, err := witness.Init(dir, "witness.example/"+name, f.log.VerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := witness.Init(dir, "witness.example/"+name, ""); err == nil {
		t.Fatal("Init overwrote a key")
	}
	w := f.open(t, dir, token, logs)
	return w, dir, vkey
}

func (f fixture) open(t *testing.T, dir, token string, logs *bytes.Buffer) *witness.Witness {
	t.Helper()
	var h slog.Handler = slog.DiscardHandler
	if logs != nil {
		h = slog.NewTextHandler(logs, nil)
	}
	w, err := witness.New(witness.Config{Dir: dir, URL: f.srv.URL, Token: token, Log: slog.New(h)})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func once(t *testing.T, w *witness.Witness) witness.Result {
	t.Helper()
	res, err := w.Once(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestWitnessCosignsAGrowingLog(t *testing.T) {
	f := newFixture(t)
	f.log.Show("tok", "main")
	f.log.Grow("main", 5, "e")
	w, dir, vkey := f.newWitness(t, "one", "tok", nil)
	v, err := checkpoint.NewCosignatureVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	op, err := checkpoint.NewVerifier(f.log.VerifierKey)
	if err != nil {
		t.Fatal(err)
	}

	res := once(t, w)
	if !res.Cosigned || !res.Posted || res.Checkpoint.Size != 5 {
		t.Fatalf("first round: %+v", res)
	}
	// Nothing new: not cosigned again, the post is idempotent.
	if res := once(t, w); res.Cosigned || res.Posted {
		t.Fatalf("second round on the same checkpoint: %+v", res)
	}
	f.log.Grow("main", 7, "e")
	if res := once(t, w); !res.Cosigned || res.Checkpoint.Size != 12 {
		t.Fatalf("after growth: %+v", res)
	}
	posts := f.log.Posts()
	if len(posts) != 2 || posts[1].Checkpoint != 2 || posts[1].Key != vkey {
		t.Fatalf("posts: %+v", posts)
	}
	// The state holds the last cosigned checkpoint, its note verifiable
	// with the log's key and the witness's.
	st, err := witness.LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Last == nil || st.Last.Size != 12 || st.LogKey != f.log.VerifierKey {
		t.Fatalf("state: %+v", st)
	}
	if _, err := checkpoint.CheckWitnessed([]byte(st.Last.Note), op, []*checkpoint.CosignatureVerifier{v}, 1); err != nil {
		t.Fatalf("the state's note: %v", err)
	}
	h, err := witness.History(dir)
	if err != nil || len(h) != 2 || h[0].Size != 5 || h[1].Size != 12 {
		t.Fatalf("history: %+v %v", h, err)
	}
	// No temporary files are left beside the state.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left over: %s", e.Name())
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, witness.KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
}

// TestWitnessSplitView: a server shows two witnesses two different trees of
// the same size, both signed with the log's key. Each witness alone cannot
// tell; comparing their states detects it, and a witness later shown the
// other tree refuses, loudly, and keeps the evidence.
func TestWitnessSplitView(t *testing.T) {
	f := newFixture(t)
	f.log.Show("tok-a", "a")
	f.log.Show("tok-b", "b")
	// A common prefix of 5 events, then 5 different ones in each view.
	f.log.Grow("a", 5, "common")
	f.log.Grow("b", 5, "common")
	var logsA bytes.Buffer
	wa, dirA, _ := f.newWitness(t, "a", "tok-a", &logsA)
	wb, dirB, _ := f.newWitness(t, "b", "tok-b", nil)
	once(t, wa)
	once(t, wb)
	cmp, err := witness.Compare(context.Background(), dirA, dirB, nil)
	if err != nil || cmp.Common != 1 {
		t.Fatalf("before the split: %+v %v", cmp, err)
	}
	ca := f.log.Grow("a", 5, "view a")
	cb := f.log.Grow("b", 5, "view b")
	if ca.Size != cb.Size || ca.Root == cb.Root {
		t.Fatalf("not a split: %+v %+v", ca, cb)
	}
	if res := once(t, wa); !res.Cosigned {
		t.Fatal("a did not cosign its view")
	}
	if res := once(t, wb); !res.Cosigned {
		t.Fatal("b did not cosign its view")
	}

	// Comparing the two witnesses' states detects the split.
	cmp, err = witness.Compare(context.Background(), dirA, dirB, nil)
	if !errors.Is(err, witness.ErrSplitView) || len(cmp.Splits) != 1 || !strings.Contains(cmp.Splits[0].Why, "tree size 10") {
		t.Fatalf("compare: %+v %v", cmp, err)
	}
	// The two notes are the operator's own statements.
	op, _ := checkpoint.NewVerifier(f.log.VerifierKey)
	for _, n := range []string{cmp.Splits[0].NoteA, cmp.Splits[0].NoteB} {
		if _, err := checkpoint.CheckWitnessed([]byte(n), op, nil, 0); err != nil {
			t.Fatalf("split evidence is not signed by the log: %v", err)
		}
	}

	// Witness A is now shown view b: same size, another root. It refuses.
	f.log.Show("tok-a", "b")
	res, err := wa.Once(context.Background())
	if !errors.Is(err, witness.ErrInconsistent) || res.Evidence == "" {
		t.Fatalf("shown the other view: %+v %v", res, err)
	}
	if !strings.Contains(logsA.String(), "level=ERROR") || !strings.Contains(logsA.String(), "REFUSING") {
		t.Fatalf("no loud log: %s", logsA.String())
	}
	checkEvidence(t, res.Evidence, false)
	// Its state still holds its own view, and it cosigned nothing of b.
	st, _ := witness.LoadState(dirA)
	if st.Last.Root != ca.Root {
		t.Fatal("the refusing witness's state moved")
	}
	for _, p := range f.log.Posts() {
		if p.View == "b" && p.Token == "Bearer tok-a" {
			t.Fatalf("witness a cosigned view b: %+v", p)
		}
	}

	// View b grows: the proof from b's 10 to its 15 does not verify
	// against a's root at 10, so a refuses again and keeps the proof.
	f.log.Grow("b", 5, "view b")
	res, err = wa.Once(context.Background())
	if !errors.Is(err, witness.ErrInconsistent) || !strings.Contains(err.Error(), "not proven consistent") {
		t.Fatalf("shown b's growth: %+v %v", res, err)
	}
	checkEvidence(t, res.Evidence, true)

	// Run stops (with the error) at a refusal, not later.
	if err := wa.Run(context.Background(), time.Hour); !errors.Is(err, witness.ErrInconsistent) {
		t.Fatalf("Run: %v", err)
	}
	// And with a server that proves the two latest consistent, Compare
	// asks for the proof: b's 15 and a's 10 are not.
	cmp, err = witness.Compare(context.Background(), dirA, dirB, nil)
	if !errors.Is(err, witness.ErrSplitView) {
		t.Fatalf("compare again: %v", err)
	}
}

func checkEvidence(t *testing.T, dir string, withProof bool) {
	t.Helper()
	for _, name := range []string{"cosigned.note", "offered.note", "report.json"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatalf("evidence: %v", err)
		}
	}
	_, err := os.Stat(filepath.Join(dir, "proof.json"))
	if withProof != (err == nil) {
		t.Fatalf("evidence proof.json: want %v, %v", withProof, err)
	}
	var ev witness.Evidence
	b, _ := os.ReadFile(filepath.Join(dir, "report.json"))
	if err := json.Unmarshal(b, &ev); err != nil || ev.Why == "" || ev.Cosigned == nil || ev.LogKey == "" {
		t.Fatalf("report: %s %v", b, err)
	}
}

func TestWitnessRefusesARollback(t *testing.T) {
	f := newFixture(t)
	f.log.Show("tok", "long")
	f.log.Grow("long", 8, "e")
	w, _, _ := f.newWitness(t, "one", "tok", nil)
	once(t, w)
	f.log.Show("tok", "short")
	f.log.Grow("short", 3, "e")
	res, err := w.Once(context.Background())
	if !errors.Is(err, witness.ErrInconsistent) || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("rollback: %+v %v", res, err)
	}
	checkEvidence(t, res.Evidence, false)
}

func TestWitnessChecksTheLogKey(t *testing.T) {
	f := newFixture(t)
	f.log.Show("tok", "main")
	f.log.Grow("main", 2, "e")
	other, err := witnesstest.New()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := witness.Init(dir, "witness.example/w", other.VerifierKey); err != nil {
		t.Fatal(err)
	}
	w := f.open(t, dir, "tok", nil)
	if _, err := w.Once(context.Background()); !errors.Is(err, checkpoint.ErrUnknownKey) {
		t.Fatalf("checkpoint signed by another key: %v", err)
	}
	// The server refuses the post: the state still records the
	// cosignature, and the next round posts it again.
	dir2 := t.TempDir()
	if _, err := witness.Init(dir2, "witness.example/w2", ""); err != nil {
		t.Fatal(err)
	}
	fail := true
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" && fail {
			http.Error(rw, "down", http.StatusServiceUnavailable)
			return
		}
		f.log.ServeHTTP(rw, r)
	}))
	defer srv.Close()
	w2, err := witness.New(witness.Config{Dir: dir2, URL: srv.URL, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := w2.Once(context.Background()); err == nil || !res.Cosigned {
		t.Fatalf("post refused: %+v %v", res, err)
	}
	st, _ := witness.LoadState(dir2)
	if st.Last == nil || st.LogKey != f.log.VerifierKey { // pinned on first use
		t.Fatalf("state after a failed post: %+v", st)
	}
	fail = false
	if res := once(t, w2); res.Cosigned || !res.Posted {
		t.Fatalf("retry: %+v", res)
	}
}

// TestCompareWithProof: witnesses whose latest checkpoints differ in size
// are compared through a consistency proof from the server (checked, not
// trusted): an honest log proves them consistent, a split one cannot.
func TestCompareWithProof(t *testing.T) {
	f := newFixture(t)
	f.log.Show("tok-a", "a")
	f.log.Show("tok-b", "b")
	f.log.Grow("a", 3, "common")
	f.log.Grow("b", 3, "common")
	wa, dirA, _ := f.newWitness(t, "a", "tok-a", nil)
	wb, dirB, _ := f.newWitness(t, "b", "tok-b", nil)
	once(t, wa)
	once(t, wb)
	f.log.Grow("a", 4, "common")
	once(t, wa) // a at 7, b at 3, same history
	proofs := witness.ServerProofs(f.srv.URL, "tok-a", nil)
	cmp, err := witness.Compare(context.Background(), dirA, dirB, proofs)
	if err != nil || !cmp.ProofChecked || cmp.Common != 1 {
		t.Fatalf("honest: %+v %v", cmp, err)
	}
	if cmp, err := witness.Compare(context.Background(), dirA, dirB, nil); err != nil || cmp.Note == "" {
		t.Fatalf("without a server: %+v %v", cmp, err)
	}
	// b's view forks after 3 and grows to 9: no size in common but 3,
	// and no proof from 7 (a) to 9 (b) verifies against both roots.
	f.log.Grow("b", 6, "view b")
	once(t, wb)
	cmp, err = witness.Compare(context.Background(), dirA, dirB, witness.ServerProofs(f.srv.URL, "tok-b", nil))
	if !errors.Is(err, witness.ErrSplitView) || cmp.ProofChecked || len(cmp.Splits) != 1 || !strings.Contains(cmp.Splits[0].Why, "not proven consistent") {
		t.Fatalf("split, proof from b's view: %+v %v", cmp, err)
	}
	// a's view has no tree of 9: no proof, and no verdict either way.
	if _, err := witness.Compare(context.Background(), dirA, dirB, proofs); err == nil || errors.Is(err, witness.ErrSplitView) || !strings.Contains(err.Error(), "consistency proof from 7 to 9") {
		t.Fatalf("no proof to be had: %v", err)
	}
}

func TestHistoryTornLastLine(t *testing.T) {
	f := newFixture(t)
	f.log.Show("tok", "main")
	f.log.Grow("main", 2, "e")
	w, dir, _ := f.newWitness(t, "one", "tok", nil)
	once(t, w)
	p := filepath.Join(dir, witness.HistoryFile)
	fh, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteString(`{"checkpoint":2,"tree_si`) // a crash mid-append
	fh.Close()
	if h, err := witness.History(dir); err != nil || len(h) != 1 {
		t.Fatalf("torn last line: %+v %v", h, err)
	}
	// The next cosignature cuts it off.
	f.log.Grow("main", 2, "e")
	once(t, w)
	if h, err := witness.History(dir); err != nil || len(h) != 2 || h[1].Size != 4 {
		t.Fatalf("after the next round: %+v %v", h, err)
	}
	os.WriteFile(p, []byte("garbage\n{}\n"), 0o600)
	if _, err := witness.History(dir); err == nil {
		t.Fatal("a bad line in the middle passed")
	}
}

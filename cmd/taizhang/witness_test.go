package main

import (
	"context"
	"encoding/json"
	"html"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"taizhang/events/checkpoint"
	tzjs "taizhang/events/jetstream"
	"taizhang/witness"
	"taizhang/witness/witnesstest"
)

// TestWitnessesEndToEnd: two supervisors run their own witnesses against a
// real server; both cosign; the server serves the checkpoint with both
// cosignatures; verify and verify-bag pass with quorum 2 of the two and
// fail, clearly, with quorum 3 of three (one never cosigned).
func TestWitnessesEndToEnd(t *testing.T) {
	s := startServer(t, "", "--checkpoint-interval", "1h")
	fillLedger(t, s)
	supA := newUserToken(t, s, map[string]any{"id": "sup-a", "role": "supervisor"})
	supB := newUserToken(t, s, map[string]any{"id": "sup-b", "role": "supervisor"})
	clerk := newUserToken(t, s, map[string]any{"id": "clerk-w", "role": "submitter", "scope": "dongcun"})
	var key struct{ Key string }
	s.get(t, s.Admin, "/api/v1/checkpoints/key").decode(t, &key)

	dirs := map[string]string{}
	vkeys := map[string]string{}
	for _, n := range []string{"a", "b", "c"} {
		dirs[n] = filepath.Join(t.TempDir(), "witness-"+n)
		code, out, errs := runCmd(t, "witness", "init", "--state", dirs[n], "--name", "witness.example/"+n, "--log-key", key.Key)
		if code != 0 {
			t.Fatalf("witness init: %d %s %s", code, out, errs)
		}
		vkeys[n] = strings.TrimSpace(out)
		if _, err := checkpoint.NewCosignatureVerifier(vkeys[n]); err != nil {
			t.Fatalf("init printed %q: %v", out, err)
		}
	}
	var cp checkpoint.Stored
	if r := s.postJSON(t, s.Admin, "/api/v1/checkpoints", nil); r.Status != 201 {
		t.Fatalf("checkpoint: %d %s", r.Status, r.Body)
	} else {
		r.decode(t, &cp)
	}

	// A submitter may not post cosignatures: its witness run fails.
	if code, _, errs := cli(t, s, clerk, "witness", "run", "--state", dirs["c"], "--once"); code != 1 || !strings.Contains(errs, "403") {
		t.Fatalf("witness run as a submitter: %d %s", code, errs)
	}
	for n, tok := range map[string]string{"a": supA, "b": supB} {
		code, out, errs := cli(t, s, tok, "witness", "run", "--state", dirs[n], "--once")
		if code != 0 || !strings.Contains(out, "cosigned checkpoint #") {
			t.Fatalf("witness %s: %d %s %s", n, code, out, errs)
		}
	}
	// Served with both cosignatures, which verify with the witnesses' keys.
	r := s.get(t, supA, "/api/v1/checkpoints/latest?format=note")
	op := mustVerifier(t, key.Key)
	var trusted []*checkpoint.CosignatureVerifier
	for _, n := range []string{"a", "b"} {
		v, _ := checkpoint.NewCosignatureVerifier(vkeys[n])
		trusted = append(trusted, v)
	}
	if _, err := checkpoint.CheckWitnessed(r.Body, op, trusted, 2); err != nil {
		t.Fatalf("served note %s: %v", r.Body, err)
	}
	var withCosigs checkpoint.Stored
	s.get(t, supA, "/api/v1/checkpoints/latest").decode(t, &withCosigs)
	if len(withCosigs.Cosignatures) != 2 {
		t.Fatalf("JSON cosignatures: %+v", withCosigs.Cosignatures)
	}
	// Running again changes nothing; a forged cosignature is refused.
	if code, out, _ := cli(t, s, supA, "witness", "run", "--state", dirs["a"], "--once"); code != 0 || !strings.Contains(out, "already cosigned") {
		t.Fatalf("second run: %d %s", code, out)
	}
	line := withCosigs.Cosignatures[0].Line
	forged := line[:len(line)-6] + "AAAAA="
	if r := s.postJSON(t, supA, "/api/v1/checkpoints/1/cosignatures", map[string]string{"cosignature": forged, "key": vkeys["a"]}); r.Status != 400 {
		t.Fatalf("forged cosignature: %d %s", r.Status, r.Body)
	}
	if r := s.postJSON(t, supA, "/api/v1/checkpoints/99/cosignatures", map[string]string{"cosignature": line, "key": vkeys["a"]}); r.Status != 404 {
		t.Fatalf("cosignature of no checkpoint: %d %s", r.Status, r.Body)
	}

	// The supervisor's witnesses page lists the cosigners and checks a
	// quorum of the keys typed in.
	page := s.get(t, supA, "/audit/witnesses?lang=en")
	if body := html.UnescapeString(string(page.Body)); page.Status != 200 || !strings.Contains(body, "witness.example/a+") || !strings.Contains(body, "witness.example/b+") {
		t.Fatalf("witnesses page: %d %s", page.Status, page.Body)
	}
	keysQ := url.QueryEscape(vkeys["a"] + "\n" + vkeys["b"])
	if page := s.get(t, supA, "/audit/witnesses?lang=en&quorum=2&keys="+keysQ); !strings.Contains(string(page.Body), "is cosigned by 2 of your 2 trusted witnesses (quorum 2)") {
		t.Fatalf("witnesses page, quorum 2: %s", page.Body)
	}
	keysQ = url.QueryEscape(vkeys["a"] + "\n" + vkeys["b"] + "\n" + vkeys["c"] + "\nnot a key")
	if page := s.get(t, supA, "/audit/witnesses?lang=en&keys="+keysQ); !strings.Contains(string(page.Body), "Quorum not met") || !strings.Contains(string(page.Body), "(the most: 2, on checkpoint") || !strings.Contains(string(page.Body), "malformed witness key") {
		t.Fatalf("witnesses page, quorum 3: %s", page.Body)
	}
	if page := s.get(t, clerk, "/audit/witnesses"); page.Status != 403 {
		t.Fatalf("witnesses page as a submitter: %d", page.Status)
	}

	// The export reuses the cosigned checkpoint (the ledger has not grown),
	// and its checkpoint.note carries both cosignatures.
	dir := t.TempDir()
	keysFile := filepath.Join(dir, "witnesses.txt")
	os.WriteFile(keysFile, []byte("# trusted witnesses\n"+vkeys["a"]+"\n"+vkeys["b"]+"\n"), 0o644)
	bag1 := filepath.Join(dir, "dongcun-1.zip")
	if code, out, errs := cli(t, s, s.Admin, "export", "--unit", "dongcun", "-o", bag1); code != 0 {
		t.Fatalf("export: %d %s %s", code, out, errs)
	}
	code, out, errs := runCmd(t, "verify-bag", "--pubkey", key.Key, "--witness-key", keysFile, bag1)
	if code != 0 || !strings.Contains(out, "cosigned by 2 of 2 trusted witnesses") {
		t.Fatalf("verify-bag quorum 2: %d %s %s", code, out, errs)
	}
	code, out, _ = runCmd(t, "verify-bag", "--witness-key", keysFile, "--witness-key", vkeys["c"], "--witness-quorum", "3", bag1)
	if code != 1 || !strings.Contains(out, "witness quorum not met") || !strings.Contains(out, "cosigned by 2 of the 3 trusted witnesses") {
		t.Fatalf("verify-bag quorum 3: %d %s", code, out)
	}

	// The first export grew the ledger (unit.exported): the second makes a
	// new checkpoint, not cosigned yet. After the witnesses' next round,
	// the cosigned note served for it completes the bag.
	bag2 := filepath.Join(dir, "dongcun-2.zip")
	if code, out, errs := cli(t, s, s.Admin, "export", "--unit", "dongcun", "-o", bag2); code != 0 {
		t.Fatalf("export: %d %s %s", code, out, errs)
	}
	if code, out, _ := runCmd(t, "verify-bag", "--witness-key", keysFile, bag2); code != 1 || !strings.Contains(out, "none of them") {
		t.Fatalf("verify-bag of a bag not cosigned yet: %d %s", code, out)
	}
	var cp2 checkpoint.Stored
	s.get(t, supA, "/api/v1/checkpoints/latest").decode(t, &cp2)
	if cp2.Seq <= cp.Seq || len(cp2.Cosignatures) != 0 {
		t.Fatalf("the second export's checkpoint: %+v", cp2)
	}
	for n, tok := range map[string]string{"a": supA, "b": supB} {
		if code, out, errs := cli(t, s, tok, "witness", "run", "--state", dirs[n], "--once"); code != 0 {
			t.Fatalf("witness %s again: %d %s %s", n, code, out, errs)
		}
	}
	cosigned := filepath.Join(dir, "cosigned.note")
	r = s.get(t, supA, "/api/v1/checkpoints/"+strconv.FormatUint(cp2.Seq, 10)+"?format=note")
	if err := os.WriteFile(cosigned, r.Body, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runCmd(t, "verify-bag", "--witness-key", keysFile, "--cosigned", cosigned, bag2)
	if code != 0 || !strings.Contains(out, "cosigned by 2 of 2 trusted witnesses") {
		t.Fatalf("verify-bag with the cosigned note: %d %s %s", code, out, errs)
	}
	// A cosigned note of another checkpoint does not count.
	other := filepath.Join(dir, "other.note")
	os.WriteFile(other, s.get(t, supA, "/api/v1/checkpoints/"+strconv.FormatUint(cp.Seq, 10)+"?format=note").Body, 0o644)
	if code, out, _ := runCmd(t, "verify-bag", "--witness-key", keysFile, "--cosigned", other, bag2); code != 1 || !strings.Contains(out, "not a note of this bag's checkpoint") {
		t.Fatalf("verify-bag with another checkpoint's note: %d %s", code, out)
	}
	s.stop(t)

	// verify reads the cosignatures from the stores.
	code, out, errs = runVerify(t, "--data", s.Data, "--witness-key", vkeys["a"], "--witness-key", vkeys["b"], "--witness-quorum", "2")
	if code != 0 || !strings.Contains(out, "cosigned by 2 of 2 trusted") {
		t.Fatalf("verify quorum 2: %d\n%s%s", code, out, errs)
	}
	code, out, errs = runVerify(t, "--data", s.Data, "--witness-key", keysFile, "--witness-key", vkeys["c"], "--witness-quorum", "3")
	if code != 1 || !strings.Contains(out, "witness quorum not met") || !strings.Contains(out, "cosigned by 3 of the 3") {
		t.Fatalf("verify quorum 3: %d\n%s%s", code, out, errs)
	}

	// A record written straight to the stream (by an operator with raw
	// NATS access) in witness c's name, with a's line, is re-checked, not
	// trusted: verify names it, and c does not count.
	forgedRec, _ := json.Marshal(checkpoint.CosignatureRecord{Checkpoint: cp.Seq, Size: cp.Size, Root: cp.Root,
		Cosignature: checkpoint.Cosignature{Witness: cVerifier(t, vkeys["c"]), Key: vkeys["c"], Line: withCosigs.Cosignatures[0].Line}})
	publishRaw(t, s.Data, tzjs.DefaultCosignatureSubject+"."+strconv.FormatUint(cp.Seq, 10), forgedRec)
	code, out, errs = runVerify(t, "--data", s.Data, "--witness-key", keysFile, "--witness-key", vkeys["c"], "--witness-quorum", "3")
	if code != 1 || !strings.Contains(out, "claims trusted witness witness.example/c+") || !strings.Contains(out, "witness quorum not met") {
		t.Fatalf("verify with a forged record: %d\n%s%s", code, out, errs)
	}
}

func cVerifier(t *testing.T, vkey string) string {
	t.Helper()
	v, err := checkpoint.NewCosignatureVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v.String()
}

// publishRaw opens the stopped server's embedded store and publishes data
// on subject, bypassing the service.
func publishRaw(t *testing.T, data, subject string, payloads ...[]byte) {
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
	for _, p := range payloads {
		if _, err := j.Publish(context.Background(), subject, p); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWitnessSplitViewCLI: a fake server shows two witnesses two different
// trees of the same size. witness compare finds the split and prints both
// signed notes; witness A, then shown B's tree, refuses with exit status 1
// and an error log, and keeps the evidence in its state directory.
func TestWitnessSplitViewCLI(t *testing.T) {
	l, err := witnesstest.New()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(l)
	defer srv.Close()
	t.Setenv("TAIZHANG_URL", srv.URL)
	l.Show("tok-a", "a")
	l.Show("tok-b", "b")
	l.Grow("a", 4, "common")
	l.Grow("b", 4, "common")
	dirA, dirB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	for _, d := range []string{dirA, dirB} {
		if code, out, errs := runCmd(t, "witness", "init", "--state", d, "--name", "witness.example/"+filepath.Base(d), "--log-key", l.VerifierKey); code != 0 {
			t.Fatalf("init: %d %s %s", code, out, errs)
		}
	}
	run := func(dir, tok string) (int, string, string) {
		t.Setenv("TAIZHANG_TOKEN", tok)
		return runCmd(t, "witness", "run", "--state", dir, "--once")
	}
	for _, w := range [][2]string{{dirA, "tok-a"}, {dirB, "tok-b"}} {
		if code, out, errs := run(w[0], w[1]); code != 0 {
			t.Fatalf("first round: %d %s %s", code, out, errs)
		}
	}
	if code, out, errs := runCmd(t, "witness", "compare", dirA, dirB); code != 0 || !strings.Contains(out, "consistent: 1 tree sizes") {
		t.Fatalf("compare before the split: %d %s %s", code, out, errs)
	}
	l.Grow("a", 4, "view a")
	l.Grow("b", 4, "view b")
	for _, w := range [][2]string{{dirA, "tok-a"}, {dirB, "tok-b"}} {
		if code, out, errs := run(w[0], w[1]); code != 0 {
			t.Fatalf("second round: %d %s %s", code, out, errs)
		}
	}
	code, out, errs := runCmd(t, "witness", "compare", dirA, dirB)
	if code != 3 || !strings.Contains(out, "SPLIT: at tree size 8") || !strings.Contains(errs, "SPLIT VIEW") || strings.Count(out, "— taizhang/FAKE ") != 2 {
		t.Fatalf("compare after the split: %d %s %s", code, out, errs)
	}
	l.Show("tok-a", "b")
	code, out, errs = run(dirA, "tok-a")
	if code != 3 || !strings.Contains(errs, "level=ERROR") || !strings.Contains(errs, "INCONSISTENT CHECKPOINT") {
		t.Fatalf("witness a shown b's tree: %d %s %s", code, out, errs)
	}
	// status says so too, with exit status 3; b's is clean.
	if code, out, _ := runCmd(t, "witness", "status", "--state", dirA); code != 3 || !strings.Contains(out, "REFUSALS: 1") {
		t.Fatalf("status of a: %d %s", code, out)
	}
	if code, out, _ := runCmd(t, "witness", "status", "--state", dirB); code != 0 || !strings.Contains(out, "last cosigned: checkpoint #2, 8 events") {
		t.Fatalf("status of b: %d %s", code, out)
	}
	ents, err := os.ReadDir(filepath.Join(dirA, witness.EvidenceDir))
	if err != nil || len(ents) != 1 {
		t.Fatalf("evidence: %v %v", ents, err)
	}
	for _, f := range []string{"cosigned.note", "offered.note", "report.json"} {
		if _, err := os.Stat(filepath.Join(dirA, witness.EvidenceDir, ents[0].Name(), f)); err != nil {
			t.Fatal(err)
		}
	}
}

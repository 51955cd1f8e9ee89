package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// signedNote returns a signed checkpoint note and the operator's verifier.
func signedNote(t testing.TB, size uint64) ([]byte, note.Verifier) {
	t.Helper()
	skey, vkey, err := GenerateKey("taizhang/TEST")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	cp := Checkpoint{Origin: "taizhang/TEST", Size: size, Root: sha256.Sum256([]byte("root")), Time: time.Unix(1700000000, 0).UTC(),
		Units: 2, UnitsRoot: sha256.Sum256([]byte("units"))}
	msg, err := Sign(cp, s)
	if err != nil {
		t.Fatal(err)
	}
	return msg, v
}

func newWitness(t testing.TB, name string, at time.Time) (*Cosigner, *CosignatureVerifier) {
	t.Helper()
	skey, vkey, err := GenerateCosignerKey(nil, name)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCosigner(skey, func() time.Time { return at })
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewCosignatureVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	if c.VerifierKey() != vkey || v.Key() != vkey || c.KeyHash() != v.KeyHash() {
		t.Fatalf("keys disagree: %s / %s / %s", c.VerifierKey(), v.Key(), vkey)
	}
	return c, v
}

func cosign(t testing.TB, msg []byte, c *Cosigner) []byte {
	t.Helper()
	body, _, err := SplitNote(msg)
	if err != nil {
		t.Fatal(err)
	}
	line, err := Cosign(body, c)
	if err != nil {
		t.Fatal(err)
	}
	return AppendSignatures(msg, line)
}

func TestCosignatureQuorum(t *testing.T) {
	msg, op := signedNote(t, 42)
	at := time.Unix(1700000100, 0)
	c1, v1 := newWitness(t, "witness.example/one", at)
	c2, v2 := newWitness(t, "witness.example/two", at)
	_, v3 := newWitness(t, "witness.example/three", at)
	trusted := []*CosignatureVerifier{v1, v2, v3}

	w, err := CheckWitnessed(msg, op, trusted, 0)
	if err != nil || len(w.Cosigned) != 0 || w.Checkpoint.Size != 42 {
		t.Fatalf("no cosignatures, quorum 0: %+v, %v", w, err)
	}
	if _, err := CheckWitnessed(msg, op, trusted, 1); !errors.Is(err, ErrQuorum) || !strings.Contains(err.Error(), "none of them") {
		t.Fatalf("quorum 1 of none: %v", err)
	}
	both := cosign(t, cosign(t, msg, c1), c2)
	w, err = CheckWitnessed(both, op, trusted, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Cosigned) != 2 || w.Cosigned[0].Witness != v1.String() || !w.Cosigned[0].Time.Equal(at) {
		t.Fatalf("cosigned: %+v", w.Cosigned)
	}
	_, err = CheckWitnessed(both, op, trusted, 3)
	if !errors.Is(err, ErrQuorum) || !strings.Contains(err.Error(), "cosigned by 2 of the 3") {
		t.Fatalf("quorum 3: %v", err)
	}
	// The same witness twice counts once.
	c1later, _ := func() (*Cosigner, int) {
		c := *c1
		c.now = func() time.Time { return at.Add(time.Hour) }
		return &c, 0
	}()
	twice := cosign(t, cosign(t, msg, c1), c1later)
	w, err = CheckWitnessed(twice, op, trusted, 2)
	if !errors.Is(err, ErrQuorum) || len(w.Cosigned) != 1 || !w.Cosigned[0].Time.Equal(at.Add(time.Hour)) {
		t.Fatalf("one witness twice: %+v %v", w.Cosigned, err)
	}
	// The note package reads the cosignatures with these verifiers too.
	n, err := note.Open(both, note.VerifierList(op, v1, v2))
	if err != nil || len(n.Sigs) != 3 {
		t.Fatalf("note.Open: %v, %d signatures", err, len(n.Sigs))
	}
	// Untrusted witnesses do not count; the operator's key is required.
	w, err = CheckWitnessed(both, op, []*CosignatureVerifier{v3}, 1)
	if !errors.Is(err, ErrQuorum) || w.Untrusted != 2 {
		t.Fatalf("untrusted: %+v %v", w, err)
	}
	_, other := signedNote(t, 42)
	if _, err := CheckWitnessed(both, other, trusted, 0); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("another operator key: %v", err)
	}
}

func TestCosignatureCoversTheWholeBody(t *testing.T) {
	msg, op := signedNote(t, 7)
	c, v := newWitness(t, "w", time.Unix(1700000000, 0))
	cs := cosign(t, msg, c)
	body, sigs, err := SplitNote(cs)
	if err != nil || len(sigs) != 2 {
		t.Fatal(err, len(sigs))
	}
	if _, err := CheckCosignature(body, sigs[1].Line, v); err != nil {
		t.Fatal(err)
	}
	// An extension line changed: the cosignature no longer verifies.
	other := bytes.Replace(body, []byte("tz-units 2 "), []byte("tz-units 3 "), 1)
	if _, err := CheckCosignature(other, sigs[1].Line, v); !errors.Is(err, ErrBadCosignature) {
		t.Fatalf("changed extension line: %v", err)
	}
	// A forged line under a trusted name is reported, not counted.
	forged := []byte(strings.Replace(string(cs), sigs[1].Line, sigs[1].Line[:len(sigs[1].Line)-8]+"AAAAAAA=", 1))
	w, err := CheckWitnessed(forged, op, []*CosignatureVerifier{v}, 1)
	if !errors.Is(err, ErrQuorum) || len(w.Bad) != 1 {
		t.Fatalf("forged: %+v %v", w, err)
	}
	// The operator's signature must verify.
	opLine := sigs[0].Line
	broken := []byte(strings.Replace(string(cs), opLine, opLine[:len(opLine)-8]+"AAAAAAA=", 1))
	if _, err := CheckWitnessed(broken, op, nil, 0); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("operator signature broken: %v", err)
	}
}

// TestCosignatureKeysInterop reads keys from transparency-dev/formats' test
// vectors: a native cosignature/v1 key and a plain Ed25519 note key.
func TestCosignatureKeysInterop(t *testing.T) {
	for _, k := range []string{
		"remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
		"TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6",
	} {
		v, err := NewCosignatureVerifier(k)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if strings.HasPrefix(k, "remora") && v.Key() != k {
			t.Fatalf("%s read back as %s", k, v.Key())
		}
	}
	for _, k := range []string{
		"remora.n621.de+00000000+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2", // wrong hash
		"remora.n621.de+da77ade7+AOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2", // wrong type
		"a b+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",            // bad name
		"remora.n621.de+da77ade7",
		"",
	} {
		if _, err := NewCosignatureVerifier(k); !errors.Is(err, ErrBadKey) {
			t.Fatalf("%q: %v, want ErrBadKey", k, err)
		}
	}
	if _, _, err := GenerateCosignerKey(nil, "has space"); !errors.Is(err, ErrBadKey) {
		t.Fatal(err)
	}
	if _, err := NewCosigner("PRIVATE+KEY+x+00000000+BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", nil); !errors.Is(err, ErrBadKey) {
		t.Fatal(err)
	}
}

func TestCosignedMessageFormat(t *testing.T) {
	got := string(cosignedMessage([]byte("example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"), 1679315147))
	want := "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
	if got != want {
		t.Fatalf("got %q", got)
	}
}

func FuzzCosignedNote(f *testing.F) {
	msg, op := signedNote(f, 9)
	c, v := newWitness(f, "witness.example/fuzz", time.Unix(1700000000, 0))
	f.Add(cosign(f, msg, c))
	f.Add(msg)
	f.Add([]byte("a\n1\nAAAA\n\n— w AAAAAAAA\n"))
	f.Add([]byte("\n\n— \n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		body, sigs, err := SplitNote(b)
		if err == nil && (len(sigs) == 0 || !bytes.HasSuffix(body, []byte("\n"))) {
			t.Fatalf("split %q: %d signatures, body %q", b, len(sigs), body)
		}
		w, err := CheckWitnessed(b, op, []*CosignatureVerifier{v}, 1)
		if err != nil {
			return
		}
		// Accepted: the operator signed this body, and the witness's line
		// verifies on its own.
		if len(w.Cosigned) != 1 {
			t.Fatalf("accepted with %d cosignatures", len(w.Cosigned))
		}
		if _, err := CheckCosignature(w.Body, w.Cosigned[0].Line, v); err != nil {
			t.Fatalf("accepted line does not verify alone: %v", err)
		}
	})
}

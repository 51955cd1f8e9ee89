package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/testonly"

	"taizhang/events"
)

func evHash(i int) events.Hash { return sha256.Sum256([]byte(fmt.Sprintf("event %d", i))) }

// testLog returns a Log of n events over three units and the library's
// reference tree over the same leaves.
func testLog(n int) (*Log, *testonly.Tree) {
	l := NewLog()
	ref := testonly.New(Hasher)
	for i := 0; i < n; i++ {
		h := evHash(i)
		l.Append(fmt.Sprintf("unit-%d", i%3), h)
		ref.AppendData(h[:])
	}
	return l, ref
}

func TestHashingAgreesWithLibrary(t *testing.T) {
	h := evHash(1)
	if lh := LeafHash(h); !bytes.Equal(lh[:], Hasher.HashLeaf(h[:])) {
		t.Fatal("LeafHash differs from rfc6962")
	}
	a, b := Hash(evHash(2)), Hash(evHash(3))
	if c := hashChildren(&a, &b); !bytes.Equal(c[:], Hasher.HashChildren(a[:], b[:])) {
		t.Fatal("hashChildren differs from rfc6962")
	}
}

// TestTreeAgainstLibrary checks roots, inclusion and consistency proofs for
// every size up to 70 against the library's reference tree, and verifies
// each proof with the library's own verifier.
func TestTreeAgainstLibrary(t *testing.T) {
	const max = 70
	l, ref := testLog(max)
	roots := make([]Hash, max+1)
	for n := uint64(0); n <= max; n++ {
		r, err := l.Root(n)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(r[:], ref.HashAt(n)) {
			t.Fatalf("root at %d: %s, library %x", n, r, ref.HashAt(n))
		}
		roots[n] = r
	}
	for n := uint64(1); n <= max; n++ {
		for i := uint64(0); i < n; i++ {
			p, err := l.Inclusion(i, n)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := ref.InclusionProof(i, n)
			if !bytes.Equal(bytes.Join(toBytes(p), nil), bytes.Join(want, nil)) {
				t.Fatalf("inclusion proof %d in %d differs from the library's", i, n)
			}
			lh := LeafHash(l.EventHash(i))
			if err := proof.VerifyInclusion(Hasher, i, n, lh[:], toBytes(p), roots[n][:]); err != nil {
				t.Fatalf("inclusion %d in %d: %v", i, n, err)
			}
			ip := InclusionProof{Seq: i + 1, Index: i, Size: n, EventHash: l.EventHash(i), LeafHash: lh, Root: roots[n], Hashes: p}
			if err := ip.Verify(roots[n]); err != nil {
				t.Fatal(err)
			}
			// The proof fails for another leaf and for another root.
			if err := ip.Verify(roots[n-1]); err == nil && n > 1 {
				t.Fatalf("inclusion %d in %d verifies against the root at %d", i, n, n-1)
			}
			bad := ip
			bad.EventHash = evHash(1000)
			bad.LeafHash = LeafHash(bad.EventHash)
			if bad.Verify(roots[n]) == nil {
				t.Fatalf("a foreign event verifies at %d in %d", i, n)
			}
		}
		for m := uint64(0); m <= n; m++ {
			p, err := l.Consistency(m, n)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := ref.ConsistencyProof(m, n)
			if !bytes.Equal(bytes.Join(toBytes(p), nil), bytes.Join(want, nil)) {
				t.Fatalf("consistency proof %d->%d differs from the library's", m, n)
			}
			if err := proof.VerifyConsistency(Hasher, m, n, toBytes(p), roots[m][:], roots[n][:]); err != nil {
				t.Fatalf("consistency %d->%d: %v", m, n, err)
			}
			if m > 0 && m < n {
				forged := roots[n]
				forged[0] ^= 1
				if VerifyConsistency(m, n, p, roots[m], forged) == nil {
					t.Fatalf("consistency %d->%d verifies with a forged root", m, n)
				}
			}
		}
	}
	if _, err := l.Root(max + 1); err == nil {
		t.Fatal("root beyond the size")
	}
	if _, err := l.Inclusion(3, max+1); err == nil {
		t.Fatal("inclusion beyond the size")
	}
}

func TestHeads(t *testing.T) {
	l, _ := testLog(10) // unit-0: 0,3,6,9; unit-1: 1,4,7; unit-2: 2,5,8
	heads, err := l.Heads(10)
	if err != nil {
		t.Fatal(err)
	}
	want := []UnitHead{{"unit-0", evHash(9), 4}, {"unit-1", evHash(7), 3}, {"unit-2", evHash(8), 3}}
	if fmt.Sprint(heads) != fmt.Sprint(want) {
		t.Fatalf("heads %v, want %v", heads, want)
	}
	h5, _ := l.Heads(5)
	want5 := []UnitHead{{"unit-0", evHash(3), 2}, {"unit-1", evHash(4), 2}, {"unit-2", evHash(2), 1}}
	if fmt.Sprint(h5) != fmt.Sprint(want5) {
		t.Fatalf("heads at 5 %v, want %v", h5, want5)
	}
	c := l.HeadsCursor()
	c.Advance(2)
	if got := c.Heads(); len(got) != 2 || got[1].Unit != "unit-1" {
		t.Fatalf("cursor at 2: %v", got)
	}
	c.Advance(5)
	if fmt.Sprint(c.Heads()) != fmt.Sprint(want5) {
		t.Fatal("cursor at 5 differs from Heads(5)")
	}
	if got := string(want[1].Leaf()); got != "unit-1\x00"+evHash(7).String()+"\x003" {
		t.Fatalf("leaf %q", got)
	}
	root := HeadsRoot(heads)
	ref := testonly.New(Hasher)
	for _, h := range heads {
		ref.AppendData(h.Leaf())
	}
	if !bytes.Equal(root[:], ref.HashAt(3)) {
		t.Fatal("heads root differs from the library's")
	}
	for _, h := range heads {
		i, p, ok := HeadsProof(heads, h.Unit)
		if !ok {
			t.Fatal(h.Unit)
		}
		up := UnitProof{UnitHead: h, Size: 10, Index: i, Units: 3, UnitsRoot: root, Hashes: p}
		if err := up.Verify(root); err != nil {
			t.Fatalf("%s: %v", h.Unit, err)
		}
		up.Count-- // a unit that hides an event does not verify
		if up.Verify(root) == nil {
			t.Fatalf("%s: a wrong count verifies", h.Unit)
		}
	}
	if _, _, ok := HeadsProof(heads, "nope"); ok {
		t.Fatal("proof for a missing unit")
	}
}

func TestNoteRoundTrip(t *testing.T) {
	origin := Origin("TAIZHANG_LEDGER")
	skey, vkey, err := GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	derived, err := VerifierKey(skey)
	if err != nil || derived != vkey {
		t.Fatalf("derived %q (%v), want %q", derived, err, vkey)
	}
	s, _ := NewSigner(skey)
	v, err := NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	l, _ := testLog(9)
	root, _ := l.Root(9)
	heads, _ := l.Heads(9)
	c := Checkpoint{Origin: origin, Size: 9, Root: root, Time: time.Date(2026, 3, 1, 10, 0, 0, 123000000, time.UTC),
		Units: uint64(len(heads)), UnitsRoot: HeadsRoot(heads)}
	msg, err := Sign(c, s)
	if err != nil {
		t.Fatal(err)
	}
	text := string(msg)
	if !strings.HasPrefix(text, origin+"\n9\n"+root.String()+"\ntz-time 2026-03-01T10:00:00.123Z\ntz-units 3 ") ||
		!strings.Contains(text, "\n\n— "+origin+" ") {
		t.Fatalf("note:\n%s", text)
	}
	got, err := Open(msg, v)
	if err != nil || got != c {
		t.Fatalf("open: %+v %v", got, err)
	}
	if p, err := ParseNote(msg); err != nil || p != c {
		t.Fatalf("parse: %+v %v", p, err)
	}

	// A changed body no longer verifies.
	tampered := bytes.Replace(msg, []byte("\n9\n"), []byte("\n8\n"), 1)
	if _, err := Open(tampered, v); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered: %v", err)
	}
	// Another key's signature is not ours.
	skey2, _, _ := GenerateKey(origin)
	s2, _ := NewSigner(skey2)
	other, _ := Sign(c, s2)
	if _, err := Open(other, v); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("other key: %v", err)
	}
	for _, bad := range []string{"", "x\n", "o\n01\n" + root.String() + "\ntz-time 2026-03-01T10:00:00Z\ntz-units 1 " + root.String() + "\n",
		"o\n1\nAAAA\ntz-time 2026-03-01T10:00:00Z\ntz-units 1 " + root.String() + "\n", "o\n1\n" + root.String() + "\n"} {
		if _, err := Parse([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q): %v", bad, err)
		}
	}
}

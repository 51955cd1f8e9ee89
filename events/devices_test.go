package events

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
)

// testKey is a fixed device key.
func testKey(t testing.TB, seed byte) (ed25519.PrivateKey, string) {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	return priv, FormatPublicKey(priv.Public().(ed25519.PublicKey))
}

// sign signs c with priv, returning the signature block.
func sign(priv ed25519.PrivateKey, c SignedContent, captured time.Time) DeviceSignature {
	return SignDevice(priv, c, captured)
}

func sampleContent() SignedContent {
	return Content("dongcun", uuid.MustParse("0190f3a0-0000-7000-8000-000000000001"),
		Evidence{Kind: KindStudyNote, Title: " 集中學習 ", Body: "body", Requirements: []string{"r1", "r2"}, Tags: []string{"t"},
			Figures: map[string]float64{"volunteers": 130, "b": 0.5}},
		time.Date(2026, 3, 5, 1, 2, 3, 456789123, time.UTC),
		[]SignedAttachment{{SHA256: "bb" + string(bytes.Repeat([]byte("0"), 62)), Size: 2}, {SHA256: "aa" + string(bytes.Repeat([]byte("0"), 62)), Size: 10}})
}

func TestDeviceSignatureVerifies(t *testing.T) {
	priv, _ := testKey(t, 1)
	c := sampleContent()
	sig := sign(priv, c, time.Date(2026, 3, 5, 2, 0, 0, 0, time.UTC))
	if err := sig.Check(); err != nil {
		t.Fatal(err)
	}
	if err := sig.Verify(c); err != nil {
		t.Fatalf("verify: %v", err)
	}
	// Attachment order does not matter; the title is signed trimmed.
	c2 := c
	c2.Attachments = []SignedAttachment{c.Attachments[1], c.Attachments[0]}
	c2.Title = "集中學習"
	if err := sig.Verify(c2); err != nil {
		t.Fatalf("verify reordered: %v", err)
	}
	tamper := map[string]func(*SignedContent){
		"unit":        func(c *SignedContent) { c.Unit = "xicun" },
		"evidence":    func(c *SignedContent) { c.Evidence = uuid.New() },
		"kind":        func(c *SignedContent) { c.Kind = KindPhoto },
		"title":       func(c *SignedContent) { c.Title = "另一個" },
		"body":        func(c *SignedContent) { c.Body = "" },
		"occurred":    func(c *SignedContent) { c.OccurredAt = c.OccurredAt.Add(time.Microsecond) },
		"requirement": func(c *SignedContent) { c.Requirements = []string{"r1"} },
		"tag":         func(c *SignedContent) { c.Tags = nil },
		"figure":      func(c *SignedContent) { c.Figures = map[string]float64{"volunteers": 131, "b": 0.5} },
		"finding":     func(c *SignedContent) { c.Finding = uuid.NewString() },
		"attachment":  func(c *SignedContent) { c.Attachments = c.Attachments[:1] },
		"size": func(c *SignedContent) {
			c.Attachments = []SignedAttachment{c.Attachments[0], {SHA256: c.Attachments[1].SHA256, Size: 11}}
		},
	}
	for name, f := range tamper {
		c3 := c
		f(&c3)
		if err := sig.Verify(c3); !errors.Is(err, ErrBadSignature) {
			t.Errorf("tampered %s: verify gave %v, want ErrBadSignature", name, err)
		}
	}
	late := sig
	late.CapturedAt = late.CapturedAt.Add(time.Second)
	if err := late.Verify(c); !errors.Is(err, ErrBadSignature) {
		t.Errorf("changed capture time: %v", err)
	}
	other, otherPub := testKey(t, 2)
	swapped := sig
	swapped.PublicKey = otherPub
	if err := swapped.Check(); !errors.Is(err, ErrInvalid) {
		t.Errorf("public key of another id: %v", err)
	}
	swapped.Key = KeyID(other.Public().(ed25519.PublicKey))
	if err := swapped.Verify(c); !errors.Is(err, ErrBadSignature) {
		t.Errorf("another key's id and public key with this signature: %v", err)
	}
}

func TestSignedContentRoundTrip(t *testing.T) {
	priv, _ := testKey(t, 1)
	c := sampleContent()
	s := sign(priv, c, time.Date(2026, 3, 5, 2, 0, 0, 0, time.UTC))
	c.Key, c.CapturedAt = s.Key, s.CapturedAt
	b := c.Encode()
	if !bytes.HasPrefix(b, []byte(SignaturePrefix)) {
		t.Fatalf("no domain prefix: %q", b)
	}
	got, err := ParseSignedContent(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Encode(), b) {
		t.Fatalf("round trip:\n%s\n%s", got.Encode(), b)
	}
	for _, bad := range []string{"", "taizhang-device-signature/v2\n", SignaturePrefix + "unit 3:abc", SignaturePrefix + "unit 03:abc\n"} {
		if _, err := ParseSignedContent([]byte(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseSignedContent(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

// FuzzSignedContent: the decoder never panics, and whatever it accepts
// encodes back to exactly the input, so no two contents share a signed
// encoding.
func FuzzSignedContent(f *testing.F) {
	priv, _ := testKey(f, 1)
	c := sampleContent()
	s := sign(priv, c, time.Date(2026, 3, 5, 2, 0, 0, 0, time.UTC))
	c.Key, c.CapturedAt = s.Key, s.CapturedAt
	f.Add(c.Encode())
	f.Add(SignedContent{}.Encode())
	f.Add([]byte(SignaturePrefix + "unit 1:a\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseSignedContent(b)
		if err != nil {
			return
		}
		if got := c.Encode(); !bytes.Equal(got, b) {
			t.Fatalf("accepted %q but it encodes to %q", b, got)
		}
	})
}

// FuzzParsePublicKey: a key that parses formats back to the same text.
func FuzzParsePublicKey(f *testing.F) {
	_, pub := testKey(f, 3)
	f.Add(pub)
	f.Add("ed25519:")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParsePublicKey(s)
		if err != nil {
			return
		}
		if FormatPublicKey(k) != s {
			t.Fatalf("%q parses but formats as %q", s, FormatPublicKey(k))
		}
	})
}

// deviceEvent is a device event record of the users chain.
func deviceEvent(t *testing.T, seq uint64, typ Type, user, pub string) Record {
	t.Helper()
	k, err := ParsePublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	ev := &Event{ID: uuid.New(), Type: typ, Unit: UsersChain, Actor: Actor{ID: "admin", Role: RoleAdmin}, RecordedAt: time.Unix(int64(seq), 0)}
	if err := ev.SetData(Device{User: user, Key: KeyID(k), PublicKey: pub}); err != nil {
		t.Fatal(err)
	}
	return Record{Seq: seq, Event: ev}
}

// submission is a signed evidence.submitted record by actor.
func submission(t *testing.T, seq uint64, actor string, priv ed25519.PrivateKey, captured, recorded time.Time) Record {
	t.Helper()
	c := sampleContent()
	sig := sign(priv, c, captured)
	ev := &Event{ID: c.Evidence, Type: TypeEvidenceSubmitted, Unit: c.Unit, Actor: Actor{ID: actor, Role: RoleSubmitter},
		OccurredAt: c.OccurredAt, RecordedAt: recorded}
	for _, a := range c.Attachments {
		ev.Attachments = append(ev.Attachments, Attachment{SHA256: a.SHA256, Size: a.Size})
	}
	if err := ev.SetData(EvidenceSubmitted{Evidence: Evidence{Kind: c.Kind, Title: c.Title, Body: c.Body, Requirements: c.Requirements,
		Tags: c.Tags, Figures: c.Figures}, Version: 1, Device: &sig}); err != nil {
		t.Fatal(err)
	}
	return Record{Seq: seq, Event: ev}
}

func TestDeviceRegistryCheck(t *testing.T) {
	priv, pub := testKey(t, 1)
	_, pub2 := testKey(t, 2)
	reg := NewDeviceRegistry()
	for _, r := range []Record{
		deviceEvent(t, 10, TypeDeviceRegistered, "li", pub),
		deviceEvent(t, 20, TypeDeviceRegistered, "wang", pub2),
		deviceEvent(t, 30, TypeDeviceRevoked, "li", pub),
	} {
		if err := reg.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 3, 5, 2, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		rec     Record
		verdict DeviceVerdict
		late    bool
	}{
		{"before registration", submission(t, 5, "li", priv, at, at.Add(time.Hour)), DeviceUnknownKey, false},
		{"registered", submission(t, 15, "li", priv, at, at.Add(time.Hour)), DeviceOK, false},
		{"another user's key", submission(t, 15, "wang", priv, at, at.Add(time.Hour)), DeviceUnknownKey, false},
		{"after revocation", submission(t, 35, "li", priv, at, at.Add(time.Hour)), DeviceRevokedKey, false},
		{"captured after recorded", submission(t, 15, "li", priv, at.Add(2*time.Hour), at.Add(time.Hour)), DeviceOK, true},
	}
	for _, c := range cases {
		got, ok := reg.Check(c.rec)
		if !ok || got.Verdict != c.verdict || got.Late != c.late {
			t.Errorf("%s: %+v ok=%v, want verdict %s late %v", c.name, got, ok, c.verdict, c.late)
		}
	}
	forged := submission(t, 15, "li", priv, at, at.Add(time.Hour))
	forged.Event.Data = bytes.Replace(forged.Event.Data, []byte(`:"body"`), []byte(`:"BODY"`), 1)
	if got, _ := reg.Check(forged); got.Verdict != DeviceBadSignature {
		t.Errorf("forged body: %+v", got)
	}
	if got := reg.Devices("li"); len(got) != 1 || got[0].RevokedSeq != 30 {
		t.Errorf("devices of li: %+v", got)
	}
}

// BenchmarkDeviceCheck: checking one signed submission against the
// registry (decode the payload, rebuild the content, ed25519 verify).
func BenchmarkDeviceCheck(b *testing.B) {
	priv, pub := testKey(b, 1)
	reg := NewDeviceRegistry()
	k, _ := ParsePublicKey(pub)
	ev := &Event{ID: uuid.New(), Type: TypeDeviceRegistered, Unit: UsersChain, Actor: Actor{ID: "admin", Role: RoleAdmin}}
	if err := ev.SetData(Device{User: "li", Key: KeyID(k), PublicKey: pub}); err != nil {
		b.Fatal(err)
	}
	if err := reg.Apply(Record{Seq: 1, Event: ev}); err != nil {
		b.Fatal(err)
	}
	c := sampleContent()
	sig := sign(priv, c, time.Date(2026, 3, 5, 2, 0, 0, 0, time.UTC))
	sub := &Event{ID: c.Evidence, Type: TypeEvidenceSubmitted, Unit: c.Unit, Actor: Actor{ID: "li", Role: RoleSubmitter}, OccurredAt: c.OccurredAt, RecordedAt: time.Now()}
	for _, a := range c.Attachments {
		sub.Attachments = append(sub.Attachments, Attachment{SHA256: a.SHA256, Size: a.Size})
	}
	if err := sub.SetData(EvidenceSubmitted{Evidence: Evidence{Kind: c.Kind, Title: c.Title, Body: c.Body, Requirements: c.Requirements,
		Tags: c.Tags, Figures: c.Figures}, Version: 1, Device: &sig}); err != nil {
		b.Fatal(err)
	}
	rec := Record{Seq: 2, Event: sub}
	b.ReportAllocs()
	for b.Loop() {
		if got, _ := reg.Check(rec); got.Verdict != DeviceOK {
			b.Fatal(got)
		}
	}
}

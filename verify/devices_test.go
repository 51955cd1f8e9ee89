package verify_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
	tzjs "taizhang/events/jetstream"
	"taizhang/internal/testenv"
	"taizhang/verify"
)

// TestVerifyDeviceSignatures: verify re-checks every signed submission
// against the registry as of it: one by a registered key holds, one by an
// unregistered key and one captured after it was recorded are flagged
// (not problems), and a submission whose signed content was rewritten and
// resealed into a chain that holds together is a device_signature
// problem, whether all units or only that one are verified.
func TestVerifyDeviceSignatures(t *testing.T) {
	ctx := context.Background()
	l, err := tzjs.Open(ctx, testenv.StartNATS(t).Connect(t), tzjs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	admin := events.Actor{ID: "admin", Role: events.RoleAdmin}
	clerk := events.Actor{ID: "li", Role: events.RoleSubmitter}
	if _, err := l.RegisterUnit(ctx, "cun", events.UnitRegistered{Name: "村", UnitType: "village"}, admin, events.ClientAPI); err != nil {
		t.Fatal(err)
	}
	if _, err := l.RecordUser(ctx, events.UserCommand{Type: events.TypeUserCreated, User: events.User{ID: "li", Role: events.RoleSubmitter, Scope: "cun"}, Actor: admin, Client: events.ClientAPI}); err != nil {
		t.Fatal(err)
	}
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	stranger := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	pub := priv.Public().(ed25519.PublicKey)
	if _, err := l.RecordDevice(ctx, events.DeviceCommand{Type: events.TypeDeviceRegistered, Device: events.Device{User: "li", Key: events.KeyID(pub), PublicKey: events.FormatPublicKey(pub)}, Actor: clerk, Client: events.ClientCLI}); err != nil {
		t.Fatal(err)
	}
	submit := func(key ed25519.PrivateKey, title string, captured time.Time) events.Submission {
		s := events.Submission{ID: uuid.Must(uuid.NewV7()), Unit: "cun", Evidence: events.Evidence{Kind: events.KindActivity, Title: title},
			OccurredAt: time.Date(2016, 7, 1, 0, 0, 0, 0, time.UTC), Actor: clerk, Client: events.ClientCLI}
		sig := events.SignDevice(key, events.Content("cun", s.ID, s.Evidence, s.OccurredAt, nil), captured)
		s.Device = &sig
		if _, _, err := l.SubmitEvidence(ctx, s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	submit(priv, "簽名", time.Now().Add(-time.Hour))
	submit(stranger, "陌生鑰匙", time.Now().Add(-time.Hour))
	submit(priv, "未來", time.Now().Add(72*time.Hour))

	rep, err := verify.Run(ctx, l, nil, verify.Options{NoBlob: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Devices == nil {
		t.Fatalf("honest ledger: problems %v, devices %+v", rep.Problems, rep.Devices)
	}
	d := rep.Devices
	if d.Signed != 3 || d.OK != 2 || d.Keys != 1 || len(d.Flagged) != 2 {
		t.Fatalf("devices: %+v", d)
	}
	if f := d.Flagged[0]; f.Verdict != events.DeviceUnknownKey {
		t.Errorf("first flag: %+v", f)
	}
	if f := d.Flagged[1]; f.Verdict != events.DeviceOK || !f.Late || f.Ahead < 71*time.Hour {
		t.Errorf("second flag: %+v", f)
	}

	// A forger rewrites a signed submission's title and reseals it at
	// the chain's head: every hash and link holds, the signature does not.
	head, _, err := l.Head(ctx, "cun")
	if err != nil {
		t.Fatal(err)
	}
	s := events.Submission{ID: uuid.Must(uuid.NewV7()), Unit: "cun", Evidence: events.Evidence{Kind: events.KindActivity, Title: "原文"},
		OccurredAt: time.Date(2016, 7, 2, 0, 0, 0, 0, time.UTC)}
	sig := events.SignDevice(priv, events.Content("cun", s.ID, s.Evidence, s.OccurredAt, nil), time.Now().Add(-time.Hour))
	ev := &events.Event{ID: s.ID, Type: events.TypeEvidenceSubmitted, Schema: 1, Unit: "cun", Actor: clerk, Client: events.ClientCLI,
		OccurredAt: s.OccurredAt, RecordedAt: time.Now()}
	if err := ev.SetData(events.EvidenceSubmitted{Evidence: events.Evidence{Kind: events.KindActivity, Title: "改文"}, Version: 1, Device: &sig}); err != nil {
		t.Fatal(err)
	}
	if err := ev.Seal(head.Hash); err != nil {
		t.Fatal(err)
	}
	b, _ := events.Encode(ev)
	ack, err := l.JetStream().Publish(ctx, l.UnitSubjects("cun"), b)
	if err != nil {
		t.Fatal(err)
	}
	for _, opt := range []verify.Options{{NoBlob: true}, {NoBlob: true, Unit: "cun"}} {
		rep, err := verify.Run(ctx, l, nil, opt)
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, p := range rep.Problems {
			if p.Kind == "device_signature" && p.Seq == ack.Sequence && p.Event == ev.ID.String() {
				found = true
			} else {
				t.Errorf("unit %q: unexpected problem %v", opt.Unit, p)
			}
		}
		if !found || rep.Devices == nil || rep.Devices.Signed != 4 {
			t.Errorf("unit %q: the forged signature is not found: %v %+v", opt.Unit, rep.Problems, rep.Devices)
		}
	}
}

// BenchmarkVerifySigned: verifying one unit of 2,000 submissions, all
// unsigned or all device-signed, on one server in one run: what checking
// the signatures adds.
func BenchmarkVerifySigned(b *testing.B) {
	ctx := context.Background()
	for _, signed := range []bool{false, true} {
		l, err := tzjs.Open(ctx, testenv.StartNATS(b).Connect(b), tzjs.Config{})
		if err != nil {
			b.Fatal(err)
		}
		admin := events.Actor{ID: "admin", Role: events.RoleAdmin}
		clerk := events.Actor{ID: "li", Role: events.RoleSubmitter}
		if _, err := l.RegisterUnit(ctx, "cun", events.UnitRegistered{Name: "村", UnitType: "village"}, admin, events.ClientAPI); err != nil {
			b.Fatal(err)
		}
		if _, err := l.RecordUser(ctx, events.UserCommand{Type: events.TypeUserCreated, User: events.User{ID: "li", Role: events.RoleSubmitter, Scope: "cun"}, Actor: admin, Client: events.ClientAPI}); err != nil {
			b.Fatal(err)
		}
		priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
		pub := priv.Public().(ed25519.PublicKey)
		if _, err := l.RecordDevice(ctx, events.DeviceCommand{Type: events.TypeDeviceRegistered, Device: events.Device{User: "li", Key: events.KeyID(pub), PublicKey: events.FormatPublicKey(pub)}, Actor: clerk, Client: events.ClientCLI}); err != nil {
			b.Fatal(err)
		}
		const total = 2000
		for range total {
			s := events.Submission{ID: uuid.Must(uuid.NewV7()), Unit: "cun", Evidence: events.Evidence{Kind: events.KindActivity, Title: "七月集中學習"},
				OccurredAt: time.Date(2016, 7, 12, 9, 0, 0, 0, time.UTC), Actor: clerk, Client: events.ClientCLI}
			if signed {
				sig := events.SignDevice(priv, events.Content("cun", s.ID, s.Evidence, s.OccurredAt, nil), time.Now().Add(-time.Hour))
				s.Device = &sig
			}
			if _, _, err := l.SubmitEvidence(ctx, s); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(map[bool]string{false: "unsigned", true: "signed"}[signed], func(b *testing.B) {
			for b.Loop() {
				rep, err := verify.Run(ctx, l, nil, verify.Options{NoBlob: true})
				if err != nil || !rep.OK() || (signed && rep.Devices.OK != total) {
					b.Fatal(err, rep.Problems)
				}
			}
		})
		l.Close()
	}
}

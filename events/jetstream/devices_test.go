package jetstream_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
	"taizhang/internal/testenv"
)

// signedSubmission is a submission to unit by clerk signed with priv.
func signedSubmission(unit string, priv ed25519.PrivateKey, captured time.Time) events.Submission {
	s := events.Submission{ID: uuid.Must(uuid.NewV7()), Unit: unit,
		Evidence:   events.Evidence{Kind: events.KindActivity, Title: "端午活動", Requirements: []string{"festivals"}},
		OccurredAt: time.Date(2016, 6, 9, 9, 0, 0, 0, time.UTC), Actor: clerk, Client: events.ClientCLI,
		Attachments: []events.Attachment{{SHA256: "ab" + string(bytes.Repeat([]byte("c"), 62)), Size: 42, MediaType: "image/jpeg", Name: "a.jpg"}}}
	atts := []events.SignedAttachment{{SHA256: s.Attachments[0].SHA256, Size: 42}}
	sig := events.SignDevice(priv, events.Content(unit, s.ID, s.Evidence, s.OccurredAt, atts), captured)
	s.Device = &sig
	return s
}

func TestDevicesRegisterSignRevoke(t *testing.T) {
	ctx := context.Background()
	l := openLedger(t, testenv.StartNATS(t))
	register(t, l, "dongcun")
	if _, err := l.RecordUser(ctx, events.UserCommand{Type: events.TypeUserCreated, User: events.User{ID: clerk.ID, Role: events.RoleSubmitter, Scope: "dongcun"}, Actor: admin, Client: events.ClientCLI}); err != nil {
		t.Fatal(err)
	}
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	pub := priv.Public().(ed25519.PublicKey)
	dev := events.Device{User: clerk.ID, Key: events.KeyID(pub), PublicKey: events.FormatPublicKey(pub), Label: "李的手機"}

	// Signed before the key is registered: recorded, unknown key.
	early := signedSubmission("dongcun", priv, time.Now())
	recEarly, _, err := l.SubmitEvidence(ctx, early)
	if err != nil {
		t.Fatal(err)
	}

	cmd := events.DeviceCommand{ID: uuid.Must(uuid.NewV7()), Type: events.TypeDeviceRegistered, Device: dev, Actor: clerk, Client: events.ClientCLI}
	first, err := l.RecordDevice(ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	again, err := l.RecordDevice(ctx, cmd)
	if err != nil || again.Seq != first.Seq {
		t.Fatalf("retry of the registration: %v, seq %d vs %d", err, again.Seq, first.Seq)
	}
	cmd.ID = uuid.Nil
	if _, err := l.RecordDevice(ctx, cmd); !errors.Is(err, events.ErrExists) {
		t.Fatalf("second registration of the key: %v", err)
	}
	bad := dev
	bad.User = "nobody"
	if _, err := l.RecordDevice(ctx, events.DeviceCommand{Type: events.TypeDeviceRegistered, Device: bad, Actor: admin, Client: events.ClientCLI}); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("registration to an unknown user: %v", err)
	}

	good := signedSubmission("dongcun", priv, time.Now().Add(-time.Minute))
	recGood, created, err := l.SubmitEvidence(ctx, good)
	if err != nil || !created {
		t.Fatalf("signed submission: %v created=%v", err, created)
	}
	late := signedSubmission("dongcun", priv, time.Now().Add(48*time.Hour))
	recLate, _, err := l.SubmitEvidence(ctx, late)
	if err != nil {
		t.Fatalf("a late capture time is recorded, not refused: %v", err)
	}

	tampered := signedSubmission("dongcun", priv, time.Now())
	tampered.Evidence.Title = "另一個活動"
	if _, _, err := l.SubmitEvidence(ctx, tampered); !errors.Is(err, events.ErrBadSignature) || !errors.Is(err, events.ErrInvalid) {
		t.Fatalf("tampered title: %v, want ErrBadSignature and ErrInvalid", err)
	}
	resized := signedSubmission("dongcun", priv, time.Now())
	resized.Attachments[0].Size++
	if _, _, err := l.SubmitEvidence(ctx, resized); !errors.Is(err, events.ErrBadSignature) {
		t.Fatalf("attachment of another size: %v", err)
	}
	noID := signedSubmission("dongcun", priv, time.Now())
	noID.ID = uuid.Nil
	if _, _, err := l.SubmitEvidence(ctx, noID); !errors.Is(err, events.ErrInvalid) {
		t.Fatalf("signed submission without its id: %v", err)
	}

	if _, err := l.RecordDevice(ctx, events.DeviceCommand{Type: events.TypeDeviceRevoked, Device: events.Device{User: clerk.ID, Key: dev.Key}, Actor: admin, Client: events.ClientCLI}); !errors.Is(err, events.ErrInvalid) {
		t.Fatalf("revocation without a reason: %v", err)
	}
	if _, err := l.RecordDevice(ctx, events.DeviceCommand{Type: events.TypeDeviceRevoked, Device: events.Device{User: clerk.ID, Key: dev.Key}, Reason: "手機遺失", Actor: admin, Client: events.ClientCLI}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.RecordDevice(ctx, events.DeviceCommand{Type: events.TypeDeviceRevoked, Device: events.Device{User: clerk.ID, Key: dev.Key}, Reason: "again", Actor: admin, Client: events.ClientCLI}); !errors.Is(err, events.ErrConflict) {
		t.Fatalf("second revocation: %v", err)
	}
	after := signedSubmission("dongcun", priv, time.Now())
	recAfter, _, err := l.SubmitEvidence(ctx, after)
	if err != nil {
		t.Fatalf("a revoked key's submission is recorded and flagged: %v", err)
	}

	reg, err := l.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		rec     *events.Record
		verdict events.DeviceVerdict
		late    bool
	}{{recEarly, events.DeviceUnknownKey, false}, {recGood, events.DeviceOK, false}, {recLate, events.DeviceOK, true}, {recAfter, events.DeviceRevokedKey, false}} {
		got, ok := reg.Check(*c.rec)
		if !ok || got.Verdict != c.verdict || got.Late != c.late {
			t.Errorf("seq %d: %+v, want %s late=%v", c.rec.Seq, got, c.verdict, c.late)
		}
	}
	recs := mustHistory(t, l, "dongcun")
	var stored events.EvidenceSubmitted
	for _, r := range recs {
		if r.Event.ID == good.ID {
			if err := r.Event.DecodeData(&stored); err != nil {
				t.Fatal(err)
			}
		}
	}
	if stored.Device == nil || stored.Device.Signature != good.Device.Signature {
		t.Fatalf("the event does not record the signature: %+v", stored.Device)
	}
}

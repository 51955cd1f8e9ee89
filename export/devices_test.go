package export_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
	"taizhang/export"
)

// TestBagDeviceSignatures: a bag with device-signed submissions carries
// the users chain and its proof; offline, one by a registered key holds,
// one by a key never registered is flagged, and a signed event rewritten
// and resealed in the bag is a problem, as are a missing or shortened
// registry.
func TestBagDeviceSignatures(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	l := f.ledger
	if _, err := l.RecordUser(ctx, events.UserCommand{Type: events.TypeUserCreated, User: events.User{ID: clerk.ID, Role: events.RoleSubmitter, Scope: "cun-2"}, Actor: admin, Client: events.ClientCLI}); err != nil {
		t.Fatal(err)
	}
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32))
	pub := priv.Public().(ed25519.PublicKey)
	if _, err := l.RecordDevice(ctx, events.DeviceCommand{Type: events.TypeDeviceRegistered, Device: events.Device{User: clerk.ID, Key: events.KeyID(pub), PublicKey: events.FormatPublicKey(pub)}, Actor: admin, Client: events.ClientCLI}); err != nil {
		t.Fatal(err)
	}
	stranger := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{6}, 32))
	var signedID uuid.UUID
	for _, k := range []ed25519.PrivateKey{stranger, priv} {
		s := events.Submission{ID: uuid.New(), Unit: "cun-2", Evidence: events.Evidence{Kind: events.KindActivity, Title: "簽名的活動"},
			OccurredAt: july2, Actor: clerk, Client: events.ClientCLI}
		sig := events.SignDevice(k, events.Content("cun-2", s.ID, s.Evidence, s.OccurredAt, nil), july3.Add(-time.Hour))
		s.Device = &sig
		if _, _, err := l.SubmitEvidence(ctx, s); err != nil {
			t.Fatal(err)
		}
		signedID = s.ID
	}
	b, err := export.Prepare(ctx, l, f.blobs, f.cps, export.Options{Unit: "cun-2", Exporter: "root (admin)", Now: func() time.Time { return july3.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := b.WriteTo(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	zipped := buf.Bytes()
	rep := verify(t, zipped, export.VerifyOptions{PublicKey: f.vkey})
	if !rep.OK() || rep.Devices == nil || rep.Devices.Signed != 2 || rep.Devices.OK != 1 || len(rep.Devices.Flagged) != 1 ||
		rep.Devices.Flagged[0].Verdict != events.DeviceUnknownKey {
		t.Fatalf("honest bag: problems %v, devices %+v", rep.Problems, rep.Devices)
	}

	files := entries(t, zipped)
	d := bagDir(files)
	if idx := string(files[d+export.IndexHTML]); strings.Count(idx, "device-signed: key") != 2 || !strings.Contains(idx, ": unknown_key") {
		t.Errorf("index.html does not show the device verdicts:\n%s", idx)
	}
	// The last event (the registered key's submission) rewritten and resealed.
	forge := func(b []byte) []byte {
		var out bytes.Buffer
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var line export.Line
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatal(err)
			}
			if line.ID == signedID {
				line.Data = bytes.Replace(line.Data, []byte("簽名的活動"), []byte("偽造的活動"), 1)
				if err := line.Seal(line.Prev); err != nil {
					t.Fatal(err)
				}
			}
			j, _ := json.Marshal(line)
			out.Write(append(j, '\n'))
		}
		return out.Bytes()
	}
	dropLast := func(b []byte) []byte {
		lines := bytes.SplitAfter(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
		return bytes.Join(lines[:len(lines)-1], nil)
	}
	for _, c := range []struct {
		name   string
		change map[string]func([]byte) []byte
		file   string
		msg    string
	}{
		{"signed event forged", map[string]func([]byte) []byte{export.EventsJSONL: forge}, export.EventsJSONL, "device signature does not verify"},
		{"registry removed", map[string]func([]byte) []byte{export.DevicesJSONL: func([]byte) []byte { return nil }}, export.DevicesJSONL, "missing"},
		{"registry shortened", map[string]func([]byte) []byte{export.DevicesJSONL: dropLast}, export.DevicesJSONL, "incomplete"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep := verify(t, rezip(t, files, d, c.change), export.VerifyOptions{PublicKey: f.vkey})
			for _, p := range rep.Problems {
				if p.File == c.file && strings.Contains(p.Msg, c.msg) {
					return
				}
			}
			t.Errorf("no problem in %s saying %q: %v", c.file, c.msg, rep.Problems)
		})
	}
}

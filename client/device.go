package client

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
)

// DeviceKey is a device's ed25519 signing key. Its public key, registered
// to a user (POST /api/v1/devices, `taizhang device register`), lets the
// ledger, verify and an exported bag check that a submission is what the
// device captured.
type DeviceKey struct{ priv ed25519.PrivateKey }

// pemType is the PEM block type of a saved device key (PKCS #8).
const pemType = "PRIVATE KEY"

// NewDeviceKey generates a device key.
func NewDeviceKey() (*DeviceKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate device key: %w", err)
	}
	return &DeviceKey{priv: priv}, nil
}

// DeviceKeyFromSeed returns the device key of a 32-byte ed25519 seed.
func DeviceKeyFromSeed(seed []byte) (*DeviceKey, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("device key seed: want %d bytes, got %d", ed25519.SeedSize, len(seed))
	}
	return &DeviceKey{priv: ed25519.NewKeyFromSeed(seed)}, nil
}

// Save writes the key to path as a PKCS #8 PEM file readable by its owner
// only (0600). It never overwrites an existing file.
func (k *DeviceKey) Save(path string) error {
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return fmt.Errorf("encode device key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("save device key: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: pemType, Bytes: der}); err != nil {
		f.Close()
		return fmt.Errorf("save device key %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("save device key %s: %w", path, err)
	}
	return f.Close()
}

// LoadDeviceKey reads a key Save wrote. A file that others than its owner
// may read is refused, as ssh refuses such a key: whoever can read it can
// sign as the device.
func LoadDeviceKey(path string) (*DeviceKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("device key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("device key %s is readable by others (mode %04o): chmod 600 it", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("device key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != pemType {
		return nil, fmt.Errorf("device key %s: not a PEM %q block", path, pemType)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("device key %s: %w", path, err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("device key %s: a %T, not an ed25519 key", path, key)
	}
	return &DeviceKey{priv: priv}, nil
}

// PublicKey returns the public key in the form the server registers
// ("ed25519:" + base64).
func (k *DeviceKey) PublicKey() string {
	return events.FormatPublicKey(k.priv.Public().(ed25519.PublicKey))
}

// ID returns the key's id (events.KeyID).
func (k *DeviceKey) ID() string { return events.KeyID(k.priv.Public().(ed25519.PublicKey)) }

// Device is the "device" object of a signed submission's evidence JSON
// (the server's DeviceInput).
type Device struct {
	Key        string `json:"key"`
	PublicKey  string `json:"public_key"`
	CapturedAt string `json:"captured_at"`
	Signature  string `json:"signature"`
}

// FileAttachment returns a file's digest and size as a device signs them,
// reading it once.
func FileAttachment(path string) (events.SignedAttachment, error) {
	f, err := os.Open(path)
	if err != nil {
		return events.SignedAttachment{}, fmt.Errorf("attachment: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return events.SignedAttachment{}, fmt.Errorf("attachment %s: %w", path, err)
	}
	return events.SignedAttachment{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

// Sign signs a submission of ev to unit with attachments (digest and size
// of each file, in any order) as captured at captured, and returns ev
// with its Device set. ev must carry its id. An occurred_at given as a
// YYYY-MM-DD date is resolved to midnight in zone and sent as RFC 3339,
// so that the server records the instant that was signed. The signed
// bytes are events.SignedContent's, the same the server, verify and the
// bag check rebuild.
func (k *DeviceKey) Sign(unit string, ev Evidence, attachments []events.SignedAttachment, zone *time.Location, captured time.Time) (Evidence, error) {
	id, err := uuid.Parse(ev.ID)
	if err != nil || id == uuid.Nil {
		return ev, errors.New("sign: the evidence needs its id (the device signs it)")
	}
	occurred, err := time.Parse(time.RFC3339Nano, ev.OccurredAt)
	if err != nil {
		if zone == nil {
			zone = time.UTC
		}
		if occurred, err = time.ParseInLocation(time.DateOnly, ev.OccurredAt, zone); err != nil {
			return ev, fmt.Errorf("sign: occurred_at %q is not an RFC 3339 time or a YYYY-MM-DD date", ev.OccurredAt)
		}
		ev.OccurredAt = occurred.Format(time.RFC3339)
	}
	e := events.Evidence{Kind: events.Kind(ev.Kind), Title: ev.Title, Body: ev.Body, Requirements: ev.Requirements,
		Tags: ev.Tags, Figures: ev.Figures, Finding: ev.Finding}
	sig := events.SignDevice(k.priv, events.Content(unit, id, e, occurred, attachments), captured)
	ev.Device = &Device{Key: sig.Key, PublicKey: sig.PublicKey, CapturedAt: sig.CapturedAt.Format(time.RFC3339Nano), Signature: sig.Signature}
	return ev, nil
}

// SignFiles is Sign with the attachments read from files.
func (k *DeviceKey) SignFiles(unit string, ev Evidence, files []string, zone *time.Location, captured time.Time) (Evidence, error) {
	atts := make([]events.SignedAttachment, len(files))
	for i, f := range files {
		a, err := FileAttachment(f)
		if err != nil {
			return ev, err
		}
		atts[i] = a
	}
	return k.Sign(unit, ev, atts, zone, captured)
}

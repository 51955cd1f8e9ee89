package events

import (
	"bytes"
	"cmp"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Device event types. They belong to the users chain (UsersChain), next to
// the user events: a device key is registered to a user, and revoked, in
// the ledger like every other grant, so that "which keys could sign for
// whom at sequence N" replays, offline too.
const (
	TypeDeviceRegistered Type = "device.registered"
	TypeDeviceRevoked    Type = "device.revoked"
)

// IsDeviceType reports whether t is a device event type.
func IsDeviceType(t Type) bool { return t == TypeDeviceRegistered || t == TypeDeviceRevoked }

// PublicKeyPrefix starts the text form of a device public key:
// "ed25519:" and the 32-byte key in standard base64 without padding.
const PublicKeyPrefix = "ed25519:"

// MaxDeviceLabel bounds a device's label, in characters.
const MaxDeviceLabel = 100

// Device is the payload of TypeDeviceRegistered and TypeDeviceRevoked: the
// user the key signs for, the key's id (KeyID of the public key), the
// public key and a label the user chose ("Li's phone").
type Device struct {
	User      string `json:"user"`
	Key       string `json:"key"`
	PublicKey string `json:"public_key"`
	Label     string `json:"label,omitempty"`
}

// Validate returns an error wrapping ErrInvalid naming the first problem:
// a bad user id, a public key that does not parse, a key id that is not
// the public key's, or a label too long.
func (d Device) Validate() error {
	if err := ValidUserID(d.User); err != nil {
		return err
	}
	pub, err := ParsePublicKey(d.PublicKey)
	if err != nil {
		return err
	}
	if d.Key != KeyID(pub) {
		return fmt.Errorf("%w: device key id %q is not the id of its public key (%s)", ErrInvalid, d.Key, KeyID(pub))
	}
	if !utf8.ValidString(d.Label) || utf8.RuneCountInString(d.Label) > MaxDeviceLabel {
		return fmt.Errorf("%w: device label must be at most %d characters of UTF-8", ErrInvalid, MaxDeviceLabel)
	}
	return nil
}

// FormatPublicKey returns the text form of pub (PublicKeyPrefix + base64).
func FormatPublicKey(pub ed25519.PublicKey) string {
	return PublicKeyPrefix + base64.RawStdEncoding.EncodeToString(pub)
}

// ParsePublicKey parses the text form FormatPublicKey writes, and only
// that form: the prefix, then exactly 43 characters of unpadded standard
// base64 holding 32 bytes. It returns an error wrapping ErrInvalid.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	rest, ok := strings.CutPrefix(s, PublicKeyPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: device public key %q must start with %q", ErrInvalid, clip(s), PublicKeyPrefix)
	}
	// The length first: the decoder skips '\r' and '\n', so that without
	// it two texts would parse to one key.
	b, err := base64.RawStdEncoding.Strict().DecodeString(rest)
	if len(rest) != base64.RawStdEncoding.EncodedLen(ed25519.PublicKeySize) || err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: device public key %q is not %q and 32 bytes of unpadded base64", ErrInvalid, clip(s), PublicKeyPrefix)
	}
	return ed25519.PublicKey(b), nil
}

// clip shortens a value quoted in an error.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// KeyID is a device key's id: the first 16 hex digits of the SHA-256 of
// the 32 public key bytes.
func KeyID(pub ed25519.PublicKey) string {
	d := sha256.Sum256(pub)
	return hex.EncodeToString(d[:8])
}

// DeviceSignature is a device's statement about a submission, sent with it
// and recorded in its event (EvidenceSubmitted.Device): the key's id and
// public key, when the device says it captured the evidence, and the
// ed25519 signature (standard base64, padded) over SignedContent's
// encoding.
type DeviceSignature struct {
	Key        string    `json:"key"`
	PublicKey  string    `json:"public_key"`
	CapturedAt time.Time `json:"captured_at"`
	Signature  string    `json:"signature"`
}

// Check returns an error wrapping ErrInvalid if s is malformed: a public
// key that does not parse, a key id that is not its id, no capture time,
// or a signature that is not 64 bytes of base64. A well-formed signature
// may still not verify; see Verify.
func (s DeviceSignature) Check() error {
	pub, err := ParsePublicKey(s.PublicKey)
	if err != nil {
		return err
	}
	if s.Key != KeyID(pub) {
		return fmt.Errorf("%w: device key id %q is not the id of its public key (%s)", ErrInvalid, s.Key, KeyID(pub))
	}
	if s.CapturedAt.IsZero() || s.CapturedAt.Year() < 1970 || s.CapturedAt.Year() > 9999 {
		return fmt.Errorf("%w: device signature needs a capture time", ErrInvalid)
	}
	if sig, err := base64.StdEncoding.Strict().DecodeString(s.Signature); err != nil || len(sig) != ed25519.SignatureSize ||
		len(s.Signature) != base64.StdEncoding.EncodedLen(ed25519.SignatureSize) {
		return fmt.Errorf("%w: device signature must be %d bytes of standard base64", ErrInvalid, ed25519.SignatureSize)
	}
	return nil
}

// Verify reports whether s is a valid signature by its public key over
// c's encoding, with c naming s's key and capture time. It returns nil or
// an error wrapping ErrBadSignature.
func (s DeviceSignature) Verify(c SignedContent) error {
	if err := s.Check(); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	pub, _ := ParsePublicKey(s.PublicKey)
	sig, _ := base64.StdEncoding.DecodeString(s.Signature)
	c.Key, c.CapturedAt = s.Key, s.CapturedAt
	if !ed25519.Verify(pub, c.Encode(), sig) {
		return fmt.Errorf("%w: device %s's signature does not match the submission's content", ErrBadSignature, s.Key)
	}
	return nil
}

// SignDevice signs c with a device's private key as of captured (the
// device's capture time): the signature block a submission carries. c's
// Key and CapturedAt are set from priv and captured.
func SignDevice(priv ed25519.PrivateKey, c SignedContent, captured time.Time) DeviceSignature {
	pub := priv.Public().(ed25519.PublicKey)
	c.Key, c.CapturedAt = KeyID(pub), captured.UTC().Truncate(time.Microsecond)
	return DeviceSignature{Key: c.Key, PublicKey: FormatPublicKey(pub), CapturedAt: c.CapturedAt,
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(priv, c.Encode()))}
}

// ErrBadSignature marks a device signature that does not verify over the
// content it came with.
var ErrBadSignature = errors.New("device signature does not verify")

// SignedAttachment is an attachment as a device signs it: its digest and
// size.
type SignedAttachment struct {
	SHA256 string
	Size   int64
}

// SignedContent is what a device signs for a submission: everything the
// submitter states (unit, evidence id, kind, title, body, occurred_at,
// requirements, tags, figures, the finding answered), every attachment's
// digest and size, and the device's key id and capture time. Encode gives
// the bytes signed; the client signer, the server's check, verify and the
// bag check all build them here.
type SignedContent struct {
	Unit         string
	Evidence     uuid.UUID
	Kind         Kind
	Title        string
	Body         string
	OccurredAt   time.Time
	Requirements []string
	Tags         []string
	Figures      map[string]float64
	Finding      string
	Attachments  []SignedAttachment
	Key          string
	CapturedAt   time.Time
}

// SignaturePrefix is the domain separation line that starts every
// SignedContent encoding, so that a device signature can never be taken
// for a signature over anything else.
const SignaturePrefix = "taizhang-device-signature/v1\n"

// signedTime is the one form of a time in SignedContent: UTC, exactly six
// fractional digits.
const signedTime = "2006-01-02T15:04:05.000000Z"

// Content returns the SignedContent of a submission of ev (its id is the
// evidence id) to unit with attachments, as the ledger will record it:
// the title trimmed, times at the ledger's precision. The key and capture
// time are left for the signer.
func Content(unit string, id uuid.UUID, ev Evidence, occurred time.Time, attachments []SignedAttachment) SignedContent {
	return SignedContent{Unit: unit, Evidence: id, Kind: ev.Kind, Title: strings.TrimSpace(ev.Title), Body: ev.Body,
		OccurredAt: occurred, Requirements: ev.Requirements, Tags: ev.Tags, Figures: ev.Figures, Finding: ev.Finding,
		Attachments: attachments}
}

// ContentOf returns the SignedContent of a recorded evidence.submitted
// event and its device signature (nil if it was not signed). It returns
// an error wrapping ErrInvalid for another event type or a payload that
// does not decode.
func ContentOf(ev *Event) (SignedContent, *DeviceSignature, error) {
	if ev.Type != TypeEvidenceSubmitted {
		return SignedContent{}, nil, fmt.Errorf("%w: %s is not a submission", ErrInvalid, ev.Type)
	}
	var p EvidenceSubmitted
	if err := ev.DecodeData(&p); err != nil {
		return SignedContent{}, nil, err
	}
	atts := make([]SignedAttachment, len(ev.Attachments))
	for i, a := range ev.Attachments {
		atts[i] = SignedAttachment{SHA256: a.SHA256, Size: a.Size}
	}
	c := Content(ev.Unit, ev.ID, p.Evidence, ev.OccurredAt, atts)
	if p.Device != nil {
		c.Key, c.CapturedAt = p.Device.Key, p.Device.CapturedAt
	}
	return c, p.Device, nil
}

// Encode returns the bytes a device signs: SignaturePrefix, then one
// record per value, each "name length:value\n" with the value's length in
// bytes in decimal, in this order: unit, evidence, kind, title, body,
// occurred_at, a requirement record per requirement and a tag record per
// tag (in their order), a figure-name and a figure-value record per
// figure (sorted by name; the value in Go's shortest 'g' form), finding,
// an attachment record per attachment ("<sha256 hex> <size>", sorted), key
// and captured_at. Times are UTC with six fractional digits. Every value
// carries its length, so no two contents encode alike
// (ParseSignedContent reads the encoding back).
func (c SignedContent) Encode() []byte {
	var b bytes.Buffer
	b.WriteString(SignaturePrefix)
	rec := func(name, v string) {
		b.WriteString(name)
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(len(v)))
		b.WriteByte(':')
		b.WriteString(v)
		b.WriteByte('\n')
	}
	rec("unit", c.Unit)
	rec("evidence", c.Evidence.String())
	rec("kind", string(c.Kind))
	rec("title", c.Title)
	rec("body", c.Body)
	rec("occurred_at", formatSigned(c.OccurredAt))
	for _, r := range c.Requirements {
		rec("requirement", r)
	}
	for _, t := range c.Tags {
		rec("tag", t)
	}
	names := make([]string, 0, len(c.Figures))
	for k := range c.Figures {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		rec("figure-name", k)
		rec("figure-value", strconv.FormatFloat(c.Figures[k], 'g', -1, 64))
	}
	rec("finding", c.Finding)
	atts := slices.Clone(c.Attachments)
	slices.SortFunc(atts, func(x, y SignedAttachment) int {
		return cmp.Or(strings.Compare(x.SHA256, y.SHA256), cmp.Compare(x.Size, y.Size))
	})
	for _, a := range atts {
		rec("attachment", a.SHA256+" "+strconv.FormatInt(a.Size, 10))
	}
	rec("key", c.Key)
	rec("captured_at", formatSigned(c.CapturedAt))
	return b.Bytes()
}

func formatSigned(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Truncate(time.Microsecond).Format(signedTime)
}

// MaxSignedContent bounds what ParseSignedContent reads.
const MaxSignedContent = MaxEventSize

// ParseSignedContent reads an encoding Encode wrote, strictly: it returns
// an error wrapping ErrInvalid for anything else, and for every input it
// accepts Encode of the result gives back exactly the input. It is for
// tools and tests that inspect what was signed; checking a signature
// never needs it, since the content is rebuilt from the event.
func ParseSignedContent(b []byte) (SignedContent, error) {
	var c SignedContent
	bad := func(f string, a ...any) (SignedContent, error) {
		return SignedContent{}, fmt.Errorf("%w: signed content: %s", ErrInvalid, fmt.Sprintf(f, a...))
	}
	if len(b) > MaxSignedContent {
		return bad("over %d bytes", MaxSignedContent)
	}
	rest, ok := bytes.CutPrefix(b, []byte(SignaturePrefix))
	if !ok {
		return bad("does not start with %q", SignaturePrefix)
	}
	type record struct{ name, value string }
	var recs []record
	for len(rest) > 0 {
		sp := bytes.IndexByte(rest, ' ')
		colon := bytes.IndexByte(rest, ':')
		if sp <= 0 || colon < sp+2 {
			return bad("record %d is not \"name length:value\"", len(recs))
		}
		digits := string(rest[sp+1 : colon])
		n, err := strconv.Atoi(digits)
		if err != nil || n < 0 || strconv.Itoa(n) != digits || n > len(rest)-colon-2 {
			return bad("record %d has a bad length %q", len(recs), digits)
		}
		v := rest[colon+1 : colon+1+n]
		if rest[colon+1+n] != '\n' {
			return bad("record %d does not end after its length", len(recs))
		}
		recs = append(recs, record{string(rest[:sp]), string(v)})
		rest = rest[colon+2+n:]
	}
	i := 0
	next := func(name string) (string, bool) {
		if i < len(recs) && recs[i].name == name {
			i++
			return recs[i-1].value, true
		}
		return "", false
	}
	want := func(name string) (string, error) {
		if v, ok := next(name); ok {
			return v, nil
		}
		return "", fmt.Errorf("%w: signed content: record %d is not %q", ErrInvalid, i, name)
	}
	var err error
	var v string
	if c.Unit, err = want("unit"); err != nil {
		return SignedContent{}, err
	}
	if v, err = want("evidence"); err != nil {
		return SignedContent{}, err
	}
	if c.Evidence, err = uuid.Parse(v); err != nil || c.Evidence.String() != v {
		return bad("evidence %q is not a lowercase UUID", v)
	}
	if v, err = want("kind"); err != nil {
		return SignedContent{}, err
	}
	c.Kind = Kind(v)
	if c.Title, err = want("title"); err != nil {
		return SignedContent{}, err
	}
	if c.Body, err = want("body"); err != nil {
		return SignedContent{}, err
	}
	if v, err = want("occurred_at"); err != nil {
		return SignedContent{}, err
	}
	if c.OccurredAt, err = parseSigned(v); err != nil {
		return bad("occurred_at: %v", err)
	}
	for r, ok := next("requirement"); ok; r, ok = next("requirement") {
		c.Requirements = append(c.Requirements, r)
	}
	for t, ok := next("tag"); ok; t, ok = next("tag") {
		c.Tags = append(c.Tags, t)
	}
	prev := ""
	for k, ok := next("figure-name"); ok; k, ok = next("figure-name") {
		if c.Figures != nil && k <= prev {
			return bad("figures not sorted by name, or a name twice")
		}
		if v, err = want("figure-value"); err != nil {
			return SignedContent{}, err
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || strconv.FormatFloat(f, 'g', -1, 64) != v {
			return bad("figure %q has a non-canonical value %q", k, v)
		}
		if c.Figures == nil {
			c.Figures = map[string]float64{}
		}
		c.Figures[k], prev = f, k
	}
	if c.Finding, err = want("finding"); err != nil {
		return SignedContent{}, err
	}
	for a, ok := next("attachment"); ok; a, ok = next("attachment") {
		digest, size, found := strings.Cut(a, " ")
		n, err := strconv.ParseInt(size, 10, 64)
		if !found || err != nil || strconv.FormatInt(n, 10) != size {
			return bad("attachment %q is not \"sha256 size\"", a)
		}
		sa := SignedAttachment{SHA256: digest, Size: n}
		if k := len(c.Attachments); k > 0 {
			p := c.Attachments[k-1]
			if cmp.Or(strings.Compare(p.SHA256, sa.SHA256), cmp.Compare(p.Size, sa.Size)) > 0 {
				return bad("attachments not sorted")
			}
		}
		c.Attachments = append(c.Attachments, sa)
	}
	if c.Key, err = want("key"); err != nil {
		return SignedContent{}, err
	}
	if v, err = want("captured_at"); err != nil {
		return SignedContent{}, err
	}
	if c.CapturedAt, err = parseSigned(v); err != nil {
		return bad("captured_at: %v", err)
	}
	if i != len(recs) {
		return bad("unexpected record %q", recs[i].name)
	}
	return c, nil
}

// parseSigned reads a time as formatSigned writes it ("" is zero).
func parseSigned(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(signedTime, v)
	if err != nil {
		return time.Time{}, err
	}
	if t.Format(signedTime) != v {
		return time.Time{}, fmt.Errorf("%q is not in the form %s", v, signedTime)
	}
	return t, nil
}

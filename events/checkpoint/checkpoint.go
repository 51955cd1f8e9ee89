// Package checkpoint holds taizhang's signed checkpoints over the whole
// ledger: an RFC 6962 Merkle tree (transparency-log style, built with
// github.com/transparency-dev/merkle) whose leaves are the events' hashes in
// stream order, the checkpoint body in the C2SP tlog-checkpoint format
// signed as a C2SP signed note with Ed25519 (golang.org/x/mod/sumdb/note),
// inclusion and consistency proofs, and the unit heads commitment: a second
// Merkle root over the sorted list of every unit's (id, head hash, event
// count), carried in an extension line, so that an export can prove it holds
// all of a unit's events as of a checkpoint. It is pure: the stream that
// stores checkpoints and the process that writes them live in
// events/jetstream.
package checkpoint

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Errors of parsing and verification.
var (
	ErrMalformed    = errors.New("malformed checkpoint")
	ErrBadSignature = errors.New("checkpoint signature does not verify")
	ErrUnknownKey   = errors.New("checkpoint is not signed by the expected key")
)

// OriginPrefix starts every taizhang origin: the origin is
// "taizhang/<ledger stream name>", and the signing key has the same name.
const OriginPrefix = "taizhang/"

// Origin returns the origin line of the log over the named ledger stream.
func Origin(stream string) string { return OriginPrefix + stream }

// Extension line keys.
const (
	extTime  = "tz-time"
	extUnits = "tz-units"
)

// Checkpoint is a signed statement of the ledger's tree at a size. Its text
// form is a C2SP tlog-checkpoint:
//
//	taizhang/TAIZHANG_LEDGER
//	<tree size>
//	<base64 root hash>
//	tz-time <RFC 3339 UTC time of signing>
//	tz-units <number of units> <base64 root of the unit heads tree>
//
// Standard tooling reads the first three lines and ignores the extension
// lines.
type Checkpoint struct {
	Origin    string    `json:"origin"`
	Size      uint64    `json:"tree_size"`
	Root      Hash      `json:"root_hash"`
	Time      time.Time `json:"time"`
	Units     uint64    `json:"units"`
	UnitsRoot Hash      `json:"units_root"`
}

// Marshal returns the note text of c.
func (c Checkpoint) Marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n%d\n%s\n", c.Origin, c.Size, c.Root)
	fmt.Fprintf(&b, "%s %s\n", extTime, c.Time.UTC().Format(time.RFC3339Nano))
	fmt.Fprintf(&b, "%s %d %s\n", extUnits, c.Units, c.UnitsRoot)
	return b.Bytes()
}

// Parse parses note text (without signatures). Unknown extension lines are
// ignored; the taizhang ones are required.
func Parse(text []byte) (Checkpoint, error) {
	var c Checkpoint
	bad := func(format string, args ...any) (Checkpoint, error) {
		return Checkpoint{}, fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	s := string(text)
	if !strings.HasSuffix(s, "\n") {
		return bad("text does not end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) < 3 {
		return bad("fewer than three lines")
	}
	for _, l := range lines {
		if l == "" {
			return bad("empty line")
		}
	}
	c.Origin = lines[0]
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || (len(lines[1]) > 1 && lines[1][0] == '0') {
		return bad("tree size %q is not a decimal number", lines[1])
	}
	c.Size = size
	if c.Root, err = ParseHash(lines[2]); err != nil {
		return bad("root hash: %v", err)
	}
	var haveTime, haveUnits bool
	for _, l := range lines[3:] {
		key, val, _ := strings.Cut(l, " ")
		switch key {
		case extTime:
			t, err := time.Parse(time.RFC3339Nano, val)
			if err != nil {
				return bad("time %q: %v", val, err)
			}
			c.Time, haveTime = t.UTC(), true
		case extUnits:
			n, root, _ := strings.Cut(val, " ")
			if c.Units, err = strconv.ParseUint(n, 10, 64); err != nil {
				return bad("unit count %q", n)
			}
			if c.UnitsRoot, err = ParseHash(root); err != nil {
				return bad("unit heads root: %v", err)
			}
			haveUnits = true
		}
	}
	if !haveTime || !haveUnits {
		return bad("missing the %s or %s line", extTime, extUnits)
	}
	return c, nil
}

// Sign returns c as a signed note.
func Sign(c Checkpoint, s note.Signer) ([]byte, error) {
	msg, err := note.Sign(&note.Note{Text: string(c.Marshal())}, s)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return msg, nil
}

// Open checks msg's signature with v and parses it. It returns an error
// wrapping ErrBadSignature if v's signature on it does not verify,
// ErrUnknownKey if v did not sign it, and ErrMalformed if it is not a
// checkpoint note.
func Open(msg []byte, v note.Verifier) (Checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	switch {
	case errors.As(err, &unverified):
		var names []string
		for _, s := range unverified.Note.UnverifiedSigs {
			names = append(names, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
		}
		return Checkpoint{}, fmt.Errorf("%w: signed by %s, want %s+%08x", ErrUnknownKey, strings.Join(names, ", "), v.Name(), v.KeyHash())
	case errors.As(err, &invalid):
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrBadSignature, err)
	case err != nil:
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return Parse([]byte(n.Text))
}

// ParseNote parses a signed note's text without checking any signature.
func ParseNote(msg []byte) (Checkpoint, error) {
	i := bytes.LastIndex(msg, []byte("\n\n"))
	if i < 0 {
		return Checkpoint{}, fmt.Errorf("%w: no signature block", ErrMalformed)
	}
	return Parse(msg[:i+1])
}

// GenerateKey returns a new Ed25519 note signer key (secret) and its
// verifier key (public) named name.
func GenerateKey(name string) (skey, vkey string, err error) {
	return note.GenerateKey(rand.Reader, name)
}

// VerifierKey returns the public verifier key of a note signer key.
func VerifierKey(skey string) (string, error) {
	if _, err := note.NewSigner(strings.TrimSpace(skey)); err != nil {
		return "", fmt.Errorf("checkpoint key: %w", err)
	}
	// PRIVATE+KEY+<name>+<hash>+<base64 of algorithm byte and seed>; names
	// have no '+', base64 may.
	rest := strings.TrimPrefix(strings.TrimSpace(skey), "PRIVATE+KEY+")
	name, rest, _ := strings.Cut(rest, "+")
	_, b64, _ := strings.Cut(rest, "+")
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) != 1+ed25519.SeedSize {
		return "", errors.New("checkpoint key: not an Ed25519 signer key")
	}
	pub := ed25519.NewKeyFromSeed(key[1:]).Public().(ed25519.PublicKey)
	return note.NewEd25519VerifierKey(name, pub)
}

// NewSigner returns the signer of a note signer key.
func NewSigner(skey string) (note.Signer, error) {
	s, err := note.NewSigner(strings.TrimSpace(skey))
	if err != nil {
		return nil, fmt.Errorf("checkpoint key: %w", err)
	}
	return s, nil
}

// NewVerifier returns the verifier of a note verifier key.
func NewVerifier(vkey string) (note.Verifier, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return nil, fmt.Errorf("checkpoint public key: %w", err)
	}
	return v, nil
}

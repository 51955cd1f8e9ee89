package checkpoint

// Witness cosignatures in the C2SP tlog-cosignature format
// (https://c2sp.org/tlog-cosignature, the Ed25519 "cosignature/v1" type):
// a note signature line
//
//	— <witness name> base64(key ID || timestamp || Ed25519 signature)
//
// appended to a checkpoint, where the key ID is
// SHA-256(name || "\n" || 0x04 || public key)[:4], the timestamp is a
// big-endian u64 of POSIX seconds, and the signed message is
//
//	cosignature/v1
//	time <timestamp>
//	<the whole checkpoint note body, extension lines included>
//
// golang.org/x/mod/sumdb/note knows only the plain Ed25519 type (0x01), so
// the signer and verifier here implement its Signer and Verifier
// interfaces for type 0x04, and notes are split and checked line by line
// (a bad or unknown signature line is reported, it does not hide the
// others).

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// AlgCosignatureV1 is the signed-note key type of Ed25519 cosignature/v1
// keys.
const AlgCosignatureV1 = 0x04

// Errors of cosignatures.
var (
	ErrBadCosignature = errors.New("cosignature does not verify")
	ErrQuorum         = errors.New("witness quorum not met")
	ErrBadKey         = errors.New("malformed witness key")
)

// maxSignatures bounds the signature lines of a note this package reads
// (the note package's own limit).
const maxSignatures = 100

// cosignedMessage returns what a cosignature/v1 signs: the header line,
// the timestamp line and the note body (ending in a newline).
func cosignedMessage(body []byte, ts uint64) []byte {
	var b bytes.Buffer
	b.Grow(len(body) + 40)
	b.WriteString("cosignature/v1\ntime ")
	b.WriteString(strconv.FormatUint(ts, 10))
	b.WriteByte('\n')
	b.Write(body)
	return b.Bytes()
}

// cosignerKeyHash is the C2SP key ID of an Ed25519 cosigner key.
func cosignerKeyHash(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', AlgCosignatureV1})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil)[:4])
}

// validKeyName reports whether name may name a note key: non-empty, valid
// UTF-8, no '+' and no spaces (the note package's rule).
func validKeyName(name string) bool {
	return name != "" && utf8.ValidString(name) && strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

// Cosigner signs checkpoints as a witness (cosignature/v1). It implements
// note.Signer: Sign takes the note body and returns the timestamped
// signature, stamped with the cosigner's clock.
type Cosigner struct {
	name string
	hash uint32
	priv ed25519.PrivateKey
	now  func() time.Time
}

// Name returns the witness's key name.
func (c *Cosigner) Name() string { return c.name }

// KeyHash returns the key ID.
func (c *Cosigner) KeyHash() uint32 { return c.hash }

// Sign returns timestamp || Ed25519 signature over the cosigned message of
// body (a checkpoint note body, ending in a newline).
func (c *Cosigner) Sign(body []byte) ([]byte, error) {
	t := c.now().Unix()
	if t < 0 {
		return nil, errors.New("cosign: the clock is before 1970")
	}
	sig := make([]byte, 8, 8+ed25519.SignatureSize)
	binary.BigEndian.PutUint64(sig, uint64(t))
	return append(sig, ed25519.Sign(c.priv, cosignedMessage(body, uint64(t)))...), nil
}

// VerifierKey returns the witness's public key as a note verifier key
// (name+hash+base64(0x04 || public key)).
func (c *Cosigner) VerifierKey() string {
	return encodeKey(c.name, c.hash, c.priv.Public().(ed25519.PublicKey))
}

func encodeKey(name string, hash uint32, key []byte) string {
	return fmt.Sprintf("%s+%08x+%s", name, hash, base64.StdEncoding.EncodeToString(append([]byte{AlgCosignatureV1}, key...)))
}

// CosignatureVerifier checks one witness's cosignatures. It implements
// note.Verifier.
type CosignatureVerifier struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
}

// Name returns the witness's key name.
func (v *CosignatureVerifier) Name() string { return v.name }

// KeyHash returns the key ID.
func (v *CosignatureVerifier) KeyHash() uint32 { return v.hash }

// Key returns the verifier key text.
func (v *CosignatureVerifier) Key() string { return encodeKey(v.name, v.hash, v.pub) }

// String names the key as name+hash.
func (v *CosignatureVerifier) String() string { return fmt.Sprintf("%s+%08x", v.name, v.hash) }

// Verify reports whether sig (timestamp || signature) is this witness's
// cosignature of body.
func (v *CosignatureVerifier) Verify(body, sig []byte) bool {
	_, ok := v.verify(body, sig)
	return ok
}

func (v *CosignatureVerifier) verify(body, sig []byte) (time.Time, bool) {
	if len(sig) != 8+ed25519.SignatureSize {
		return time.Time{}, false
	}
	ts := binary.BigEndian.Uint64(sig[:8])
	if ts > 1<<63-1 {
		return time.Time{}, false
	}
	if !ed25519.Verify(v.pub, cosignedMessage(body, ts), sig[8:]) {
		return time.Time{}, false
	}
	return time.Unix(int64(ts), 0).UTC(), true
}

// GenerateCosignerKey returns a new witness signer key (secret, in the
// note's PRIVATE+KEY+name+hash+base64 form with type 0x04) and its
// verifier key (public).
func GenerateCosignerKey(rnd io.Reader, name string) (skey, vkey string, err error) {
	if !validKeyName(name) {
		return "", "", fmt.Errorf("%w: name %q: want a non-empty name without spaces or '+', e.g. witness.example.org/supervisor-1", ErrBadKey, name)
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	pub, priv, err := ed25519.GenerateKey(rnd)
	if err != nil {
		return "", "", fmt.Errorf("generate witness key: %w", err)
	}
	hash := cosignerKeyHash(name, pub)
	skey = "PRIVATE+KEY+" + encodeKey(name, hash, priv.Seed())
	return skey, encodeKey(name, hash, pub), nil
}

// parseKey parses name+hash+base64(0x04 || key), checking the algorithm
// byte, the key length and, once the public key is known, the hash.
func parseKey(text string, keyLen int) (name string, hash uint32, key []byte, err error) {
	name, rest, ok1 := strings.Cut(text, "+")
	h16, b64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 || !validKeyName(name) {
		return "", 0, nil, fmt.Errorf("%w: want name+hash+base64", ErrBadKey)
	}
	h, err := strconv.ParseUint(h16, 16, 32)
	if err != nil || len(h16) != 8 {
		return "", 0, nil, fmt.Errorf("%w: key hash %q is not 8 hex digits", ErrBadKey, h16)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != 1+keyLen {
		return "", 0, nil, fmt.Errorf("%w: key material is not base64 of %d bytes", ErrBadKey, 1+keyLen)
	}
	if raw[0] != AlgCosignatureV1 {
		return "", 0, nil, fmt.Errorf("%w: key type %#02x, want %#02x (Ed25519 cosignature/v1)", ErrBadKey, raw[0], AlgCosignatureV1)
	}
	return name, uint32(h), raw[1:], nil
}

// algEd25519 is the signed-note type of plain Ed25519 keys.
const algEd25519 = 0x01

// fromEd25519Key reads a plain Ed25519 note verifier key (type 0x01, what
// golang.org/x/mod/sumdb/note makes; transparency-dev's witnesses accept
// those for cosignature/v1 too) as a witness key.
func fromEd25519Key(vkey string) (*CosignatureVerifier, bool) {
	name, rest, _ := strings.Cut(vkey, "+")
	h16, b64, _ := strings.Cut(rest, "+")
	raw, err := base64.StdEncoding.DecodeString(b64)
	h, herr := strconv.ParseUint(h16, 16, 32)
	if err != nil || herr != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != algEd25519 || !validKeyName(name) {
		return nil, false
	}
	sum := sha256.Sum256(append([]byte(name+"\n"), raw...))
	if binary.BigEndian.Uint32(sum[:4]) != uint32(h) {
		return nil, false
	}
	pub := ed25519.PublicKey(raw[1:])
	return &CosignatureVerifier{name: name, hash: cosignerKeyHash(name, pub), pub: pub}, true
}

// NewCosigner returns the cosigner of a witness signer key; now is its
// clock (time.Now if nil).
func NewCosigner(skey string, now func() time.Time) (*Cosigner, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(skey), "PRIVATE+KEY+")
	if !ok {
		return nil, fmt.Errorf("%w: a witness signer key starts with PRIVATE+KEY+", ErrBadKey)
	}
	name, hash, seed, err := parseKey(rest, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	priv := ed25519.NewKeyFromSeed(seed)
	if cosignerKeyHash(name, priv.Public().(ed25519.PublicKey)) != hash {
		return nil, fmt.Errorf("%w: the key hash does not match the key", ErrBadKey)
	}
	if now == nil {
		now = time.Now
	}
	return &Cosigner{name: name, hash: hash, priv: priv, now: now}, nil
}

// NewCosignatureVerifier parses a witness verifier key
// (name+hash+base64(0x04 || Ed25519 public key)).
//
// A plain Ed25519 note verifier key (type 0x01) is accepted too, as
// transparency-dev's witness tooling does: the same public key, with the
// cosignature/v1 key ID.
func NewCosignatureVerifier(vkey string) (*CosignatureVerifier, error) {
	vkey = strings.TrimSpace(vkey)
	if v, ok := fromEd25519Key(vkey); ok {
		return v, nil
	}
	name, hash, pub, err := parseKey(vkey, ed25519.PublicKeySize)
	if err != nil {
		return nil, err
	}
	if cosignerKeyHash(name, pub) != hash {
		return nil, fmt.Errorf("%w: the key hash does not match the key", ErrBadKey)
	}
	return &CosignatureVerifier{name: name, hash: hash, pub: ed25519.PublicKey(pub)}, nil
}

// NoteSignature is one signature line of a signed note.
type NoteSignature struct {
	Name string
	Hash uint32
	Sig  []byte // after the 4-byte key ID
	Line string // the whole line, without its newline
}

// SplitNote splits a signed note into its body (ending in a newline) and
// its signature lines. It checks the shape only (C2SP signed-note: body,
// an empty line, then at least one "— name base64" line, each ending in a
// newline); no signature is verified.
func SplitNote(msg []byte) (body []byte, sigs []NoteSignature, err error) {
	bad := func(format string, args ...any) ([]byte, []NoteSignature, error) {
		return nil, nil, fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	if !utf8.Valid(msg) {
		return bad("note is not UTF-8")
	}
	i := bytes.LastIndex(msg, []byte("\n\n"))
	if i < 0 {
		return bad("no signature block")
	}
	body, block := msg[:i+1], msg[i+2:]
	if len(block) == 0 || block[len(block)-1] != '\n' {
		return bad("the signature block does not end in a newline")
	}
	for _, l := range strings.Split(strings.TrimSuffix(string(block), "\n"), "\n") {
		if len(sigs) == maxSignatures {
			return bad("more than %d signatures", maxSignatures)
		}
		rest, ok := strings.CutPrefix(l, "— ")
		name, b64, ok2 := strings.Cut(rest, " ")
		if !ok || !ok2 || !validKeyName(name) {
			return bad("signature line %q is not \"— name base64\"", l)
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(raw) < 5 {
			return bad("signature line of %s: not base64 of a key ID and a signature", name)
		}
		sigs = append(sigs, NoteSignature{Name: name, Hash: binary.BigEndian.Uint32(raw[:4]), Sig: raw[4:], Line: l})
	}
	return body, sigs, nil
}

// SignatureLine returns the note signature line ("— name base64(hash ||
// sig)", no newline) of sig made by a key of that name and hash.
func SignatureLine(name string, hash uint32, sig []byte) string {
	raw := binary.BigEndian.AppendUint32(nil, hash)
	return "— " + name + " " + base64.StdEncoding.EncodeToString(append(raw, sig...))
}

// Cosign returns the witness's cosignature line over the checkpoint note
// body.
func Cosign(body []byte, c *Cosigner) (string, error) {
	sig, err := c.Sign(body)
	if err != nil {
		return "", err
	}
	return SignatureLine(c.name, c.hash, sig), nil
}

// Cosignature is a verified witness cosignature.
type Cosignature struct {
	Witness string    `json:"witness"` // name+hash
	Key     string    `json:"key"`     // verifier key
	Time    time.Time `json:"time"`    // the witness's timestamp
	Line    string    `json:"line"`    // the note signature line
}

// CheckCosignature verifies a single cosignature line by v over body.
func CheckCosignature(body []byte, line string, v *CosignatureVerifier) (Cosignature, error) {
	_, sigs, err := SplitNote(append(append(slices.Clone(body), '\n'), line+"\n"...))
	if err != nil {
		return Cosignature{}, err
	}
	if len(sigs) != 1 {
		return Cosignature{}, fmt.Errorf("%w: want one signature line", ErrMalformed)
	}
	s := sigs[0]
	if s.Name != v.name || s.Hash != v.hash {
		return Cosignature{}, fmt.Errorf("%w: the line is signed by %s+%08x, not %s", ErrBadCosignature, s.Name, s.Hash, v)
	}
	t, ok := v.verify(body, s.Sig)
	if !ok {
		return Cosignature{}, fmt.Errorf("%w: %s's signature is not a cosignature/v1 of this checkpoint", ErrBadCosignature, v)
	}
	return Cosignature{Witness: v.String(), Key: v.Key(), Time: t, Line: s.Line}, nil
}

// Witnessed is what CheckWitnessed found in a note.
type Witnessed struct {
	Checkpoint Checkpoint
	Body       []byte
	// Cosigned lists the trusted witnesses whose cosignature verifies,
	// one per witness (the newest if there are several).
	Cosigned []Cosignature
	// Bad lists the lines that claim a trusted witness's key but do not
	// verify (a forged or damaged cosignature).
	Bad []string
	// Untrusted counts signature lines by keys that are neither the
	// operator's nor a trusted witness's.
	Untrusted int
}

// CheckWitnessed verifies a checkpoint note's operator signature with
// operator (if not nil), parses it, and verifies every signature line made
// by one of the trusted witnesses. It fails (wrapping ErrQuorum) when fewer
// than quorum distinct trusted witnesses cosigned it; the Witnessed it
// returns then still says who did.
func CheckWitnessed(msg []byte, operator note.Verifier, witnesses []*CosignatureVerifier, quorum int) (Witnessed, error) {
	var w Witnessed
	body, sigs, err := SplitNote(msg)
	if err != nil {
		return w, err
	}
	w.Body = body
	opOK := operator == nil
	type keyID struct {
		name string
		hash uint32
	}
	byID := map[keyID]*CosignatureVerifier{}
	for _, v := range witnesses {
		byID[keyID{v.name, v.hash}] = v
	}
	newest := map[string]int{}
	for _, s := range sigs {
		if operator != nil && s.Name == operator.Name() && s.Hash == operator.KeyHash() {
			if !operator.Verify(body, s.Sig) {
				return w, fmt.Errorf("%w: the operator's signature line does not verify", ErrBadSignature)
			}
			opOK = true
			continue
		}
		v, ok := byID[keyID{s.Name, s.Hash}]
		if !ok {
			w.Untrusted++
			continue
		}
		t, ok := v.verify(body, s.Sig)
		if !ok {
			w.Bad = append(w.Bad, s.Line)
			continue
		}
		c := Cosignature{Witness: v.String(), Key: v.Key(), Time: t, Line: s.Line}
		if i, seen := newest[c.Witness]; seen {
			if t.After(w.Cosigned[i].Time) {
				w.Cosigned[i] = c
			}
			continue
		}
		newest[c.Witness] = len(w.Cosigned)
		w.Cosigned = append(w.Cosigned, c)
	}
	if !opOK {
		return w, fmt.Errorf("%w: no signature by %s+%08x", ErrUnknownKey, operator.Name(), operator.KeyHash())
	}
	if w.Checkpoint, err = Parse(body); err != nil {
		return w, err
	}
	if len(w.Cosigned) < quorum {
		var names []string
		for _, c := range w.Cosigned {
			names = append(names, c.Witness)
		}
		who := "none of them"
		if len(names) > 0 {
			who = "only " + strings.Join(names, ", ")
		}
		return w, fmt.Errorf("%w: checkpoint of %d events is cosigned by %d of the %d trusted witnesses (%s), want %d",
			ErrQuorum, w.Checkpoint.Size, len(w.Cosigned), len(witnesses), who, quorum)
	}
	return w, nil
}

// AppendSignatures returns the note msg with the signature lines added
// (each without its newline), skipping lines already present.
func AppendSignatures(msg []byte, lines ...string) []byte {
	out := slices.Clone(msg)
	have := string(msg)
	for _, l := range lines {
		if strings.Contains(have, "\n"+l+"\n") {
			continue
		}
		out = append(append(out, l...), '\n')
	}
	return out
}

// CosignatureRecord is a witness cosignature as the server records it (the
// cosignature stream): which checkpoint (its sequence, size and root) it
// cosigns, the verified cosignature, when and by whom it was posted.
// Problem says why a stored message is not a record, if so.
type CosignatureRecord struct {
	Seq        uint64 `json:"seq"`
	Checkpoint uint64 `json:"checkpoint"`
	Size       uint64 `json:"tree_size"`
	Root       Hash   `json:"root_hash"`
	Cosignature
	Recorded time.Time `json:"recorded"`
	By       string    `json:"by"`
	Problem  string    `json:"problem,omitempty"`
}

// Package events holds taizhang's ledger vocabulary: the event envelope, the
// event types and their payloads, unit ids, the canonical encoding and the
// per-unit hash chain. It knows no transport: the JetStream ledger that stores
// these events lives in events/jetstream, and readers (projections) live
// elsewhere. An event is never changed or deleted; a correction is a new event
// that names what it corrects and why.
package events

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// SchemaVersion is the envelope schema version written by this code.
const SchemaVersion = 1

// Type names an event type. Unknown types decode without error so that an
// older reader can skip events written by a newer writer.
type Type string

// The event types known to this version.
const (
	TypeUnitRegistered    Type = "unit.registered"
	TypeEvidenceSubmitted Type = "evidence.submitted"
	TypeEvidenceAmended   Type = "evidence.amended"
	TypeEvidenceRetracted Type = "evidence.retracted"
	TypePlanPublished     Type = "plan.published"
	TypePlanRevised       Type = "plan.revised"
)

// PlansChain is the chain (the "unit" field) of plan events. Unit ids
// cannot start with '_', so it never names a unit.
const PlansChain = "_plans"

// Role is what an actor acted as.
type Role string

// Roles known to taizhang.
const (
	RoleAdmin      Role = "admin"
	RoleSubmitter  Role = "submitter"
	RoleInspector  Role = "inspector"
	RoleSupervisor Role = "supervisor"
	RoleSystem     Role = "system"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case RoleAdmin, RoleSubmitter, RoleInspector, RoleSupervisor, RoleSystem:
		return true
	}
	return false
}

// Client is the kind of client an event came through.
type Client string

// Client kinds.
const (
	ClientWeb    Client = "web"
	ClientCLI    Client = "cli"
	ClientAPI    Client = "api"
	ClientImport Client = "import"
	ClientNATS   Client = "nats"
)

// Valid reports whether c is a known client kind.
func (c Client) Valid() bool {
	switch c {
	case ClientWeb, ClientCLI, ClientAPI, ClientImport, ClientNATS:
		return true
	}
	return false
}

// Actor is who appended an event and in which role.
type Actor struct {
	ID   string `json:"id"`
	Role Role   `json:"role"`
}

// Attachment references a blob in the blob store by its SHA-256 digest, with
// what was derived from the bytes at ingest so that projections never read
// bytes.
type Attachment struct {
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
	MediaType string `json:"media_type"`
	Name      string `json:"name"`
	Width     int    `json:"width,omitempty"`
	Height    int    `json:"height,omitempty"`
	// TakenAt is the photo's EXIF capture time in the camera's local time
	// (2006-01-02T15:04:05), and GPS its EXIF position, if it had them.
	TakenAt string `json:"taken_at,omitempty"`
	GPS     *GPS   `json:"gps,omitempty"`
	// PHash is a photo's 64-bit perceptual hash (a difference hash, 16
	// lowercase hex digits): resized or recompressed copies of a picture
	// have hashes a few bits apart.
	PHash string `json:"phash,omitempty"`
}

// GPS is a position in decimal degrees.
type GPS struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Hash is the SHA-256 of an event's canonical encoding. The zero Hash stands
// for "no previous event" at the start of a unit's chain.
type Hash [32]byte

// String returns the lowercase hex form, or "" for the zero Hash.
func (h Hash) String() string {
	if h.IsZero() {
		return ""
	}
	return hex.EncodeToString(h[:])
}

// IsZero reports whether h is the zero Hash.
func (h Hash) IsZero() bool { return h == Hash{} }

// ParseHash parses 64 lowercase hex digits; "" gives the zero Hash.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if s == "" {
		return h, nil
	}
	if len(s) != 64 || strings.ToLower(s) != s {
		return h, fmt.Errorf("parse hash %q: want 64 lowercase hex digits", s)
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("parse hash %q: %w", s, err)
	}
	return h, nil
}

// MarshalText encodes h as hex ("" for zero).
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText decodes the hex form.
func (h *Hash) UnmarshalText(b []byte) error {
	v, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// Event is the envelope every ledger entry has. Data holds the type-specific
// payload as JSON (see UnitRegistered, EvidenceSubmitted, ...).
//
// OccurredAt is what the submitter claims; RecordedAt is when the ledger
// accepted the event. They are kept apart everywhere: inspection is about
// recorded time, claims are about occurred time.
type Event struct {
	ID          uuid.UUID       `json:"id"`
	Type        Type            `json:"type"`
	Schema      int             `json:"schema"`
	Unit        string          `json:"unit"`
	Actor       Actor           `json:"actor"`
	Client      Client          `json:"client"`
	OccurredAt  time.Time       `json:"occurred_at"`
	RecordedAt  time.Time       `json:"recorded_at"`
	Corrects    *uuid.UUID      `json:"corrects,omitempty"`
	Reason      string          `json:"reason,omitempty"`
	Attachments []Attachment    `json:"attachments,omitempty"`
	Data        json.RawMessage `json:"data,omitempty"`
	Prev        Hash            `json:"prev"`
	Hash        Hash            `json:"hash"`
}

// Errors returned by validation and decoding.
var (
	ErrInvalid  = errors.New("invalid event")
	ErrBadHash  = errors.New("event hash does not match its content")
	ErrBadChain = errors.New("hash chain broken")
)

// MaxEventSize bounds an encoded event; the ledger stream's maximum message
// size is set from it.
const MaxEventSize = 256 << 10

var unitRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$`)

// ValidUnitID reports an error wrapping ErrInvalid unless id is a slug of
// lowercase ASCII letters, digits and inner hyphens, 1 to 64 characters long.
// Unit ids appear in subjects and keys; names, not ids, carry the Unicode.
func ValidUnitID(id string) error {
	if !unitRE.MatchString(id) {
		return fmt.Errorf("%w: unit id %q must be 1-64 characters of a-z, 0-9 and inner '-'", ErrInvalid, id)
	}
	return nil
}

// normalise puts times in UTC at microsecond precision so that the canonical
// encoding survives a JSON round trip.
func normaliseTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// Canonical returns the encoding of e that its hash is computed over: the
// JSON encoding of the envelope in field order with the Hash field left
// out, times in UTC RFC 3339 with up to microseconds, and Data as it is,
// compacted. Seal puts Data in canonical form (CanonicalJSON: object keys
// sorted) before hashing, so every sealed event's Data is canonical, and a
// stored Data rewritten in any way, even to an equivalent JSON, no longer
// matches its hash.
func (e *Event) Canonical() ([]byte, error) {
	c := *e
	c.OccurredAt = normaliseTime(c.OccurredAt)
	c.RecordedAt = normaliseTime(c.RecordedAt)
	type noHash struct {
		ID          uuid.UUID       `json:"id"`
		Type        Type            `json:"type"`
		Schema      int             `json:"schema"`
		Unit        string          `json:"unit"`
		Actor       Actor           `json:"actor"`
		Client      Client          `json:"client"`
		OccurredAt  time.Time       `json:"occurred_at"`
		RecordedAt  time.Time       `json:"recorded_at"`
		Corrects    *uuid.UUID      `json:"corrects,omitempty"`
		Reason      string          `json:"reason,omitempty"`
		Attachments []Attachment    `json:"attachments,omitempty"`
		Data        json.RawMessage `json:"data,omitempty"`
		Prev        Hash            `json:"prev"`
	}
	return json.Marshal(noHash{c.ID, c.Type, c.Schema, c.Unit, c.Actor, c.Client, c.OccurredAt, c.RecordedAt,
		c.Corrects, c.Reason, c.Attachments, c.Data, c.Prev})
}

// CanonicalJSON re-encodes raw JSON with sorted object keys and no
// insignificant white space; numbers keep their literal text. Event data is
// stored in this form.
func CanonicalJSON(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	if out, ok := canonicalFast(raw); ok {
		return out, nil
	}
	return canonicalSlow(raw)
}

// canonicalSlow is CanonicalJSON through encoding/json, for any input.
func canonicalSlow(raw json.RawMessage) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after JSON value")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// ComputeHash returns the SHA-256 of e's canonical encoding.
func (e *Event) ComputeHash() (Hash, error) {
	b, err := e.Canonical()
	if err != nil {
		return Hash{}, err
	}
	return sha256.Sum256(b), nil
}

// Seal normalises e's times and data, links it to prev and sets its Hash.
func (e *Event) Seal(prev Hash) error {
	_, err := e.seal(prev)
	return err
}

// SealStored is Seal, and returns e's stored encoding: what Encode(e)
// returns afterwards, made from the canonical encoding the hash was
// computed over (the stored form is that encoding with the hash added
// before its closing brace) rather than by encoding e a second time.
func (e *Event) SealStored(prev Hash) ([]byte, error) {
	canon, err := e.seal(prev)
	if err != nil {
		return nil, err
	}
	out := append(canon[:len(canon)-1:len(canon)-1], `,"hash":"`...)
	out = hex.AppendEncode(out, e.Hash[:])
	return append(out, '"', '}'), nil
}

// seal is Seal; it returns the canonical encoding it hashed.
func (e *Event) seal(prev Hash) ([]byte, error) {
	e.OccurredAt = normaliseTime(e.OccurredAt)
	e.RecordedAt = normaliseTime(e.RecordedAt)
	data, err := CanonicalJSON(e.Data)
	if err != nil {
		return nil, fmt.Errorf("seal event %s: %w", e.ID, err)
	}
	e.Data = data
	e.Prev = prev
	canon, err := e.Canonical()
	if err != nil {
		return nil, err
	}
	e.Hash = sha256.Sum256(canon)
	return canon, nil
}

// VerifyHash returns an error wrapping ErrBadHash if e's Hash is not the hash
// of its canonical encoding.
func (e *Event) VerifyHash() error {
	h, err := e.ComputeHash()
	if err != nil {
		return fmt.Errorf("%w: event %s: %v", ErrBadHash, e.ID, err)
	}
	if h != e.Hash {
		return fmt.Errorf("%w: event %s has %s, content hashes to %s", ErrBadHash, e.ID, e.Hash, h)
	}
	return nil
}

// Validate checks the envelope fields every event must have. It returns an
// error wrapping ErrInvalid naming the first problem.
func (e *Event) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	switch {
	case e.ID == uuid.Nil:
		return bad("missing id")
	case e.Type == "":
		return bad("missing type")
	case e.Schema < 1:
		return bad("missing schema version")
	case !e.Actor.Role.Valid() || e.Actor.ID == "":
		return bad("actor needs an id and a known role")
	case !e.Client.Valid():
		return bad("unknown client kind %q", e.Client)
	case e.OccurredAt.IsZero():
		return bad("missing occurred_at")
	case e.RecordedAt.IsZero():
		return bad("missing recorded_at")
	case !utf8.ValidString(e.Reason):
		return bad("reason is not UTF-8")
	}
	isPlan := e.Type == TypePlanPublished || e.Type == TypePlanRevised
	if isPlan != (e.Unit == PlansChain) {
		return bad("plan events, and only they, belong to the %s chain", PlansChain)
	}
	isUser := IsUserType(e.Type)
	if (isUser || IsDeviceType(e.Type)) != (e.Unit == UsersChain) {
		return bad("user and device events, and only they, belong to the %s chain", UsersChain)
	}
	if IsDeviceType(e.Type) {
		var d Device
		if err := e.DecodeData(&d); err != nil {
			return bad("device event: %v", err)
		}
		if err := d.Validate(); err != nil {
			return err
		}
		if e.Type == TypeDeviceRevoked && strings.TrimSpace(e.Reason) == "" {
			return bad("%s needs a reason", e.Type)
		}
	}
	if isUser {
		var u User
		if err := e.DecodeData(&u); err != nil {
			return bad("user event: %v", err)
		}
		if err := u.Validate(); err != nil {
			return err
		}
		if e.Type != TypeUserCreated && strings.TrimSpace(e.Reason) == "" {
			return bad("%s needs a reason", e.Type)
		}
	}
	if !isPlan && e.Unit != UsersChain {
		if err := ValidUnitID(e.Unit); err != nil {
			return err
		}
	}
	switch e.Type {
	case TypeEvidenceAmended, TypeEvidenceRetracted:
		if e.Corrects == nil || *e.Corrects == uuid.Nil {
			return bad("%s must name the evidence it corrects", e.Type)
		}
		if strings.TrimSpace(e.Reason) == "" {
			return bad("%s needs a reason", e.Type)
		}
	case TypeFindingResolved, TypeFindingReopened:
		if e.Corrects == nil || *e.Corrects == uuid.Nil {
			return bad("%s must name the finding", e.Type)
		}
		if e.Type == TypeFindingReopened && strings.TrimSpace(e.Reason) == "" {
			return bad("reopening a finding needs a reason")
		}
	}
	for i, a := range e.Attachments {
		if _, err := ParseHash(a.SHA256); err != nil || a.SHA256 == "" {
			return bad("attachment %d: bad sha256 %q", i, a.SHA256)
		}
		if a.Size < 0 {
			return bad("attachment %d: negative size", i)
		}
	}
	return nil
}

// Encode returns e's JSON encoding as stored in the ledger.
func Encode(e *Event) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", e.ID, err)
	}
	return b, nil
}

// Decode parses a stored event. It rejects malformed JSON and envelopes
// without an id, type or unit, but accepts unknown types and unknown fields
// so that events written by a newer version still decode. An event stored
// as Encode writes it is read in one strict pass (see CheckStored), any
// other form with encoding/json, to the same result; the event shares no
// memory with b.
func Decode(b []byte) (*Event, error) {
	if ev, _, ok := scanStored(b); ok {
		ev.Data = bytes.Clone(ev.Data)
		return ev, nil
	}
	return decodeJSON(b)
}

// decodeJSON is Decode with encoding/json alone.
func decodeJSON(b []byte) (*Event, error) {
	if len(b) > MaxEventSize {
		return nil, fmt.Errorf("%w: event of %d bytes exceeds %d", ErrInvalid, len(b), MaxEventSize)
	}
	var e Event
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("%w: decode event: %v", ErrInvalid, err)
	}
	if e.ID == uuid.Nil || e.Type == "" || e.Unit == "" {
		return nil, fmt.Errorf("%w: decode event: missing id, type or unit", ErrInvalid)
	}
	return &e, nil
}

// Record is an event as stored: the event and its ledger sequence.
// Damage is set (and Event may be nil) for a stored message that is not a
// sound event of the chain its subject names; see Damage.
type Record struct {
	Seq    uint64
	Event  *Event
	Damage *Damage

	pre *evidenceDecoded // see Predecode
}

// evidenceDecoded is what DecodeEvidenceSubmittedBody returned for a
// record's event.
type evidenceDecoded struct {
	p    EvidenceSubmitted
	body []byte
	err  error
}

// Predecode decodes the payload of a sound evidence.submitted record now,
// for a reader that decodes records on several cores before one goroutine
// folds them in order; the record's DecodeEvidenceSubmittedBody then
// returns what it decoded. It does nothing for any other record.
func (r *Record) Predecode() {
	if r.Damage != nil || r.Event == nil || r.Event.Type != TypeEvidenceSubmitted || r.pre != nil {
		return
	}
	p, body, err := r.Event.DecodeEvidenceSubmittedBody()
	r.pre = &evidenceDecoded{p, body, err}
}

// DecodeEvidenceSubmittedBody is the event's DecodeEvidenceSubmittedBody,
// or what Predecode got from it.
func (r Record) DecodeEvidenceSubmittedBody() (EvidenceSubmitted, []byte, error) {
	if r.pre != nil {
		return r.pre.p, r.pre.body, r.pre.err
	}
	return r.Event.DecodeEvidenceSubmittedBody()
}

// VerifyChain checks that recs, one unit's events in ledger order from its
// first, each hash their content and link to the one before. It returns an
// error wrapping ErrBadHash or ErrBadChain naming the first bad event.
func VerifyChain(recs []Record) error {
	var prev Hash
	for i, r := range recs {
		if err := r.Event.VerifyHash(); err != nil {
			return fmt.Errorf("event %d (seq %d): %w", i, r.Seq, err)
		}
		if r.Event.Prev != prev {
			return fmt.Errorf("%w: event %s (seq %d) links to %q, previous is %q", ErrBadChain, r.Event.ID, r.Seq, r.Event.Prev, prev)
		}
		prev = r.Event.Hash
	}
	return nil
}

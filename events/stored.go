package events

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// CheckStored decodes a stored event and recomputes its hash: the result is
// the same as Decode followed by VerifyHash (an error wrapping ErrInvalid
// and no event if b does not decode; the event and an error wrapping
// ErrBadHash if its hash does not match its content), without the generic
// JSON decoder and encoder where it can avoid them.
//
// Every event this code stores is its canonical encoding (Canonical) with
// the hash appended. When b is exactly that - which CheckStored checks in
// one strict pass over b, including that Data is valid, compact JSON - the
// hash is computed over b's own bytes; otherwise, for any event stored in
// another form (re-indented, keys reordered, non-canonical times or
// escapes), it falls back to Decode and VerifyHash, so the verdict never
// depends on which path was taken. The fast path's Data aliases b.
func CheckStored(b []byte) (*Event, error) {
	if ev, end, ok := scanStored(b); ok {
		d := sha256.New()
		d.Write(b[:end])
		d.Write(closeBrace)
		var h Hash
		d.Sum(h[:0])
		if h != ev.Hash {
			return ev, fmt.Errorf("%w: event %s has %s, content hashes to %s", ErrBadHash, ev.ID, ev.Hash, h)
		}
		return ev, nil
	}
	ev, err := decodeJSON(b)
	if err != nil {
		return nil, err
	}
	return ev, ev.VerifyHash()
}

var closeBrace = []byte{'}'}

// scanStored reads b if, and only if, it is byte for byte what Encode
// writes for a sealed event: Canonical's encoding with `,"hash":"..."`
// before its closing brace. It returns the event (what Decode would
// return, except that Data aliases b) and the length of the canonical
// encoding's prefix in b (b[:end] + "}" is the canonical encoding). Any
// input it is not sure of gives ok false, never a wrong event.
func scanStored(b []byte) (ev *Event, end int, ok bool) {
	if len(b) > MaxEventSize {
		return nil, 0, false
	}
	s := scanner{b: b}
	e := &Event{}
	if !s.lit(`{"id":`) || !s.uuid(&e.ID) || e.ID == uuid.Nil ||
		!s.lit(`,"type":`) || !s.nonEmpty((*string)(&e.Type)) ||
		!s.lit(`,"schema":`) || !s.int(&e.Schema) ||
		!s.lit(`,"unit":`) || !s.nonEmpty(&e.Unit) ||
		!s.lit(`,"actor":{"id":`) || !s.str(&e.Actor.ID) ||
		!s.lit(`,"role":`) || !s.str((*string)(&e.Actor.Role)) ||
		!s.lit(`},"client":`) || !s.str((*string)(&e.Client)) ||
		!s.lit(`,"occurred_at":`) || !s.time(&e.OccurredAt) ||
		!s.lit(`,"recorded_at":`) || !s.time(&e.RecordedAt) {
		return nil, 0, false
	}
	if s.lit(`,"corrects":`) {
		e.Corrects = new(uuid.UUID)
		if !s.uuid(e.Corrects) {
			return nil, 0, false
		}
	}
	if s.lit(`,"reason":`) && !s.nonEmpty(&e.Reason) {
		return nil, 0, false
	}
	if s.lit(`,"attachments":[`) {
		for {
			var a Attachment
			if !s.attachment(&a) {
				return nil, 0, false
			}
			e.Attachments = append(e.Attachments, a)
			if s.lit(`]`) {
				break
			}
			if !s.lit(`,`) {
				return nil, 0, false
			}
		}
	}
	if s.lit(`,"data":`) {
		start := s.i
		if s.i >= len(b) || b[s.i] != '{' || !s.value(0) {
			return nil, 0, false
		}
		e.Data = b[start:s.i:s.i]
	}
	if !s.lit(`,"prev":`) || !s.hash(&e.Prev) {
		return nil, 0, false
	}
	end = s.i
	if !s.lit(`,"hash":`) || !s.hash(&e.Hash) || !s.lit(`}`) || s.i != len(b) {
		return nil, 0, false
	}
	return e, end, true
}

// scanner reads the canonical form of a stored event. Each method reads
// one token at the position i and reports false if it is not there in
// exactly the form encoding/json's Marshal would write.
type scanner struct {
	b []byte
	i int
	// loose makes value and rawString accept any JSON string, not only
	// Marshal's form (for skipping values whose bytes are not kept).
	loose bool
}

// interned holds the strings of the envelope that come from small sets:
// decoding them allocates nothing, and events kept in memory share them.
var interned = func() map[string]string {
	m := map[string]string{}
	for _, t := range []Type{TypeUnitRegistered, TypeEvidenceSubmitted, TypeEvidenceAmended, TypeEvidenceRetracted,
		TypePlanPublished, TypePlanRevised, TypeUnitExported, TypeFindingRecorded, TypeFindingResolved, TypeFindingReopened,
		TypeUserCreated, TypeUserChanged, TypeUserDisabled, TypeUserEnabled} {
		m[string(t)] = string(t)
	}
	for _, r := range []Role{RoleAdmin, RoleSubmitter, RoleInspector, RoleSupervisor, RoleSystem} {
		m[string(r)] = string(r)
	}
	for _, c := range []Client{ClientWeb, ClientCLI, ClientAPI, ClientImport, ClientNATS} {
		m[string(c)] = string(c)
	}
	return m
}()

func (s *scanner) lit(l string) bool {
	if len(s.b)-s.i >= len(l) && string(s.b[s.i:s.i+len(l)]) == l {
		s.i += len(l)
		return true
	}
	return false
}

// plain[c] is true for the ASCII bytes that Marshal writes as they are
// inside a string (it escapes control characters, '"', '\\' and, for HTML,
// '<', '>' and '&').
var plain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return
}()

const hexDigits = "0123456789abcdef"

// unescape maps the character after a backslash of a one-character JSON
// escape that Marshal writes (\" \\ \b \f \n \r \t) to the byte it
// stands for; other characters map to 0.
var unescape = [256]byte{'"': '"', '\\': '\\', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// str reads a string in Marshal's form: valid UTF-8, and exactly Marshal's
// escapes (\" \\ \b \f \n \r \t, \u00xx for other control characters and
// for < > &, \u2028 and \u2029), so that decoding and encoding it again
// gives the same bytes.
func (s *scanner) str(out *string) bool {
	b := s.b
	if s.i >= len(b) || b[s.i] != '"' {
		return false
	}
	i := s.i + 1
	start := i
	var buf []byte // the decoded string, once an escape is seen
	for i < len(b) {
		c := b[i]
		if c < utf8.RuneSelf {
			if plain[c] {
				i++
				continue
			}
			if c == '"' {
				if buf == nil {
					if v, ok := interned[string(b[start:i])]; ok {
						*out = v
					} else {
						*out = string(b[start:i])
					}
				} else {
					*out = string(append(buf, b[start:i]...))
				}
				s.i = i + 1
				return true
			}
			if c != '\\' || i+1 >= len(b) {
				return false
			}
			buf = append(buf, b[start:i]...)
			var r byte
			n := 2
			switch e := b[i+1]; {
			case unescape[e] != 0:
				r = unescape[e]
			case e == 'u':
				n = 6
				if i+6 > len(b) {
					return false
				}
				u := string(b[i+2 : i+6])
				switch u {
				case "003c", "003e", "0026":
					buf = append(buf, hexVal(u[2])<<4|hexVal(u[3]))
				case "2028", "2029":
					buf = utf8.AppendRune(buf, rune(0x2020+int(hexVal(u[3]))))
				default:
					if u[:2] != "00" || (u[2] != '0' && u[2] != '1') || !isLowerHex(u[3]) {
						return false
					}
					r = hexVal(u[2])<<4 | hexVal(u[3])
					switch r {
					case '\b', '\f', '\n', '\r', '\t':
						return false // Marshal writes these short
					}
					buf = append(buf, r)
				}
				i += n
				start = i
				continue
			default:
				return false
			}
			buf = append(buf, r)
			i += n
			start = i
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			return false
		}
		i += size
	}
	return false
}

// hexVals maps a lowercase hex digit to its value, any other byte to 0xff.
var hexVals = func() (t [256]byte) {
	for c := range t {
		t[c] = 0xff
	}
	for k := 0; k < 16; k++ {
		t[hexDigits[k]] = byte(k)
	}
	return
}()

// nonEmpty is str for a string that must not be empty (the field is
// omitted when it is, or Decode refuses it).
func (s *scanner) nonEmpty(out *string) bool { return !s.lit(`""`) && s.str(out) }

func isLowerHex(c byte) bool { return hexVals[c] != 0xff }

func hexVal(c byte) byte { return hexVals[c] }

// hex reads n lowercase hex digits into out.
func (s *scanner) hex(out []byte) bool {
	b := s.b
	if len(b)-s.i < 2*len(out) {
		return false
	}
	src := b[s.i : s.i+2*len(out)]
	for k := range out {
		hi, lo := hexVals[src[2*k]], hexVals[src[2*k+1]]
		if hi|lo == 0xff {
			return false
		}
		out[k] = hi<<4 | lo
	}
	s.i += 2 * len(out)
	return true
}

// uuid reads a UUID as uuid.UUID's MarshalText writes it.
func (s *scanner) uuid(out *uuid.UUID) bool {
	return s.lit(`"`) && s.hex(out[0:4]) && s.lit(`-`) && s.hex(out[4:6]) && s.lit(`-`) && s.hex(out[6:8]) &&
		s.lit(`-`) && s.hex(out[8:10]) && s.lit(`-`) && s.hex(out[10:16]) && s.lit(`"`)
}

// hash reads a Hash as its MarshalText writes it: "" for the zero Hash.
func (s *scanner) hash(out *Hash) bool {
	if s.lit(`""`) {
		*out = Hash{}
		return true
	}
	return s.lit(`"`) && s.hex(out[:]) && !out.IsZero() && s.lit(`"`)
}

// digits returns the extent of an integer in Marshal's form at i.
func (s *scanner) digits() (int, bool) {
	b, j := s.b, s.i
	if j < len(b) && b[j] == '-' {
		j++
	}
	if j >= len(b) || b[j] < '0' || b[j] > '9' {
		return 0, false
	}
	if b[j] == '0' {
		if j != s.i { // "-0" decodes to 0, which is written "0"
			return 0, false
		}
		return j + 1, true
	}
	for j < len(b) && '0' <= b[j] && b[j] <= '9' {
		j++
	}
	return j, true
}

func (s *scanner) int64(out *int64) bool {
	j, ok := s.digits()
	if !ok {
		return false
	}
	v, err := strconv.ParseInt(string(s.b[s.i:j]), 10, 64)
	if err != nil {
		return false
	}
	*out, s.i = v, j
	return true
}

func (s *scanner) int(out *int) bool {
	var v int64
	if !s.int64(&v) || int64(int(v)) != v {
		return false
	}
	*out = int(v)
	return true
}

// float reads a float64 in Marshal's form (ES6 number formatting).
func (s *scanner) float(out *float64) bool {
	b, j := s.b, s.i
	for j < len(b) && (b[j] == '-' || b[j] == '+' || b[j] == '.' || b[j] == 'e' || '0' <= b[j] && b[j] <= '9') {
		j++
	}
	f, err := strconv.ParseFloat(string(b[s.i:j]), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return false
	}
	var tmp [32]byte
	if !bytes.Equal(appendFloat(tmp[:0], f), b[s.i:j]) {
		return false
	}
	*out, s.i = f, j
	return true
}

// appendFloat is encoding/json's encoding of a float64.
func appendFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// time reads a time in the form Canonical writes it: UTC, RFC 3339 with
// at most microseconds and no trailing zeros of the fraction
// (YYYY-MM-DDTHH:MM:SS[.ffffff]Z), a date and time that exist.
func (s *scanner) time(out *time.Time) bool {
	b := s.b[s.i:]
	const n = len(`"2006-01-02T15:04:05`)
	if len(b) < n+2 || b[0] != '"' || b[5] != '-' || b[8] != '-' || b[11] != 'T' || b[14] != ':' || b[17] != ':' {
		return false
	}
	num := func(from, to int) (v int, ok bool) {
		for _, c := range b[from:to] {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	y, ok1 := num(1, 5)
	mo, ok2 := num(6, 8)
	d, ok3 := num(9, 11)
	h, ok4 := num(12, 14)
	mi, ok5 := num(15, 17)
	sec, ok6 := num(18, 20)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return false
	}
	i, ns := n, 0
	if b[i] == '.' {
		j := i + 1
		for j < len(b) && j-i <= 7 && '0' <= b[j] && b[j] <= '9' {
			j++
		}
		digits := j - i - 1
		if digits == 0 || digits > 6 || b[j-1] == '0' {
			return false
		}
		f, _ := num(i+1, j)
		for range 9 - digits {
			f *= 10
		}
		i, ns = j, f
	}
	if len(b) < i+2 || b[i] != 'Z' || b[i+1] != '"' {
		return false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC)
	ty, tmo, td := t.Date()
	th, tmi, tsec := t.Clock()
	if ty != y || int(tmo) != mo || td != d || th != h || tmi != mi || tsec != sec {
		return false // not a real date or time: time.Date normalised it
	}
	*out, s.i = t, s.i+i+2
	return true
}

// attachment reads one Attachment object.
func (s *scanner) attachment(a *Attachment) bool {
	if !s.lit(`{"sha256":`) || !s.str(&a.SHA256) || !s.lit(`,"size":`) || !s.int64(&a.Size) ||
		!s.lit(`,"media_type":`) || !s.str(&a.MediaType) || !s.lit(`,"name":`) || !s.str(&a.Name) {
		return false
	}
	if s.lit(`,"width":`) && (!s.int(&a.Width) || a.Width == 0) {
		return false
	}
	if s.lit(`,"height":`) && (!s.int(&a.Height) || a.Height == 0) {
		return false
	}
	if s.lit(`,"taken_at":`) && !s.nonEmpty(&a.TakenAt) {
		return false
	}
	if s.lit(`,"gps":{"lat":`) {
		a.GPS = &GPS{}
		if !s.float(&a.GPS.Lat) || !s.lit(`,"lon":`) || !s.float(&a.GPS.Lon) || !s.lit(`}`) {
			return false
		}
	}
	if s.lit(`,"phash":`) && !s.nonEmpty(&a.PHash) {
		return false
	}
	return s.lit(`}`)
}

// maxDepth bounds the nesting the fast path follows; deeper data takes
// the slow path (encoding/json allows 10,000 levels).
const maxDepth = 1000

// value reads one JSON value that is valid and already in the form
// Marshal writes a json.RawMessage in: no white space outside strings,
// and no '<', '>', '&', U+2028 or U+2029 anywhere (Marshal escapes them).
// Strings may hold any other bytes, as Marshal leaves them as they are.
func (s *scanner) value(depth int) bool {
	b := s.b
	if s.i >= len(b) || depth > maxDepth {
		return false
	}
	switch c := b[s.i]; {
	case c == '{':
		s.i++
		if s.lit(`}`) {
			return true
		}
		for {
			if s.i >= len(b) || b[s.i] != '"' || !s.rawString() || !s.lit(`:`) || !s.value(depth+1) {
				return false
			}
			if s.lit(`}`) {
				return true
			}
			if !s.lit(`,`) {
				return false
			}
		}
	case c == '[':
		s.i++
		if s.lit(`]`) {
			return true
		}
		for {
			if !s.value(depth + 1) {
				return false
			}
			if s.lit(`]`) {
				return true
			}
			if !s.lit(`,`) {
				return false
			}
		}
	case c == '"':
		return s.rawString()
	case c == '-' || '0' <= c && c <= '9':
		return s.number()
	default:
		return s.lit("true") || s.lit("false") || s.lit("null")
	}
}

// rawString reads a JSON string at i (which is '"') without decoding it.
func (s *scanner) rawString() bool {
	b := s.b
	for i := s.i + 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			return true
		case c < 0x20:
			return false
		case !s.loose && (c == '<' || c == '>' || c == '&'):
			return false
		case !s.loose && c == 0xE2 && i+2 < len(b) && b[i+1] == 0x80 && b[i+2]&^1 == 0xA8: // U+2028, U+2029
			return false
		case c == '\\':
			if i+1 >= len(b) {
				return false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+6 > len(b) {
					return false
				}
				for _, h := range b[i+2 : i+6] {
					if !isLowerHex(h) && !('A' <= h && h <= 'F') {
						return false
					}
				}
				i += 5
			default:
				return false
			}
		}
	}
	return false
}

// number reads a JSON number.
func (s *scanner) number() bool {
	b, i := s.b, s.i
	digits := func() bool {
		k := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i > k
	}
	if b[i] == '-' {
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if !digits() {
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	s.i = i
	return true
}

package events

import (
	"bytes"
	"slices"
	"unicode/utf8"
)

// canonicalFast is CanonicalJSON without the generic decoder and encoder,
// for the input it is sure of: compact JSON (no white space) whose keys
// hold no escapes and whose strings hold only bytes the encoder writes as
// they are (valid UTF-8, no control characters, no U+2028 or U+2029) and
// the escapes \" \\ \n \r \t (kept) and \u003c \u003e \u0026 (which
// become < > &), with no object holding a key twice. That is what
// SetData's json.Marshal of a payload writes. It gives exactly CanonicalJSON's bytes: the same values, object
// keys sorted byte-wise, numbers as their literal text. For any other input
// ok is false and CanonicalJSON takes the slow path.
func canonicalFast(raw []byte) (out []byte, ok bool) {
	s := scanner{b: raw}
	out, ok = s.canon(make([]byte, 0, len(raw)), 0)
	if !ok || s.i != len(raw) {
		return nil, false
	}
	return out, true
}

// member is one key and canonical value of an object being sorted.
type member struct {
	key []byte // the key's bytes between the quotes (no escapes)
	val []byte
}

// canon appends the canonical form of the value at s.i to out.
func (s *scanner) canon(out []byte, depth int) ([]byte, bool) {
	b := s.b
	if s.i >= len(b) || depth > maxDepth {
		return nil, false
	}
	switch c := b[s.i]; {
	case c == '{':
		s.i++
		if s.lit(`}`) {
			return append(out, "{}"...), true
		}
		var ms []member
		for {
			start := s.i
			if !s.plainString() || !s.lit(`:`) {
				return nil, false
			}
			key := b[start+1 : s.i-2]
			val, ok := s.canon(nil, depth+1)
			if !ok {
				return nil, false
			}
			ms = append(ms, member{key, val})
			if s.lit(`}`) {
				break
			}
			if !s.lit(`,`) {
				return nil, false
			}
		}
		slices.SortFunc(ms, func(x, y member) int { return bytes.Compare(x.key, y.key) })
		out = append(out, '{')
		for i, m := range ms {
			if i > 0 {
				if bytes.Equal(ms[i-1].key, m.key) {
					return nil, false // a duplicate key: the decoder keeps the last one
				}
				out = append(out, ',')
			}
			out = append(out, '"')
			out = append(out, m.key...)
			out = append(out, '"', ':')
			out = append(out, m.val...)
		}
		return append(out, '}'), true
	case c == '[':
		s.i++
		out = append(out, '[')
		if s.lit(`]`) {
			return append(out, ']'), true
		}
		for {
			var ok bool
			if out, ok = s.canon(out, depth+1); !ok {
				return nil, false
			}
			if s.lit(`]`) {
				return append(out, ']'), true
			}
			if !s.lit(`,`) {
				return nil, false
			}
			out = append(out, ',')
		}
	case c == '"':
		return s.canonString(out)
	case c == '-' || '0' <= c && c <= '9':
		start := s.i
		if !s.number() {
			return nil, false
		}
		return append(out, b[start:s.i]...), true
	default:
		start := s.i
		if !s.lit("true") && !s.lit("false") && !s.lit("null") {
			return nil, false
		}
		return append(out, b[start:s.i]...), true
	}
}

// plainString reads a string at s.i that the decoder and an encoder that
// does not escape HTML give back byte for byte: no escapes, no control
// characters, valid UTF-8 without U+2028 or U+2029.
func (s *scanner) plainString() bool {
	b := s.b
	if s.i >= len(b) || b[s.i] != '"' {
		return false
	}
	for i := s.i + 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			str := b[s.i+1 : i]
			if !utf8.Valid(str) || bytes.Contains(str, lineSep) || bytes.Contains(str, paraSep) {
				return false
			}
			s.i = i + 1
			return true
		case c < 0x20 || c == '\\':
			return false
		}
	}
	return false
}

// canonString appends the string at s.i in the form an encoder that does
// not escape HTML writes for it, if the string is one canonicalFast
// takes.
func (s *scanner) canonString(out []byte) ([]byte, bool) {
	b := s.b
	if s.i >= len(b) || b[s.i] != '"' {
		return nil, false
	}
	start := len(out)
	out = append(out, '"')
	from := s.i + 1 // the next bytes to copy as they are
	for i := s.i + 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			out = append(out, b[from:i+1]...)
			str := out[start+1 : len(out)-1]
			if !utf8.Valid(str) || bytes.Contains(str, lineSep) || bytes.Contains(str, paraSep) {
				return nil, false
			}
			s.i = i + 1
			return out, true
		case c < 0x20:
			return nil, false
		case c == '\\':
			if i+1 >= len(b) {
				return nil, false
			}
			switch b[i+1] {
			case '"', '\\', 'n', 'r', 't':
				i++ // kept as it is
			case 'u':
				var r byte
				switch {
				case i+6 > len(b):
					return nil, false
				case string(b[i+2:i+6]) == "003c":
					r = '<'
				case string(b[i+2:i+6]) == "003e":
					r = '>'
				case string(b[i+2:i+6]) == "0026":
					r = '&'
				default:
					return nil, false
				}
				out = append(out, b[from:i]...)
				out = append(out, r)
				i += 5
				from = i + 1
			default:
				return nil, false
			}
		}
	}
	return nil, false
}

var (
	lineSep = []byte("\u2028")
	paraSep = []byte("\u2029")
)

// fastVersion reads the top-level "version" integer of a payload in the
// form SetData and Seal write, for EntityVersion. ok is false, and the
// caller decodes with encoding/json, unless the payload is an object whose
// keys are plain ASCII strings, with "version" at most once, spelt exactly
// so (the decoder matches keys case-insensitively), holding an integer in
// Marshal's form, and every other value compact JSON (its strings
// may hold any escape or character JSON allows). Without a "version"
// key the result is 0, as encoding/json gives.
func fastVersion(data []byte) (v int, ok bool) {
	s := scanner{b: data}
	if !s.lit(`{`) {
		return 0, false
	}
	if s.lit(`}`) {
		return 0, s.i == len(data)
	}
	seen := false
	for {
		start := s.i
		if !s.plainString() || !s.lit(`:`) {
			return 0, false
		}
		key := data[start+1 : s.i-2]
		for _, c := range key {
			if c >= utf8.RuneSelf {
				return 0, false
			}
		}
		switch {
		case string(key) == "version":
			if seen || !s.int(&v) {
				return 0, false
			}
			seen = true
		case bytes.EqualFold(key, []byte("version")):
			return 0, false
		default:
			s.loose = true // any JSON: the decoder only checks it
			ok := s.value(1)
			s.loose = false
			if !ok {
				return 0, false
			}
		}
		if s.lit(`}`) {
			return v, s.i == len(data)
		}
		if !s.lit(`,`) {
			return 0, false
		}
	}
}

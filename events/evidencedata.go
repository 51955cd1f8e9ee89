package events

import (
	"strconv"
	"unicode/utf8"
)

// DecodeEvidenceSubmitted decodes e's Data as an EvidenceSubmitted: the
// result, error included, is DecodeData's into a zero EvidenceSubmitted.
//
// A submission's Data is read on every start, once per item, and
// encoding/json's reflection dominated replay. Data stored by Seal is
// canonical (CanonicalJSON: sorted keys, no white space), so when it is
// exactly an object of the payload's own keys in that order, with strings,
// numbers and arrays encoding/json decodes in the obvious way, one pass
// reads it. Anything else - unknown or repeated keys, nulls, numbers a
// field's type refuses, escapes outside the common set, invalid UTF-8 -
// goes to DecodeData, so the result never depends on the path taken. The
// strings returned share no memory with Data.
func (e *Event) DecodeEvidenceSubmitted() (EvidenceSubmitted, error) {
	if p, ok := scanEvidenceSubmitted(e.Data, nil); ok {
		return p, nil
	}
	var p EvidenceSubmitted
	err := e.DecodeData(&p)
	return p, err
}

// DecodeEvidenceSubmittedBody is DecodeEvidenceSubmitted with the body
// returned apart, as bytes, and p.Body empty: for a reader that stores the
// body elsewhere and would only copy a string of it again. body may share
// memory with e.Data: it is valid until e.Data changes.
func (e *Event) DecodeEvidenceSubmittedBody() (p EvidenceSubmitted, body []byte, err error) {
	if p, ok := scanEvidenceSubmitted(e.Data, &body); ok {
		return p, body, nil
	}
	if err := e.DecodeData(&p); err != nil {
		return EvidenceSubmitted{}, nil, err
	}
	body, p.Body = []byte(p.Body), ""
	return p, body, nil
}

// kindNames interns the evidence kinds, as interned does the envelope's
// names.
var kindNames = func() map[string]Kind {
	m := make(map[string]Kind, len(Kinds))
	for _, k := range Kinds {
		m[string(k)] = k
	}
	return m
}()

// scanEvidenceSubmitted reads b if it is an EvidenceSubmitted payload in
// canonical form and returns what json.Unmarshal would; ok is false for any
// input it is not sure of. With body set, the body goes there instead of
// into p.Body, possibly as a sub-slice of b.
func scanEvidenceSubmitted(b []byte, body *[]byte) (p EvidenceSubmitted, ok bool) {
	s := scanner{b: b}
	if !s.lit(`{`) {
		return p, false
	}
	more := false // a field has been read: the next one follows a comma
	if s.field(`"body":`, &more) {
		if body == nil {
			if !s.text(&p.Body) {
				return p, false
			}
		} else if *body, ok = s.textBytes(); !ok {
			return p, false
		}
	}
	if s.field(`"device":`, &more) {
		d := &DeviceSignature{}
		if !s.lit(`{"captured_at":`) || !s.time(&d.CapturedAt) || !s.lit(`,"key":`) || !s.text(&d.Key) ||
			!s.lit(`,"public_key":`) || !s.text(&d.PublicKey) || !s.lit(`,"signature":`) || !s.text(&d.Signature) ||
			!s.lit(`}`) {
			return p, false
		}
		p.Device = d
	}
	if s.field(`"figures":`, &more) && !s.figures(&p.Figures) {
		return p, false
	}
	if s.field(`"finding":`, &more) && !s.text(&p.Finding) {
		return p, false
	}
	if s.field(`"kind":`, &more) {
		v, ok := s.textBytes()
		if !ok {
			return p, false
		}
		if k, ok := kindNames[string(v)]; ok {
			p.Kind = k
		} else {
			p.Kind = Kind(v)
		}
	}
	if s.field(`"requirements":`, &more) && !s.texts(&p.Requirements) {
		return p, false
	}
	if s.field(`"tags":`, &more) && !s.texts(&p.Tags) {
		return p, false
	}
	if s.field(`"title":`, &more) && !s.text(&p.Title) {
		return p, false
	}
	if s.field(`"version":`, &more) && !s.int(&p.Version) {
		return p, false
	}
	if !s.lit(`}`) || s.i != len(b) {
		return p, false
	}
	return p, true
}

// field reads name (a quoted key and its colon) at i, after a comma if a
// field came before (*more), and then sets *more. It reads nothing and
// reports false if the next key is not name.
func (s *scanner) field(name string, more *bool) bool {
	j := s.i
	if *more {
		if j >= len(s.b) || s.b[j] != ',' {
			return false
		}
		j++
	}
	if len(s.b)-j < len(name) || string(s.b[j:j+len(name)]) != name {
		return false
	}
	s.i, *more = j+len(name), true
	return true
}

// textBytes reads a JSON string at i and returns its value as
// json.Unmarshal decodes it: a sub-slice of b if it has no escapes, else a
// new buffer. Unlike str it is not limited to Marshal's own form: Data is
// stored as CanonicalJSON writes it (no HTML escaping) and read back as
// Marshal wrote the envelope (HTML escaped), so it takes '<', '>', '&',
// U+2028 and U+2029 as they are or escaped, `\/`, and \u escapes in
// either case. It reports false for what it is not sure of: invalid UTF-8
// (which json.Unmarshal replaces) and surrogate escapes (which it pairs or
// replaces), as well as for what json.Unmarshal refuses.
func (s *scanner) textBytes() ([]byte, bool) {
	b := s.b
	if s.i >= len(b) || b[s.i] != '"' {
		return nil, false
	}
	i := s.i + 1
	start := i
	var buf []byte // the decoded string, once an escape is seen
	for i < len(b) {
		c := b[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		if !utf8.Valid(b[start:i]) {
			return nil, false
		}
		if c == '"' {
			s.i = i + 1
			if buf == nil {
				return b[start:i], true
			}
			return append(buf, b[start:i]...), true
		}
		if c != '\\' || i+1 >= len(b) {
			return nil, false // a control character, or the end of b
		}
		buf = append(buf, b[start:i]...)
		var r byte
		switch e := b[i+1]; {
		case e == '/':
			r = e
		case unescape[e] != 0:
			r = unescape[e]
		case e == 'u':
			if i+6 > len(b) {
				return nil, false
			}
			var v rune
			for _, h := range b[i+2 : i+6] {
				switch {
				case '0' <= h && h <= '9':
					v = v<<4 | rune(h-'0')
				case 'a' <= h && h <= 'f':
					v = v<<4 | rune(h-'a'+10)
				case 'A' <= h && h <= 'F':
					v = v<<4 | rune(h-'A'+10)
				default:
					return nil, false
				}
			}
			if 0xD800 <= v && v < 0xE000 {
				return nil, false // a surrogate: json.Unmarshal pairs or replaces it
			}
			buf = utf8.AppendRune(buf, v)
			i += 6
			start = i
			continue
		default:
			return nil, false
		}
		buf = append(buf, r)
		i += 2
		start = i
	}
	return nil, false
}

// text reads a JSON string into out as a new string (see textBytes).
func (s *scanner) text(out *string) bool {
	v, ok := s.textBytes()
	if ok {
		*out = string(v)
	}
	return ok
}

// texts reads an array of strings: [] is an empty, non-nil slice, as
// json.Unmarshal makes it.
func (s *scanner) texts(out *[]string) bool {
	if !s.lit(`[`) {
		return false
	}
	if s.lit(`]`) {
		*out = []string{}
		return true
	}
	var v []string
	for {
		var t string
		if !s.text(&t) {
			return false
		}
		v = append(v, t)
		if s.lit(`]`) {
			*out = v
			return true
		}
		if !s.lit(`,`) {
			return false
		}
	}
}

// figures reads an object of numbers into a new map, as json.Unmarshal
// decodes it into a map[string]float64: each number as strconv.ParseFloat
// reads its literal, refused if that fails. Its keys must be in increasing
// order, as CanonicalJSON sorts them, so none is repeated.
func (s *scanner) figures(out *map[string]float64) bool {
	if !s.lit(`{`) {
		return false
	}
	m := map[string]float64{}
	if s.lit(`}`) {
		*out = m
		return true
	}
	prev := ""
	for n := 0; ; n++ {
		var k string
		if !s.text(&k) || n > 0 && k <= prev || !s.lit(`:`) {
			return false
		}
		b, start := s.b, s.i
		if start >= len(b) || b[start] != '-' && (b[start] < '0' || b[start] > '9') || !s.number() {
			return false
		}
		f, err := strconv.ParseFloat(string(b[start:s.i]), 64)
		if err != nil {
			return false
		}
		m[k], prev = f, k
		if s.lit(`}`) {
			*out = m
			return true
		}
		if !s.lit(`,`) {
			return false
		}
	}
}

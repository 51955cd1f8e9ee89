package jetstream

import (
	"bytes"
	"testing"
)

// FuzzRecord: a record appendRecord makes parses back to what went in,
// with the body where it says; parseHead refuses or parses any other
// head without panicking, and what it parses it parses whole.
func FuzzRecord(f *testing.F) {
	f.Add(uint64(1), "tz.ev.dongcun", "evidence.submitted", "0190a0a0-0000-7000-8000-000000000001", "1", []byte(`{"id":1}`), []byte{})
	f.Add(uint64(1<<40), "tz.ev.x.below", "", "", "", []byte{}, []byte{0x80})
	f.Fuzz(func(t *testing.T, seq uint64, subject, typ, entity, version string, data, junk []byte) {
		h := idHeaders{typ, entity, version}
		rec, off := appendRecord([]byte("before"), seq, subject, h, data)
		rec = rec[len("before"):]
		if !bytes.Equal(rec[off:], data) {
			t.Fatalf("the body is not at %d", off)
		}
		gotSeq, gotSubject, gotH, err := parseHead(rec[recordPrefix:off], map[string]string{})
		if err != nil || gotSeq != seq || gotSubject != subject || gotH != h {
			t.Fatalf("parsed %d %q %+v, %v; made %d %q %+v", gotSeq, gotSubject, gotH, err, seq, subject, h)
		}
		// Any head: no panic.
		_, _, _, _ = parseHead(junk, map[string]string{})
	})
}

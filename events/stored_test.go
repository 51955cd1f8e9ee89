package events_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
)

// rich is an event with every envelope field set, and strings that need
// every kind of escape Marshal writes.
func rich(t testing.TB) *events.Event {
	corr := uuid.MustParse("0190a0a0-0000-7000-8000-0000000000ff")
	ev := &events.Event{
		ID: uuid.MustParse("0190a0a0-0000-7000-8000-000000000002"), Type: events.TypeEvidenceAmended, Schema: 1, Unit: "dongcun",
		Actor: events.Actor{ID: "clerk \"7\"", Role: events.RoleSubmitter}, Client: events.ClientAPI,
		OccurredAt: time.Date(2016, 7, 1, 8, 0, 0, 500000000, time.FixedZone("CST", 8*3600)),
		RecordedAt: time.Date(2016, 7, 2, 8, 0, 0, 123456789, time.UTC),
		Corrects:   &corr,
		Reason:     "typo\n\t<b>&\\ \u2028\u2029 \x01\x7f\b\f\r 更正",
		Attachments: []events.Attachment{
			{SHA256: strings.Repeat("ab", 32), Size: 3, MediaType: "image/jpeg", Name: "相片 <1>.jpg", Width: 640, Height: 480,
				TakenAt: "2016-07-01T08:00:00", GPS: &events.GPS{Lat: 23.1291, Lon: -1e-7}, PHash: "00ff00ff00ff00ff"},
			{SHA256: strings.Repeat("cd", 32), Size: 1 << 40, MediaType: "application/pdf", Name: "a\"b"},
		},
	}
	if err := ev.SetData(map[string]any{"title": "<學習>&\u2028", "n": []any{1.5, 0.0, 1e300, true, nil, "x\u0000y"}, "o": map[string]any{}, "e": []any{}}); err != nil {
		t.Fatal(err)
	}
	if err := ev.Seal(events.Hash{9}); err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestHashFormatGolden pins the hash of two events: the hash format must
// never change, or existing ledgers would no longer verify.
func TestHashFormatGolden(t *testing.T) {
	ev := sample(t)
	if err := ev.Seal(events.Hash{1}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ev   *events.Event
		want string
	}{{ev, "d71d3ac04c08baa3126187941fe938dd1a43c0a4a4b8f9a9a0e61ab2fb8983f0"}, {rich(t), "4c0e1f8c298cb5ac6c90995f9fc8a478f168674615dec5e11ce73e6c103aadfe"}} {
		if got := c.ev.Hash.String(); got != c.want {
			t.Errorf("hash of event %s is %s, want %s", c.ev.ID, got, c.want)
		}
		b, _ := events.Encode(c.ev)
		got, err := events.CheckStored(b)
		if err != nil || got.Hash.String() != c.want {
			t.Errorf("CheckStored: %v", err)
		}
	}
}

// TestCheckStoredFastPath: every event as Encode stores it is read by the
// strict scanner (the fast path), decodes to what Decode gives, and its
// hash is checked over the stored bytes.
func TestCheckStoredFastPath(t *testing.T) {
	first := sample(t)
	_ = first.Seal(events.Hash{})
	minimal := &events.Event{ID: uuid.New(), Type: "x.y", Schema: 3, Unit: "_plans", Actor: events.Actor{Role: "r"}}
	_ = minimal.Seal(events.Hash{})
	for name, ev := range map[string]*events.Event{"sample": first, "rich": rich(t), "minimal": minimal} {
		t.Run(name, func(t *testing.T) {
			b, err := events.Encode(ev)
			if err != nil {
				t.Fatal(err)
			}
			fast, end, ok := events.ScanStored(b)
			if !ok {
				t.Fatalf("the fast path refused an event as stored: %s", b)
			}
			canon, _ := ev.Canonical()
			if got := string(b[:end]) + "}"; got != string(canon) {
				t.Fatalf("canonical prefix\n%s\nwant\n%s", got, canon)
			}
			slow, err := events.DecodeJSON(b)
			if err != nil {
				t.Fatal(err)
			}
			sameEvent(t, fast, slow)
			got, err := events.CheckStored(b)
			if err != nil || got.Hash != ev.Hash {
				t.Fatalf("CheckStored: %v", err)
			}
		})
	}
}

// TestCheckStoredSlowPath: events stored in any other form still verify,
// by the slow path, and the scanner refuses them.
func TestCheckStoredSlowPath(t *testing.T) {
	ev := rich(t)
	b, _ := events.Encode(ev)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	pretty, _ := json.MarshalIndent(m, "", "  ")
	forms := map[string][]byte{
		"re-indented":    pretty,
		"nanoseconds":    bytes.Replace(b, []byte(`"2016-07-02T08:00:00.123456Z"`), []byte(`"2016-07-02T08:00:00.123456000Z"`), 1),
		"offset":         bytes.Replace(b, []byte(`"2016-07-02T08:00:00.123456Z"`), []byte(`"2016-07-02T16:00:00.123456+08:00"`), 1),
		"upper uuid":     bytes.Replace(b, []byte(`0190a0a0-0000-7000-8000-0000000000ff`), []byte(`0190A0A0-0000-7000-8000-0000000000FF`), 1),
		"escaped letter": bytes.Replace(b, []byte(`"dongcun"`), []byte(`"d\u006fngcun"`), 1),
		"space in data":  bytes.Replace(b, []byte(`"data":{`), []byte(`"data":{ `), 1),
		"long escape":    bytes.Replace(b, []byte(`typo\n`), []byte(`typo\u000a`), 1),
		"trailing space": append(bytes.Clone(b), ' '),
	}
	for name, form := range forms {
		t.Run(name, func(t *testing.T) {
			if bytes.Equal(form, b) {
				t.Fatal("test form equals the stored form")
			}
			if _, _, ok := events.ScanStored(form); ok {
				t.Fatalf("the fast path took a non-canonical form: %s", form)
			}
			got, err := events.CheckStored(form)
			if err != nil || got.Hash != ev.Hash {
				t.Fatalf("CheckStored of an equivalent form: %v", err)
			}
		})
	}
}

// TestCheckStoredTamper: a changed byte anywhere in the canonical part is
// a bad hash, on the fast path, and bytes that do not decode are invalid.
func TestCheckStoredTamper(t *testing.T) {
	ev := rich(t)
	b, _ := events.Encode(ev)
	for name, tampered := range map[string][]byte{
		"data":       bytes.Replace(b, []byte(`1e+300`), []byte(`2e+300`), 1),
		"reason":     bytes.Replace(b, []byte(`typo`), []byte(`typp`), 1),
		"prev":       bytes.Replace(b, []byte(`"prev":"09`), []byte(`"prev":"0a`), 1),
		"attachment": bytes.Replace(b, []byte(`"size":3`), []byte(`"size":4`), 1),
		"corrects":   bytes.Replace(b, []byte(`0000000000ff`), []byte(`0000000000fe`), 1),
	} {
		t.Run(name, func(t *testing.T) {
			if bytes.Equal(tampered, b) {
				t.Fatal("nothing replaced")
			}
			if _, _, ok := events.ScanStored(tampered); !ok {
				t.Fatal("tampered bytes in canonical form should take the fast path")
			}
			got, err := events.CheckStored(tampered)
			if !errors.Is(err, events.ErrBadHash) || got == nil || got.ID != ev.ID {
				t.Fatalf("got %v, want ErrBadHash naming the event", err)
			}
		})
	}
	if _, err := events.CheckStored(b[:len(b)-1]); !errors.Is(err, events.ErrInvalid) {
		t.Fatalf("truncated: got %v, want ErrInvalid", err)
	}
}

// sameEvent fails unless a and b are equal field by field (times as
// values, so location and all).
func sameEvent(t testing.TB, a, b *events.Event) {
	t.Helper()
	if a.OccurredAt != b.OccurredAt || a.RecordedAt != b.RecordedAt ||
		a.OccurredAt.Location().String() != b.OccurredAt.Location().String() || a.RecordedAt.Location().String() != b.RecordedAt.Location().String() {
		t.Fatalf("times differ: %v %v / %v %v", a.OccurredAt, a.RecordedAt, b.OccurredAt, b.RecordedAt)
	}
	x, y := *a, *b
	x.OccurredAt, x.RecordedAt, y.OccurredAt, y.RecordedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(x, y) {
		t.Fatalf("events differ:\n%#v\n%#v", x, y)
	}
}

// FuzzCheckStored: whatever the fast path accepts decodes with Decode to
// the same event, is the canonical encoding byte for byte, and gets the
// same verdict as Decode and VerifyHash; CheckStored never disagrees with
// them on any input.
func FuzzCheckStored(f *testing.F) {
	for _, ev := range []*events.Event{sample(f), rich(f)} {
		_ = ev.Seal(events.Hash{3})
		b, _ := events.Encode(ev)
		f.Add(b)
	}
	f.Add([]byte(`{"id":"0190a0a0-0000-7000-8000-000000000009","type":"x","schema":1,"unit":"u","actor":{"id":"","role":""},"client":"","occurred_at":"0001-01-01T00:00:00Z","recorded_at":"0001-01-01T00:00:00Z","data":{"a":[1,{"b":"\u00e9"}]},"prev":"","hash":""}`))
	f.Fuzz(func(t *testing.T, b []byte) { agree(t, b) })
}

// agree fails unless CheckStored and the fast path agree with Decode and
// VerifyHash on b. It reports whether the fast path took b.
func agree(t *testing.T, b []byte) (fastPath bool) {
	t.Helper()
	slow, slowErr := events.DecodeJSON(b)
	if slowErr == nil {
		slowErr = slow.VerifyHash()
	}
	if dec, err := events.Decode(b); (err == nil) != (slow != nil) || errors.Is(err, events.ErrInvalid) != (slow == nil) {
		t.Fatalf("Decode says %v, encoding/json %v", err, slowErr)
	} else if dec != nil {
		sameEvent(t, dec, slow)
	}
	fast, end, fastPath := events.ScanStored(b)
	if fastPath {
		if slow == nil {
			t.Fatalf("fast path took bytes Decode refuses: %v", slowErr)
		}
		sameEvent(t, fast, slow)
		canon, err := slow.Canonical()
		if err != nil || string(b[:end])+"}" != string(canon) {
			t.Fatalf("fast path took a non-canonical form (%v):\n%s\n%s", err, b[:end], canon)
		}
	}
	got, err := events.CheckStored(b)
	if (err == nil) != (slowErr == nil) || errors.Is(err, events.ErrBadHash) != errors.Is(slowErr, events.ErrBadHash) ||
		errors.Is(err, events.ErrInvalid) != errors.Is(slowErr, events.ErrInvalid) {
		t.Fatalf("CheckStored says %v, Decode and VerifyHash say %v", err, slowErr)
	}
	if (got == nil) != (slow == nil) || got != nil && got.Hash != slow.Hash {
		t.Fatal("CheckStored returned another event")
	}
	return fastPath
}

// TestCheckStoredMutations runs agree on every one-byte change and
// insertion of a set of telling bytes at every position of a rich event:
// a deterministic cousin of FuzzCheckStored.
func TestCheckStoredMutations(t *testing.T) {
	b, _ := events.Encode(rich(t))
	fast := 0
	count := func(took bool) {
		if took {
			fast++
		}
	}
	for i := range b {
		for _, c := range []byte{'\\', '"', 'u', '0', '1', 'f', '<', ' ', 'A', 0xE2, 0x80, 0xA8, '-', 'e', '.', '}', ',', ':', 'n'} {
			m := bytes.Clone(b)
			m[i] = c
			count(agree(t, m))
			count(agree(t, append(append(bytes.Clone(b[:i]), c), b[i:]...)))
		}
		count(agree(t, append(bytes.Clone(b[:i]), b[i+1:]...)))
	}
	t.Logf("%d of %d mutations took the fast path", fast, len(b)*39)
	if fast < len(b) {
		t.Fatalf("only %d mutations took the fast path: the test no longer reaches it", fast)
	}
}

// BenchmarkCheckStored compares checking a stored event's hash on the fast
// path with Decode and VerifyHash (the generic JSON decoder and encoder).
func BenchmarkCheckStored(b *testing.B) {
	ev := sample(b)
	_ = ev.Seal(events.Hash{1})
	stored, _ := events.Encode(ev)
	b.Run("check-stored", func(b *testing.B) {
		b.SetBytes(int64(len(stored)))
		for b.Loop() {
			if _, err := events.CheckStored(stored); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode-verify", func(b *testing.B) {
		b.SetBytes(int64(len(stored)))
		for b.Loop() {
			ev, err := events.Decode(stored)
			if err != nil {
				b.Fatal(err)
			}
			if err := ev.VerifyHash(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestCheckStoredTimes runs agree on edge cases of the recorded time.
func TestCheckStoredTimes(t *testing.T) {
	b, _ := events.Encode(rich(t))
	const orig = `"2016-07-02T08:00:00.123456Z"`
	if !bytes.Contains(b, []byte(orig)) {
		t.Fatal("rich event's recorded_at changed")
	}
	for _, ts := range []string{
		"0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", "2016-02-29T00:00:00Z",
		"2015-02-29T00:00:00Z", "2016-04-31T00:00:00Z", "2016-07-02T24:00:00Z", "2016-07-02T23:59:60Z",
		"2016-07-02T08:00:00.000001Z", "2016-07-02T08:00:00.100000Z", "2016-07-02T08:00:00.Z", "2016-07-02T08:00:00.1234567Z",
		"2016-07-02t08:00:00Z", "2016-07-02T08:00:00z", "2016-13-02T08:00:00Z", "2016-00-02T08:00:00Z", "+016-07-02T08:00:00Z",
		"2016-07-02T08:00:00+00:00", "2016-07-02 08:00:00Z", "2016-7-02T08:00:00Z",
	} {
		agree(t, bytes.Replace(b, []byte(orig), []byte(`"`+ts+`"`), 1))
	}
}

// TestDecodeOwnsItsMemory: the fast path's event shares no memory with
// the bytes it was read from, as encoding/json's does not.
func TestDecodeOwnsItsMemory(t *testing.T) {
	ev := rich(t)
	b, _ := events.Encode(ev)
	if _, _, ok := events.ScanStored(b); !ok {
		t.Fatal("not on the fast path")
	}
	got, err := events.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 'x'
	}
	if err := got.VerifyHash(); err != nil || got.Unit != "dongcun" || got.Attachments[0].Name != ev.Attachments[0].Name {
		t.Fatalf("decoded event changed with its input: %v", err)
	}
}

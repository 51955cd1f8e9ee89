package api

import (
	"errors"
	"strings"
	"testing"
	"time"

	"taizhang/events"
	"taizhang/param"
)

var zone = time.FixedZone("UTC+8", 8*3600)

func TestDecodeEvidence(t *testing.T) {
	now := time.Date(2016, 8, 1, 0, 0, 0, 0, time.UTC)
	ok := `{"id":"0190a0a0-0000-7000-8000-000000000001","kind":"activity","title":" 學習 ","occurred_at":"2016-07-01","requirements":["r1"]}`
	p, err := DecodeEvidence([]byte(ok), now, time.Minute, zone)
	if err != nil {
		t.Fatal(err)
	}
	if p.Evidence.Title != "學習" || !p.OccurredAt.Equal(time.Date(2016, 6, 30, 16, 0, 0, 0, time.UTC)) || p.ID.String() != "0190a0a0-0000-7000-8000-000000000001" {
		t.Fatalf("parsed: %+v", p)
	}
	for _, bad := range []string{
		``, `[]`, `{`, `{"kind":"activity","title":"t","occurred_at":"2016-07-01"}x`,
		`{"kind":"activity","title":"t"}`,
		`{"kind":"x","title":"t","occurred_at":"2016-07-01"}`,
		`{"title":"t","occurred_at":"2016-07-01"}`,
		`{"kind":"activity","occurred_at":"2016-07-01"}`,
		`{"kind":"activity","title":"t","occurred_at":"2016-08-02"}`,
		`{"kind":"activity","title":"t","occurred_at":"1900-01-01"}`,
		`{"kind":"activity","title":"t","occurred_at":"2016-07-01","extra":1}`,
		`{"id":"abc","kind":"activity","title":"t","occurred_at":"2016-07-01"}`,
		`{"id":"00000000-0000-0000-0000-000000000000","kind":"activity","title":"t","occurred_at":"2016-07-01"}`,
		`{"kind":"activity","title":"` + strings.Repeat("長", 201) + `","occurred_at":"2016-07-01"}`,
		`{"kind":"activity","title":"t","occurred_at":"2016-07-01","requirements":[""]}`,
	} {
		if _, err := DecodeEvidence([]byte(bad), now, time.Minute, zone); err == nil {
			t.Errorf("accepted %s", bad)
		} else if !errors.Is(err, events.ErrInvalid) && !errors.Is(err, param.ErrBadRequest) {
			t.Errorf("%s: error of the wrong kind: %v", bad, err)
		}
	}
}

// FuzzDecodeEvidence: the evidence metadata decoder never panics, only
// returns errors of the two request kinds, and what it accepts is valid.
func FuzzDecodeEvidence(f *testing.F) {
	f.Add([]byte(`{"id":"0190a0a0-0000-7000-8000-000000000001","kind":"activity","title":"學習","occurred_at":"2016-07-01","requirements":["r1"]}`))
	f.Add([]byte(`{"kind":"photo","title":"t","body":"\u0000","occurred_at":"2016-07-01T10:00:00+08:00"}`))
	f.Add([]byte(`{"kind":"activity","title":"t","occurred_at":"2016-07-01"} {}`))
	now := time.Date(2016, 8, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeEvidence(b, now, time.Minute, zone)
		if err != nil {
			if !errors.Is(err, events.ErrInvalid) && !errors.Is(err, param.ErrBadRequest) {
				t.Fatalf("error of the wrong kind: %v", err)
			}
			return
		}
		if err := p.Evidence.Validate(); err != nil {
			t.Fatalf("accepted invalid evidence: %v", err)
		}
		if p.OccurredAt.IsZero() || p.OccurredAt.After(now.Add(time.Minute)) {
			t.Fatalf("accepted occurred_at %v", p.OccurredAt)
		}
	})
}

func TestLabel(t *testing.T) {
	for in, want := range map[string]string{
		"photo.jpg":              "photo.jpg",
		"../../etc/passwd":       "passwd",
		`C:\Users\x\相片.png`:      "相片.png",
		"a\x00b\nc.txt":          "abc.txt",
		"bad\xffutf8":            "bad\uFFFDutf8",
		strings.Repeat("名", 300): strings.Repeat("名", 255),
	} {
		if got := label(in); got != want {
			t.Errorf("label(%q) = %q, want %q", in, got, want)
		}
	}
}

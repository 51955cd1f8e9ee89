package events_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
)

// canonicalSeeds are payloads in the forms the ledger meets: SetData's
// (struct field order), already canonical, and odd ones.
var canonicalSeeds = []string{
	`{"kind":"photo","title":"東村村委會七月廉政文化專欄更新及集中學習","body":"七月十二日上午九時，村委會全體幹部在會議室集中學習《廉潔自律準則》。","requirements":["photos","study"],"tags":["黨史"],"figures":{"volunteers":130,"ratio":0.25},"finding":"0190a0a0-0000-7000-8000-000000000009","version":1}`,
	`{"changes":{"title":"新標題","body":"a<b & c>d"},"version":3}`,
	`{"b":1,"a":{"d":[1,2,{"z":null,"y":true}],"c":"x"},"A":false}`,
	`{"version":2,"Version":3}`,
	`{"version":1.0}`,
	`{"version":"1"}`,
	`{"a":"\u00e9","version":1}`,
	`{"body":"第一行\n第二行\t\"引\"\\ \u003c\u0026\u003e \r","title":"\u003cb\u003e","version":2}`,
	`{"a":"\u003C"}`, `{"a":"\/"}`, `{"a":"\b\f"}`, `{"a":"\u001f"}`, `{"a\n":1}`,
	`{"a":"line\u2028sep","version":1}`,
	"{\"a\":\"line\u2028sep\"}",
	`{"a":1,"a":2}`,
	`{ "a": 1 }`,
	`[]`, `{}`, `""`, `-0`, `1e5`, `[1,[2,[3]]]`, `{"":""}`, `{"a":"\""}`,
	"{\"a\":\"\xff\"}",
	`{"version":-0}`,
	`{"version":9223372036854775808}`,
	`{"version":1} `,
}

// FuzzCanonicalJSON holds CanonicalJSON's and EntityVersion's fast paths to
// encoding/json: whatever a fast path accepts, it answers exactly as the
// slow path does.
func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range canonicalSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		slow, slowErr := events.CanonicalSlow(b)
		if fast, ok := events.CanonicalFast(b); ok {
			if slowErr != nil {
				t.Fatalf("fast path canonicalised what encoding/json refuses (%v): %q", slowErr, b)
			}
			if !bytes.Equal(fast, slow) {
				t.Fatalf("fast path gives\n%s\nencoding/json\n%s", fast, slow)
			}
		}
		got, err := events.CanonicalJSON(b)
		if len(b) > 0 && ((err == nil) != (slowErr == nil) || !bytes.Equal(got, slow)) {
			t.Fatalf("CanonicalJSON gives %q, %v; encoding/json %q, %v", got, err, slow, slowErr)
		}
		if v, ok := events.FastVersion(b); ok {
			var want struct {
				Version int `json:"version"`
			}
			if err := json.Unmarshal(b, &want); err != nil || want.Version != v {
				t.Fatalf("fast version %d, encoding/json %d (%v): %q", v, want.Version, err, b)
			}
		}
	})
}

// TestCanonicalFastPathTaken: the payloads SetData writes take the fast
// paths (else the optimisation silently never runs), and the odd seeds
// that must not, do not.
func TestCanonicalFastPathTaken(t *testing.T) {
	ev := &events.Event{Type: events.TypeEvidenceSubmitted}
	if err := ev.SetData(events.EvidenceSubmitted{Evidence: events.Evidence{Kind: events.KindPhoto, Title: "七月 <專欄> & 學習",
		Body: "第一行\n第二行\t「引號」\"", Requirements: []string{"photos"}, Tags: []string{"黨史"},
		Figures: map[string]float64{"volunteers": 130, "ratio": 0.25}}, Version: 4}); err != nil {
		t.Fatal(err)
	}
	// SetData writes < > & as \u003c \u003e \u0026, a new line as \n.
	if _, ok := events.CanonicalFast(ev.Data); !ok {
		t.Errorf("SetData's payload took the slow path: %s", ev.Data)
	}
	plain := []byte(`{"kind":"photo","title":"七月 <專欄> & 學習","requirements":["photos"],"version":4}`)
	if _, ok := events.CanonicalFast(plain); !ok {
		t.Errorf("a plain payload took the slow path: %s", plain)
	}
	canon, err := events.CanonicalJSON(plain)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"kind":"photo","requirements":["photos"],"title":"七月 <專欄> & 學習","version":4}`; string(canon) != want {
		t.Errorf("canonical form %s, want %s", canon, want)
	}
	if v, ok := events.FastVersion(canon); !ok || v != 4 {
		t.Errorf("fast version of %s: %d, %v", canon, v, ok)
	}
	if v, ok := events.FastVersion(ev.Data); !ok || v != 4 {
		t.Errorf("fast version of SetData's %s: %d, %v", ev.Data, v, ok)
	}
	for _, s := range []string{`{"a":1,"a":2}`, `{ "a": 1 }`, `{"a":"\u00e9"}`, "{\"a\":\"\xff\"}", "{\"a\":\"\u2028\"}"} {
		if _, ok := events.CanonicalFast([]byte(s)); ok {
			t.Errorf("fast path took %q", s)
		}
	}
	if _, ok := events.FastVersion([]byte(`{"version":2,"Version":3}`)); ok {
		t.Error("fast version took a payload with a case-folded duplicate key")
	}
}

// TestSealStoredIsEncode: the stored form SealStored builds from the
// canonical encoding is byte for byte what Encode writes, for every shape
// of envelope and payload.
func TestSealStoredIsEncode(t *testing.T) {
	corrects := uuid.MustParse("0190a0a0-0000-7000-8000-000000000009")
	at := time.Date(2026, 7, 12, 9, 30, 15, 123456789, time.FixedZone("CST", 8*3600))
	for i, s := range canonicalSeeds {
		if !json.Valid([]byte(s)) {
			continue
		}
		ev := &events.Event{ID: uuid.Must(uuid.NewV7()), Type: events.TypeEvidenceAmended, Schema: events.SchemaVersion, Unit: "dongcun",
			Actor: events.Actor{ID: "clerk<1>", Role: events.RoleSubmitter}, Client: events.ClientWeb, OccurredAt: at, RecordedAt: at.Add(time.Hour),
			Data: json.RawMessage(s)}
		if i%2 == 0 {
			ev.Corrects, ev.Reason = &corrects, "改正 & <日期>"
			ev.Attachments = []events.Attachment{{SHA256: "aa" + string(bytes.Repeat([]byte("0"), 62)), Size: 12, MediaType: "image/jpeg", Name: "IMG 1.jpg", Width: 4, Height: 3}}
		}
		got, err := ev.SealStored(events.Hash{byte(i + 1)})
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		want, err := events.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("SealStored\n%s\nEncode\n%s", got, want)
		}
		if _, err := events.CheckStored(got); err != nil {
			t.Fatalf("the stored form does not check: %v", err)
		}
	}
}

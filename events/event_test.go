package events_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
)

func sample(t testing.TB) *events.Event {
	id := uuid.MustParse("0190a0a0-0000-7000-8000-000000000001")
	ev := &events.Event{
		ID: id, Type: events.TypeEvidenceSubmitted, Schema: 1, Unit: "dongcun",
		Actor: events.Actor{ID: "clerk", Role: events.RoleSubmitter}, Client: events.ClientWeb,
		OccurredAt:  time.Date(2016, 7, 1, 8, 0, 0, 0, time.FixedZone("CST", 8*3600)),
		RecordedAt:  time.Date(2016, 7, 2, 8, 0, 0, 123456789, time.UTC),
		Attachments: []events.Attachment{{SHA256: strings.Repeat("ab", 32), Size: 3, MediaType: "image/jpeg", Name: "相片.jpg"}},
	}
	if err := ev.SetData(events.EvidenceSubmitted{Evidence: events.Evidence{Kind: events.KindActivity, Title: "<學習>&"}, Version: 1}); err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestSealRoundTrip(t *testing.T) {
	ev := sample(t)
	if err := ev.Seal(events.Hash{1}); err != nil {
		t.Fatal(err)
	}
	if err := ev.Validate(); err != nil {
		t.Fatal(err)
	}
	b, back := roundTrip(t, ev)
	if err := back.VerifyHash(); err != nil {
		t.Fatalf("hash does not survive a round trip: %v", err)
	}
	if back.Hash != ev.Hash || back.Prev != (events.Hash{1}) {
		t.Fatal("hash or prev changed in round trip")
	}
	// Re-indenting the stored JSON changes no hash: the data is canonicalised.
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	pretty, _ := json.MarshalIndent(m, "", "  ")
	back2, err := events.Decode(pretty)
	if err != nil {
		t.Fatal(err)
	}
	if err := back2.VerifyHash(); err != nil {
		t.Fatalf("reformatted event: %v", err)
	}
}

func TestTamperDetected(t *testing.T) {
	for name, mutate := range map[string]func(*events.Event){
		"title":    func(e *events.Event) { e.Data = []byte(`{"kind":"activity","title":"changed","version":1}`) },
		"occurred": func(e *events.Event) { e.OccurredAt = e.OccurredAt.Add(time.Hour) },
		"recorded": func(e *events.Event) { e.RecordedAt = e.RecordedAt.Add(time.Microsecond) },
		"actor":    func(e *events.Event) { e.Actor.ID = "someone" },
		"blob":     func(e *events.Event) { e.Attachments[0].SHA256 = strings.Repeat("cd", 32) },
		"prev":     func(e *events.Event) { e.Prev = events.Hash{2} },
		"unit":     func(e *events.Event) { e.Unit = "xicun" },
	} {
		t.Run(name, func(t *testing.T) {
			ev := sample(t)
			if err := ev.Seal(events.Hash{1}); err != nil {
				t.Fatal(err)
			}
			mutate(ev)
			if err := ev.VerifyHash(); !errors.Is(err, events.ErrBadHash) {
				t.Fatalf("got %v, want ErrBadHash", err)
			}
		})
	}
}

func TestVerifyChain(t *testing.T) {
	var recs []events.Record
	var prev events.Hash
	for i := 0; i < 3; i++ {
		ev := sample(t)
		ev.ID = uuid.New()
		if err := ev.Seal(prev); err != nil {
			t.Fatal(err)
		}
		prev = ev.Hash
		recs = append(recs, events.Record{Seq: uint64(i + 1), Event: ev})
	}
	if err := events.VerifyChain(recs); err != nil {
		t.Fatal(err)
	}
	if err := events.VerifyChain([]events.Record{recs[0], recs[2]}); !errors.Is(err, events.ErrBadChain) {
		t.Fatalf("gap: got %v, want ErrBadChain", err)
	}
	if err := events.VerifyChain(recs[1:]); !errors.Is(err, events.ErrBadChain) {
		t.Fatalf("missing first: got %v, want ErrBadChain", err)
	}
}

func TestValidUnitID(t *testing.T) {
	for _, ok := range []string{"a", "dongcun", "cun-1", "x0", strings.Repeat("a", 64)} {
		if err := events.ValidUnitID(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-a", "a-", "A", "東村", "a.b", "a*", "a>", "a b", "a_b", strings.Repeat("a", 65), "a\n"} {
		if err := events.ValidUnitID(bad); !errors.Is(err, events.ErrInvalid) {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDecodeUnknownTypeAndFields(t *testing.T) {
	b := []byte(`{"id":"0190a0a0-0000-7000-8000-000000000009","type":"plan.published","schema":7,"unit":"_x","future":{"a":1},"prev":"","hash":""}`)
	ev, err := events.Decode(b)
	if err != nil {
		t.Fatalf("unknown type must decode: %v", err)
	}
	if ev.Type != "plan.published" {
		t.Fatal(ev.Type)
	}
}

// FuzzDecode: the envelope decoder never panics, and whatever it accepts
// encodes and decodes again to the same hash.
func FuzzDecode(f *testing.F) {
	ev := sample(f)
	_ = ev.Seal(events.Hash{})
	b, _ := events.Encode(ev)
	f.Add(b)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"id":"0190a0a0-0000-7000-8000-000000000009","type":"x","unit":"u","data":[1,2]}`))
	f.Add([]byte(`{"id":"0190a0a0-0000-7000-8000-000000000009","type":"x","unit":"u","prev":"zz"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := events.Decode(b)
		if err != nil {
			return
		}
		h1, err1 := ev.ComputeHash()
		out, err := events.Encode(ev)
		if err != nil {
			return
		}
		back, err := events.Decode(out)
		if err != nil {
			t.Fatalf("re-encoded event does not decode: %v\n%s", err, out)
		}
		h2, err2 := back.ComputeHash()
		if (err1 == nil) != (err2 == nil) || h1 != h2 {
			t.Fatalf("hash changed across a round trip: %v %v %s %s", err1, err2, h1, h2)
		}
	})
}

// roundTrip returns ev encoded as the ledger stores it, and those bytes
// decoded again.
func roundTrip(t testing.TB, ev *events.Event) ([]byte, *events.Event) {
	t.Helper()
	b, err := events.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	back, err := events.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return b, back
}

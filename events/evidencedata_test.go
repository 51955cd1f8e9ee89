package events_test

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
)

// Realistic submission fields, as in the projections' benchmarks.
const (
	evTitle = "東村村委會七月廉政文化專欄更新及集中學習"
	evBody  = "七月十二日上午九時，村委會全體幹部在會議室集中學習《廉潔自律準則》，" +
		"由黨支部書記領學並結合本村實際作講解。會後更新了宣傳欄的廉政文化專欄，" +
		"張貼格言警句十二條，參加人數十五人，缺席二人已補學。會議紀要附後。"
)

// submissions are EvidenceSubmitted payloads as the server writes them.
func submissions() map[string]events.EvidenceSubmitted {
	dev := &events.DeviceSignature{Key: "dev-3f9a1c", PublicKey: "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=",
		CapturedAt: time.Date(2016, 7, 12, 1, 2, 3, 456000000, time.UTC), Signature: strings.Repeat("QUJD", 21) + "QQ=="}
	return map[string]events.EvidenceSubmitted{
		"minimal": {Evidence: events.Evidence{Kind: events.KindActivity, Title: "集中學習"}, Version: 1},
		"typical": {Evidence: events.Evidence{Kind: events.KindStudyNote, Title: evTitle, Body: evBody,
			Requirements: []string{"lianzheng-03"}}, Version: 1},
		"full": {Evidence: events.Evidence{Kind: events.KindSummary, Title: evTitle, Body: evBody,
			Requirements: []string{"lianzheng-01", "lianzheng-07"}, Tags: []string{"主題黨日", "集中學習"},
			Figures: map[string]float64{"volunteers": 130, "參加人數": 15, "hours": 2.5, "ratio": 0.125, "neg": -3, "tiny": 1e-7, "huge": 1e21}},
			Version: 3},
		"rectification": {Evidence: events.Evidence{Kind: events.KindRectification, Title: "整改：宣傳欄更新",
			Finding: "0190a0a0-0000-7000-8000-0000000000aa", Tags: []string{"整改"}}, Version: 1},
		"escapes": {Evidence: events.Evidence{Kind: events.KindDocument, Title: "<b>規章</b> & \"制度\"",
			Body: "line\nnext\ttab\\ \u2028\u2029 \x01\x7f\b\f\r end", Tags: []string{"a&b", "<>"}}, Version: 2},
		"device": {Evidence: events.Evidence{Kind: events.KindPhoto, Title: "現場照片", Figures: map[string]float64{"count": 2}}, Version: 1, Device: dev},
	}
}

// sealed returns p as Data of a sealed submission, and that event as the
// ledger stores it and Decode reads it back (Marshal's HTML escapes in
// Data).
func sealed(t testing.TB, p events.EvidenceSubmitted) (inMemory, stored *events.Event) {
	t.Helper()
	ev := &events.Event{ID: uuid.MustParse("0190a0a0-0000-7000-8000-000000000001"), Type: events.TypeEvidenceSubmitted,
		Schema: events.SchemaVersion, Unit: "dongcun", Actor: events.Actor{ID: "clerk", Role: events.RoleSubmitter},
		Client: events.ClientWeb, OccurredAt: time.Date(2016, 7, 12, 9, 0, 0, 0, time.UTC), RecordedAt: time.Date(2016, 7, 12, 10, 0, 0, 0, time.UTC)}
	if err := ev.SetData(p); err != nil {
		t.Fatal(err)
	}
	if err := ev.Seal(events.Hash{}); err != nil {
		t.Fatal(err)
	}
	_, back := roundTrip(t, ev)
	return ev, back
}

// checkEvidence holds DecodeEvidenceSubmitted to DecodeData over data: the
// same value and no error where it succeeds, the same error where it
// fails, and strings that do not share data's memory. It holds
// DecodeEvidenceSubmittedBody to them too: the same error, the same value
// but for the body, which it gives apart.
func checkEvidence(t *testing.T, data []byte) (events.EvidenceSubmitted, error) {
	t.Helper()
	ev := &events.Event{ID: uuid.MustParse("0190a0a0-0000-7000-8000-000000000001"), Type: events.TypeEvidenceSubmitted,
		Data: bytes.Clone(data)}
	var want events.EvidenceSubmitted
	wantErr := ev.DecodeData(&want)
	got, err := ev.DecodeEvidenceSubmitted()
	apart, body, bodyErr := ev.DecodeEvidenceSubmittedBody()
	if (bodyErr == nil) != (err == nil) || bodyErr != nil && bodyErr.Error() != err.Error() {
		t.Fatalf("%q: DecodeEvidenceSubmittedBody's error %v, DecodeEvidenceSubmitted's %v", data, bodyErr, err)
	}
	if err == nil {
		whole := apart
		whole.Body = string(body) // before Data changes: body may share it
		if apart.Body != "" || !reflect.DeepEqual(whole, got) {
			t.Fatalf("%q: DecodeEvidenceSubmittedBody gives %#v and body %q, DecodeEvidenceSubmitted %#v", data, apart, body, got)
		}
	}
	fast := events.EvidenceSubmittedFast(data)
	for i := range ev.Data {
		ev.Data[i] = 'X' // what aliases the buffer changes with it
	}
	switch {
	case wantErr == nil && err != nil:
		t.Fatalf("%q: DecodeData succeeds, DecodeEvidenceSubmitted fails: %v", data, err)
	case wantErr != nil && err == nil:
		t.Fatalf("%q: DecodeData fails (%v), DecodeEvidenceSubmitted gives %+v (fast path %v)", data, wantErr, got, fast)
	case wantErr != nil:
		if err.Error() != wantErr.Error() {
			t.Fatalf("%q: error %q, DecodeData's is %q", data, err, wantErr)
		}
		if fast {
			t.Fatalf("%q: the fast path accepts what DecodeData refuses", data)
		}
	case !reflect.DeepEqual(got, want):
		t.Fatalf("%q (fast path %v):\n got %#v\nwant %#v", data, fast, got, want)
	}
	return got, err
}

// TestDecodeEvidenceSubmitted: payloads sealed as the ledger seals them,
// both as Seal leaves Data and as Decode reads it from the stored event,
// take the fast path and decode as DecodeData does.
func TestDecodeEvidenceSubmitted(t *testing.T) {
	for name, p := range submissions() {
		t.Run(name, func(t *testing.T) {
			inMemory, stored := sealed(t, p)
			for _, ev := range []*events.Event{inMemory, stored} {
				if !events.EvidenceSubmittedFast(ev.Data) {
					t.Fatalf("the fast path refuses the canonical payload %s", ev.Data)
				}
				got, err := checkEvidence(t, ev.Data)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, p) {
					t.Fatalf("decoded %#v, sealed %#v", got, p)
				}
			}
		})
	}
	if !bytes.Contains(func() []byte { _, s := sealed(t, submissions()["escapes"]); return s.Data }(), []byte(`\u003c`)) {
		t.Fatal("the stored form of the escapes payload has no HTML escapes: the test no longer covers them")
	}
}

// TestDecodeEvidenceSubmittedFallback: what the fast path is not sure of
// still decodes, or fails, exactly as DecodeData.
func TestDecodeEvidenceSubmittedFallback(t *testing.T) {
	for _, tc := range []struct {
		data string
		fast bool
	}{
		{`{}`, true},
		{`{"kind":"photo","title":"x","version":1}`, true},
		{`{"tags":[],"title":"x"}`, true},
		{`{"figures":{},"requirements":[]}`, true},
		{`{"title":"\/\u00e9\u00E9\u4e2d\u0000"}`, true},
		{`{"figures":{"a":1.50,"b":1E2,"c":-0,"d":0.1e-3}}`, true},
		{``, false},
		{`null`, false},
		{`[]`, false},
		{`{"kind":null}`, false},
		{`{"tags":null}`, false},
		{`{"device":null,"kind":"photo"}`, false},
		{`{"version":1.0}`, false},
		{`{"version":1e0}`, false},
		{`{"version":-0}`, false},
		{`{"version":"1"}`, false},
		{`{"version":99999999999999999999}`, false},
		{`{"figures":{"a":1,"a":2}}`, false},
		{`{"figures":{"b":1,"a":2}}`, false},
		{`{"figures":{"a":1e400}}`, false},
		{`{"figures":{"a":"1"}}`, false},
		{`{"Title":"x"}`, false},
		{`{"title":"x","title":"y"}`, false},
		{`{"title":"x","kind":"photo"}`, false},
		{`{"title":"x","extra":1}`, false},
		{`{ "title":"x"}`, false},
		{`{"title":"x"} `, false},
		{`{"title":"x"}{}`, false},
		{`{"title":"\ud83d\ude00"}`, false},
		{`{"title":"\ud800"}`, false},
		{"{\"title\":\"\xff\"}", false},
		{"{\"title\":\"a\x01\"}", false},
		{`{"title":"\x"}`, false},
		{`{"title":"x`, false},
		{`{"tags":["a",]}`, false},
		{`{"device":{"captured_at":"2016-07-12T09:02:03+08:00","key":"k","public_key":"p","signature":"s"}}`, false},
		{`{"device":{"captured_at":"2016-07-12T01:02:03.5Z","key":"k","public_key":"p","signature":"s"}}`, true},
		{`{"device":{"captured_at":"2016-02-30T01:02:03Z","key":"k","public_key":"p","signature":"s"}}`, false},
	} {
		if fast := events.EvidenceSubmittedFast([]byte(tc.data)); fast != tc.fast {
			t.Errorf("%q: fast path %v, want %v", tc.data, fast, tc.fast)
		}
		checkEvidence(t, []byte(tc.data))
	}
}

// FuzzDecodeEvidenceSubmitted holds DecodeEvidenceSubmitted to DecodeData
// (json.Unmarshal) over any input.
func FuzzDecodeEvidenceSubmitted(f *testing.F) {
	for _, p := range submissions() {
		inMemory, stored := sealed(f, p)
		f.Add([]byte(inMemory.Data))
		f.Add([]byte(stored.Data))
	}
	for _, s := range []string{
		``, `null`, `{}`, `{"kind":null}`, `{"tags":[]}`, `{"tags":null}`, `{"version":1.0}`, `{"version":1e0}`, `{"version":-0}`,
		`{"figures":{"a":1,"a":2}}`, `{"figures":{"b":1,"a":2}}`, `{"figures":{"a":1e400,"b":-0.0}}`, `{"Title":"x"}`,
		`{"title":"\ud83d\ude00\ud800\/\u00E9"}`, "{\"title\":\"\xff\xfe\"}", `{"title":"x","title":"y"}`,
		`{"device":{"captured_at":"2016-07-12T09:02:03.123456789+08:00","key":"k","public_key":"p","signature":"s"}}`,
		`{"device":{"captured_at":"0000-01-01T00:00:60Z","key":"k","public_key":"p","signature":"s"}}`,
		`{"body":"","figures":{},"finding":"","kind":"","requirements":[""],"tags":["",""],"title":"","version":0}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkEvidence(t, data)
	})
}

// BenchmarkDecodeEvidenceSubmitted compares DecodeData with the fast path
// on a typical stored submission.
func BenchmarkDecodeEvidenceSubmitted(b *testing.B) {
	p := events.EvidenceSubmitted{Evidence: events.Evidence{Kind: events.KindStudyNote, Title: evTitle, Body: evBody,
		Requirements: []string{"lianzheng-03"}}, Version: 1}
	_, ev := sealed(b, p)
	b.Run("DecodeData", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var q events.EvidenceSubmitted
			if err := ev.DecodeData(&q); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("DecodeEvidenceSubmitted", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ev.DecodeEvidenceSubmitted(); err != nil {
				b.Fatal(err)
			}
		}
	})
	if !events.EvidenceSubmittedFast(ev.Data) {
		b.Fatal(fmt.Errorf("the fast path refuses %s", ev.Data))
	}
}

// TestRecordPredecode: a record's DecodeEvidenceSubmittedBody gives the
// same payload, body and error after Predecode as without it, for every
// submission and for a payload that does not decode; Predecode leaves a
// damaged record and another event type alone.
func TestRecordPredecode(t *testing.T) {
	type decoded struct {
		P    events.EvidenceSubmitted
		Body string
		Err  string
	}
	get := func(r events.Record) decoded {
		p, body, err := r.DecodeEvidenceSubmittedBody()
		return decoded{p, string(body), fmt.Sprint(err)}
	}
	check := func(name string, ev *events.Event) {
		plain := events.Record{Seq: 1, Event: ev}
		pre := plain
		pre.Predecode()
		want, got := get(plain), get(pre)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: after Predecode %+v, without %+v", name, got, want)
		}
		wantEv, _, err := ev.DecodeEvidenceSubmittedBody()
		if err == nil && !reflect.DeepEqual(got.P, wantEv) {
			t.Errorf("%s: the record decodes %+v, its event %+v", name, got.P, wantEv)
		}
	}
	for name, p := range submissions() {
		_, stored := sealed(t, p)
		check(name, stored)
	}
	check("not json", &events.Event{Type: events.TypeEvidenceSubmitted, Data: []byte("{not json")})
	// Left alone: no payload is decoded, so the event's own (changed)
	// data is what the record decodes.
	for name, r := range map[string]events.Record{
		"damaged":    {Seq: 1, Event: &events.Event{Type: events.TypeEvidenceSubmitted, Data: []byte(`{"kind":"photo"}`)}, Damage: &events.Damage{Reason: "x"}},
		"registered": {Seq: 1, Event: &events.Event{Type: events.TypeUnitRegistered, Data: []byte(`{"name":"x"}`)}},
	} {
		r.Predecode()
		r.Event.Data = []byte(`{"kind":"study","title":"later"}`)
		r.Event.Type = events.TypeEvidenceSubmitted
		if p, _, err := r.DecodeEvidenceSubmittedBody(); err != nil || p.Title != "later" {
			t.Errorf("%s: Predecode decoded it (%+v, %v)", name, p, err)
		}
	}
}

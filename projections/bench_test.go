package projections_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
	"taizhang/projections"
)

// Sizes of the archive memory benchmark.
const (
	benchUnits  = 100
	benchEvents = 100_000
)

// Realistic field sizes, as in the ledger's append benchmark: a title of
// about 20 Chinese characters, a body of about 300 bytes, photos with what
// ingest derives from them.
const (
	benchTitle  = "東村村委會七月廉政文化專欄更新及集中學習" // 20 characters
	benchTitle2 = "東村村委會七月廉政文化專欄更新（第二期）" // an amended title
	benchBody   = "七月十二日上午九時，村委會全體幹部在會議室集中學習《廉潔自律準則》，" +
		"由黨支部書記領學並結合本村實際作講解。會後更新了宣傳欄的廉政文化專欄，" +
		"張貼格言警句十二條，參加人數十五人，缺席二人已補學。會議紀要附後。" // 306 bytes
	benchBody2 = "七月十二日上午九時，村委會全體幹部在會議室集中學習《廉潔自律準則》，" +
		"由黨支部書記領學並結合本村實際作講解。會後更新了宣傳欄的廉政文化專欄，" +
		"張貼格言警句十四條，參加人數十六人，缺席一人已補學。會議紀要附後。"
)

var benchReasons = []string{"標題寫錯，更正為正確期數", "活動人數統計有誤，重新核對後更正", "照片上傳錯誤，補充現場照片", "重複提交，撤回此條", "與實施方案要求不符，撤回"}

// benchLedger returns benchEvents encoded events as they sit in the ledger:
// 100 unit registrations, then about 90% submissions (1-2 photos each), 7%
// amendments and 3% retractions, sealed into per-unit hash chains. It is
// built once per process.
var benchLedger = sync.OnceValues(func() ([][]byte, error) {
	rng := rand.New(rand.NewPCG(2016, 7))
	t0 := time.Date(2016, 7, 1, 8, 0, 0, 0, time.UTC)
	heads := map[string]events.Hash{}
	type item struct {
		unit    string
		id      uuid.UUID
		version int
		gone    bool
	}
	var items []*item
	out := make([][]byte, 0, benchEvents)
	photo := func(n int) events.Attachment {
		sum := sha256.Sum256(fmt.Appendf(nil, "photo %d", n))
		return events.Attachment{SHA256: hex.EncodeToString(sum[:]), Size: 1_500_000 + int64(n%900_000), MediaType: "image/jpeg",
			Name: fmt.Sprintf("IMG_201607%02d_%06d.jpg", 1+n%30, n%1_000_000), Width: 4032, Height: 3024}
	}
	var idTime uint64 // the ms of a UUIDv7, growing like the ledger's
	newID := func() uuid.UUID {
		var u uuid.UUID
		for i := range u {
			u[i] = byte(rng.Uint32())
		}
		idTime += 1 + uint64(rng.IntN(1000))
		for i := range 6 {
			u[i] = byte(idTime >> (40 - 8*i))
		}
		u[6] = u[6]&0x0f | 0x70 // version 7
		u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
		return u
	}
	add := func(unit string, ev *events.Event, data any) error {
		n := len(out)
		ev.Schema, ev.Unit = events.SchemaVersion, unit
		ev.RecordedAt = t0.Add(time.Duration(n) * time.Minute)
		if ev.OccurredAt.IsZero() {
			ev.OccurredAt = ev.RecordedAt.Add(-3 * time.Hour)
		}
		if err := ev.SetData(data); err != nil {
			return err
		}
		if err := ev.Seal(heads[unit]); err != nil {
			return err
		}
		if err := ev.Validate(); err != nil {
			return err
		}
		heads[unit] = ev.Hash
		b, err := events.Encode(ev)
		if err != nil {
			return err
		}
		out = append(out, b)
		return nil
	}
	unitOf := func(i int) string { return fmt.Sprintf("cun-%03d", i) }
	clerkOf := func(unit string) events.Actor {
		return events.Actor{ID: "clerk-" + unit + "-01", Role: events.RoleSubmitter}
	}
	for u := 0; u < benchUnits; u++ {
		unit := unitOf(u)
		err := add(unit, &events.Event{ID: newID(), Type: events.TypeUnitRegistered, Actor: events.Actor{ID: "admin", Role: events.RoleAdmin}, Client: events.ClientAPI},
			events.UnitRegistered{Name: fmt.Sprintf("第%d村民委員會", u+1), UnitType: "village", Parent: "zhen", Headcount: 800 + 10*u})
		if err != nil {
			return nil, err
		}
	}
	photos := 0
	for len(out) < benchEvents {
		p := rng.IntN(100)
		switch {
		case p < 90 || len(items) < 100: // submission
			unit := unitOf(rng.IntN(benchUnits))
			atts := []events.Attachment{photo(photos)}
			photos++
			if rng.IntN(2) == 0 {
				atts = append(atts, photo(photos))
				photos++
			}
			it := &item{unit: unit, id: newID(), version: 1}
			kind := events.Kinds[rng.IntN(len(events.Kinds))]
			err := add(unit, &events.Event{ID: it.id, Type: events.TypeEvidenceSubmitted, Actor: clerkOf(unit), Client: events.ClientWeb, Attachments: atts},
				events.EvidenceSubmitted{Evidence: events.Evidence{Kind: kind, Title: benchTitle, Body: benchBody,
					Requirements: []string{fmt.Sprintf("lianzheng-%02d", rng.IntN(12))}}, Version: 1})
			if err != nil {
				return nil, err
			}
			items = append(items, it)
		default: // a correction of a random current item
			it := items[rng.IntN(len(items))]
			for it.gone {
				it = items[rng.IntN(len(items))]
			}
			corrects := it.id
			ev := &events.Event{ID: newID(), Actor: clerkOf(it.unit), Client: events.ClientWeb, Corrects: &corrects,
				Reason: benchReasons[rng.IntN(len(benchReasons))]}
			it.version++
			var data any
			if p < 97 { // amendment
				ev.Type = events.TypeEvidenceAmended
				var ch events.Changes
				switch rng.IntN(3) {
				case 0:
					t := benchTitle2
					ch.Title = &t
				case 1:
					b := benchBody2
					ch.Body = &b
				default:
					ev.Attachments = []events.Attachment{photo(photos)}
					photos++
				}
				data = events.EvidenceAmended{Changes: ch, Version: it.version}
			} else {
				ev.Type = events.TypeEvidenceRetracted
				it.gone = true
				data = events.EvidenceRetracted{Version: it.version}
			}
			if err := add(it.unit, ev, data); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
})

// BenchmarkArchiveMemory100k folds 100,000 realistic events into an archive
// and reports the heap the archive retains per event. Each event is decoded
// from its stored bytes just before Apply, as Live does with what Follow
// delivers, so that whatever the archive keeps of a decoded event counts;
// the encoded input is live before and after and does not.
// "memory" holds item bodies in memory (NewArchive); "spooled" keeps them
// in a file as serve does (SpoolTexts).
func BenchmarkArchiveMemory100k(b *testing.B) {
	ledger, err := benchLedger()
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"memory", "spooled"} {
		b.Run(mode, func(b *testing.B) { benchArchiveMemory(b, ledger, mode == "spooled") })
	}
}

func benchArchiveMemory(b *testing.B, ledger [][]byte, spool bool) {
	var retained uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()

		a := projections.NewArchive()
		if spool {
			a.SpoolTexts(b.TempDir())
		}
		for seq, data := range ledger {
			ev, err := events.Decode(data)
			if err != nil {
				b.Fatal(err)
			}
			if err := a.Apply(events.Record{Seq: uint64(seq + 1), Event: ev}); err != nil {
				b.Fatal(err)
			}
		}

		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		if len(a.Units()) != benchUnits || a.Applied() != benchEvents {
			b.Fatalf("archive has %d units, applied %d", len(a.Units()), a.Applied())
		}
		runtime.KeepAlive(a)
		retained = after.HeapAlloc - before.HeapAlloc
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(retained)/benchEvents, "B/event")
	b.ReportMetric(float64(b.N*benchEvents)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkReplay100k folds the 100,000-event ledger into a fresh archive
// as a start does, each message as Follow hands it over. "checked" is
// what Follow and Apply do since quarantine: events.CheckStored (decode
// and one SHA-256 over the stored bytes) and Apply, which checks that each
// event links to its chain's head. "decode" is Decode and Apply: the same
// without the hash check. "spooled" is "checked" with the bodies kept in a
// file, as serve keeps them.
func BenchmarkReplay100k(b *testing.B) {
	ledger, err := benchLedger()
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"decode", "checked", "spooled"} {
		b.Run(mode, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				a := projections.NewArchive()
				if mode == "spooled" {
					a.SpoolTexts(b.TempDir())
				}
				for seq, data := range ledger {
					var ev *events.Event
					var err error
					if mode != "decode" {
						ev, err = events.CheckStored(data)
					} else {
						ev, err = events.Decode(data)
					}
					if err != nil {
						b.Fatal(err)
					}
					_ = a.Apply(events.Record{Seq: uint64(seq + 1), Event: ev})
				}
				if len(a.Quarantined()) != 0 || a.Applied() != benchEvents {
					b.Fatalf("quarantined %v, applied %d", a.Quarantined(), a.Applied())
				}
			}
			b.ReportMetric(float64(b.N*benchEvents)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

package verify_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	js "github.com/nats-io/nats.go/jetstream"

	"taizhang/blobstore"
	"taizhang/blobstore/dir"
	"taizhang/events"
	tzjs "taizhang/events/jetstream"
	"taizhang/internal/testenv"
	"taizhang/services/verify"
)

// BenchmarkVerifyChain10k compares verifying one unit's chain of 10,000
// events (every hash recomputed, every link checked) with a raw
// subject-filtered ordered consumer reading the same messages, on one
// server in one run. Target: verify < 2x the raw read.
func BenchmarkVerifyChain10k(b *testing.B) {
	ctx := context.Background()
	n := testenv.StartNATS(b)
	nc := n.Connect(b)
	l, err := tzjs.Open(ctx, nc, tzjs.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(l.Close)
	admin := events.Actor{ID: "admin", Role: events.RoleAdmin}
	if _, err := l.RegisterUnit(ctx, "cun", events.UnitRegistered{Name: "村", UnitType: "village"}, admin, events.ClientAPI); err != nil {
		b.Fatal(err)
	}
	const total = 10000
	for i := 1; i < total; i++ {
		if _, _, err := l.SubmitEvidence(ctx, events.Submission{Unit: "cun", Evidence: events.Evidence{Kind: events.KindActivity,
			Title: "東村村委會七月廉政文化專欄更新及集中學習", Body: "七月十二日上午九時，村委會全體幹部在會議室集中學習《廉潔自律準則》。"},
			OccurredAt: time.Date(2016, 7, 12, 9, 0, 0, 0, time.UTC), Actor: admin, Client: events.ClientImport}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("verify-chain", func(b *testing.B) {
		for b.Loop() {
			rep, err := verify.Run(ctx, l, nil, verify.Options{Unit: "cun", NoBlob: true})
			if err != nil || !rep.OK() || rep.Events != total {
				b.Fatal(err, rep.Problems)
			}
		}
	})
	b.Run("history", func(b *testing.B) {
		for b.Loop() {
			if _, err := l.History(ctx, "cun", time.Time{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	rawRead := func(b *testing.B) {
		cons, err := l.Stream().OrderedConsumer(ctx, js.OrderedConsumerConfig{FilterSubjects: []string{l.UnitSubjects("cun")}})
		if err != nil {
			b.Fatal(err)
		}
		it, err := cons.Messages()
		if err != nil {
			b.Fatal(err)
		}
		for k := 0; k < total; k++ {
			if _, err := it.Next(); err != nil {
				b.Fatal(err)
			}
		}
		it.Stop()
		_ = l.Stream().DeleteConsumer(ctx, cons.CachedInfo().Name)
	}
	b.Run("raw-read", func(b *testing.B) {
		for b.Loop() {
			rawRead(b)
		}
	})
	// Both, one after the other in each iteration, so that the load of a
	// shared machine falls on both alike: x-raw is the ratio to read.
	b.Run("interleaved", func(b *testing.B) {
		var tv, tr time.Duration
		for b.Loop() {
			t0 := time.Now()
			rawRead(b)
			t1 := time.Now()
			rep, err := verify.Run(ctx, l, nil, verify.Options{Unit: "cun", NoBlob: true})
			if err != nil || !rep.OK() || rep.Events != total {
				b.Fatal(err, rep.Problems)
			}
			tr, tv = tr+t1.Sub(t0), tv+time.Since(t1)
		}
		b.ReportMetric(float64(tv.Milliseconds())/float64(b.N), "verify-ms")
		b.ReportMetric(float64(tr.Milliseconds())/float64(b.N), "raw-ms")
		b.ReportMetric(float64(tv)/float64(tr), "x-raw")
	})
	b.Run("stored-noop", func(b *testing.B) {
		var tv, tr time.Duration
		for b.Loop() {
			t0 := time.Now()
			rawRead(b)
			t1 := time.Now()
			if err := l.StoredHistory(ctx, "cun", func(uint64, []byte) error { return nil }); err != nil {
				b.Fatal(err)
			}
			tr, tv = tr+t1.Sub(t0), tv+time.Since(t1)
		}
		b.ReportMetric(float64(tv)/float64(tr), "x-raw")
	})
}

// fixityLedger is a ledger of one unit whose events name the given blobs.
type fixityLedger struct{ recs []events.Record }

func (f fixityLedger) Units(context.Context) ([]string, error) { return []string{"cun"}, nil }
func (f fixityLedger) History(context.Context, string, time.Time) ([]events.Record, error) {
	return f.recs, nil
}

// BenchmarkFixity compares re-reading and re-hashing 256 MiB of attachments
// in the directory store (verify's fixity check) with reading the same
// files sequentially. Target: fixity throughput >= 0.8x the raw read.
func BenchmarkFixity(b *testing.B) {
	ctx := context.Background()
	root := b.TempDir()
	st, err := dir.New(root)
	if err != nil {
		b.Fatal(err)
	}
	const blobs, size = 64, 4 << 20
	var recs []events.Record
	var prev events.Hash
	var paths []string
	buf := make([]byte, size)
	for i := range blobs {
		rand.Read(buf)
		rec, err := blobstore.Receive(ctx, st, bytes.NewReader(buf), blobstore.ReceiveOptions{})
		if err != nil {
			b.Fatal(err)
		}
		paths = append(paths, st.Path(rec.Ref))
		ev := &events.Event{ID: [16]byte{byte(i), 1}, Type: events.TypeEvidenceSubmitted, Schema: 1, Unit: "cun",
			Actor: events.Actor{ID: "a", Role: events.RoleAdmin}, Client: events.ClientAPI, OccurredAt: time.Now(), RecordedAt: time.Now(),
			Attachments: []events.Attachment{{SHA256: rec.Ref.String(), Size: rec.Size, MediaType: "application/octet-stream"}}}
		ev.SetData(events.EvidenceSubmitted{Evidence: events.Evidence{Kind: events.KindDocument, Title: "t"}, Version: 1})
		ev.Seal(prev)
		prev = ev.Hash
		recs = append(recs, events.Record{Seq: uint64(i + 1), Event: ev})
	}
	l := fixityLedger{recs}
	b.Run("fixity", func(b *testing.B) {
		b.SetBytes(blobs * size)
		for b.Loop() {
			rep, err := verify.Run(ctx, l, st, verify.Options{Unit: "cun"})
			if err != nil || !rep.OK() || rep.BlobsChecked != blobs {
				b.Fatal(err, rep.Problems)
			}
		}
	})
	b.Run("raw-read", func(b *testing.B) {
		b.SetBytes(blobs * size)
		var once sync.Once
		for b.Loop() {
			for _, p := range paths {
				f, err := os.Open(p)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, f); err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
			once.Do(func() {})
		}
	})
	_ = filepath.Join
}

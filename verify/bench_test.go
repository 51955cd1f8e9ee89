package verify_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	mc "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	js "github.com/nats-io/nats.go/jetstream"

	"taizhang/blobstore"
	"taizhang/blobstore/dir"
	tzminio "taizhang/blobstore/minio"
	"taizhang/events"
	tzjs "taizhang/events/jetstream"
	"taizhang/internal/testenv"
	"taizhang/verify"
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
		var tv, tr, cv, cr time.Duration
		for b.Loop() {
			t0, c0 := time.Now(), cpuTime()
			rawRead(b)
			t1, c1 := time.Now(), cpuTime()
			rep, err := verify.Run(ctx, l, nil, verify.Options{Unit: "cun", NoBlob: true})
			if err != nil || !rep.OK() || rep.Events != total {
				b.Fatal(err, rep.Problems)
			}
			tr, tv = tr+t1.Sub(t0), tv+time.Since(t1)
			cr, cv = cr+c1-c0, cv+cpuTime()-c1
		}
		b.ReportMetric(float64(tv.Microseconds())/1e3/float64(b.N), "verify-ms")
		b.ReportMetric(float64(tr.Microseconds())/1e3/float64(b.N), "raw-ms")
		b.ReportMetric(float64(tv)/float64(tr), "x-raw")
		if cr > 0 { // CPU time of the process, the embedded server's included
			b.ReportMetric(float64(cv.Microseconds())/1e3/float64(b.N), "verify-cpu-ms")
			b.ReportMetric(float64(cr.Microseconds())/1e3/float64(b.N), "raw-cpu-ms")
		}
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

// fixityBlobs is the data of the fixity benchmarks: 64 random blobs of
// 4 MiB (256 MiB) put into st, and a ledger naming them.
const fixityBlobs, fixityBlobSize = 64, 4 << 20

func fixitySetup(b *testing.B, st blobstore.Store) (fixityLedger, []blobstore.Ref) {
	ctx := context.Background()
	var recs []events.Record
	var refs []blobstore.Ref
	var prev events.Hash
	buf := make([]byte, fixityBlobSize)
	for i := range fixityBlobs {
		rand.Read(buf)
		rec, err := blobstore.Receive(ctx, st, bytes.NewReader(buf), blobstore.ReceiveOptions{TempDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		refs = append(refs, rec.Ref)
		ev := &events.Event{ID: [16]byte{byte(i), 1}, Type: events.TypeEvidenceSubmitted, Schema: 1, Unit: "cun",
			Actor: events.Actor{ID: "a", Role: events.RoleAdmin}, Client: events.ClientAPI, OccurredAt: time.Now(), RecordedAt: time.Now(),
			Attachments: []events.Attachment{{SHA256: rec.Ref.String(), Size: rec.Size, MediaType: "application/octet-stream"}}}
		ev.SetData(events.EvidenceSubmitted{Evidence: events.Evidence{Kind: events.KindDocument, Title: "t"}, Version: 1})
		ev.Seal(prev)
		prev = ev.Hash
		recs = append(recs, events.Record{Seq: uint64(i + 1), Event: ev})
	}
	return fixityLedger{recs}, refs
}

// runFixity is verify's fixity check of every blob l names.
func runFixity(b *testing.B, l fixityLedger, st blobstore.Store) {
	rep, err := verify.Run(context.Background(), l, st, verify.Options{Unit: "cun"})
	if err != nil || !rep.OK() || rep.BlobsChecked != fixityBlobs {
		b.Fatal(err, rep.Problems)
	}
}

// fixityRatio runs raw and fixity one after the other in each iteration,
// so that a shared machine's load falls on both alike, with prepare (if
// any) before each, untimed. It reports both throughputs and x-raw, their
// ratio, and sha-MB/s, what SHA-256 alone hashes per second on all cores
// in the same run (fixity's ceiling), and x-sha, fixity's share of it;
// and the CPU time this process spent a byte in each (on Linux; what the
// load of other processes does not change; a MinIO server's is not
// counted).
func fixityRatio(b *testing.B, prepare func(), raw, fixity func()) {
	if prepare == nil {
		prepare = func() {}
	}
	var tr, tf, ts, cr, cf time.Duration
	buf := make([]byte, fixityBlobSize)
	procs := runtime.GOMAXPROCS(0)
	for b.Loop() {
		b.StopTimer()
		prepare()
		b.StartTimer()
		t0, c0 := time.Now(), cpuTime()
		raw()
		tr, cr = tr+time.Since(t0), cr+cpuTime()-c0
		b.StopTimer()
		prepare()
		b.StartTimer()
		t0, c0 = time.Now(), cpuTime()
		fixity()
		tf, cf = tf+time.Since(t0), cf+cpuTime()-c0
		b.StopTimer()
		t0 = time.Now()
		var wg sync.WaitGroup
		for range procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range fixityBlobs / procs {
					sha256.Sum256(buf)
				}
			}()
		}
		wg.Wait()
		ts += time.Since(t0)
		b.StartTimer()
	}
	mb := float64(fixityBlobs*fixityBlobSize) / 1e6 * float64(b.N)
	b.ReportMetric(mb/tr.Seconds(), "raw-MB/s")
	b.ReportMetric(mb/tf.Seconds(), "fixity-MB/s")
	b.ReportMetric(tr.Seconds()/tf.Seconds(), "x-raw")
	sha := float64(fixityBlobs/procs*procs*fixityBlobSize) / 1e6 * float64(b.N) / ts.Seconds()
	b.ReportMetric(sha, "sha-MB/s")
	b.ReportMetric(mb/tf.Seconds()/sha, "x-sha")
	if cr > 0 {
		b.ReportMetric(float64(cr.Nanoseconds())/(mb*1e6), "raw-cpu-ns/B")
		b.ReportMetric(float64(cf.Nanoseconds())/(mb*1e6), "fixity-cpu-ns/B")
	}
}

// BenchmarkFixity compares re-reading and re-hashing 256 MiB of attachments
// in the directory store (verify's fixity check) with reading the same
// files sequentially through the store, both from the page cache (warm)
// and, where the page cache can be dropped for these files, from the disk
// (cold). Target: fixity throughput >= 0.8x the raw read.
func BenchmarkFixity(b *testing.B) {
	st, err := dir.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	l, refs := fixitySetup(b, st)
	var paths []string
	for _, r := range refs {
		paths = append(paths, st.Path(r))
	}
	raw := func() {
		for _, r := range refs {
			rc, _, err := st.Get(context.Background(), r)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, rc); err != nil {
				b.Fatal(err)
			}
			rc.Close()
		}
	}
	b.Run("warm", func(b *testing.B) {
		fixityRatio(b, nil, raw, func() { runFixity(b, l, st) })
	})
	b.Run("cold", func(b *testing.B) {
		drop := func() {
			if err := dropCache(paths); err != nil {
				b.Skip("cannot drop these files from the page cache:", err)
			}
		}
		fixityRatio(b, drop, raw, func() { runFixity(b, l, st) })
	})
}

// BenchmarkFixityMinIO is BenchmarkFixity on MinIO (needs the MinIO
// binary, see testenv.MinIO): the raw read is minio-go's GetObject
// reading the same objects one after the other.
func BenchmarkFixityMinIO(b *testing.B) {
	srv := testenv.MinIO(b)
	ctx := context.Background()
	bucket := "tz-bench-fixity"
	st, err := tzminio.New(ctx, tzminio.Config{Endpoint: srv.Endpoint, Bucket: bucket, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		b.Fatal(err)
	}
	l, refs := fixitySetup(b, st)
	client, err := mc.New(srv.Endpoint, &mc.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, "")})
	if err != nil {
		b.Fatal(err)
	}
	raw := func() {
		for _, r := range refs {
			obj, err := client.GetObject(ctx, bucket, tzminio.Key(r), mc.GetObjectOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if n, err := io.Copy(io.Discard, obj); err != nil || n != fixityBlobSize {
				b.Fatal(n, err)
			}
			obj.Close()
		}
	}
	fixityRatio(b, nil, raw, func() { runFixity(b, l, st) })
}

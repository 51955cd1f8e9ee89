package jetstream_test

// Performance benchmarks of the ledger against the raw JetStream engine
// underneath it, on the same kind of embedded server (sync always, the
// product default) and the same disk, measured in one run:
//
//	go test -p 1 ./events/jetstream/ ./projections/ -run xxx -bench . -benchtime=3s
//
// BenchmarkAppend16Units / BenchmarkRawPublish16 compare durable appends;
// BenchmarkReadUnit1000Of100k / BenchmarkRawOrderedRead1000Of100k compare
// reading one unit's 1,000 events out of a 100,000-event stream. The 100k
// stream is built once per process (through the ledger, on a no-sync server
// for speed) and then served by a sync-always server on the same directory.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"taizhang/events"
	tzjs "taizhang/events/jetstream"
	"taizhang/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	readFixtureCleanup()
	if unitSizeDir != "" {
		os.RemoveAll(unitSizeDir)
	}
	os.Exit(code)
}

const benchWriters = 16

// Realistic evidence: a title of about 20 Chinese characters, a body of
// about 300 bytes, one photo reference with what ingest derives from it.
const (
	benchTitle = "東村村委會七月廉政文化專欄更新及集中學習" // 20 characters
	benchBody  = "七月十二日上午九時，村委會全體幹部在會議室集中學習《廉潔自律準則》，" +
		"由黨支部書記領學並結合本村實際作講解。會後更新了宣傳欄的廉政文化專欄，" +
		"張貼格言警句十二條，參加人數十五人，缺席二人已補學。會議紀要附後。" // 306 bytes of UTF-8
)

var benchClerk = events.Actor{ID: "clerk-dongcun-01", Role: events.RoleSubmitter}

// benchSubmission is the i-th submission to unit. Like the web, phone and
// CLI clients it carries a client-chosen evidence id (a fresh v7 UUID), so
// that the ledger's forever-idempotency check runs as it does in service.
func benchSubmission(unit string, i int) events.Submission {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", unit, i)))
	return events.Submission{
		ID:   uuid.Must(uuid.NewV7()),
		Unit: unit,
		Evidence: events.Evidence{
			Kind:         events.KindPhoto,
			Title:        benchTitle,
			Body:         benchBody,
			Requirements: []string{"lianzheng-zhuanlan"},
		},
		OccurredAt: time.Date(2016, 7, 12, 9, 30, 15, 0, time.UTC),
		Attachments: []events.Attachment{{
			SHA256: hex.EncodeToString(sum[:]), Size: 2_345_678, MediaType: "image/jpeg",
			Name: "IMG_20160712_093015.jpg", Width: 4032, Height: 3024,
		}},
		Actor:  benchClerk,
		Client: events.ClientWeb,
	}
}

func benchRegister(b *testing.B, l *tzjs.Ledger, unit string) {
	b.Helper()
	_, err := l.RegisterUnit(context.Background(), unit,
		events.UnitRegistered{Name: "東村村委會 " + unit, UnitType: "village", Parent: "zhen", Headcount: 1200},
		events.Actor{ID: "admin", Role: events.RoleAdmin}, events.ClientAPI)
	if err != nil {
		b.Fatal(err)
	}
}

func benchConnect(b *testing.B, url string) *nats.Conn {
	b.Helper()
	nc, err := nats.Connect(url, nats.Timeout(5*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	return nc
}

// runWriters runs n operations spread over benchWriters goroutines,
// goroutine g calling op(g, i) for the i it takes, and fails on the first
// error.
func runWriters(b *testing.B, n int, op func(g, i int) error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, benchWriters)
	for g := 0; g < benchWriters; g++ {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := op(g, i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

// sampleEvent appends one realistic evidence event through a ledger on a
// scratch server and returns its encoded bytes: the raw baseline publishes
// messages of exactly this size.
var sampleEvent = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "tz-bench-sample-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ns, err := tzjs.StartEmbedded(tzjs.EmbeddedConfig{StoreDir: dir, Port: -1})
	if err != nil {
		return nil, err
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	ctx := context.Background()
	l, err := tzjs.Open(ctx, nc, tzjs.Config{})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	if _, err := l.RegisterUnit(ctx, "unit-00", events.UnitRegistered{Name: "村", UnitType: "village"},
		events.Actor{ID: "admin", Role: events.RoleAdmin}, events.ClientAPI); err != nil {
		return nil, err
	}
	rec, _, err := l.SubmitEvidence(ctx, benchSubmission("unit-00", 0))
	if err != nil {
		return nil, err
	}
	return events.Encode(rec.Event)
})

// BenchmarkAppend16Units: b.N evidence submissions through the ledger from
// 16 goroutines, one per unit, each acknowledged only once synced to disk.
func BenchmarkAppend16Units(b *testing.B) {
	ctx := context.Background()
	n := testenv.StartNATS(b)
	l, err := tzjs.Open(ctx, benchConnect(b, n.URL), tzjs.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	units := make([]string, benchWriters)
	var size int
	for g := range units {
		units[g] = fmt.Sprintf("unit-%02d", g)
		benchRegister(b, l, units[g])
		// one warm-up submission per unit, outside the timing, to measure the size
		rec, _, err := l.SubmitEvidence(ctx, benchSubmission(units[g], -1))
		if err != nil {
			b.Fatal(err)
		}
		data, err := events.Encode(rec.Event)
		if err != nil {
			b.Fatal(err)
		}
		size += len(data)
	}
	b.ResetTimer()
	runWriters(b, b.N, func(g, i int) error {
		_, created, err := l.SubmitEvidence(ctx, benchSubmission(units[g], i))
		if err == nil && !created {
			err = fmt.Errorf("submission %d was not created", i)
		}
		return err
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(size)/float64(len(units)), "B/event")
	b.ReportMetric(float64(b.N+2*len(units))/float64(len(units)), "events/unit")
}

// BenchmarkRawPublish16 is the baseline of BenchmarkAppend16Units: 16
// goroutines doing synchronous jetstream.Publish of messages of the ledger's
// encoded event size to a plain file-storage stream, one subject per
// goroutine, on the same kind of server.
func BenchmarkRawPublish16(b *testing.B) {
	payload, err := sampleEvent()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	n := testenv.StartNATS(b)
	j, err := js.New(benchConnect(b, n.URL))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := j.CreateStream(ctx, js.StreamConfig{Name: "RAW", Subjects: []string{"raw.>"}, Storage: js.FileStorage}); err != nil {
		b.Fatal(err)
	}
	subjects := make([]string, benchWriters)
	for g := range subjects {
		subjects[g] = fmt.Sprintf("raw.unit-%02d", g)
		if _, err := j.Publish(ctx, subjects[g], payload); err != nil { // warm-up
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	runWriters(b, b.N, func(g, i int) error {
		_, err := j.Publish(ctx, subjects[g], payload)
		return err
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(len(payload)), "B/msg")
}

// The read fixture: 100,000 events over 100 units (a registration and 999
// submissions each), built once per test process.
const (
	fixtureUnits   = 100
	fixturePerUnit = 1000
)

var (
	readFixtureOnce sync.Once
	readFixtureErr  error
	readFixtureDir  string
	readFixtureNS   *server.Server
)

func fixtureUnit(i int) string { return fmt.Sprintf("unit-%03d", i%fixtureUnits) }

// readFixture returns the URL of a sync-always server holding the 100k
// ledger, building it on first use.
func readFixture(b *testing.B) string {
	b.Helper()
	readFixtureOnce.Do(func() {
		start := time.Now()
		readFixtureErr = buildReadFixture()
		if readFixtureErr == nil {
			b.Logf("built the %d-event ledger in %s", fixtureUnits*fixturePerUnit, time.Since(start).Round(time.Millisecond))
		}
	})
	if readFixtureErr != nil {
		b.Fatal(readFixtureErr)
	}
	return readFixtureNS.ClientURL()
}

func buildReadFixture() (err error) {
	readFixtureDir, err = os.MkdirTemp("", "tz-bench-read-")
	if err != nil {
		return err
	}
	// Build on a no-sync server: the bytes on disk are the same.
	ns, err := tzjs.StartEmbedded(tzjs.EmbeddedConfig{StoreDir: readFixtureDir, Port: -1, NoSync: true})
	if err != nil {
		return err
	}
	buildErr := func() error {
		nc, err := nats.Connect(ns.ClientURL())
		if err != nil {
			return err
		}
		defer nc.Close()
		ctx := context.Background()
		l, err := tzjs.Open(ctx, nc, tzjs.Config{})
		if err != nil {
			return err
		}
		defer l.Close()
		errs := make(chan error, fixtureUnits)
		var wg sync.WaitGroup
		for u := 0; u < fixtureUnits; u++ {
			wg.Go(func() {
				unit := fixtureUnit(u)
				if _, err := l.RegisterUnit(ctx, unit, events.UnitRegistered{Name: "村委會 " + unit, UnitType: "village"},
					events.Actor{ID: "admin", Role: events.RoleAdmin}, events.ClientAPI); err != nil {
					errs <- err
					return
				}
				for i := 1; i < fixturePerUnit; i++ {
					if _, _, err := l.SubmitEvidence(ctx, benchSubmission(unit, i)); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		return <-errs
	}()
	ns.Shutdown()
	ns.WaitForShutdown()
	if buildErr != nil {
		return fmt.Errorf("build read fixture: %w", buildErr)
	}
	// Serve it as the product would: sync always, same directory.
	readFixtureNS, err = tzjs.StartEmbedded(tzjs.EmbeddedConfig{StoreDir: readFixtureDir, Port: -1})
	if err != nil {
		return err
	}
	return warmReadFixture(readFixtureNS.ClientURL())
}

// warmReadFixture reads the whole stream once, so that neither read
// benchmark pays for loading the restarted server's blocks and indexes.
func warmReadFixture(url string) error {
	nc, err := nats.Connect(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx := context.Background()
	j, err := js.New(nc)
	if err != nil {
		return err
	}
	st, err := j.Stream(ctx, tzjs.DefaultStream)
	if err != nil {
		return err
	}
	cons, err := st.OrderedConsumer(ctx, js.OrderedConsumerConfig{})
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	for n := 0; n < fixtureUnits*fixturePerUnit; n++ {
		if _, err := it.Next(); err != nil {
			return fmt.Errorf("warm read fixture: %w", err)
		}
	}
	it.Stop()
	return dropConsumers(ctx, st)
}

// dropConsumers deletes the stream's consumers. Ordered consumers outlive
// their reader by 5 minutes (nats.go's InactiveThreshold) and the server
// allows 1,000 per stream by default, so the read benchmarks remove the
// ones each iteration leaves, outside the timing, to stay clear of that
// limit whatever -benchtime and -count are.
func dropConsumers(ctx context.Context, st js.Stream) error {
	names := st.ConsumerNames(ctx)
	var drop []string
	for name := range names.Name() {
		drop = append(drop, name)
	}
	if err := names.Err(); err != nil {
		return err
	}
	for _, name := range drop {
		if err := st.DeleteConsumer(ctx, name); err != nil && !errors.Is(err, js.ErrConsumerNotFound) {
			return err
		}
	}
	return nil
}

func readFixtureCleanup() {
	if readFixtureNS != nil {
		readFixtureNS.Shutdown()
		readFixtureNS.WaitForShutdown()
	}
	if readFixtureDir != "" {
		os.RemoveAll(readFixtureDir)
	}
}

// BenchmarkReadUnit1000Of100k: each iteration reads one unit's 1,000 events
// out of the 100,000-event ledger with Ledger.History (decoded envelopes).
func BenchmarkReadUnit1000Of100k(b *testing.B) {
	url := readFixture(b)
	ctx := context.Background()
	l, err := tzjs.Open(ctx, benchConnect(b, url), tzjs.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		recs, err := l.History(ctx, fixtureUnit(i), time.Time{})
		if err != nil {
			b.Fatal(err)
		}
		if len(recs) != fixturePerUnit {
			b.Fatalf("unit %s: %d events, want %d", fixtureUnit(i), len(recs), fixturePerUnit)
		}
		b.StopTimer()
		if err := dropConsumers(ctx, l.Stream()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*fixturePerUnit)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkRawOrderedRead1000Of100k is the baseline of
// BenchmarkReadUnit1000Of100k: a raw ordered consumer filtered on the same
// unit's subjects, over the same stream, stopped after the 1,000th message.
func BenchmarkRawOrderedRead1000Of100k(b *testing.B) {
	url := readFixture(b)
	ctx := context.Background()
	nc := benchConnect(b, url)
	j, err := js.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	st, err := j.Stream(ctx, tzjs.DefaultStream)
	if err != nil {
		b.Fatal(err)
	}
	l, err := tzjs.Open(ctx, nc, tzjs.Config{}) // only for UnitSubjects
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cons, err := st.OrderedConsumer(ctx, js.OrderedConsumerConfig{FilterSubjects: []string{l.UnitSubjects(fixtureUnit(i))}})
		if err != nil {
			b.Fatal(err)
		}
		it, err := cons.Messages()
		if err != nil {
			b.Fatal(err)
		}
		var bytes int
		for n := 0; n < fixturePerUnit; n++ {
			m, err := it.Next()
			if err != nil {
				b.Fatal(err)
			}
			bytes += len(m.Data())
		}
		it.Stop()
		if bytes == 0 {
			b.Fatal("empty messages")
		}
		b.StopTimer()
		if err := dropConsumers(ctx, st); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*fixturePerUnit)/b.Elapsed().Seconds(), "msgs/s")
}

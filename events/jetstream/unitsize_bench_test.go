package jetstream_test

// BenchmarkAppendUnitSize answers whether an append gets slower as a unit
// fills: on one sync-always server it appends evidence, 16 writers at a
// time, to 16 units that hold 100 events and to 16 units that hold 10,000,
// and does synchronous jetstream.Publish of messages of the same size to a
// plain stream, 16 writers on 16 subjects, all interleaved in rounds
// (rotating which goes first) so that the disk's mood is shared:
//
//	go test -p 1 ./events/jetstream/ -run xxx -bench AppendUnitSize -benchtime=4000x
//
// b.N is the number of operations of each of the three arms. Metrics:
// raw-msgs/s, small-events/s (units of 100), large-events/s (units of
// 10,000), large/small and small/raw, large/raw.
//
// The 161,600 events already in the ledger are written straight to the
// stream (sealed, chained, with the ledger's headers) on a no-sync server,
// then served by a sync-always server on the same directory.

import (
	"context"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"taizhang/events"
	tzjs "taizhang/events/jetstream"
)

const (
	sizeSmall = 100
	sizeLarge = 10_000
)

var (
	unitSizeOnce sync.Once
	unitSizeDir  string
	unitSizeErr  error
)

func unitSizeName(large bool, g int) string {
	if large {
		return fmt.Sprintf("large-%02d", g)
	}
	return fmt.Sprintf("small-%02d", g)
}

// unitSizeFixture returns a directory holding a ledger stream with
// benchWriters units of sizeSmall events and benchWriters of sizeLarge,
// built once per process.
func unitSizeFixture(b *testing.B) string {
	unitSizeOnce.Do(func() {
		start := time.Now()
		unitSizeDir, unitSizeErr = os.MkdirTemp("", "tz-bench-unitsize-")
		if unitSizeErr == nil {
			unitSizeErr = buildUnitSizeFixture(b, unitSizeDir)
		}
		if unitSizeErr == nil {
			b.Logf("wrote %d events in %s", benchWriters*(sizeSmall+sizeLarge), time.Since(start).Round(time.Millisecond))
		}
	})
	if unitSizeErr != nil {
		b.Fatal(unitSizeErr)
	}
	return unitSizeDir
}

func buildUnitSizeFixture(b *testing.B, dir string) error {
	ns, err := tzjs.StartEmbedded(tzjs.EmbeddedConfig{StoreDir: dir, Port: -1, NoSync: true})
	if err != nil {
		return err
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx := context.Background()
	l, err := tzjs.Open(ctx, nc, tzjs.Config{}) // creates the stream as the product does
	if err != nil {
		return err
	}
	l.Close()
	j, err := js.New(nc, js.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return err
	}
	base := time.Date(2016, 7, 1, 0, 0, 0, 0, time.UTC)
	i := 0
	for _, large := range []bool{false, true} {
		n := sizeSmall
		if large {
			n = sizeLarge
		}
		prev := make([]events.Hash, benchWriters)
		for k := 0; k < n; k++ { // round robin over the units, as a ledger fills
			for g := 0; g < benchWriters; g++ {
				m := fixtureEvent(b, unitSizeName(large, g), k == 0, i, base.Add(time.Duration(i)*time.Millisecond), &prev[g])
				i++
				if _, err := j.PublishMsgAsync(m); err != nil {
					return err
				}
			}
			if k%100 == 99 {
				select {
				case <-j.PublishAsyncComplete():
				case <-time.After(time.Minute):
					return fmt.Errorf("publish stalled")
				}
			}
		}
		select {
		case <-j.PublishAsyncComplete():
		case <-time.After(time.Minute):
			return fmt.Errorf("publish stalled")
		}
	}
	info, err := l.Stream().Info(ctx)
	if err != nil {
		return err
	}
	if info.State.Msgs != uint64(i) {
		return fmt.Errorf("fixture holds %d messages, want %d", info.State.Msgs, i)
	}
	return nil
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkAppendUnitSize(b *testing.B) {
	payload, err := sampleEvent()
	if err != nil {
		b.Fatal(err)
	}
	dir := unitSizeFixture(b)
	ns, err := tzjs.StartEmbedded(tzjs.EmbeddedConfig{StoreDir: dir, Port: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	ctx := context.Background()
	l, err := tzjs.Open(ctx, benchConnect(b, ns.ClientURL()), tzjs.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	j, err := js.New(benchConnect(b, ns.ClientURL()))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := j.CreateOrUpdateStream(ctx, js.StreamConfig{Name: "RAW", Subjects: []string{"raw.>"}, Storage: js.FileStorage}); err != nil {
		b.Fatal(err)
	}
	subjects := make([]string, benchWriters)
	for g := range subjects {
		subjects[g] = fmt.Sprintf("raw.unit-%02d", g)
		if _, err := j.Publish(ctx, subjects[g], payload); err != nil { // warm-up
			b.Fatal(err)
		}
		for _, large := range []bool{false, true} { // warm-up: the head and the index
			if _, _, err := l.SubmitEvidence(ctx, benchSubmission(unitSizeName(large, g), -1)); err != nil {
				b.Fatal(err)
			}
		}
	}
	raw := func(n int) {
		runWriters(b, n, func(g, i int) error {
			_, err := j.Publish(ctx, subjects[g], payload)
			return err
		})
	}
	ledger := func(large bool) func(int) {
		return func(n int) {
			runWriters(b, n, func(g, i int) error {
				_, created, err := l.SubmitEvidence(ctx, benchSubmission(unitSizeName(large, g), i))
				if err == nil && !created {
					err = fmt.Errorf("submission %d was not created", i)
				}
				return err
			})
		}
	}
	arms := []func(int){raw, ledger(false), ledger(true)}
	took := make([]time.Duration, len(arms))
	cpu := make([]time.Duration, len(arms))
	const rounds = 40
	b.ResetTimer()
	done := 0
	for r := 0; done < b.N; r++ {
		n := min(max(b.N/rounds, benchWriters), b.N-done)
		for k := range arms {
			a := (r + k) % len(arms)
			t0, c0 := time.Now(), cpuTime()
			arms[a](n)
			took[a] += time.Since(t0)
			cpu[a] += cpuTime() - c0
		}
		done += n
	}
	b.StopTimer()
	rate := func(a int) float64 { return float64(b.N) / took[a].Seconds() }
	b.ReportMetric(rate(0), "raw-msgs/s")
	b.ReportMetric(rate(1), "small-events/s")
	b.ReportMetric(rate(2), "large-events/s")
	b.ReportMetric(rate(2)/rate(1), "large/small")
	b.ReportMetric(rate(1)/rate(0), "small/raw")
	b.ReportMetric(rate(2)/rate(0), "large/raw")
	b.ReportMetric(float64(len(payload)), "B/event")
	// CPU of the whole process (client and embedded server) per
	// operation: what the other processes on the machine do not change.
	b.ReportMetric(float64(cpu[0].Microseconds())/float64(b.N), "raw-cpu-µs/op")
	b.ReportMetric(float64(cpu[1].Microseconds())/float64(b.N), "small-cpu-µs/op")
	b.ReportMetric(float64(cpu[2].Microseconds())/float64(b.N), "large-cpu-µs/op")
}

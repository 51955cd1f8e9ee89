package jetstream_test

// BenchmarkCheckpoints measures, in one run on one ledger of N realistic
// events (about 1 KB each, 1,000 units; N from TZ_BENCH_CHECKPOINT_EVENTS,
// default 1,000,000):
//
//	read-s          reading the N events from JetStream (ordered consumer, bodies, not decoded)
//	read-decode-s   the same, decoding each event (what a projection replay does)
//	read-headers-s  the same, headers only
//	build-s         building a checkpoint over the N event hashes: the Merkle
//	                tree, the unit heads and their root, and the signature
//	follow-s        a Checkpointer starting on the stream: following it from
//	                sequence 1 (headers only), building the tree, signing and
//	                publishing one checkpoint
//	build/read, follow/read  the ratios
//
//	go test ./events/jetstream/ -run xxx -bench Checkpoints -benchtime=1x -timeout 30m
//
// It is skipped unless -bench names it (it writes about 1 GB).
//
// The ledger is written straight to the stream (sealed, chained events with
// the headers the ledger writes) on a no-sync server, then served by a
// sync-always server on the same directory, as the product would.

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"taizhang/events"
	"taizhang/events/checkpoint"
	tzjs "taizhang/events/jetstream"
)

const cpBenchUnits = 1000

func cpBenchEvents() int {
	if v, err := strconv.Atoi(os.Getenv("TZ_BENCH_CHECKPOINT_EVENTS")); err == nil && v > 0 {
		return v
	}
	return 1_000_000
}

// buildCheckpointFixture writes n events to a ledger stream in dir.
func buildCheckpointFixture(b *testing.B, dir string, n int) {
	ns, err := tzjs.StartEmbedded(tzjs.EmbeddedConfig{StoreDir: dir, Port: -1, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	nc := benchConnect(b, ns.ClientURL())
	ctx := context.Background()
	l, err := tzjs.Open(ctx, nc, tzjs.Config{}) // creates the stream as the product does
	if err != nil {
		b.Fatal(err)
	}
	l.Close()
	j, err := js.New(nc, js.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	prev := make([]events.Hash, cpBenchUnits)
	base := time.Date(2016, 7, 1, 0, 0, 0, 0, time.UTC)
	const batch = 2000
	msgs := make([]*nats.Msg, batch)
	for start := 0; start < n; start += batch {
		end := min(start+batch, n)
		var wg sync.WaitGroup
		for g := 0; g < 2; g++ { // seal on both cores; each unit's chain on one
			wg.Go(func() {
				for i := start; i < end; i++ {
					u := i % cpBenchUnits
					if u%2 != g {
						continue
					}
					msgs[i-start] = cpBenchEvent(b, u, i, base, &prev[u])
				}
			})
		}
		wg.Wait()
		for _, m := range msgs[:end-start] {
			if _, err := j.PublishMsgAsync(m); err != nil {
				b.Fatal(err)
			}
		}
		select {
		case <-j.PublishAsyncComplete():
		case <-time.After(time.Minute):
			b.Fatal("publish stalled")
		}
	}
	info, err := l.Stream().Info(ctx)
	if err != nil || info.State.Msgs != uint64(n) {
		b.Fatalf("fixture holds %v messages (%v), want %d", info.State.Msgs, err, n)
	}
}

// cpBenchEvent is the i-th event, of unit u: a registration first, then
// evidence like benchSubmission's, sealed onto *prev.
func cpBenchEvent(b *testing.B, u, i int, base time.Time, prev *events.Hash) *nats.Msg {
	return fixtureEvent(b, fmt.Sprintf("unit-%04d", u), i < cpBenchUnits, i, base.Add(time.Duration(i)*time.Millisecond), prev)
}

// fixtureEvent is an event of unit recorded at at, as the ledger would
// store it on the unit's subject with its headers: the unit's registration
// if first, else the evidence benchSubmission(unit, i) submits; sealed onto
// *prev, which it then advances.
func fixtureEvent(b *testing.B, unit string, first bool, i int, at time.Time, prev *events.Hash) *nats.Msg {
	ev := &events.Event{ID: uuid.Must(uuid.NewV7()), Schema: events.SchemaVersion, Unit: unit, Client: events.ClientWeb,
		OccurredAt: at, RecordedAt: at}
	m := &nats.Msg{Subject: tzjs.DefaultPrefix + "." + unit, Header: nats.Header{}}
	var err error
	if first {
		ev.Type, ev.Actor = events.TypeUnitRegistered, admin
		err = ev.SetData(events.UnitRegistered{Name: "東村村委會 " + unit, UnitType: "village", Headcount: 1200})
	} else {
		s := benchSubmission(unit, i)
		ev.Type, ev.Actor, ev.Attachments = events.TypeEvidenceSubmitted, s.Actor, s.Attachments
		err = ev.SetData(events.EvidenceSubmitted{Evidence: s.Evidence, Version: 1})
		m.Header.Set("Tz-Entity", ev.ID.String())
		m.Header.Set("Tz-Version", "1")
	}
	if err == nil {
		err = ev.Seal(*prev)
	}
	if err != nil {
		b.Fatal(err)
	}
	*prev = ev.Hash
	m.Header.Set("Tz-Type", string(ev.Type))
	m.Header.Set("Tz-Hash", ev.Hash.String())
	if m.Data, err = events.Encode(ev); err != nil {
		b.Fatal(err)
	}
	return m
}

// readAll reads the first n messages of the ledger with an ordered
// consumer, handing each to fn.
func readAll(b *testing.B, st js.Stream, n int, headersOnly bool, fn func(js.Msg)) time.Duration {
	ctx := context.Background()
	start := time.Now()
	cons, err := st.OrderedConsumer(ctx, js.OrderedConsumerConfig{HeadersOnly: headersOnly})
	if err != nil {
		b.Fatal(err)
	}
	it, err := cons.Messages(js.PullMaxMessages(512))
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		m, err := it.Next()
		if err != nil {
			b.Fatal(err)
		}
		fn(m)
	}
	it.Stop()
	d := time.Since(start)
	if err := dropConsumers(ctx, st); err != nil {
		b.Fatal(err)
	}
	return d
}

func BenchmarkCheckpoints(b *testing.B) {
	// It writes about 1 GB and takes a minute: only when asked for by name,
	// not with the other benchmarks' "-bench .".
	if f := flag.Lookup("test.bench"); f == nil || !strings.Contains(f.Value.String(), "Checkpoint") {
		b.Skip("run with -bench Checkpoints")
	}
	n := cpBenchEvents()
	dir := b.TempDir()
	start := time.Now()
	buildCheckpointFixture(b, dir, n)
	b.Logf("wrote the %d-event ledger in %s", n, time.Since(start).Round(time.Millisecond))
	ns, err := tzjs.StartEmbedded(tzjs.EmbeddedConfig{StoreDir: dir, Port: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	ctx := context.Background()
	nc := benchConnect(b, ns.ClientURL())
	j, _ := js.New(nc)
	st, err := j.Stream(ctx, tzjs.DefaultStream)
	if err != nil {
		b.Fatal(err)
	}
	readAll(b, st, n, false, func(js.Msg) {}) // warm the restarted server's caches

	hashes := make([]events.Hash, 0, n)
	units := make([]string, 0, n)
	var bytes int
	readAll(b, st, n, true, func(m js.Msg) {
		h, err := events.ParseHash(m.Headers().Get("Tz-Hash"))
		if err != nil {
			b.Fatal(err)
		}
		hashes = append(hashes, h)
		units = append(units, strings.TrimPrefix(m.Subject(), tzjs.DefaultPrefix+"."))
	})
	skey, vkey, _ := checkpoint.GenerateKey(checkpoint.Origin(tzjs.DefaultStream))
	signer, _ := checkpoint.NewSigner(skey)

	var read, readDecode, readHeaders, build, follow time.Duration
	for b.Loop() {
		bytes = 0
		read += readAll(b, st, n, false, func(m js.Msg) { bytes += len(m.Data()) })
		readDecode += readAll(b, st, n, false, func(m js.Msg) {
			if _, err := events.Decode(m.Data()); err != nil {
				b.Fatal(err)
			}
		})
		readHeaders += readAll(b, st, n, true, func(m js.Msg) { _ = m.Headers().Get("Tz-Hash") })

		t0 := time.Now()
		lg := checkpoint.NewLog()
		for i, h := range hashes {
			lg.Append(units[i], h)
		}
		root, _ := lg.Root(uint64(n))
		heads, _ := lg.Heads(uint64(n))
		cp := checkpoint.Checkpoint{Origin: checkpoint.Origin(tzjs.DefaultStream), Size: uint64(n), Root: root,
			Time: time.Now(), Units: uint64(len(heads)), UnitsRoot: checkpoint.HeadsRoot(heads)}
		if _, err := checkpoint.Sign(cp, signer); err != nil {
			b.Fatal(err)
		}
		build += time.Since(t0)

		// A serve process starting on the stream: the ledger (its id index
		// catches up first, outside the timing) and the checkpointer.
		l, err := tzjs.Open(ctx, nc, tzjs.Config{})
		if err != nil {
			b.Fatal(err)
		}
		last := n - 1
		lastUnit := fmt.Sprintf("unit-%04d", last%cpBenchUnits)
		if h, _, err := l.Head(ctx, lastUnit); err != nil || h.Seq != uint64(n) {
			b.Fatalf("head of %s: %+v %v", lastUnit, h, err)
		}
		lastEv, err := l.History(ctx, lastUnit, time.Time{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := l.Evidence(ctx, lastUnit, lastEv[len(lastEv)-1].Event.ID); err != nil { // waits for the index
			b.Fatal(err)
		}
		t0 = time.Now()
		c, err := tzjs.StartCheckpointer(ctx, l, tzjs.CheckpointConfig{Signer: signer, VerifierKey: vkey})
		if err != nil {
			b.Fatal(err)
		}
		s, _, err := c.Checkpoint(ctx)
		if err != nil {
			b.Fatal(err)
		}
		follow += time.Since(t0)
		if s.Size != uint64(n) || s.Root != root {
			b.Fatalf("checkpointer: size %d root %s, want %d %s", s.Size, s.Root, n, root)
		}
		c.Close()
		l.Close()
		if err := dropConsumers(ctx, st); err != nil {
			b.Fatal(err)
		}
	}
	k := float64(b.N)
	b.ReportMetric(float64(n), "events")
	b.ReportMetric(float64(bytes)/float64(n), "B/event")
	b.ReportMetric(read.Seconds()/k, "read-s")
	b.ReportMetric(readDecode.Seconds()/k, "read-decode-s")
	b.ReportMetric(readHeaders.Seconds()/k, "read-headers-s")
	b.ReportMetric(build.Seconds()/k, "build-s")
	b.ReportMetric(follow.Seconds()/k, "follow-s")
	b.ReportMetric(build.Seconds()/read.Seconds(), "build/read")
	b.ReportMetric(follow.Seconds()/read.Seconds(), "follow/read")
}

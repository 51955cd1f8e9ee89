package natsaccess_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"taizhang/auth"
	"taizhang/auth/natsaccess"
	"taizhang/auth/natskv"
	"taizhang/blobstore/dir"
	"taizhang/events"
	tzjs "taizhang/events/jetstream"
	"taizhang/httpserver"
	"taizhang/internal/testenv"
	"taizhang/projections"
)

// TestRecordCloseList: every entry recorded before Close is stored (the
// writer flushes), survives reopening, and the filters select.
func TestRecordCloseList(t *testing.T) {
	ns := testenv.StartNATS(t)
	nc := ns.Connect(t)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	l, err := natsaccess.Open(ctx, js, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2016, 7, 1, 0, 0, 0, 0, time.UTC)
	const n = 3000
	for i := range n {
		out := auth.OutcomeAllowed
		if i%10 == 0 {
			out = auth.OutcomeDenied
		}
		actor := fmt.Sprintf("u%d", i%3)
		if i%3 == 2 {
			actor = "" // anonymous: the field is omitted
		}
		l.Record(auth.AccessEntry{Time: t0.Add(time.Duration(i) * time.Minute), Actor: actor, Action: auth.ActUnitRead,
			Method: "GET", Path: "/x", Unit: fmt.Sprintf("cun-%d", i%5), Client: "127.0.0.1", Status: 200, Outcome: out})
	}
	l.Close()
	l, err = natsaccess.Open(ctx, js, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, c := range []struct {
		f    auth.AccessFilter
		want int
	}{
		{auth.AccessFilter{Limit: n}, n},
		{auth.AccessFilter{Limit: 10}, 10},
		{auth.AccessFilter{Actor: "u1", Limit: n}, n / 3},
		{auth.AccessFilter{Actor: "u0", Limit: n}, n / 3}, // not the anonymous entries after them
		{auth.AccessFilter{Outcome: auth.OutcomeDenied, Limit: n}, n / 10},
		{auth.AccessFilter{Unit: "cun-2", Limit: n}, n / 5},
		{auth.AccessFilter{Since: t0.Add(1000 * time.Minute), Until: t0.Add(1100 * time.Minute), Limit: n}, 100},
		{auth.AccessFilter{Scope: func(u string) bool { return u == "cun-0" || u == "cun-1" }, Limit: n}, 2 * n / 5},
	} {
		got, err := l.ListAccess(ctx, c.f)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != c.want {
			t.Errorf("%+v: %d entries, want %d", c.f, len(got), c.want)
		}
		for i := 1; i < len(got); i++ {
			if got[i].Time.Before(got[i-1].Time) {
				t.Fatalf("out of order at %d", i)
			}
		}
	}
	last, _ := l.ListAccess(ctx, auth.AccessFilter{Limit: 1})
	if len(last) != 1 || !last[0].Time.Equal(t0.Add((n-1)*time.Minute)) {
		t.Errorf("the newest: %+v", last)
	}
}

// BenchmarkArchiveReadAccessLog measures what the access log costs an
// evidence read: GET /api/v1/units/{unit}/archive (a unit of 200 items)
// through the whole HTTP stack, alternating between a server that logs
// every read to the TAIZHANG_ACCESS stream and one that logs nothing, in
// the same run. It reports the ratio (target: at most 1.10).
func BenchmarkArchiveReadAccessLog(b *testing.B) {
	ns := testenv.StartNATS(b)
	nc := ns.Connect(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ledger, err := tzjs.Open(ctx, nc, tzjs.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer ledger.Close()
	blobs, err := dir.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	creds, err := natskv.Open(ctx, ledger.JetStream(), 1, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	live := projections.NewLive(ledger, nil)
	go live.Run(ctx)
	actor := events.Actor{ID: "admin", Role: events.RoleAdmin}
	if _, err := ledger.RegisterUnit(ctx, "cun-1", events.UnitRegistered{Name: "村", UnitType: "village"}, actor, events.ClientAPI); err != nil {
		b.Fatal(err)
	}
	var last uint64
	for i := range 200 {
		rec, _, err := ledger.SubmitEvidence(ctx, events.Submission{Unit: "cun-1", OccurredAt: time.Date(2016, 7, 1, 0, 0, 0, 0, time.UTC),
			Evidence: events.Evidence{Kind: events.KindActivity, Title: fmt.Sprintf("活動 %d", i), Body: "學習記錄"}, Actor: actor, Client: events.ClientAPI})
		if err != nil {
			b.Fatal(err)
		}
		last = rec.Seq
	}
	newServer := func(log auth.AccessLog) (*httptest.Server, string) {
		api := httpserver.New(ledger, blobs, live, creds, httpserver.Config{}, nil)
		if log != nil {
			api.SetAccessLog(log)
		}
		tok, err := api.IssueToken(ctx, events.RoleInspector, "", "bench-inspector")
		if err != nil {
			b.Fatal(err)
		}
		return httptest.NewServer(api), tok
	}
	if err := live.WaitFor(ctx, last); err != nil {
		b.Fatal(err)
	}
	plain, tok := newServer(nil)
	defer plain.Close()
	acc, err := natsaccess.Open(ctx, ledger.JetStream(), 1, nil)
	if err != nil {
		b.Fatal(err)
	}
	logged, tok2 := newServer(acc)
	defer logged.Close()
	get := func(srv *httptest.Server, token string) {
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/units/cun-1/archive", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := srv.Client().Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	for range 50 { // warm both
		get(plain, tok)
		get(logged, tok2)
	}
	var tPlain, tLogged time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := time.Now()
		get(plain, tok)
		tPlain += time.Since(s)
		s = time.Now()
		get(logged, tok2)
		tLogged += time.Since(s)
	}
	b.StopTimer()
	acc.Close()
	b.ReportMetric(float64(tPlain.Nanoseconds())/float64(b.N), "ns/read-unlogged")
	b.ReportMetric(float64(tLogged.Nanoseconds())/float64(b.N), "ns/read-logged")
	b.ReportMetric(float64(tLogged)/float64(tPlain), "logged/unlogged")
}

// TestNATSGone: with NATS gone, Record does not hang once the queue is
// full and Close does not hang either; entries that could not be stored are
// written to the process log, not dropped silently.
func TestNATSGone(t *testing.T) {
	ns := testenv.StartNATS(t)
	nc := ns.Connect(t)
	js, _ := jetstream.New(nc)
	var logs syncBuf
	l, err := natsaccess.Open(context.Background(), js, 1, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ns.Shutdown()
	defer natsaccess.SetCloseWait(time.Second)()
	for i := range 8192 + 600 {
		l.Record(auth.AccessEntry{Actor: fmt.Sprintf("u%d", i), Action: auth.ActUnitRead, Path: "/x", Outcome: auth.OutcomeAllowed})
	}
	l.Close()
	out := logs.String()
	if !strings.Contains(out, "backlog full; entry written to the log instead") || !strings.Contains(out, "not stored at shutdown") {
		t.Fatalf("log:\n%.2000s", out)
	}
	if !strings.Contains(out, "actor:u8791") && !strings.Contains(out, "Actor:u8791") {
		t.Errorf("the last entry is not in the log")
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"taizhang/blobstore"
	"taizhang/blobstore/dir"
	"taizhang/events"
)

// TestNilRecordsNothing: a nil *Metrics is usable and records nothing.
func TestNilRecordsNothing(t *testing.T) {
	var m *Metrics
	m.ObserveAppend(events.TypeEvidenceSubmitted, time.Millisecond, nil)
	m.ObserveHTTP("GET /x", 200, time.Millisecond)
	m.Watch(State{})
	d, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if m.Blobs(d) != blobstore.Store(d) {
		t.Error("a nil Metrics wraps the blob store")
	}
}

// TestBlobs: the wrapped store's operations are timed, and its errors
// counted by kind; a stat's not found is an answer, not an error.
func TestBlobs(t *testing.T) {
	m := New()
	d, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := m.Blobs(d)
	data := []byte("evidence")
	ref := blobstore.RefOf(data)
	ctx := context.Background()
	if err := s.Put(ctx, ref, int64(len(data)), strings.NewReader(string(data))); err != nil {
		t.Fatal(err)
	}
	rc, _, err := s.Get(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, rc)
	rc.Close()
	missing := blobstore.RefOf([]byte("missing"))
	if _, err := s.Stat(ctx, missing); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatal(err)
	}
	if _, _, err := s.Get(ctx, missing); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatal(err)
	}
	if err := s.(blobstore.Pinger).Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.blobSeconds); n != 3 {
		t.Errorf("%d blob histograms, want put, get, stat", n)
	}
	for _, c := range []struct {
		op, kind string
		want     float64
	}{{"get", "not_found", 1}, {"stat", "not_found", 0}, {"put", "unavailable", 0}} {
		if got := testutil.ToFloat64(m.blobErrors.WithLabelValues(c.op, c.kind)); got != c.want {
			t.Errorf("blob errors %s %s = %v, want %v", c.op, c.kind, got, c.want)
		}
	}
	for _, c := range []struct {
		err  error
		kind string
	}{
		{fmt.Errorf("x: %w", blobstore.ErrUnavailable), "unavailable"},
		{blobstore.ErrCorrupt, "corrupt"},
		{context.Canceled, "canceled"},
		{errors.New("disk on fire"), "other"},
	} {
		if k := errKind(c.err); k != c.kind {
			t.Errorf("errKind(%v) = %s, want %s", c.err, k, c.kind)
		}
	}
}

// TestAppendsAndHTTP: appends count by type once stored (errors apart);
// requests count by route, "unmatched" for none.
func TestAppendsAndHTTP(t *testing.T) {
	m := New()
	m.ObserveAppend(events.TypeEvidenceSubmitted, time.Millisecond, nil)
	m.ObserveAppend(events.TypeEvidenceSubmitted, time.Millisecond, nil)
	m.ObserveAppend(events.TypeEvidenceSubmitted, time.Millisecond, events.ErrUnavailable)
	if v := testutil.ToFloat64(m.appends.WithLabelValues("evidence.submitted")); v != 2 {
		t.Errorf("appends %v", v)
	}
	if v := testutil.ToFloat64(m.appendErrors.WithLabelValues("evidence.submitted")); v != 1 {
		t.Errorf("append errors %v", v)
	}
	m.ObserveHTTP("", 404, time.Millisecond)
	m.ObserveHTTP("/", 405, time.Millisecond)
	m.ObserveHTTP("GET /api/v1/units/{unit}", 200, time.Millisecond)
	if v := testutil.ToFloat64(m.httpRequests.WithLabelValues("unmatched", "404")) + testutil.ToFloat64(m.httpRequests.WithLabelValues("unmatched", "405")); v != 2 {
		t.Errorf("unmatched %v", v)
	}
}

// TestWatch: the scrape-time series, from the state's readings; a ledger
// that does not answer leaves its series out and says so.
func TestWatch(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	var down bool
	m := New()
	m.Watch(State{
		LastSeq: func(context.Context) (uint64, error) {
			if down {
				return 0, events.ErrUnavailable
			}
			return 110, nil
		},
		StoredAt: func(_ context.Context, seq uint64) (time.Time, error) {
			if seq != 101 {
				t.Errorf("StoredAt(%d), want the first unapplied, 101", seq)
			}
			return now.Add(-7 * time.Second), nil
		},
		Applied: func() uint64 { return 100 },
		LatestCheckpoint: func(context.Context) (time.Time, uint64, error) {
			return now.Add(-90 * time.Second), 99, nil
		},
		Now: func() time.Time { return now },
	})
	want := `
# HELP taizhang_checkpoint_age_seconds Seconds since the newest signed checkpoint was made (absent until there is one).
# TYPE taizhang_checkpoint_age_seconds gauge
taizhang_checkpoint_age_seconds 90
# HELP taizhang_ledger_up 1 if the ledger stream answered at this scrape, else 0.
# TYPE taizhang_ledger_up gauge
taizhang_ledger_up 1
# HELP taizhang_projection_lag_events Events in the ledger stream the archive projection has not applied yet.
# TYPE taizhang_projection_lag_events gauge
taizhang_projection_lag_events 10
# HELP taizhang_projection_lag_seconds How long ago the stream stored the oldest event the archive projection has not applied (0 when caught up).
# TYPE taizhang_projection_lag_seconds gauge
taizhang_projection_lag_seconds 7
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "taizhang_checkpoint_age_seconds", "taizhang_ledger_up",
		"taizhang_projection_lag_events", "taizhang_projection_lag_seconds"); err != nil {
		t.Error(err)
	}
	down = true
	if n, err := testutil.GatherAndCount(m.Registry(), "taizhang_ledger_last_seq", "taizhang_projection_lag_events"); err != nil || n != 0 {
		t.Errorf("ledger down: %d series, %v", n, err)
	}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(`
# HELP taizhang_ledger_up 1 if the ledger stream answered at this scrape, else 0.
# TYPE taizhang_ledger_up gauge
taizhang_ledger_up 0
`), "taizhang_ledger_up"); err != nil {
		t.Error(err)
	}
}

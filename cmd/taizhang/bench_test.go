package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"taizhang/bench"
	"taizhang/blobstore"
	"taizhang/blobstore/dir"
	"taizhang/events"
	tzjs "taizhang/events/jetstream"
	"taizhang/internal/testenv"
)

// TestBenchEmbedded runs `taizhang bench` with tiny numbers against the
// embedded default and checks that the JSON report has every row measured
// with positive figures, and that the ledger holds exactly what the report
// says was appended, with attachments that are stored. No timings are
// asserted.
func TestBenchEmbedded(t *testing.T) {
	data := t.TempDir()
	rep, stderr := runBench(t, "--data", data, "--units", "2", "--events", "20", "--attachments", "1",
		"--attachment-size", "4KiB", "--concurrency", "4", "--reads", "3")
	// Not a terminal: one line a phase, no bar.
	if !strings.Contains(stderr, "bench: append via ledger (round 8 of 8): 5 of 5") || strings.Contains(stderr, "\r") {
		t.Errorf("progress on stderr:\n%q", stderr)
	}
	rows := checkBenchRows(t, rep, nil)
	a := rep.Appended
	if a.Warmup != 2 || a.Ledger != 40 || a.HTTP != 40 || a.Uploads != 1 || a.Raw != 41 || len(a.Units) != 2 {
		t.Fatalf("appended %+v", a)
	}
	if rows["append_ledger"].Taizhang.Count != 40 || rows["append_http"].Taizhang.Count != 40 || rows["append_ledger"].Raw.Count != 40 {
		t.Errorf("append counts: %+v %+v", rows["append_ledger"], rows["append_http"])
	}
	for _, key := range []string{"append_ledger", "append_http"} {
		if rr := rows[key].RatioRange; len(rr) != 2 || rr[0] <= 0 || rr[0] > rr[1] {
			t.Errorf("row %s: ratio range of the rounds %v", key, rr)
		}
	}
	if !strings.Contains(rows["blob_put"].RawWhat, "fsync") {
		t.Errorf("directory store, raw put: %q", rows["blob_put"].RawWhat)
	}
	checkBenchLedger(t, data, a, true)
}

// benchRows are the rows every report has, in order.
var benchRows = []string{"blob_put", "blob_get", "append_ledger", "append_http", "upload_http", "memory_per_event",
	"history_ledger", "history_http", "archive_page", "rebuild"}

// runBench runs `taizhang bench --json` with args and returns the report
// and what went to stderr.
func runBench(t *testing.T, args ...string) (bench.Report, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := Run(context.Background(), append(append([]string{"bench"}, args...), "--json"), nil, &stdout, &stderr); code != 0 {
		t.Fatalf("bench exited with %d:\n%s", code, stderr.String())
	}
	var rep bench.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("not a JSON report: %v\n%s", err, stdout.String())
	}
	return rep, stderr.String()
}

// checkBenchRows checks that the report has every row, in order, and that
// each one not in skipped (with the reason it must give) is measured with
// positive figures, beside its raw baseline unless named in noRaw. It
// returns the rows by key.
func checkBenchRows(t *testing.T, rep bench.Report, skipped map[string]string, noRaw ...string) map[string]bench.Row {
	t.Helper()
	rows := map[string]bench.Row{}
	var keys []string
	for _, r := range rep.Rows {
		rows[r.Key] = r
		keys = append(keys, r.Key)
	}
	if !slices.Equal(keys, benchRows) {
		t.Errorf("rows %v, want %v", keys, benchRows)
	}
	for _, key := range benchRows {
		r, ok := rows[key]
		switch {
		case !ok:
			continue
		case skipped[key] != "":
			if !strings.Contains(r.Skipped, skipped[key]) || r.Taizhang != nil {
				t.Errorf("row %s: skipped %q, want %q", key, r.Skipped, skipped[key])
			}
			continue
		case r.Skipped != "":
			t.Errorf("row %s skipped: %s", key, r.Skipped)
			continue
		case r.Taizhang == nil || r.What == "" || r.Unit == "" || r.Taizhang.Count <= 0 || r.Taizhang.Value <= 0 && key != "memory_per_event":
			t.Errorf("row %s incomplete: %+v", key, r)
			continue
		case slices.Contains(noRaw, key):
			if r.Raw != nil || r.RawWhat != "" || r.Ratio != 0 {
				t.Errorf("row %s has a raw baseline: %+v", key, r)
			}
			continue
		case r.Raw == nil || r.RawWhat == "" || r.Raw.Value <= 0:
			t.Errorf("row %s: no raw baseline: %+v", key, r)
			continue
		}
		if key == "memory_per_event" {
			// RSS may not grow measurably over 80 events; it must be read.
			if r.Taizhang.Value < 0 || r.Taizhang.Extra["rss_before"] <= 0 || r.Taizhang.Extra["rss_after"] <= 0 {
				t.Errorf("memory row: %+v", r.Taizhang)
			}
			continue
		}
		if r.Taizhang.Value <= 0 || r.Ratio <= 0 {
			t.Errorf("row %s: value %v, ratio %v", key, r.Taizhang.Value, r.Ratio)
		}
		if strings.HasPrefix(key, "append_") || strings.HasPrefix(key, "blob_") || key == "upload_http" {
			if r.Taizhang.P50ms <= 0 || r.Taizhang.P99ms < r.Taizhang.P50ms || r.Raw.P50ms <= 0 {
				t.Errorf("row %s latencies: %+v raw %+v", key, r.Taizhang, r.Raw)
			}
		}
	}
	return rows
}

// checkBenchLedger reads the ledger in data back: each unit holds its
// registration and the evidence the report counts, the ledger's
// referencing a stored attachment (with files: none were stored without
// a blob store); the raw stream is gone.
func checkBenchLedger(t *testing.T, data string, a bench.Appended, files bool) {
	t.Helper()
	ns, err := tzjs.StartEmbedded(tzjs.EmbeddedConfig{StoreDir: filepath.Join(data, "nats"), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	nc, err := nats.Connect(ns.ClientURL(), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx := context.Background()
	l, err := tzjs.Open(ctx, nc, tzjs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	blobs, err := dir.New(filepath.Join(data, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	U := len(a.Units)
	for j, u := range a.Units {
		recs, err := l.History(ctx, u, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		var submitted, withFile int
		for _, rec := range recs {
			if rec.Event.Type != events.TypeEvidenceSubmitted {
				continue
			}
			submitted++
			for _, att := range rec.Event.Attachments {
				ref, err := blobstore.ParseRef(att.SHA256)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := blobstore.Verify(ctx, blobs, ref); err != nil {
					t.Errorf("unit %s: attachment %s: %v", u, att.SHA256, err)
				}
				withFile++
			}
		}
		uploads := a.Uploads / U // upload k went to unit k % U
		if j < a.Uploads%U {
			uploads++
		}
		want := (a.Warmup+a.Ledger+a.HTTP)/U + uploads
		if len(recs) != want+1 || recs[0].Event.Type != events.TypeUnitRegistered || submitted != want {
			t.Errorf("unit %s: %d events, %d submissions, want %d and %d", u, len(recs), submitted, want+1, want)
		}
		// The uploads carry their file; the warm-up and the ledger's
		// events reference a stored one.
		wantFiles := uploads
		if files {
			wantFiles += (a.Warmup + a.Ledger) / U
		}
		if withFile != wantFiles {
			t.Errorf("unit %s: %d attachments referenced, want %d", u, withFile, wantFiles)
		}
	}
	names := l.JetStream().StreamNames(ctx)
	for name := range names.Name() {
		if strings.HasPrefix(name, "TZBENCH_") {
			t.Errorf("raw stream %s left behind", name)
		}
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestBenchRemote loads a running server over HTTP and, through --nats,
// its ledger: the rows that need the blob store or the server's process
// say so, the others are measured, and the counts are in the ledger.
func TestBenchRemote(t *testing.T) {
	port := freeLoopbackPort(t)
	s := startServer(t, "", "--nats-listen", "127.0.0.1:"+strconv.Itoa(port))
	rep, _ := runBench(t, "--url", s.URL, "--token", s.Admin, "--nats", "nats://127.0.0.1:"+strconv.Itoa(port),
		"--units", "3", "--events", "5", "--attachments", "2", "--attachment-size", "2KiB", "--concurrency", "2", "--reads", "2")
	checkBenchRows(t, rep, map[string]string{"blob_put": "needs the blob store", "blob_get": "needs the blob store",
		"memory_per_event": "only when the server runs in this process"}, "upload_http")
	if a := rep.Appended; a.Warmup != 3 || a.Ledger != 15 || a.HTTP != 15 || a.Uploads != 2 || a.Raw != 15 {
		t.Errorf("appended %+v", a)
	}
	s.stop(t)
	checkBenchLedger(t, s.Data, rep.Appended, false)
}

// TestBenchMinIO runs the in-process server on MinIO: the blob rows'
// baseline is minio-go's PutObject and GetObject on the same bucket.
func TestBenchMinIO(t *testing.T) {
	m := testenv.MinIO(t)
	rep, _ := runBench(t, append(minioArgs(m), "--units", "2", "--events", "4", "--attachments", "3",
		"--attachment-size", "1000", "--reads", "2")...)
	rows := checkBenchRows(t, rep, nil)
	if !strings.Contains(rows["blob_put"].RawWhat, "PutObject") || !strings.Contains(rows["blob_get"].RawWhat, "GetObject") {
		t.Errorf("MinIO baselines: %q, %q", rows["blob_put"].RawWhat, rows["blob_get"].RawWhat)
	}
	if !strings.Contains(rep.Mode, "S3 blob store") {
		t.Errorf("mode %q", rep.Mode)
	}
}

// TestBenchBadFlags: a mistake on the command line is exit status 2 with
// a message that names the flag.
func TestBenchBadFlags(t *testing.T) {
	t.Setenv("TAIZHANG_TOKEN", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--units", "0"}, "--units must be from 1"},
		{[]string{"--events", "-3"}, "--events must be from 1"},
		{[]string{"--concurrency", "0"}, "--concurrency must be from 1"},
		{[]string{"--attachment-size", "4XB"}, `--attachment-size: "4XB" is not a size`},
		{[]string{"--attachment-size", "0"}, "--attachment-size must be from 1 byte"},
		{[]string{"--duration", "-1s"}, "--duration must not be negative"},
		{[]string{"--duration", "soon"}, `invalid value "soon" for flag -duration`},
		{[]string{"--reads", "0"}, "--reads must be from 1"},
		{[]string{"--prefix", "Bad_Prefix"}, `--prefix "Bad_Prefix" must be`},
		{[]string{"--units"}, "flag needs an argument: -units"},
		{[]string{"--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"--json", "--markdown"}, "give --json or --markdown, not both"},
		{[]string{"--url", "http://127.0.0.1:1"}, "--url needs an admin token"},
		{[]string{"--token", "t"}, "--token and --token-file go with --url"},
		{[]string{"--url", "http://127.0.0.1:1", "--token", "t", "--data", "d"}, "--data is for the in-process server"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		var stdout, stderr bytes.Buffer
		code := Run(context.Background(), append([]string{"bench"}, c.args...), nil, &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), c.want) || !strings.Contains(stderr.String(), "taizhang bench: "+c.want) {
			t.Errorf("bench %v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr.String(), c.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("bench %v wrote to stdout: %q", c.args, stdout.String())
		}
	}
}

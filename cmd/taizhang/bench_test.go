package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"taizhang/bench"
	"taizhang/blobstore"
	"taizhang/blobstore/dir"
	"taizhang/events"
	tzjs "taizhang/events/jetstream"
)

// TestBenchEmbedded runs `taizhang bench` with tiny numbers against the
// embedded default and checks that the JSON report has every row measured
// with positive figures, and that the ledger holds exactly what the report
// says was appended, with attachments that are stored. No timings are
// asserted.
func TestBenchEmbedded(t *testing.T) {
	data := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := []string{"bench", "--data", data, "--units", "2", "--events", "20", "--attachments", "1",
		"--attachment-size", "4KiB", "--concurrency", "4", "--reads", "3", "--json"}
	if code := Run(context.Background(), args, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("bench exited with %d:\n%s", code, stderr.String())
	}
	var rep bench.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("not a JSON report: %v\n%s", err, stdout.String())
	}
	// Not a terminal: one line a phase, no bar.
	if !strings.Contains(stderr.String(), "bench: append via ledger: 40 of 40") || strings.Contains(stderr.String(), "\r") {
		t.Errorf("progress on stderr:\n%q", stderr.String())
	}

	want := []string{"blob_put", "blob_get", "append_ledger", "append_http", "memory_per_event",
		"history_ledger", "history_http", "archive_page", "rebuild"}
	rows := map[string]bench.Row{}
	for _, r := range rep.Rows {
		rows[r.Key] = r
	}
	for _, key := range want {
		r, ok := rows[key]
		switch {
		case !ok:
			t.Errorf("no row %s", key)
			continue
		case r.Skipped != "":
			t.Errorf("row %s skipped: %s", key, r.Skipped)
			continue
		case r.Taizhang == nil || r.Raw == nil || r.What == "" || r.RawWhat == "" || r.Unit == "":
			t.Errorf("row %s incomplete: %+v", key, r)
			continue
		case r.Raw.Value <= 0 || r.Taizhang.Count <= 0:
			t.Errorf("row %s: raw %v, count %d", key, r.Raw.Value, r.Taizhang.Count)
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
		if strings.HasPrefix(key, "append_") || strings.HasPrefix(key, "blob_") {
			if r.Taizhang.P50ms <= 0 || r.Taizhang.P99ms < r.Taizhang.P50ms || r.Raw.P50ms <= 0 {
				t.Errorf("row %s latencies: %+v raw %+v", key, r.Taizhang, r.Raw)
			}
		}
	}
	if len(rep.Rows) != len(want) {
		t.Errorf("%d rows, want %d", len(rep.Rows), len(want))
	}
	a := rep.Appended
	if a.Warmup != 2 || a.Ledger != 40 || a.HTTP != 40 || a.Raw != 40 || len(a.Units) != 2 {
		t.Fatalf("appended %+v", a)
	}
	if rows["append_ledger"].Taizhang.Count != 40 || rows["append_http"].Taizhang.Count != 40 || rows["append_ledger"].Raw.Count != 40 {
		t.Errorf("append counts: %+v %+v", rows["append_ledger"], rows["append_http"])
	}

	// Read the ledger back: each unit holds its registration and 41
	// evidence events, the ledger's referencing a stored attachment; the
	// raw stream is gone.
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
	for _, u := range a.Units {
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
		if len(recs) != 42 || recs[0].Event.Type != events.TypeUnitRegistered || submitted != 41 {
			t.Errorf("unit %s: %d events, %d submissions, want 42 and 41", u, len(recs), submitted)
		}
		if withFile != 21 { // the warm-up and the ledger's 20 reference the stored attachment
			t.Errorf("unit %s: %d attachments referenced, want 21", u, withFile)
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

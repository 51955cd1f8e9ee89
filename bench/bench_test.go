package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"taizhang/blobstore"
)

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := percentile(d, c.q); got != c.want {
			t.Errorf("percentile(1..100 ms, %v) = %v, want %v", c.q, got, c.want)
		}
	}
	if got := percentile(d[:1], 0.99); got != time.Millisecond {
		t.Errorf("one sample: %v", got)
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("no samples: %v", got)
	}
}

func TestValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for _, c := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Units = 0 }, "--units"},
		{func(c *Config) { c.EventsPerUnit = MaxEventsPerUnit + 1 }, "--events"},
		{func(c *Config) { c.Attachments = -1 }, "--attachments"},
		{func(c *Config) { c.AttachmentSize = MaxAttachmentSize + 1 }, "--attachment-size"},
		{func(c *Config) { c.Concurrency = 0 }, "--concurrency"},
		{func(c *Config) { c.Duration = -time.Second }, "--duration"},
		{func(c *Config) { c.Reads = 0 }, "--reads"},
		{func(c *Config) { c.Prefix = "-x" }, "--prefix"},
		{func(c *Config) { c.Prefix = "a.b" }, "--prefix"},
	} {
		cfg := DefaultConfig()
		c.edit(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %s", cfg, err, c.want)
		}
	}
	cfg := DefaultConfig()
	cfg.Attachments, cfg.AttachmentSize = 0, 0 // no blob rows: the size does not matter
	if err := cfg.Validate(); err != nil {
		t.Errorf("no attachments: %v", err)
	}
}

// TestSubmissionReferencesStoredBlobs: every submission, the warm-up's
// (i = -1) included, references one of the stored attachments.
func TestSubmissionReferencesStoredBlobs(t *testing.T) {
	r := &runner{blobs: []storedBlob{{blobstore.RefOf([]byte("a")), 1}, {blobstore.RefOf([]byte("b")), 1}, {blobstore.RefOf([]byte("c")), 1}}}
	for i := -1; i < 7; i++ {
		s := r.submission("u-1", i)
		if len(s.Attachments) != 1 {
			t.Fatalf("submission %d: %d attachments", i, len(s.Attachments))
		}
		found := false
		for _, b := range r.blobs {
			found = found || s.Attachments[0].SHA256 == b.ref.String()
		}
		if !found {
			t.Errorf("submission %d references %s, not a stored blob", i, s.Attachments[0].SHA256)
		}
	}
	if got := (&runner{}).submission("u-1", 3); len(got.Attachments) != 0 {
		t.Errorf("no blobs stored, yet %d attachments", len(got.Attachments))
	}
}

func TestBlobContentDiffers(t *testing.T) {
	var seed [32]byte
	a, b, a2 := make([]byte, 256), make([]byte, 256), make([]byte, 256)
	blobContent(a, seed, 1)
	blobContent(b, seed, 2)
	blobContent(a2, seed, 1)
	if bytes.Equal(a, b) || !bytes.Equal(a, a2) {
		t.Fatal("blob content must differ per index and repeat per index")
	}
	if bytes.ContainsAny(a, "\x00\x01\x02\xff") {
		t.Errorf("not plain text: %q", a)
	}
}

func TestProgress(t *testing.T) {
	var plain bytes.Buffer
	p := NewProgress(&plain, false)
	p.Start("append via ledger", 10)
	p.Add(4)
	p.Add(6)
	p.End()
	if got := plain.String(); !strings.HasPrefix(got, "bench: append via ledger: 10 of 10 in ") || strings.Count(got, "\n") != 1 {
		t.Errorf("not a terminal: %q", got)
	}
	var tty bytes.Buffer
	p = NewProgress(&tty, true)
	p.Start("append via ledger", 10)
	p.Add(10)
	p.End()
	if got := tty.String(); !strings.Contains(got, "\r") || !strings.Contains(got, "[##############################] 10/10") || !strings.HasSuffix(got, "\n") {
		t.Errorf("terminal: %q", got)
	}
}

func TestRawDir(t *testing.T) {
	d := RawDir(t.TempDir() + "/raw")
	ctx := context.Background()
	if err := d.Put(ctx, "k", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if n, err := d.Get(ctx, "k"); err != nil || n != 5 {
		t.Fatalf("get: %d, %v", n, err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Get(ctx, "k"); err == nil {
		t.Error("Close left the raw files")
	}
}

func TestTable(t *testing.T) {
	rep := &Report{Mode: "test", Config: DefaultConfig(), Rows: []Row{
		{Key: "append_ledger", What: "append", Unit: "events/s", RawWhat: "publish",
			Taizhang: &Figure{Value: 2591.4, P50ms: 5.1, P99ms: 9.9, Count: 100}, Raw: &Figure{Value: 3142, P50ms: 3, P99ms: 6, Count: 100}, Ratio: 0.8248},
		{Key: "blob_put", Skipped: "--attachments 0"},
	}}
	var out, md bytes.Buffer
	if err := WriteTable(&out, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2,591 events/s", "3,142 msgs/s", "0.82", "skipped: --attachments 0", "raw: publish"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if err := WriteMarkdown(&md, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| append | 2,591 events/s | 5.10 / 9.90 ms | publish | 3,142 msgs/s | 3.00 / 6.00 ms | 0.82 |") {
		t.Errorf("markdown:\n%s", md.String())
	}
}

package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	mc "github.com/minio/minio-go/v7"
	js "github.com/nats-io/nats.go/jetstream"

	"taizhang/blobstore"
)

// RawBlobs is the raw baseline of a blob store: the same bytes written and
// read with the backend's own primitives, under keys of its own.
type RawBlobs interface {
	// What says what Put and Get do, for the report.
	What() (put, get string)
	Put(ctx context.Context, key string, data []byte) error
	// Get reads the object to the end and returns its size.
	Get(ctx context.Context, key string) (int64, error)
	// Close removes what it can of what Put stored.
	Close() error
}

// RawDir is the baseline of the directory store: one file per blob in dir
// (on the same disk), written and fsynced, read back whole.
func RawDir(dir string) RawBlobs { return rawDir{dir} }

type rawDir struct{ dir string }

func (d rawDir) What() (string, string) {
	return "write + fsync of a file on the same disk", "read of that file"
}

func (d rawDir) Put(_ context.Context, key string, data []byte) error {
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(d.dir, key))
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (d rawDir) Get(_ context.Context, key string) (int64, error) {
	f, err := os.Open(filepath.Join(d.dir, key))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return io.Copy(io.Discard, f)
}

func (d rawDir) Close() error { return os.RemoveAll(d.dir) }

// RawMinIO is the baseline of the S3 store: minio-go PutObject and
// GetObject of the same bytes in the same bucket, under prefix (objects
// under object lock stay until their retention ends).
func RawMinIO(c *mc.Client, bucket, prefix string) RawBlobs { return rawMinIO{c, bucket, prefix} }

type rawMinIO struct {
	c              *mc.Client
	bucket, prefix string
}

func (m rawMinIO) What() (string, string) {
	return "minio-go PutObject of the same bytes", "minio-go GetObject, read to the end"
}

func (m rawMinIO) Put(ctx context.Context, key string, data []byte) error {
	_, err := m.c.PutObject(ctx, m.bucket, m.prefix+key, bytes.NewReader(data), int64(len(data)),
		mc.PutObjectOptions{ContentType: "application/octet-stream"})
	return err
}

func (m rawMinIO) Get(ctx context.Context, key string) (int64, error) {
	o, err := m.c.GetObject(ctx, m.bucket, m.prefix+key, mc.GetObjectOptions{})
	if err != nil {
		return 0, err
	}
	defer o.Close()
	return io.Copy(io.Discard, o)
}

func (m rawMinIO) Close() error { return nil }

// blobContent fills b with the k-th attachment's bytes: printable text
// (a plain-text document, which the API would accept too), different for
// every k and every run.
func blobContent(b []byte, seed [32]byte, k int) {
	s := seed
	s[0] ^= byte(k)
	s[1] ^= byte(k >> 8)
	s[2] ^= byte(k >> 16)
	rng := rand.NewChaCha8(s)
	rng.Read(b)
	const alphabet = "abcdefghijklmnopqrstuvwxyz ,.\n"
	for i, c := range b {
		b[i] = alphabet[int(c)%len(alphabet)]
	}
}

// blobRows stores Attachments blobs through the store (blobstore.Receive:
// hash, spool, stat, put) and with the raw baseline, then reads each back
// (blobstore.Open, verified, against the raw read).
func (r *runner) blobRows(ctx context.Context) error {
	put := Row{Key: "blob_put", What: fmt.Sprintf("store a %s attachment (hash, spool, put)", sizeName(r.cfg.AttachmentSize)), Unit: "blobs/s"}
	get := Row{Key: "blob_get", What: fmt.Sprintf("read a %s attachment back, verified", sizeName(r.cfg.AttachmentSize)), Unit: "blobs/s"}
	switch {
	case r.cfg.Attachments == 0:
		put.Skipped, get.Skipped = "--attachments 0", "--attachments 0"
	case r.t.Blobs == nil || r.t.RawBlobs == nil:
		put.Skipped, get.Skipped = "needs the blob store (--s3-... for a remote server)", "needs the blob store"
	}
	if put.Skipped != "" {
		r.rep.Rows = append(r.rep.Rows, put, get)
		return nil
	}
	put.RawWhat, get.RawWhat = r.t.RawBlobs.What()
	seed := r.seed()
	n, size := r.cfg.Attachments, r.cfg.AttachmentSize
	extra := func(tm timing) map[string]float64 {
		return map[string]float64{"MB/s": float64(tm.n) * float64(size) / 1e6 / tm.elapsed.Seconds()}
	}
	pool := newBuffers(r.cfg.Concurrency, size)
	buffer, release := pool.get, pool.put

	refs := make([]blobstore.Ref, n)
	tms, rates, err := r.interleaved(ctx, n, 0, path{"store attachments", func(ctx context.Context, k int) error {
		b := buffer()
		defer release(b)
		blobContent(b, seed, k)
		rec, err := blobstore.Receive(ctx, r.t.Blobs, bytes.NewReader(b), blobstore.ReceiveOptions{TempDir: r.t.SpoolDir})
		if err != nil {
			return err
		}
		refs[k] = rec.Ref
		return nil
	}}, path{"store attachments (raw)", func(ctx context.Context, k int) error {
		b := buffer()
		defer release(b)
		blobContent(b, seed, k)
		return r.t.RawBlobs.Put(ctx, "raw-"+strconv.Itoa(k), b)
	}})
	if err != nil {
		return err
	}
	for _, ref := range refs {
		r.blobs = append(r.blobs, storedBlob{ref, size})
	}
	figures := func(row *Row) {
		row.Taizhang = tms[0].done().rate()
		row.Taizhang.Extra = extra(tms[0])
		raw := tms[1].done().rate()
		raw.Extra = extra(tms[1])
		r.withRaw(row, raw)
		row.RatioRange = ratioRange(rates[0], rates[1])
	}
	figures(&put)

	tms, rates, err = r.interleaved(ctx, n, 0, path{"read attachments", func(ctx context.Context, k int) error {
		rc, _, err := blobstore.Open(ctx, r.t.Blobs, refs[k])
		if err != nil {
			return err
		}
		defer rc.Close()
		got, err := io.Copy(io.Discard, rc)
		if err == nil && got != size {
			err = fmt.Errorf("blob %s: read %d bytes, stored %d", refs[k], got, size)
		}
		return err
	}}, path{"read attachments (raw)", func(ctx context.Context, k int) error {
		got, err := r.t.RawBlobs.Get(ctx, "raw-"+strconv.Itoa(k))
		if err == nil && got != size {
			err = fmt.Errorf("raw blob %d: read %d bytes, wrote %d", k, got, size)
		}
		return err
	}})
	if err != nil {
		return err
	}
	figures(&get)
	r.rep.Rows = append(r.rep.Rows, put, get)
	return nil
}

// seed is the run's seed for attachment bytes: its prefix.
func (r *runner) seed() [32]byte {
	var seed [32]byte
	copy(seed[:], r.cfg.Prefix)
	return seed
}

// buffers recycles attachment-sized buffers among the goroutines of a
// phase.
type buffers struct {
	c    chan []byte
	size int64
}

func newBuffers(n int, size int64) *buffers { return &buffers{c: make(chan []byte, n), size: size} }

func (b *buffers) get() []byte {
	select {
	case buf := <-b.c:
		return buf
	default:
		return make([]byte, b.size)
	}
}

func (b *buffers) put(buf []byte) {
	select {
	case b.c <- buf:
	default:
	}
}

func sizeName(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// rawOrdered reads the first want messages on filter ("" for the whole
// stream) with a plain ordered consumer and deletes it afterwards,
// outside the time it returns.
func rawOrdered(ctx context.Context, st js.Stream, filter string, want int) (time.Duration, error) {
	start := time.Now()
	cfg := js.OrderedConsumerConfig{InactiveThreshold: 10 * time.Second}
	if filter != "" {
		cfg.FilterSubjects = []string{filter}
	}
	cons, err := st.OrderedConsumer(ctx, cfg)
	if err != nil {
		return 0, err
	}
	it, err := cons.Messages()
	if err != nil {
		return 0, err
	}
	var n, size int
	for n < want {
		m, err := it.Next()
		if err != nil {
			it.Stop()
			return 0, fmt.Errorf("after %d of %d messages: %w", n, want, err)
		}
		n++
		size += len(m.Data())
	}
	it.Stop()
	took := time.Since(start)
	if size == 0 {
		return 0, errors.New("only empty messages")
	}
	if info := cons.CachedInfo(); info != nil {
		_ = st.DeleteConsumer(ctx, info.Name)
	}
	return took, nil
}

// Package storagetest is the conformance suite that every blobstore.Store
// implementation passes: one set of tests for the contract of the Store
// interface, of blobstore.Receive and of blobstore.Open (storing and reading
// back, deduplication, unknown digests, corruption, streaming without
// buffering, cancellation, size limits, empty and concurrent uploads). An
// implementation's tests call Run with a function that opens a fresh, empty
// store for each subtest.
package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"taizhang/blobstore"
)

// Harness is one store under test.
type Harness struct {
	// Store is empty when handed to a subtest.
	Store blobstore.Store
	// Corrupt alters the stored bytes of ref behind the store's back, so
	// that they no longer hash to ref (flipping a byte, or replacing the
	// object by other bytes of the same or another length). It must work
	// for every non-empty blob and returns an error if ref is not stored.
	Corrupt func(ref blobstore.Ref) error
}

// Run runs the conformance suite as subtests of t. open is called once per
// subtest and returns a fresh, empty store; it registers its own cleanup with
// the t it is given and fails that t if it cannot open one.
func Run(t *testing.T, open func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"RoundTrip", testRoundTrip},
		{"PutGet", testPutGet},
		{"PutFromFileAtOffset", testPutFromFileAtOffset},
		{"SameBytesOneObject", testSameBytesOneObject},
		{"NotFound", testNotFound},
		{"ZeroRef", testZeroRef},
		{"Corrupt", testCorrupt},
		{"LargeStreamsWithBoundedMemory", testLarge},
		{"CancelledBeforeReceive", testCancelledBefore},
		{"CancelledMidStream", testCancelledMidStream},
		{"CancelledPut", testCancelledPut},
		{"CancelledOpen", testCancelledOpen},
		{"ShortPut", testShortPut},
		{"TooLarge", testTooLarge},
		{"InspectAborts", testInspectAborts},
		{"Empty", testEmpty},
		{"ConcurrentSameBytes", testConcurrent},
		{"Ping", testPing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := open(t)
			tc.fn(t, h)
		})
	}
}

// receive runs Receive with a spool directory of the test's own and checks
// that the spool file is gone afterwards, whatever the outcome.
func receive(t *testing.T, ctx context.Context, s blobstore.Store, r io.Reader, opt blobstore.ReceiveOptions) (blobstore.Received, error) {
	t.Helper()
	if opt.TempDir == "" {
		opt.TempDir = t.TempDir()
	}
	rec, err := blobstore.Receive(ctx, s, r, opt)
	entries, rerr := os.ReadDir(opt.TempDir)
	if rerr != nil {
		t.Fatal(rerr)
	}
	for _, e := range entries {
		t.Errorf("Receive left %s behind in its spool directory", e.Name())
	}
	return rec, err
}

func mustReceive(t *testing.T, s blobstore.Store, b []byte) blobstore.Received {
	t.Helper()
	rec, err := receive(t, context.Background(), s, bytes.NewReader(b), blobstore.ReceiveOptions{})
	if err != nil {
		t.Fatalf("Receive(%d bytes): %v", len(b), err)
	}
	return rec
}

// readAll reads ref through blobstore.Open.
func readAll(t *testing.T, s blobstore.Store, ref blobstore.Ref) ([]byte, blobstore.Info, error) {
	t.Helper()
	rc, info, err := blobstore.Open(context.Background(), s, ref)
	if err != nil {
		return nil, info, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return b, info, err
}

func wantNotStored(t *testing.T, s blobstore.Store, ref blobstore.Ref) {
	t.Helper()
	if info, err := s.Stat(context.Background(), ref); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("Stat(%s) = %+v, %v; want ErrNotFound (nothing stored)", ref, info, err)
	}
}

func testRoundTrip(t *testing.T, h Harness) {
	for _, size := range []int{1, 511, 512, 513, 100 << 10, 1<<20 + 7} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			want := content(uint64(size), size)
			rec := mustReceive(t, h.Store, want)
			if rec.Ref != blobstore.RefOf(want) {
				t.Errorf("Receive ref = %s, want %s", rec.Ref, blobstore.RefOf(want))
			}
			if rec.Size != int64(size) {
				t.Errorf("Receive size = %d, want %d", rec.Size, size)
			}
			if wantHead := want[:min(size, blobstore.HeadLen)]; !bytes.Equal(rec.Head, wantHead) {
				t.Errorf("Receive head has %d bytes, want the first %d of the content", len(rec.Head), len(wantHead))
			}
			got, info, err := readAll(t, h.Store, rec.Ref)
			if err != nil {
				t.Fatalf("reading through Open: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Open returned %d bytes that differ from the %d stored", len(got), len(want))
			}
			if info != (blobstore.Info{Ref: rec.Ref, Size: int64(size)}) {
				t.Errorf("Open info = %+v, want size %d", info, size)
			}
			st, err := h.Store.Stat(context.Background(), rec.Ref)
			if err != nil || st != info {
				t.Errorf("Stat = %+v, %v; want %+v", st, err, info)
			}
			if vi, err := blobstore.Verify(context.Background(), h.Store, rec.Ref); err != nil || vi != info {
				t.Errorf("Verify = %+v, %v; want %+v", vi, err, info)
			}
		})
	}
}

func testPutGet(t *testing.T, h Harness) {
	ctx := context.Background()
	want := content(7, 300<<10)
	ref := blobstore.RefOf(want)
	if err := h.Store.Put(ctx, ref, int64(len(want)), bytes.NewReader(want)); err != nil {
		t.Fatalf("Put: %v", err)
	}
	rc, size, err := h.Store.Get(ctx, ref)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading Get: %v", err)
	}
	if size != int64(len(want)) || !bytes.Equal(got, want) {
		t.Errorf("Get returned %d bytes (size %d), want the %d put", len(got), size, len(want))
	}
}

// testPutFromFileAtOffset puts from a file that is not at its start, as
// large as to need several parts in backends that upload in parts: Put reads
// size bytes from the current offset, whatever path it takes.
func testPutFromFileAtOffset(t *testing.T, h Harness) {
	const junk = 1000
	want := content(21, 17<<20+3)
	f, err := os.CreateTemp(t.TempDir(), "put")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(bytes.Repeat([]byte{'j'}, junk)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(want); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("trailing")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(junk, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	ref := blobstore.RefOf(want)
	if err := h.Store.Put(context.Background(), ref, int64(len(want)), f); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if info, err := blobstore.Verify(context.Background(), h.Store, ref); err != nil || info.Size != int64(len(want)) {
		t.Errorf("Verify after Put from offset %d = %+v, %v", junk, info, err)
	}
}

func testSameBytesOneObject(t *testing.T, h Harness) {
	want := content(42, 200<<10)
	a := mustReceive(t, h.Store, want)
	infoA, err := h.Store.Stat(context.Background(), a.Ref)
	if err != nil {
		t.Fatal(err)
	}
	b := mustReceive(t, h.Store, want)
	if a.Ref != b.Ref || a.Size != b.Size {
		t.Errorf("second Receive of the same bytes gave %s/%d, first %s/%d", b.Ref, b.Size, a.Ref, a.Size)
	}
	infoB, err := h.Store.Stat(context.Background(), b.Ref)
	if err != nil || infoA != infoB {
		t.Errorf("Stat after second Receive = %+v, %v; before %+v", infoB, err, infoA)
	}
	// A Put of bytes already stored may skip reading them.
	if err := h.Store.Put(context.Background(), a.Ref, a.Size, bytes.NewReader(want)); err != nil {
		t.Errorf("Put of a stored blob: %v", err)
	}
	if got, _, err := readAll(t, h.Store, a.Ref); err != nil || !bytes.Equal(got, want) {
		t.Errorf("reading after repeated uploads: %d bytes, %v", len(got), err)
	}
}

func testNotFound(t *testing.T, h Harness) {
	ctx := context.Background()
	ref := blobstore.RefOf([]byte("never stored"))
	if _, err := h.Store.Stat(ctx, ref); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("Stat of an unknown ref: %v, want ErrNotFound", err)
	}
	if rc, _, err := h.Store.Get(ctx, ref); !errors.Is(err, blobstore.ErrNotFound) {
		if rc != nil {
			rc.Close()
		}
		t.Errorf("Get of an unknown ref: %v, want ErrNotFound", err)
	}
	if rc, _, err := blobstore.Open(ctx, h.Store, ref); !errors.Is(err, blobstore.ErrNotFound) {
		if rc != nil {
			rc.Close()
		}
		t.Errorf("Open of an unknown ref: %v, want ErrNotFound", err)
	}
	if _, err := blobstore.Verify(ctx, h.Store, ref); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("Verify of an unknown ref: %v, want ErrNotFound", err)
	}
}

func testZeroRef(t *testing.T, h Harness) {
	ctx := context.Background()
	var zero blobstore.Ref
	if err := h.Store.Put(ctx, zero, 1, bytes.NewReader([]byte{1})); !errors.Is(err, blobstore.ErrInvalidRef) {
		t.Errorf("Put of the zero ref: %v, want ErrInvalidRef", err)
	}
	if _, _, err := h.Store.Get(ctx, zero); !errors.Is(err, blobstore.ErrInvalidRef) {
		t.Errorf("Get of the zero ref: %v, want ErrInvalidRef", err)
	}
	if _, err := h.Store.Stat(ctx, zero); !errors.Is(err, blobstore.ErrInvalidRef) {
		t.Errorf("Stat of the zero ref: %v, want ErrInvalidRef", err)
	}
	if _, _, err := blobstore.Open(ctx, h.Store, zero); !errors.Is(err, blobstore.ErrInvalidRef) {
		t.Errorf("Open of the zero ref: %v, want ErrInvalidRef", err)
	}
}

func testCorrupt(t *testing.T, h Harness) {
	for _, size := range []int{1, 100 << 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			want := content(99, size)
			rec := mustReceive(t, h.Store, want)
			if err := h.Corrupt(rec.Ref); err != nil {
				t.Fatalf("Corrupt: %v", err)
			}
			got, _, err := readAll(t, h.Store, rec.Ref)
			if !errors.Is(err, blobstore.ErrCorrupt) {
				t.Errorf("reading a corrupted blob to the end: %d bytes, %v; want ErrCorrupt", len(got), err)
			}
			if _, err := blobstore.Verify(context.Background(), h.Store, rec.Ref); !errors.Is(err, blobstore.ErrCorrupt) {
				t.Errorf("Verify of a corrupted blob: %v, want ErrCorrupt", err)
			}
			// Receiving the same bytes again never hands out a reference to
			// the damaged copy: it either replaces it (then it verifies) or
			// fails with ErrCorrupt.
			_, err = receive(t, context.Background(), h.Store, bytes.NewReader(want), blobstore.ReceiveOptions{})
			_, verr := blobstore.Verify(context.Background(), h.Store, rec.Ref)
			switch {
			case err == nil && verr != nil:
				t.Errorf("re-receiving the bytes of a damaged blob succeeded, but the stored copy is still bad: %v", verr)
			case err != nil && !errors.Is(err, blobstore.ErrCorrupt):
				t.Errorf("re-receiving the bytes of a damaged blob: %v, want nil (replaced) or ErrCorrupt", err)
			}
		})
	}
}

// testLarge streams a blob far larger than the allowed heap growth through
// Receive and Open, so that buffering it whole anywhere fails the test.
func testLarge(t *testing.T, h Harness) {
	size := int64(200 << 20)
	if testing.Short() {
		size = 64 << 20
	}
	const bound = 32 << 20 // well below size: content held whole cannot fit

	const seed = 2024
	sum := sha256.New()
	if _, err := io.Copy(sum, newGen(seed, size)); err != nil {
		t.Fatal(err)
	}
	wantRef := blobstore.RefFromHash(sum.Sum(nil))

	m := startHeapMonitor()
	rec, err := receive(t, context.Background(), h.Store, newGen(seed, size), blobstore.ReceiveOptions{})
	if err != nil {
		m.stop()
		t.Fatalf("Receive of %d MiB: %v", size>>20, err)
	}
	if rec.Ref != wantRef || rec.Size != size {
		t.Errorf("Receive = %s/%d, want %s/%d", rec.Ref, rec.Size, wantRef, size)
	}
	rc, info, err := blobstore.Open(context.Background(), h.Store, rec.Ref)
	if err != nil {
		m.stop()
		t.Fatalf("Open: %v", err)
	}
	// Compare with the generator as it streams, without holding either.
	n, err := compareStream(rc, newGen(seed, size))
	rc.Close()
	growth := m.stop()
	if err != nil {
		t.Fatalf("reading %d MiB back through Open: %v (after %d bytes)", size>>20, err, n)
	}
	if n != size || info.Size != size {
		t.Errorf("read %d bytes, info size %d; want %d", n, info.Size, size)
	}
	t.Logf("%d MiB through Receive and Open: heap grew by at most %.1f MiB", size>>20, float64(growth)/(1<<20))
	if growth > bound {
		t.Errorf("heap grew by %.1f MiB while streaming %d MiB; want below %d MiB (is the content buffered?)",
			float64(growth)/(1<<20), size>>20, bound>>20)
	}
}

// compareStream reads r to its end and checks that it carries exactly what
// want carries; it returns the number of bytes read.
func compareStream(r, want io.Reader) (int64, error) {
	a := make([]byte, 64<<10)
	b := make([]byte, 64<<10)
	var n int64
	for {
		k, err := io.ReadFull(r, a)
		if k > 0 {
			if _, werr := io.ReadFull(want, b[:k]); werr != nil {
				return n, fmt.Errorf("stream is longer than the content: %w", werr)
			}
			if !bytes.Equal(a[:k], b[:k]) {
				return n, fmt.Errorf("bytes differ in [%d, %d)", n, n+int64(k))
			}
			n += int64(k)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			if k, _ := want.Read(b[:1]); k > 0 {
				return n, errors.New("stream is shorter than the content")
			}
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// heapMonitor samples the Go heap in use until stopped and reports its peak
// growth over the level at the start.
type heapMonitor struct {
	base uint64
	peak atomic.Uint64
	done chan struct{}
	wg   sync.WaitGroup
}

func startHeapMonitor() *heapMonitor {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := &heapMonitor{base: ms.HeapInuse, done: make(chan struct{})}
	m.peak.Store(ms.HeapInuse)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-m.done:
				return
			case <-tick.C:
				m.sample()
			}
		}
	}()
	return m
}

func (m *heapMonitor) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	for {
		p := m.peak.Load()
		if ms.HeapInuse <= p || m.peak.CompareAndSwap(p, ms.HeapInuse) {
			return
		}
	}
}

// stop ends sampling and returns the peak growth in bytes.
func (m *heapMonitor) stop() uint64 {
	close(m.done)
	m.wg.Wait()
	m.sample()
	return m.peak.Load() - m.base
}

func testCancelledBefore(t *testing.T, h Harness) {
	b := content(5, 64<<10)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := receive(t, ctx, h.Store, bytes.NewReader(b), blobstore.ReceiveOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Receive with a cancelled context: %v, want context.Canceled", err)
	}
	wantNotStored(t, h.Store, blobstore.RefOf(b))
}

func testCancelledMidStream(t *testing.T, h Harness) {
	b := content(6, 4<<20)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &cancelAfter{r: bytes.NewReader(b), n: 1 << 20, cancel: cancel}
	_, err := receive(t, ctx, h.Store, r, blobstore.ReceiveOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Receive cancelled mid-stream: %v, want context.Canceled", err)
	}
	if r.read >= int64(len(b)) {
		t.Errorf("Receive read all %d bytes despite the cancellation after %d", r.read, r.n)
	}
	wantNotStored(t, h.Store, blobstore.RefOf(b))
}

// cancelAfter is a reader that cancels a context once n bytes have been read.
type cancelAfter struct {
	r      io.Reader
	n      int64
	read   int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.read += int64(k)
	if c.read >= c.n {
		c.cancel()
	}
	return k, err
}

func testCancelledPut(t *testing.T, h Harness) {
	b := content(8, 128<<10)
	ref := blobstore.RefOf(b)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.Store.Put(ctx, ref, int64(len(b)), bytes.NewReader(b)); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a cancelled context: %v, want context.Canceled", err)
	}
	wantNotStored(t, h.Store, ref)
}

func testCancelledOpen(t *testing.T, h Harness) {
	rec := mustReceive(t, h.Store, content(9, 256<<10))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rc, _, err := blobstore.Open(ctx, h.Store, rec.Ref)
	if err == nil {
		_, err = io.ReadAll(rc)
		rc.Close()
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a cancelled context: %v, want context.Canceled", err)
	}

	// Cancelled while reading: the rest of the stream fails.
	ctx, cancel = context.WithCancel(context.Background())
	rc, _, err = blobstore.Open(ctx, h.Store, rec.Ref)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, make([]byte, 1024)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := io.ReadAll(rc); !errors.Is(err, context.Canceled) {
		t.Errorf("reading after cancellation: %v, want context.Canceled", err)
	}
}

func testShortPut(t *testing.T, h Harness) {
	b := content(10, 64<<10)
	ref := blobstore.RefOf(b)
	err := h.Store.Put(context.Background(), ref, int64(len(b)), bytes.NewReader(b[:len(b)/2]))
	if err == nil {
		t.Errorf("Put of a reader shorter than size succeeded")
	} else if errors.Is(err, blobstore.ErrUnavailable) {
		t.Errorf("Put of a reader shorter than size blames the backend: %v", err)
	}
	t.Logf("Put of a reader shorter than size: %v", err)
	wantNotStored(t, h.Store, ref)
}

func testTooLarge(t *testing.T, h Harness) {
	const limit = 100 << 10
	b := content(11, limit+1)
	_, err := receive(t, context.Background(), h.Store, bytes.NewReader(b), blobstore.ReceiveOptions{MaxSize: limit})
	if !errors.Is(err, blobstore.ErrTooLarge) {
		t.Errorf("Receive of %d bytes with MaxSize %d: %v, want ErrTooLarge", len(b), limit, err)
	}
	wantNotStored(t, h.Store, blobstore.RefOf(b))

	// A generator that would never end stops at the limit too.
	_, err = receive(t, context.Background(), h.Store, newGen(1, 1<<40), blobstore.ReceiveOptions{MaxSize: limit})
	if !errors.Is(err, blobstore.ErrTooLarge) {
		t.Errorf("Receive of an endless stream with MaxSize %d: %v, want ErrTooLarge", limit, err)
	}

	// Exactly the limit is accepted.
	rec, err := receive(t, context.Background(), h.Store, bytes.NewReader(b[:limit]), blobstore.ReceiveOptions{MaxSize: limit})
	if err != nil || rec.Size != limit {
		t.Errorf("Receive of exactly MaxSize bytes = %d, %v; want success", rec.Size, err)
	}
}

func testInspectAborts(t *testing.T, h Harness) {
	b := content(12, 10<<10)
	errNo := errors.New("not a photo")
	var seen int64
	_, err := receive(t, context.Background(), h.Store, bytes.NewReader(b), blobstore.ReceiveOptions{
		Inspect: func(f io.ReaderAt, size int64) error {
			seen = size
			got := make([]byte, size)
			if _, err := f.ReadAt(got, 0); err != nil && err != io.EOF {
				return err
			}
			if !bytes.Equal(got, b) {
				return errors.New("inspect saw other bytes than the upload")
			}
			return errNo
		},
	})
	if !errors.Is(err, errNo) {
		t.Errorf("Receive with a failing Inspect: %v, want Inspect's error", err)
	}
	if seen != int64(len(b)) {
		t.Errorf("Inspect saw size %d, want %d", seen, len(b))
	}
	wantNotStored(t, h.Store, blobstore.RefOf(b))
}

func testEmpty(t *testing.T, h Harness) {
	rec := mustReceive(t, h.Store, nil)
	if rec.Ref != blobstore.RefOf(nil) || rec.Size != 0 || len(rec.Head) != 0 {
		t.Errorf("Receive of nothing = %s/%d/%d-byte head, want %s/0/empty", rec.Ref, rec.Size, len(rec.Head), blobstore.RefOf(nil))
	}
	got, info, err := readAll(t, h.Store, rec.Ref)
	if err != nil || len(got) != 0 || info.Size != 0 {
		t.Errorf("reading the empty blob: %d bytes, size %d, %v", len(got), info.Size, err)
	}
	if st, err := h.Store.Stat(context.Background(), rec.Ref); err != nil || st.Size != 0 {
		t.Errorf("Stat of the empty blob = %+v, %v", st, err)
	}
}

func testConcurrent(t *testing.T, h Harness) {
	const n = 8
	b := content(13, 512<<10)
	refs := make([]blobstore.Ref, n)
	errs := make([]error, n)
	spool := t.TempDir()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			rec, err := blobstore.Receive(context.Background(), h.Store, bytes.NewReader(b), blobstore.ReceiveOptions{TempDir: spool})
			refs[i], errs[i] = rec.Ref, err
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("concurrent Receive %d: %v", i, errs[i])
		} else if refs[i] != blobstore.RefOf(b) {
			t.Errorf("concurrent Receive %d gave %s, want %s", i, refs[i], blobstore.RefOf(b))
		}
	}
	if got, _, err := readAll(t, h.Store, blobstore.RefOf(b)); err != nil || !bytes.Equal(got, b) {
		t.Errorf("reading after concurrent uploads: %d bytes, %v", len(got), err)
	}
	if entries, _ := os.ReadDir(spool); len(entries) > 0 {
		t.Errorf("concurrent Receives left %d spool files behind", len(entries))
	}
}

func testPing(t *testing.T, h Harness) {
	p, ok := h.Store.(blobstore.Pinger)
	if !ok {
		t.Skip("store does not implement blobstore.Pinger")
	}
	if err := p.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Ping(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Ping with a cancelled context: %v, want context.Canceled", err)
	}
}

// content returns n deterministic pseudo-random bytes for seed.
func content(seed uint64, n int) []byte {
	b, _ := io.ReadAll(newGen(seed, int64(n)))
	if b == nil {
		b = []byte{}
	}
	return b
}

// gen is a reader of n deterministic pseudo-random bytes (xorshift64*), so
// large contents need no memory. Its output does not depend on how the reads
// are split.
type gen struct {
	x    uint64
	word uint64
	used int // bytes of word already passed on; 8 means none left
	left int64
}

func newGen(seed uint64, n int64) *gen {
	return &gen{x: seed*0x9E3779B97F4A7C15 | 1, used: 8, left: n}
}

func (g *gen) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	i := 0
	for ; g.used < 8 && i < len(p); i++ { // the rest of the current word
		p[i] = byte(g.word >> (8 * g.used))
		g.used++
	}
	for ; i+8 <= len(p); i += 8 { // whole words
		binary.LittleEndian.PutUint64(p[i:], g.next())
	}
	for ; i < len(p); i++ { // the start of the next word
		if g.used == 8 {
			g.word = g.next()
			g.used = 0
		}
		p[i] = byte(g.word >> (8 * g.used))
		g.used++
	}
	g.left -= int64(len(p))
	return len(p), nil
}

func (g *gen) next() uint64 {
	g.x ^= g.x >> 12
	g.x ^= g.x << 25
	g.x ^= g.x >> 27
	return g.x * 0x2545F4914F6CDD1D
}

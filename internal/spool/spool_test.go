package spool

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
)

// TestConcurrent writes and reads texts at once (run it with
// -race): every text reads back as written, whether in the buffer or the
// file.
func TestConcurrent(t *testing.T) {
	f, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var refs []Ref
	var want []string
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		for i := range 3000 {
			s := fmt.Sprintf("%d:", i) + strings.Repeat("字", i%400)
			ref, err := f.Put([]byte(s))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			refs, want = append(refs, ref), append(want, s)
			mu.Unlock()
		}
	})
	check := func() {
		mu.Lock()
		rs, ws := refs, want
		mu.Unlock()
		for i := range rs {
			if got, err := f.Get(rs[i]); err != nil || string(got) != ws[i] {
				t.Fatalf("text %d: %.20q, %v", i, got, err)
			}
		}
	}
	for reading := true; reading; {
		select {
		case <-done:
			reading = false
		default:
		}
		check()
	}
	wg.Wait()
	check()
	if w, _ := f.Sizes(); w == 0 {
		t.Fatal("nothing was flushed to the file: the test reads only the buffer")
	}
}

// TestErrors: a string too long, a failed disk and a closed file are
// errors, never a wrong string.
func TestErrors(t *testing.T) {
	f, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Put(make([]byte, MaxLen+1)); !errors.Is(err, ErrTooLong) {
		t.Fatalf("Put of MaxLen+1 bytes: %v", err)
	}
	big := []byte(strings.Repeat("x", flushAt))
	r1, err := f.Put(big)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := f.Put([]byte("tail")) // flushes big to the file
	if err != nil {
		t.Fatal(err)
	}
	if w, b := f.Sizes(); w != flushAt || b != 4 {
		t.Fatalf("sizes %d, %d", w, b)
	}
	f.Fail(errors.New("disk full"))
	if _, err := f.Put([]byte("more")); err == nil || err.Error() != "disk full" {
		t.Fatalf("Put after Fail: %v", err)
	}
	if b, err := f.Get(r2); err != nil || string(b) != "tail" {
		t.Fatalf("Get of the buffered string after Fail: %q, %v", b, err)
	}
	f.Close()
	if b, err := f.Get(r1); err == nil {
		t.Fatalf("Get from a closed file: %d bytes, no error", len(b))
	}
	if _, err := New(t.TempDir() + "/missing"); err == nil {
		t.Fatal("New in a missing directory: no error")
	}
}

// TestClose: Close waits for the writes in progress, can be called again,
// and a Put after it fails; what was read before stays as it was.
func TestClose(t *testing.T) {
	f, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var refs []Ref
	chunk := []byte(strings.Repeat("字", 20000))
	for range 4 * inFlight * flushAt / len(chunk) {
		r, err := f.Put(chunk)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, r)
	}
	for _, r := range refs {
		if b, err := f.Get(r); err != nil || string(b) != string(chunk) {
			t.Fatalf("Get before Close: %d bytes, %v", len(b), err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := f.Put([]byte("x")); err == nil {
		t.Fatal("Put after Close: no error")
	}
}

// TestConcurrentPuts: several writers Put at once, so that Puts wait
// together for a write slot with full buffers; every string reads back as
// written, at once and once all is on disk.
func TestConcurrentPuts(t *testing.T) {
	f, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const writers, each = 8, 1500
	refs := make([][]Ref, writers)
	text := func(w, i int) string { return fmt.Sprintf("%d/%d:", w, i) + strings.Repeat("字", (w*31+i*7)%3000) }
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				ref, err := f.Put([]byte(text(w, i)))
				if err != nil {
					t.Error(err)
					return
				}
				refs[w] = append(refs[w], ref)
				if b, err := f.Get(ref); err != nil || string(b) != text(w, i) {
					t.Errorf("text %d/%d just put: %.20q, %v", w, i, b, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for w := range writers {
		for i, ref := range refs[w] {
			if b, err := f.Get(ref); err != nil || string(b) != text(w, i) {
				t.Fatalf("text %d/%d: %.20q, %v", w, i, b, err)
			}
		}
	}
}

// TestReopen: a named file keeps what was Put before a Sync across a
// Close and an Open at the length then, reads it back by its Refs and
// through Section, cuts off what came after (as a crash would leave it
// half written), and appends after it; Open refuses a file shorter than
// the length it is given.
func TestReopen(t *testing.T) {
	path := t.TempDir() + "/copy"
	f, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var refs []Ref
	var want []string
	for i := range 2000 { // several buffers' worth
		s := fmt.Sprintf("%d:%s", i, strings.Repeat("账", i%300))
		ref, err := f.Put([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		refs, want = append(refs, ref), append(want, s)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	written, buffered := f.Sizes()
	length := written + buffered
	if buffered != 0 {
		t.Errorf("Sync left %d bytes buffered", buffered)
	}
	if _, err := f.Put([]byte("after the sync")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	g, err := Open(path, length)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for i, r := range refs {
		b, err := g.Get(r)
		if err != nil || string(b) != want[i] {
			t.Fatalf("string %d after reopening: %q, %v", i, b, err)
		}
	}
	all, err := io.ReadAll(g.Section(0, length))
	if err != nil || string(all) != strings.Join(want, "") {
		t.Errorf("Section: %d bytes, %v; want the %d bytes put", len(all), err, length)
	}
	r, err := g.Put([]byte("next"))
	if err != nil || r.Off() != length {
		t.Errorf("Put after Open at %d: offset %d, %v", length, r.Off(), err)
	}
	if b, err := g.Get(r); err != nil || string(b) != "next" {
		t.Errorf("Get after Open: %q, %v", b, err)
	}
	if MakeRef(r.Off(), r.Len()) != r {
		t.Errorf("MakeRef(Off, Len) is not the Ref")
	}
	if _, err := Open(path, length+1<<20); err == nil {
		t.Errorf("Open past the file's end succeeded")
	}
	if _, err := Open(t.TempDir()+"/none", 0); err == nil {
		t.Errorf("Open of a missing file succeeded")
	}
}

// Package spool is an append-only file of byte strings: a cache, out of
// the Go heap, of what the ledger holds (the archive's item bodies, the
// chains' stored messages). A File made by New is unlinked as soon as it
// is made, so it lives as long as the File that writes it (the os.File's
// finalizer, or Close, closes it), takes no name in its directory and is
// never read by another process; its contents are rebuilt from the ledger
// at every start. A File made by Create or reopened by Open has a name
// and outlives the process: what it holds up to a length its owner
// recorded after Sync is there at the next start.
package spool

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// Ref names a string in a File: its offset and length packed in one word.
type Ref uint64

// lenBits is how many bits of a Ref hold the length.
const lenBits = 24

// MaxLen is the longest string a File holds.
const MaxLen = 1<<lenBits - 1

// ErrTooLong is the error of Put for a string longer than MaxLen.
var ErrTooLong = errors.New("longer than a spool holds")

// flushAt is how much Put buffers before it writes; inFlight is how many
// buffers may be being written at once, each by a goroutine of its own,
// so that a Put that fills a buffer hands it over and goes on.
const (
	flushAt  = 256 << 10
	inFlight = 4
)

// File is an append-only spool file. Writes are buffered and done in the
// background; a string is wholly in the current buffer, in one being
// written, or in the file. Put and Get may be called concurrently.
type File struct {
	mu      sync.Mutex
	f       *os.File
	end     int64   // offset of buf's first byte: every byte before it is written or being written
	buf     []byte  // the bytes from end on
	writing []chunk // buffers being written
	free    [][]byte
	slots   chan struct{} // one token a buffer being written
	done    chan struct{} // closed by Close
	closed  bool
	err     error // the first write error; every later Put fails with it
}

// chunk is a buffer being written at off.
type chunk struct {
	off int64
	b   []byte
}

// New makes an unlinked spool file in dir ("" for the system's temporary
// directory).
func New(dir string) (*File, error) {
	f, err := os.CreateTemp(dir, "taizhang-spool-*")
	if err != nil {
		return nil, fmt.Errorf("make a spool file: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("unlink a spool file: %w", err)
	}
	return newFile(f, 0), nil
}

func newFile(f *os.File, end int64) *File {
	return &File{f: f, end: end, buf: make([]byte, 0, flushAt), slots: make(chan struct{}, inFlight), done: make(chan struct{})}
}

// Create makes the spool file path, empty (truncating one already there),
// mode 0600.
func Create(path string) (*File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("make a spool file: %w", err)
	}
	return newFile(f, 0), nil
}

// Open reopens the spool file path for appending after its first length
// bytes, which a Sync had made durable; anything after them (writes a
// crash left half done) is cut off. It fails if the file is shorter than
// length.
func Open(path string, length int64) (*File, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open a spool file: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() < length {
		err = fmt.Errorf("%s holds %d bytes, fewer than the %d recorded", path, fi.Size(), length)
	}
	if err == nil && fi.Size() > length {
		err = f.Truncate(length)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open a spool file: %w", err)
	}
	return newFile(f, length), nil
}

// MakeRef returns the Ref of the n bytes at off (n at most MaxLen).
func MakeRef(off int64, n int) Ref { return Ref(uint64(off)<<lenBits | uint64(n)) }

// Off returns the offset of the string at r.
func (r Ref) Off() int64 { return int64(r >> lenBits) }

// Put appends b and returns its Ref. It does not keep b. It fails with
// ErrTooLong for a b longer than MaxLen, and with the first write error
// the file met, for good, after one.
func (s *File) Put(b []byte) (Ref, error) {
	if len(b) > MaxLen {
		return 0, fmt.Errorf("spool %d bytes: %w", len(b), ErrTooLong)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return 0, s.err
	}
	if len(s.buf)+len(b) > flushAt && len(s.buf) > 0 && !s.flushLocked() {
		return 0, s.err
	}
	off := s.end + int64(len(s.buf))
	s.buf = append(s.buf, b...)
	return MakeRef(off, len(b)), nil
}

// flushLocked hands the buffer to a writer goroutine, waiting for a slot
// if inFlight are being written; s.mu is held. It reports false if the
// file was closed meanwhile.
func (s *File) flushLocked() bool {
	s.mu.Unlock()
	select {
	case s.slots <- struct{}{}:
	case <-s.done:
		s.mu.Lock()
		return false
	}
	s.mu.Lock()
	if len(s.buf) == 0 {
		// Another Put flushed the buffer while this one waited: nothing to
		// write (an empty chunk would share its offset with the next one,
		// and its write would take that one out of writing before it is
		// on disk).
		<-s.slots
		return true
	}
	c := chunk{s.end, s.buf}
	s.writing = append(s.writing, c)
	s.end += int64(len(s.buf))
	if n := len(s.free); n > 0 {
		s.buf, s.free = s.free[n-1], s.free[:n-1]
	} else {
		s.buf = make([]byte, 0, flushAt)
	}
	go s.write(c)
	return true
}

// write writes c, then lets Get read it from the file.
func (s *File) write(c chunk) {
	_, err := s.f.WriteAt(c.b, c.off)
	if err == nil {
		startWriteback(s.f, c.off, int64(len(c.b)))
	}
	s.mu.Lock()
	if err != nil {
		if s.err == nil {
			s.err = fmt.Errorf("write a spool file: %w", err)
		}
		// c stays in writing: what Put returned for it is still read from
		// memory.
	} else {
		for i := range s.writing {
			if s.writing[i].off == c.off {
				s.writing = append(s.writing[:i], s.writing[i+1:]...)
				break
			}
		}
		s.free = append(s.free, c.b[:0])
	}
	s.mu.Unlock()
	<-s.slots
}

// Len returns the length of the string at r.
func (r Ref) Len() int { return int(r & MaxLen) }

// Get returns a new copy of the string at r, which Put returned.
func (s *File) Get(r Ref) ([]byte, error) {
	off, n := r.Off(), int64(r.Len())
	s.mu.Lock()
	if off >= s.end {
		b := append([]byte(nil), s.buf[off-s.end:off-s.end+n]...)
		s.mu.Unlock()
		return b, nil
	}
	for _, c := range s.writing {
		if off >= c.off && off < c.off+int64(len(c.b)) {
			b := append([]byte(nil), c.b[off-c.off:off-c.off+n]...)
			s.mu.Unlock()
			return b, nil
		}
	}
	s.mu.Unlock()
	b := make([]byte, n) // written: the file never changes there, read unlocked
	if _, err := s.f.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("read a spool file at %d: %w", off, err)
	}
	return b, nil
}

// Close waits for the writes in progress and closes the file; later
// Gets of what it wrote fail, and later Puts.
func (s *File) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.err == nil {
		s.err = errors.New("spool file closed")
	}
	close(s.done)
	s.mu.Unlock()
	for range inFlight {
		s.slots <- struct{}{}
	}
	return s.f.Close()
}

// Sync writes out everything Put so far and makes it durable (fsync):
// after it returns nil, every string Put before the call is on disk, to be
// found by Open at the next start. It fails with the file's first write
// error. Sync must not be called concurrently with Close.
func (s *File) Sync() error {
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return err
	}
	if len(s.buf) > 0 && !s.flushLocked() {
		err := s.err
		s.mu.Unlock()
		return err
	}
	s.mu.Unlock()
	// Holding every slot means no buffer is being written: every write
	// handed over before is done.
	for range inFlight {
		s.slots <- struct{}{}
	}
	for range inFlight {
		<-s.slots
	}
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("sync a spool file: %w", err)
	}
	return nil
}

// Section returns a reader of the file's bytes from off to off+n, which
// must all have been written (below the length the File was opened at,
// or made durable by Sync).
func (s *File) Section(off, n int64) *io.SectionReader { return io.NewSectionReader(s.f, off, n) }

// Fail makes every later Put fail with err (for tests of what a full disk
// does).
func (s *File) Fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

// Sizes returns the bytes handed to the file (written or being written)
// and those still buffered.
func (s *File) Sizes() (written, buffered int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.end, int64(len(s.buf))
}

// Package spool is an append-only file of byte strings that a process
// keeps for itself: a cache, out of the Go heap, of what the ledger holds
// (the archive's item bodies, the chains' stored messages). The file is
// unlinked as soon as it is made, so it lives as long as the File that
// writes it (the os.File's finalizer, or Close, closes it), takes no name
// in its directory and is never read by another process. Its contents are
// rebuilt from the ledger at every start.
package spool

import (
	"errors"
	"fmt"
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

// flushAt is how much Put buffers before it writes.
const flushAt = 256 << 10

// File is an append-only spool file. Writes are buffered; a string is
// either wholly in the file (offset below size) or wholly in the buffer.
// Put and Get may be called concurrently.
type File struct {
	mu   sync.Mutex
	f    *os.File
	size int64  // bytes written to f
	buf  []byte // the bytes after size, not yet written
	err  error  // the first write error; every later Put fails with it
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
	return &File{f: f, buf: make([]byte, 0, flushAt)}, nil
}

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
	if len(s.buf)+len(b) > flushAt {
		if _, err := s.f.WriteAt(s.buf, s.size); err != nil {
			s.err = fmt.Errorf("write a spool file: %w", err)
			return 0, s.err
		}
		s.size += int64(len(s.buf))
		s.buf = s.buf[:0]
	}
	off := s.size + int64(len(s.buf))
	s.buf = append(s.buf, b...)
	return Ref(uint64(off)<<lenBits | uint64(len(b))), nil
}

// Len returns the length of the string at r.
func (r Ref) Len() int { return int(r & MaxLen) }

// Get returns a new copy of the string at r, which Put returned.
func (s *File) Get(r Ref) ([]byte, error) {
	off, n := int64(r>>lenBits), r.Len()
	s.mu.Lock()
	if off >= s.size {
		b := append([]byte(nil), s.buf[off-s.size:off-s.size+int64(n)]...)
		s.mu.Unlock()
		return b, nil
	}
	s.mu.Unlock()
	b := make([]byte, n) // below size the file never changes: read unlocked
	if _, err := s.f.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("read a spool file at %d: %w", off, err)
	}
	return b, nil
}

// Close closes the file; later Gets of what it wrote fail, and later Puts.
func (s *File) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = errors.New("spool file closed")
	}
	return s.f.Close()
}

// Fail makes every later Put fail with err (for tests of what a full disk
// does).
func (s *File) Fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

// Sizes returns the bytes written to the file and those still buffered.
func (s *File) Sizes() (written, buffered int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size, int64(len(s.buf))
}

package projections

import (
	"fmt"
	"os"
	"sync"
)

// text is an item's body: held in s, or, when f is set, kept out of the
// Go heap in f at ref. The archive holds every item of the ledger; bodies
// are most of its bytes and are read only when a page or an answer shows
// an item, so a Live archive keeps them on disk (SpoolTexts).
type text struct {
	f   *textFile // nil: the text is s
	ref uint64    // offset<<textLenBits | length, when f is set
	s   string
}

// textLenBits is how many bits of a ref hold the length: bodies are at most
// events.MaxBodyLen characters (80 KB of UTF-8); longer texts stay in
// memory.
const textLenBits = 24

// get returns the text.
func (t text) get() (string, error) {
	if t.f == nil {
		return t.s, nil
	}
	return t.f.get(t.ref)
}

// textFile is an append-only file of texts, unlinked as soon as it is
// made: it lives as long as the archive that writes it (the os.File's
// finalizer closes it) and is never read by another process. It is a
// cache of what the ledger holds, rebuilt with the archive at every start.
//
// Writes are buffered; a text is either wholly in the file (offset below
// size) or wholly in the buffer. put and get may run concurrently.
type textFile struct {
	mu   sync.Mutex
	f    *os.File
	size int64  // bytes written to f
	buf  []byte // the bytes after size, not yet written
	err  error  // the first write error; every later put fails with it
}

// textFlush is how much put buffers before it writes.
const textFlush = 256 << 10

// newTextFile makes an unlinked text file in dir ("" for the system's
// temporary directory).
func newTextFile(dir string) (*textFile, error) {
	f, err := os.CreateTemp(dir, "taizhang-texts-*")
	if err != nil {
		return nil, fmt.Errorf("make the archive's text file: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("unlink the archive's text file: %w", err)
	}
	return &textFile{f: f, buf: make([]byte, 0, textFlush)}, nil
}

// put stores s and returns its text. Empty and very long texts are held
// in memory. put does not keep s.
func (t *textFile) put(s []byte) (text, error) {
	if len(s) == 0 || len(s) >= 1<<textLenBits {
		return text{s: string(s)}, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return text{}, t.err
	}
	if len(t.buf)+len(s) > textFlush {
		if _, err := t.f.WriteAt(t.buf, t.size); err != nil {
			t.err = fmt.Errorf("write the archive's text file: %w", err)
			return text{}, t.err
		}
		t.size += int64(len(t.buf))
		t.buf = t.buf[:0]
	}
	off := t.size + int64(len(t.buf))
	t.buf = append(t.buf, s...)
	return text{f: t, ref: uint64(off)<<textLenBits | uint64(len(s))}, nil
}

// get reads the text at ref.
func (t *textFile) get(ref uint64) (string, error) {
	off, n := int64(ref>>textLenBits), int(ref&(1<<textLenBits-1))
	t.mu.Lock()
	if off >= t.size {
		s := string(t.buf[off-t.size : off-t.size+int64(n)])
		t.mu.Unlock()
		return s, nil
	}
	t.mu.Unlock()
	b := make([]byte, n) // below size the file never changes: read unlocked
	if _, err := t.f.ReadAt(b, off); err != nil {
		return "", fmt.Errorf("read the archive's text file at %d: %w", off, err)
	}
	return string(b), nil
}

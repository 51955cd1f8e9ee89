// Package blobstore holds attachment bytes by content address: every blob is
// stored under the SHA-256 digest of its bytes (a Ref), so the same bytes are
// one object however often they are uploaded, and a reader can always tell
// whether what it got is what was stored. The package defines the small Store
// interface that the backends beneath it implement (blobstore/dir for a local
// directory, blobstore/minio for MinIO and other S3 servers), the errors they
// report, and the two functions through which bytes enter and leave: Receive,
// the one place digests are computed on the way in, and Open, the one place
// they are checked on the way out. It holds bytes, not meaning: media types,
// names and metadata belong to the events that reference a blob.
package blobstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
)

// Errors reported by this package and by every Store implementation. They are
// wrapped with detail; test for them with errors.Is.
var (
	// ErrNotFound means no blob is stored under the digest.
	ErrNotFound = errors.New("blobstore: blob not found")
	// ErrCorrupt means the stored bytes do not match their digest or their
	// recorded size.
	ErrCorrupt = errors.New("blobstore: stored blob is corrupt")
	// ErrTooLarge means an upload went over the size limit it was given.
	ErrTooLarge = errors.New("blobstore: blob too large")
	// ErrInvalidRef means a string is not a digest in canonical form, or a
	// Ref is the zero Ref where a digest is required.
	ErrInvalidRef = errors.New("blobstore: invalid blob reference")
	// ErrUnavailable means the backend could not be reached or could not
	// serve the request for now (connection refused or reset, timeouts, 5xx
	// answers). The request may succeed later; an HTTP layer answers 503.
	ErrUnavailable = errors.New("blobstore: backend unavailable")
)

// RefLen is the length in bytes of a digest; a Ref's string form is twice as
// long.
const RefLen = sha256.Size

// HeadLen is how many leading bytes Receive keeps in Received.Head, the
// amount http.DetectContentType looks at.
const HeadLen = 512

// Ref is the SHA-256 digest of a blob's bytes, its content address. Refs are
// comparable and can be used as map keys. The zero Ref means "no blob": no
// bytes hash to it, and Stores reject it with ErrInvalidRef.
type Ref struct{ d [RefLen]byte }

// RefOf returns the digest of b. It is meant for small in-memory values; a
// stream is digested by Receive.
func RefOf(b []byte) Ref { return Ref{d: sha256.Sum256(b)} }

// RefFromHash returns the Ref for a finished SHA-256 sum, as returned by
// hash.Hash.Sum(nil) of a crypto/sha256 hash. It panics if sum is not exactly
// RefLen bytes long, which can only be a programming error.
func RefFromHash(sum []byte) Ref {
	if len(sum) != RefLen {
		panic(fmt.Sprintf("blobstore: RefFromHash: sum has %d bytes, want %d", len(sum), RefLen))
	}
	var r Ref
	copy(r.d[:], sum)
	return r
}

// ParseRef parses the canonical string form of a digest: exactly 64 lowercase
// hexadecimal characters. Anything else, including uppercase hex, returns an
// error wrapping ErrInvalidRef, so every digest has exactly one spelling.
func ParseRef(s string) (Ref, error) {
	if len(s) != 2*RefLen {
		return Ref{}, fmt.Errorf("%w: %q has %d characters, want %d", ErrInvalidRef, truncate(s), len(s), 2*RefLen)
	}
	var r Ref
	for i := 0; i < len(s); i++ {
		c := s[i]
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		default:
			return Ref{}, fmt.Errorf("%w: %q: character %d is not lowercase hex", ErrInvalidRef, truncate(s), i)
		}
		// Decoded here rather than by hex.Decode, whose []byte(s) would
		// allocate: the archive parses every attachment's digest at start.
		r.d[i/2] |= v << (4 * (1 - i%2))
	}
	return r, nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// String returns the digest as 64 lowercase hexadecimal characters, the form
// ParseRef accepts and the form used in object names and file paths.
func (r Ref) String() string { return hex.EncodeToString(r.d[:]) }

// IsZero reports whether r is the zero Ref, which stands for "no blob".
func (r Ref) IsZero() bool { return r == Ref{} }

// Bytes returns a copy of the 32 digest bytes.
func (r Ref) Bytes() []byte { return bytes.Clone(r.d[:]) }

// MarshalText encodes r as its String form, so that a Ref is a hex string in
// JSON. It never fails.
func (r Ref) MarshalText() ([]byte, error) {
	b := make([]byte, 2*RefLen)
	hex.Encode(b, r.d[:])
	return b, nil
}

// UnmarshalText decodes the String form with ParseRef; on error (wrapping
// ErrInvalidRef) r is left unchanged.
func (r *Ref) UnmarshalText(text []byte) error {
	p, err := ParseRef(string(text))
	if err != nil {
		return err
	}
	*r = p
	return nil
}

// Info describes a stored blob: its digest and the size of the stored object
// in bytes.
type Info struct {
	Ref  Ref
	Size int64
}

// Store is a content-addressed blob store. Implementations only move bytes:
// they never compute or check digests (Receive and Open do that), and they
// name objects only by the hex form of the digest. All methods honour ctx
// cancellation, return errors wrapping ErrInvalidRef for the zero Ref, and
// wrap backend outages with ErrUnavailable. They are safe for concurrent use.
type Store interface {
	// Put stores exactly size bytes read from r under ref. The caller
	// guarantees that those bytes hash to ref. If an object of that size is
	// already stored under ref, Put may return nil without reading r: same
	// bytes, one object. A reader that ends before size bytes is an error,
	// and nothing is stored. Concurrent Puts of the same ref are safe.
	Put(ctx context.Context, ref Ref, size int64, r io.Reader) error
	// Get returns the stored bytes, unverified, and the stored size; the
	// caller must close the reader. An unknown ref returns ErrNotFound. Use
	// Open to read with verification.
	Get(ctx context.Context, ref Ref) (io.ReadCloser, int64, error)
	// Stat returns the stored size of ref, or ErrNotFound.
	Stat(ctx context.Context, ref Ref) (Info, error)
}

// Pinger is implemented by Stores that can check that their backend is
// reachable and usable, for a health check. Ping returns nil when it is, and
// an error (wrapping ErrUnavailable when the backend cannot be reached)
// otherwise.
type Pinger interface {
	Ping(ctx context.Context) error
}

// ReceiveOptions tune Receive. The zero value is usable.
type ReceiveOptions struct {
	// TempDir is where the upload is spooled; os.TempDir() when empty.
	TempDir string
	// MaxSize, when positive, is the largest accepted upload in bytes.
	MaxSize int64
	// Inspect, when non-nil, is called with the complete spooled content
	// after it has been hashed and before it is stored; an error aborts the
	// upload and is returned (wrapped) by Receive. Inspect must not keep f
	// after it returns.
	Inspect func(f io.ReaderAt, size int64) error
}

// Received describes a blob that Receive stored.
type Received struct {
	Ref  Ref
	Size int64
	// Head holds the first HeadLen bytes (fewer if the blob is shorter), for
	// content sniffing.
	Head []byte
}

// chunkSize is the unit in which Receive and Open move bytes and check ctx.
const chunkSize = 64 << 10

// Receive streams r into s under the SHA-256 digest of its bytes and reports
// the digest, the size and the first bytes. It is the one place where digests
// are computed on the way in.
//
// The content is spooled to a temporary file in opt.TempDir while it is
// hashed and counted, never held in memory whole; then opt.Inspect (if any)
// sees the spooled file, and s.Put stores it from the rewound file (an
// *os.File, so backends can read parts of it at offsets). The spool file is
// removed before Receive returns, whatever the outcome.
//
// Errors: more than opt.MaxSize bytes (when MaxSize > 0) wraps ErrTooLarge,
// and reading stops there; a cancelled or expired ctx, checked between
// chunks, wraps ctx.Err(); errors from r, from Inspect and from s.Put are
// wrapped as they are (so ErrUnavailable and context errors stay visible).
// When Receive fails before calling Put, nothing is stored.
//
// If a copy of the same size was already stored, Put does not write it
// again, and Receive re-reads and re-hashes that copy instead: a damaged one
// fails with an error wrapping ErrCorrupt, so that no new reference points at
// it (an operator restores it; a copy of another size is simply replaced).
func Receive(ctx context.Context, s Store, r io.Reader, opt ReceiveOptions) (Received, error) {
	if err := ctx.Err(); err != nil {
		return Received{}, fmt.Errorf("blobstore: receive: %w", err)
	}
	dir := opt.TempDir
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, "blobstore-receive-*.spool")
	if err != nil {
		return Received{}, fmt.Errorf("blobstore: receive: creating spool file: %w", err)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()

	h := sha256.New()
	head := make([]byte, 0, HeadLen)
	size, err := spool(ctx, f, h, &head, r, opt.MaxSize)
	if err != nil {
		return Received{}, err
	}
	rec := Received{Ref: RefFromHash(h.Sum(nil)), Size: size, Head: head}

	if opt.Inspect != nil {
		if err := opt.Inspect(f, size); err != nil {
			return Received{}, fmt.Errorf("blobstore: receive: inspect: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return Received{}, fmt.Errorf("blobstore: receive: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Received{}, fmt.Errorf("blobstore: receive: rewinding spool file: %w", err)
	}
	// A copy of the same size already stored is not written again; it is
	// re-read and re-hashed instead, so that a new reference never points
	// at a damaged copy.
	existing, statErr := s.Stat(ctx, rec.Ref)
	if statErr != nil && !errors.Is(statErr, ErrNotFound) {
		return Received{}, fmt.Errorf("blobstore: receive: %w", statErr)
	}
	if err := s.Put(ctx, rec.Ref, size, f); err != nil {
		return Received{}, fmt.Errorf("blobstore: receive: storing %s: %w", rec.Ref, err)
	}
	if statErr == nil && existing.Size == size {
		if _, err := Verify(ctx, s, rec.Ref); err != nil {
			return Received{}, fmt.Errorf("blobstore: receive: the stored copy of %s is damaged and was not replaced (restore it, then retry): %w", rec.Ref, err)
		}
	}
	return rec, nil
}

// spool copies r to f and h, keeping the first bytes in head, and returns the
// number of bytes copied.
func spool(ctx context.Context, f *os.File, h hash.Hash, head *[]byte, r io.Reader, maxSize int64) (int64, error) {
	buf := make([]byte, chunkSize)
	var size int64
	for {
		if err := ctx.Err(); err != nil {
			return size, fmt.Errorf("blobstore: receive: %w", err)
		}
		n, rerr := r.Read(buf)
		if n > 0 {
			size += int64(n)
			if maxSize > 0 && size > maxSize {
				return size, fmt.Errorf("blobstore: receive: %w: more than %d bytes", ErrTooLarge, maxSize)
			}
			chunk := buf[:n]
			if room := HeadLen - len(*head); room > 0 {
				*head = append(*head, chunk[:min(room, n)]...)
			}
			h.Write(chunk)
			if _, err := f.Write(chunk); err != nil {
				return size, fmt.Errorf("blobstore: receive: writing spool file: %w", err)
			}
		}
		if rerr == io.EOF {
			return size, nil
		}
		if rerr != nil {
			return size, fmt.Errorf("blobstore: receive: reading upload: %w", rerr)
		}
	}
}

// Open returns a reader over the blob stored under ref, and its stored size.
// It is the one place where digests are checked on the way out: the reader
// hashes what it passes on, and at the end returns an error wrapping
// ErrCorrupt instead of io.EOF if the bytes do not hash to ref or their number
// differs from the stored size (a stream longer than the stored size fails as
// soon as it overruns). A reader that ends with io.EOF has therefore served
// exactly the stored blob. The caller must close the reader.
//
// Bytes are passed on before the end is reached, so a consumer that must not
// emit any corrupt byte either calls Verify first or aborts its output when
// the reader fails (an HTTP handler panics with http.ErrAbortHandler, so the
// client sees a broken response rather than a complete one).
//
// Errors: an unknown ref wraps ErrNotFound, the zero Ref ErrInvalidRef; a
// cancelled ctx fails Open, or any later Read, with ctx.Err(); backend errors
// are wrapped as they are.
func Open(ctx context.Context, s Store, ref Ref) (io.ReadCloser, Info, error) {
	if ref.IsZero() {
		return nil, Info{}, fmt.Errorf("blobstore: open: %w: zero ref", ErrInvalidRef)
	}
	if err := ctx.Err(); err != nil {
		return nil, Info{}, fmt.Errorf("blobstore: open %s: %w", ref, err)
	}
	rc, size, err := s.Get(ctx, ref)
	if err != nil {
		return nil, Info{}, fmt.Errorf("blobstore: open %s: %w", ref, err)
	}
	return &verifier{ctx: ctx, rc: rc, ref: ref, size: size, h: sha256.New()}, Info{Ref: ref, Size: size}, nil
}

// verifier hashes and counts the bytes it passes on and checks them at the
// end against ref and size.
type verifier struct {
	ctx  context.Context
	rc   io.ReadCloser
	ref  Ref
	size int64
	n    int64
	h    hash.Hash
	err  error // sticky
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if err := v.ctx.Err(); err != nil {
		v.err = fmt.Errorf("blobstore: reading %s: %w", v.ref, err)
		return 0, v.err
	}
	n, err := v.rc.Read(p)
	if n > 0 {
		if v.n+int64(n) > v.size {
			// Pass on only what fits the stored size; the rest is the
			// overrun that proves the stream wrong.
			n = int(v.size - v.n)
			v.h.Write(p[:n])
			v.n += int64(n)
			v.err = fmt.Errorf("blobstore: reading %s: %w: stream is longer than the stored size %d", v.ref, ErrCorrupt, v.size)
			return n, v.err
		}
		v.h.Write(p[:n])
		v.n += int64(n)
	}
	switch {
	case err == io.EOF:
		v.err = v.check()
		return n, v.err
	case err != nil:
		v.err = fmt.Errorf("blobstore: reading %s: %w", v.ref, err)
		return n, v.err
	}
	return n, nil
}

// check is called at the end of the stream and returns io.EOF if it carried
// the stored blob, or an error wrapping ErrCorrupt.
func (v *verifier) check() error {
	if v.n != v.size {
		return fmt.Errorf("blobstore: reading %s: %w: stream ended after %d of %d bytes", v.ref, ErrCorrupt, v.n, v.size)
	}
	if got := RefFromHash(v.h.Sum(nil)); got != v.ref {
		return fmt.Errorf("blobstore: reading %s: %w: stored bytes hash to %s", v.ref, ErrCorrupt, got)
	}
	return io.EOF
}

func (v *verifier) Close() error { return v.rc.Close() }

// Verify reads the whole blob stored under ref through Open and reports
// whether it is intact: nil and its Info when it is, an error wrapping
// ErrCorrupt when the bytes do not match their digest or size, ErrNotFound
// when nothing is stored under ref, or the backend's or ctx's error.
func Verify(ctx context.Context, s Store, ref Ref) (Info, error) {
	rc, info, err := Open(ctx, s, ref)
	if err != nil {
		return Info{}, err
	}
	defer rc.Close()
	buf := make([]byte, chunkSize)
	for {
		_, err := rc.Read(buf)
		if err == io.EOF {
			return info, nil
		}
		if err != nil {
			return Info{}, err
		}
	}
}

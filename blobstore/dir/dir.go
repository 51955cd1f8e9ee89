// Package dir is the blobstore.Store kept in a local directory, the embedded
// default. A blob lives in root/sha256/<first two hex digits>/<64 hex digits>,
// read-only (mode 0444); it is written to a temporary file under root/tmp,
// synced, and renamed into place, and the directory is synced, so a stored
// blob survives a crash of the process or the machine and a reader never sees
// a partial one. Nothing but the hex digest ever becomes a path component.
package dir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"taizhang/blobstore"
)

// Store is a blobstore.Store and blobstore.Pinger over a local directory. It
// is safe for concurrent use, also by several processes sharing the
// directory.
type Store struct {
	root    string // absolute
	objects string // root/sha256
	tmp     string // root/tmp
}

var (
	_ blobstore.Store  = (*Store)(nil)
	_ blobstore.Pinger = (*Store)(nil)
)

// New opens the store in root, creating root, root/sha256 and root/tmp (mode
// 0755) if they do not exist. It returns an error if root cannot be created
// or is not a directory.
//
// Temporary files that a crash left in root/tmp are not removed: they are
// harmless, and another process may be writing them.
func New(root string) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("blobstore/dir: %w", err)
	}
	s := &Store{root: abs, objects: filepath.Join(abs, "sha256"), tmp: filepath.Join(abs, "tmp")}
	for _, d := range []string{s.objects, s.tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("blobstore/dir: creating %s: %w", d, err)
		}
	}
	return s, nil
}

// Root returns the absolute directory of the store.
func (s *Store) Root() string { return s.root }

// Path returns the file in which ref is (or would be) stored. It is meant for
// tests and operators; the file must not be written.
func (s *Store) Path(ref blobstore.Ref) string {
	h := ref.String()
	return filepath.Join(s.objects, h[:2], h)
}

func checkRef(op string, ref blobstore.Ref) error {
	if ref.IsZero() {
		return fmt.Errorf("blobstore/dir: %s: %w: zero ref", op, blobstore.ErrInvalidRef)
	}
	return nil
}

// Put stores exactly size bytes from r under ref, as the blobstore.Store
// contract says. If a file of that size is already stored under ref it
// returns nil without reading r; a stored file of another size (a damaged
// copy) is replaced. Errors: ctx's error if it is cancelled while copying;
// an error wrapping io.ErrUnexpectedEOF if r ends before size bytes; file
// system errors. On error nothing is left behind, neither a partial blob nor
// a temporary file.
func (s *Store) Put(ctx context.Context, ref blobstore.Ref, size int64, r io.Reader) (err error) {
	if err := checkRef("put", ref); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("blobstore/dir: put %s: negative size %d", ref, size)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blobstore/dir: put %s: %w", ref, err)
	}
	final := s.Path(ref)
	if fi, err := os.Stat(final); err == nil && fi.Mode().IsRegular() && fi.Size() == size {
		return nil
	}

	f, err := os.CreateTemp(s.tmp, ref.String()+".*.tmp")
	if err != nil {
		return fmt.Errorf("blobstore/dir: put %s: %w", ref, err)
	}
	tmpName := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmpName)
		}
	}()

	n, err := io.CopyN(f, &ctxReader{ctx: ctx, r: r}, size)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("blobstore/dir: put %s: got %d of %d bytes: %w", ref, n, size, err)
	}
	if err = f.Chmod(0o444); err != nil {
		return fmt.Errorf("blobstore/dir: put %s: %w", ref, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("blobstore/dir: put %s: sync: %w", ref, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("blobstore/dir: put %s: %w", ref, err)
	}
	if err = ctx.Err(); err != nil {
		return fmt.Errorf("blobstore/dir: put %s: %w", ref, err)
	}
	fan := filepath.Dir(final)
	if err = s.mkdirSynced(fan); err != nil {
		return fmt.Errorf("blobstore/dir: put %s: %w", ref, err)
	}
	if err = os.Rename(tmpName, final); err != nil {
		return fmt.Errorf("blobstore/dir: put %s: %w", ref, err)
	}
	if err = syncDir(fan); err != nil {
		return fmt.Errorf("blobstore/dir: put %s: sync directory: %w", ref, err)
	}
	return nil
}

// mkdirSynced creates the fan-out directory d (a child of s.objects) if it is
// missing, and syncs s.objects so that the new entry is durable.
func (s *Store) mkdirSynced(d string) error {
	if fi, err := os.Stat(d); err == nil && fi.IsDir() {
		return nil
	}
	if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(s.objects)
}

func syncDir(d string) error {
	f, err := os.Open(d)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Get opens the file stored under ref and returns it with its size; the
// bytes are not verified (see blobstore.Open). Errors: ErrNotFound if nothing
// is stored under ref, ctx's error if it is already cancelled, file system
// errors.
func (s *Store) Get(ctx context.Context, ref blobstore.Ref) (io.ReadCloser, int64, error) {
	if err := checkRef("get", ref); err != nil {
		return nil, 0, err
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("blobstore/dir: get %s: %w", ref, err)
	}
	f, err := os.Open(s.Path(ref))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("blobstore/dir: get %s: %w", ref, blobstore.ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("blobstore/dir: get %s: %w", ref, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("blobstore/dir: get %s: %w", ref, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("blobstore/dir: get %s: %s is not a regular file", ref, f.Name())
	}
	return f, fi.Size(), nil
}

// Stat returns the size of the file stored under ref. Errors: ErrNotFound if
// nothing is stored under ref, ctx's error if it is already cancelled, file
// system errors.
func (s *Store) Stat(ctx context.Context, ref blobstore.Ref) (blobstore.Info, error) {
	if err := checkRef("stat", ref); err != nil {
		return blobstore.Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return blobstore.Info{}, fmt.Errorf("blobstore/dir: stat %s: %w", ref, err)
	}
	fi, err := os.Stat(s.Path(ref))
	if errors.Is(err, fs.ErrNotExist) {
		return blobstore.Info{}, fmt.Errorf("blobstore/dir: stat %s: %w", ref, blobstore.ErrNotFound)
	}
	if err != nil {
		return blobstore.Info{}, fmt.Errorf("blobstore/dir: stat %s: %w", ref, err)
	}
	if !fi.Mode().IsRegular() {
		return blobstore.Info{}, fmt.Errorf("blobstore/dir: stat %s: %s is not a regular file", ref, s.Path(ref))
	}
	return blobstore.Info{Ref: ref, Size: fi.Size()}, nil
}

// Ping checks that the store's directories exist and that a file can be
// created in root/tmp. It returns ctx's error if ctx is cancelled, or the file
// system error.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blobstore/dir: ping: %w", err)
	}
	if fi, err := os.Stat(s.objects); err != nil {
		return fmt.Errorf("blobstore/dir: ping: %w", err)
	} else if !fi.IsDir() {
		return fmt.Errorf("blobstore/dir: ping: %s is not a directory", s.objects)
	}
	f, err := os.CreateTemp(s.tmp, "ping.*.tmp")
	if err != nil {
		return fmt.Errorf("blobstore/dir: ping: %w", err)
	}
	f.Close()
	if err := os.Remove(f.Name()); err != nil {
		return fmt.Errorf("blobstore/dir: ping: %w", err)
	}
	return nil
}

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

package dir_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"taizhang/blobstore"
	"taizhang/blobstore/dir"
	"taizhang/blobstore/storagetest"
)

func open(t *testing.T) *dir.Store {
	t.Helper()
	s, err := dir.New(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storagetest.Harness {
		s := open(t)
		return storagetest.Harness{Store: s, Corrupt: func(ref blobstore.Ref) error {
			return corrupt(s.Path(ref))
		}}
	})
}

// corrupt flips a byte of the file behind the store's back (or appends one
// to an empty file), keeping its read-only mode.
func corrupt(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(b) == 0 {
		b = []byte{0}
	} else {
		b[len(b)/2] ^= 0x01
	}
	if err := os.Chmod(path, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return err
	}
	return os.Chmod(path, 0o444)
}

// files lists the regular files under root/sub, relative to root.
func files(t *testing.T, root, sub string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(root, sub), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLayoutAndMode(t *testing.T) {
	s := open(t)
	b := []byte("a photo of the village notice board")
	rec, err := blobstore.Receive(context.Background(), s, bytes.NewReader(b), blobstore.ReceiveOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	h := rec.Ref.String()
	want := filepath.Join(s.Root(), "sha256", h[:2], h)
	if s.Path(rec.Ref) != want {
		t.Errorf("Path = %s, want %s", s.Path(rec.Ref), want)
	}
	fi, err := os.Stat(want)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o444 {
		t.Errorf("stored file mode = %v, want 0444", fi.Mode().Perm())
	}
	if got, err := os.ReadFile(want); err != nil || !bytes.Equal(got, b) {
		t.Errorf("stored file holds %q, %v", got, err)
	}
}

func TestSameBytesOneFile(t *testing.T) {
	s := open(t)
	b := bytes.Repeat([]byte("same"), 10000)
	for range 3 {
		if _, err := blobstore.Receive(context.Background(), s, bytes.NewReader(b), blobstore.ReceiveOptions{TempDir: t.TempDir()}); err != nil {
			t.Fatal(err)
		}
	}
	if got := files(t, s.Root(), "sha256"); len(got) != 1 {
		t.Errorf("three uploads of the same bytes left %d files: %v", len(got), got)
	}
	if _, err := blobstore.Receive(context.Background(), s, strings.NewReader("other"), blobstore.ReceiveOptions{TempDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	if got := files(t, s.Root(), "sha256"); len(got) != 2 {
		t.Errorf("two different blobs left %d files: %v", len(got), got)
	}
}

// A damaged copy of another size is replaced by the next upload of the bytes.
func TestPutReplacesWrongSize(t *testing.T) {
	s := open(t)
	b := []byte("the original bytes")
	rec, err := blobstore.Receive(context.Background(), s, bytes.NewReader(b), blobstore.ReceiveOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	p := s.Path(rec.Ref)
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, b[:5], 0o444); err != nil {
		t.Fatal(err)
	}
	if _, err := blobstore.Verify(context.Background(), s, rec.Ref); !errors.Is(err, blobstore.ErrCorrupt) {
		t.Fatalf("Verify of a truncated file: %v, want ErrCorrupt", err)
	}
	if _, err := blobstore.Receive(context.Background(), s, bytes.NewReader(b), blobstore.ReceiveOptions{TempDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	if _, err := blobstore.Verify(context.Background(), s, rec.Ref); err != nil {
		t.Errorf("Verify after re-upload: %v", err)
	}
}

func TestNoTempFilesLeft(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	b := bytes.Repeat([]byte{7}, 100<<10)
	ref := blobstore.RefOf(b)

	// Success.
	if err := s.Put(ctx, ref, int64(len(b)), bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	// A reader that ends early.
	short := bytes.Repeat([]byte{8}, 100<<10)
	if err := s.Put(ctx, blobstore.RefOf(short), int64(len(short)), bytes.NewReader(short[:10])); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Put of a short reader: %v, want io.ErrUnexpectedEOF", err)
	}
	// A reader that fails.
	errBoom := errors.New("boom")
	if err := s.Put(ctx, blobstore.RefOf([]byte("x")), 1, failing{errBoom}); !errors.Is(err, errBoom) {
		t.Errorf("Put of a failing reader: %v, want its error", err)
	}
	// Cancelled while copying.
	cctx, cancel := context.WithCancel(ctx)
	big := bytes.Repeat([]byte{9}, 1<<20)
	r := &cancelAfter{r: bytes.NewReader(big), n: 64 << 10, cancel: cancel}
	if err := s.Put(cctx, blobstore.RefOf(big), int64(len(big)), r); !errors.Is(err, context.Canceled) {
		t.Errorf("Put cancelled while copying: %v, want context.Canceled", err)
	}
	if got := files(t, s.Root(), "tmp"); len(got) != 0 {
		t.Errorf("temporary files left behind: %v", got)
	}
	if got := files(t, s.Root(), "sha256"); len(got) != 1 {
		t.Errorf("want only the one successful blob, found %v", got)
	}
}

type failing struct{ err error }

func (f failing) Read([]byte) (int, error) { return 0, f.err }

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

func TestNewCreatesRootAndPing(t *testing.T) {
	root := filepath.Join(t.TempDir(), "a", "b")
	s, err := dir.New(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"sha256", "tmp"} {
		if fi, err := os.Stat(filepath.Join(root, d)); err != nil || !fi.IsDir() {
			t.Errorf("New did not create %s: %v", d, err)
		}
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); err == nil {
		t.Error("Ping succeeded with the store's directory removed")
	}
	if got := files(t, filepath.Dir(root), ""); len(got) != 0 {
		t.Errorf("Ping left files behind: %v", got)
	}

	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := dir.New(file); err == nil {
		t.Error("New over a regular file succeeded")
	}
}

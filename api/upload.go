package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"taizhang/auth"
	"taizhang/blobstore"
	"taizhang/events"
	"taizhang/gate"
	"taizhang/param"
)

// errBadFileName is a client file name that is not a plain base name.
// (An upload with more attachment parts than Config.MaxFiles is
// gate.ErrTooManyFiles.)
var errBadFileName = fmt.Errorf("%w: bad file name", param.ErrBadRequest)

// checkFileName refuses a client's file name that could be mistaken for a
// path or hide what it is: one with a path separator ('/' or '\'), one that
// is "." or "..", one with control characters (NUL included) or Unicode
// direction overrides, invalid UTF-8, or longer than
// events.MaxAttachmentName characters. Browsers send base names only, so a
// name like this comes from a hand-made request; refusing it (400) is
// clearer than silently keeping a part of it. "" (no name) is accepted. The
// name is never used as a path in any case: attachments are stored by
// digest, and the name is only a label.
func checkFileName(name string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", errBadFileName, param.Truncate(name), why) }
	switch {
	case !utf8.ValidString(name):
		return bad("not valid UTF-8")
	case strings.ContainsAny(name, `/\`):
		return bad(`a file name must not contain '/' or '\' (send the base name only)`)
	case name == "." || name == "..":
		return bad("not a file name")
	case utf8.RuneCountInString(name) > events.MaxAttachmentName:
		return bad(fmt.Sprintf("longer than %d characters", events.MaxAttachmentName))
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return bad("a file name must not contain control characters")
		}
		if r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069 || r == 0x200E || r == 0x200F {
			return bad("a file name must not contain Unicode direction controls")
		}
	}
	return nil
}

// partFileName returns the file name a part's Content-Disposition gives,
// as sent (multipart.Part.FileName would have cut it to its last element,
// hiding a path), checked by checkFileName.
func partFileName(part *multipart.Part) (string, error) {
	_, params, err := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
	if err != nil {
		return "", fmt.Errorf("%w: malformed Content-Disposition of an attachment part: %v", param.ErrBadRequest, err)
	}
	name := params["filename"]
	return name, checkFileName(name)
}

// stage is a blob store through which an upload's attachments are received:
// it keeps them in a directory of their own until the whole request has
// been read and checked, and commit then stores them in the real store. A
// refused request (a bad second file, a request over the limit, invalid
// metadata after the files) so leaves the real store unchanged. Stat and
// Get read the real store, so that blobstore.Receive still re-checks an
// already stored copy of the same bytes.
type stage struct {
	real  blobstore.Store
	dir   string
	blobs []stagedBlob
}

type stagedBlob struct {
	ref  blobstore.Ref
	size int64
	path string
}

// newStage makes a stage in a new directory under tempDir.
func newStage(real blobstore.Store, tempDir string) (*stage, error) {
	dir, err := os.MkdirTemp(tempDir, "upload-*")
	if err != nil {
		return nil, fmt.Errorf("stage upload: %w", err)
	}
	return &stage{real: real, dir: dir}, nil
}

// Put keeps the blob in the stage: a hard link to blobstore.Receive's
// spool file when it can, a copy otherwise.
func (st *stage) Put(ctx context.Context, ref blobstore.Ref, size int64, r io.Reader) error {
	for _, b := range st.blobs {
		if b.ref == ref {
			return nil
		}
	}
	path := filepath.Join(st.dir, ref.String())
	linked := false
	if f, ok := r.(*os.File); ok {
		linked = os.Link(f.Name(), path) == nil
	}
	if !linked {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("stage %s: %w", ref, err)
		}
		n, err := io.Copy(f, io.LimitReader(r, size))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil && n != size {
			err = fmt.Errorf("%d of %d bytes", n, size)
		}
		if err != nil {
			return fmt.Errorf("stage %s: %w", ref, err)
		}
	}
	st.blobs = append(st.blobs, stagedBlob{ref: ref, size: size, path: path})
	return nil
}

func (st *stage) Get(ctx context.Context, ref blobstore.Ref) (io.ReadCloser, int64, error) {
	return st.real.Get(ctx, ref)
}

func (st *stage) Stat(ctx context.Context, ref blobstore.Ref) (blobstore.Info, error) {
	return st.real.Stat(ctx, ref)
}

// commit stores every staged blob in the real store.
func (st *stage) commit(ctx context.Context) error {
	if st == nil {
		return nil
	}
	for _, b := range st.blobs {
		f, err := os.Open(b.path)
		if err != nil {
			return fmt.Errorf("commit upload: %w", err)
		}
		err = st.real.Put(ctx, b.ref, b.size, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("commit upload: storing %s: %w", b.ref, err)
		}
	}
	return nil
}

// close removes the stage's directory (after commit, or instead of it).
func (st *stage) close() {
	if st != nil {
		_ = os.RemoveAll(st.dir)
	}
}

// multipartReader returns the request's multipart reader, its body bounded
// by MaxRequestSize: the one auth.Authenticator.CheckCSRF started (after a session form's
// token; it bounded the body), or a new one.
func (s *Service) multipartReader(w http.ResponseWriter, r *http.Request) (*multipart.Reader, error) {
	if mr := auth.FormReader(r.Context()); mr != nil {
		return mr, nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestSize)
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", param.ErrBadRequest, err)
	}
	return mr, nil
}

// nextPart returns the form's next part, io.EOF after the last. A body
// over the request limit keeps its *http.MaxBytesError (413); any other
// failure is the client's malformed body (400).
func nextPart(mr *multipart.Reader) (*multipart.Part, error) {
	part, err := mr.NextPart()
	if err == nil || errors.Is(err, io.EOF) {
		return part, err
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, err
	}
	return nil, fmt.Errorf("%w: malformed multipart body: %v", param.ErrBadRequest, err)
}

// readField reads a text part of at most limit bytes; a longer one is
// tooLarge, a body over the request limit keeps its *http.MaxBytesError.
func readField(part *multipart.Part, limit int64, tooLarge error) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(part, limit+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: read %s: %v", param.ErrBadRequest, part.FormName(), err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s is over %d bytes", tooLarge, part.FormName(), limit)
	}
	return b, nil
}

// addAttachment receives one file part into the upload's stage (made on
// the first file), refusing more than MaxFiles.
func (s *Service) addAttachment(ctx context.Context, up *Upload, part *multipart.Part) error {
	if len(up.attachments) >= s.cfg.MaxFiles {
		return fmt.Errorf("%w: at most %d attachments in one request", gate.ErrTooManyFiles, s.cfg.MaxFiles)
	}
	if up.stage == nil {
		var err error
		if up.stage, err = newStage(s.blobs, s.cfg.TempDir); err != nil {
			return err
		}
	}
	a, err := s.receiveAttachment(ctx, up.stage, part)
	if err != nil {
		return err
	}
	up.attachments = append(up.attachments, a)
	return nil
}

// Package thumb makes and caches thumbnails of image attachments. A
// thumbnail is derived data: a JPEG of a fixed width made from a blob that
// blobstore.Open verified, written once per blob and width into a cache
// directory and never anywhere near the original. Its bytes are a function
// of the blob's digest and the width only, so it can be cached by clients
// forever under an ETag naming both.
//
// Decoding is guarded: the header is read first and an image claiming more
// than MaxPixels is refused without being decoded (a decompression bomb),
// decodes run at most Options.Parallel at a time, and a decode that takes
// longer than Options.DecodeTimeout is abandoned. Concurrent requests for
// the same thumbnail share one decode.
package thumb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	_ "image/gif" // registered decoders: the first frame of a GIF
	_ "image/png"

	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp"
	"golang.org/x/sync/singleflight"

	"taizhang/blobstore"
)

// Widths are the thumbnail widths served (lists, print, full-width
// viewer); any other width is refused.
var Widths = []int{240, 480, 960}

// Version is part of every ETag and cache file name: bump it when the
// output for the same blob and width changes (quality, resampler).
const Version = 1

// Errors. ErrWidth is a width not in Widths; ErrNotImage a blob that is
// not a JPEG, PNG, GIF or WebP image (or does not decode); ErrTooManyPixels
// an image whose header claims more than the pixel limit; ErrTimeout a
// decode that ran over its time.
var (
	ErrWidth         = errors.New("thumb: unsupported width")
	ErrNotImage      = errors.New("thumb: not a supported image")
	ErrTooManyPixels = errors.New("thumb: image too large to decode")
	ErrTimeout       = errors.New("thumb: decode took too long")
)

// Options tune a Cache; zero values take the defaults.
type Options struct {
	// MaxPixels refuses images whose header claims more pixels (default
	// 50,000,000).
	MaxPixels int64
	// MaxBytes refuses blobs larger than this (default 64 MiB); the whole
	// blob is read and verified before it is decoded.
	MaxBytes int64
	// DecodeTimeout abandons a decode and resize taking longer (default 20 s).
	DecodeTimeout time.Duration
	// Parallel bounds concurrent decodes (default 2).
	Parallel int
	// Quality is the JPEG quality of thumbnails (default 80).
	Quality int
}

// Cache makes thumbnails of the blobs of one store into one directory.
// It is safe for concurrent use.
type Cache struct {
	dir   string
	blobs blobstore.Store
	opt   Options
	group singleflight.Group
	sem   chan struct{}

	decodes atomic.Int64 // images decoded, for tests and metrics
}

// New returns a cache writing into dir, which is created when the first
// thumbnail is written.
func New(dir string, blobs blobstore.Store, opt Options) *Cache {
	if opt.MaxPixels <= 0 {
		opt.MaxPixels = 50_000_000
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = 64 << 20
	}
	if opt.DecodeTimeout <= 0 {
		opt.DecodeTimeout = 20 * time.Second
	}
	if opt.Parallel <= 0 {
		opt.Parallel = 2
	}
	if opt.Quality <= 0 || opt.Quality > 100 {
		opt.Quality = 80
	}
	return &Cache{dir: dir, blobs: blobs, opt: opt, sem: make(chan struct{}, opt.Parallel)}
}

// Decodes returns how many images the cache has decoded since it was made.
func (c *Cache) Decodes() int64 { return c.decodes.Load() }

// ValidWidth reports whether w is one of Widths.
func ValidWidth(w int) bool { return slices.Contains(Widths, w) }

// ETag returns the strong entity tag of ref's thumbnail of width w.
func ETag(ref blobstore.Ref, w int) string {
	return `"` + ref.String() + "-w" + strconv.Itoa(w) + "-v" + strconv.Itoa(Version) + `"`
}

// path is where ref's thumbnail of width w is cached: a two-character fan
// out keeps directories small.
func (c *Cache) path(ref blobstore.Ref, w int) string {
	s := ref.String()
	return filepath.Join(c.dir, s[:2], fmt.Sprintf("%s-w%d-v%d.jpg", s, w, Version))
}

// Get returns the path of ref's thumbnail of width w, making it first if it
// is not cached. Errors: ErrWidth, ErrNotImage, ErrTooManyPixels,
// ErrTimeout, and the blob store's (blobstore.ErrNotFound, ErrCorrupt,
// ErrUnavailable), all wrapped.
func (c *Cache) Get(ctx context.Context, ref blobstore.Ref, w int) (string, error) {
	if !ValidWidth(w) {
		return "", fmt.Errorf("%w: %d (use one of %v)", ErrWidth, w, Widths)
	}
	p := c.path(ref, w)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	// The flight runs detached from this request's cancellation: another
	// request may be waiting for the same thumbnail.
	ch := c.group.DoChan(p, func() (any, error) {
		if _, err := os.Stat(p); err == nil { // made while we waited
			return p, nil
		}
		return p, c.make(context.WithoutCancel(ctx), ref, w, p)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return "", res.Err
		}
		return p, nil
	case <-ctx.Done():
		return "", fmt.Errorf("thumb %s: %w", ref, ctx.Err())
	}
}

// make reads and verifies the blob, decodes and resizes it and writes the
// thumbnail to p atomically.
func (c *Cache) make(ctx context.Context, ref blobstore.Ref, w int, p string) error {
	rc, info, err := blobstore.Open(ctx, c.blobs, ref)
	if err != nil {
		return fmt.Errorf("thumb: %w", err)
	}
	defer rc.Close()
	if info.Size > c.opt.MaxBytes {
		return fmt.Errorf("%w: %s has %d bytes, more than %d", ErrTooManyPixels, ref, info.Size, c.opt.MaxBytes)
	}
	// Read the whole blob so that Open has checked its digest before a
	// single pixel of it is used.
	data, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("thumb: read %s: %w", ref, err)
	}
	out, err := c.render(ctx, data, w)
	if err != nil {
		return fmt.Errorf("thumb %s: %w", ref, err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("thumb: cache directory: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return fmt.Errorf("thumb: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		return fmt.Errorf("thumb: write: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("thumb: write: %w", err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("thumb: %w", err)
	}
	return nil
}

// Render makes the JPEG thumbnail of width w of an image's bytes, with the
// cache's limits, without caching it.
func (c *Cache) Render(ctx context.Context, data []byte, w int) ([]byte, error) {
	if !ValidWidth(w) {
		return nil, fmt.Errorf("%w: %d", ErrWidth, w)
	}
	return c.render(ctx, data, w)
}

func (c *Cache) render(ctx context.Context, data []byte, w int) ([]byte, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotImage, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("%w: %s of %d×%d pixels", ErrNotImage, format, cfg.Width, cfg.Height)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > c.opt.MaxPixels {
		return nil, fmt.Errorf("%w: %s of %d×%d pixels, over %d", ErrTooManyPixels, format, cfg.Width, cfg.Height, c.opt.MaxPixels)
	}
	orient := 1
	if format == "jpeg" {
		orient = Orientation(data)
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() { <-c.sem }()
		defer func() {
			if v := recover(); v != nil { // a decoder bug must not take the server down
				done <- result{err: fmt.Errorf("%w: decoder panicked: %v", ErrNotImage, v)}
			}
		}()
		c.decodes.Add(1)
		img, _, err := image.Decode(bytes.NewReader(data))
		if err != nil {
			done <- result{err: fmt.Errorf("%w: %v", ErrNotImage, err)}
			return
		}
		b, err := encode(thumbnail(img, orient, w), c.opt.Quality)
		done <- result{b, err}
	}()
	timer := time.NewTimer(c.opt.DecodeTimeout)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.b, r.err
	case <-timer.C:
		// The goroutine runs on (a decode cannot be interrupted) and
		// keeps its slot until it ends, so stuck decodes cannot pile up.
		return nil, fmt.Errorf("%w: over %s", ErrTimeout, c.opt.DecodeTimeout)
	}
}

// thumbnail scales img to width w (of the upright picture) keeping its
// aspect ratio, then turns it upright by the EXIF orientation orient (1-8;
// anything else is taken as 1). An image already narrower keeps its size.
// Transparency is flattened onto white. Scaling before turning keeps the
// turn cheap.
func thumbnail(img image.Image, orient, w int) *image.RGBA {
	b := img.Bounds()
	swap := orient >= 5 && orient <= 8
	fw, fh := b.Dx(), b.Dy() // the upright size
	if swap {
		fw, fh = fh, fw
	}
	tw, th := fw, fh
	if fw > w {
		tw, th = w, max(1, int(int64(fh)*int64(w)/int64(fw)))
	}
	rw, rh := tw, th // the scaled size, still as stored
	if swap {
		rw, rh = th, tw
	}
	small := image.NewRGBA(image.Rect(0, 0, rw, rh))
	draw.Draw(small, small.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.BiLinear.Scale(small, small.Bounds(), img, b, draw.Over, nil)
	if orient < 2 || orient > 8 {
		return small
	}
	out := image.NewRGBA(image.Rect(0, 0, tw, th))
	W, H := rw, rh
	for y := range H {
		for x := range W {
			var X, Y int
			switch orient {
			case 2:
				X, Y = W-1-x, y
			case 3:
				X, Y = W-1-x, H-1-y
			case 4:
				X, Y = x, H-1-y
			case 5:
				X, Y = y, x
			case 6:
				X, Y = H-1-y, x
			case 7:
				X, Y = H-1-y, W-1-x
			case 8:
				X, Y = y, W-1-x
			}
			si, di := small.PixOffset(x, y), out.PixOffset(X, Y)
			copy(out.Pix[di:di+4], small.Pix[si:si+4])
		}
	}
	return out
}

func encode(img image.Image, quality int) ([]byte, error) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
		return nil, fmt.Errorf("thumb: encode: %w", err)
	}
	return buf.Bytes(), nil
}

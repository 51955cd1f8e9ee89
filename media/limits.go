package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"time"
)

// Errors of InspectLimited.
var (
	// ErrTooManyPixels is an image whose header declares more pixels than
	// the limit: a decompression bomb, or a picture too large to accept.
	ErrTooManyPixels = errors.New("image has too many pixels")
	// ErrDecodeTimeout is an image whose pixels could not be decoded
	// within the time limit.
	ErrDecodeTimeout = errors.New("image took too long to decode")
)

// Defaults of Limits.
const (
	DefaultMaxPixels     = 50_000_000
	DefaultDecodeTimeout = 10 * time.Second
)

// Limits bound what InspectLimited accepts and decodes. The zero value
// means the defaults.
type Limits struct {
	// MaxPixels is the most pixels (width × height, from the header) an
	// image may have (default DefaultMaxPixels). It is checked before any
	// pixel is decoded.
	MaxPixels int64
	// DecodeTimeout bounds the decoding of an image's pixels (default
	// DefaultDecodeTimeout).
	DecodeTimeout time.Duration
	// Now is the clock the timeout is measured on (default time.Now).
	Now func() time.Time
}

func (l Limits) withDefaults() Limits {
	if l.MaxPixels <= 0 {
		l.MaxPixels = DefaultMaxPixels
	}
	if l.DecodeTimeout <= 0 {
		l.DecodeTimeout = DefaultDecodeTimeout
	}
	if l.Now == nil {
		l.Now = time.Now
	}
	return l
}

// InspectLimited is Inspect for a file from an untrusted client, refusing
// what would make decoding dangerous. The image's dimensions are read from
// its header first (JPEG, PNG and GIF through image.DecodeConfig; WebP from
// its VP8, VP8L or VP8X header; HEIC from its largest 'ispe' property), and
// an image of more than lim.MaxPixels is refused with ErrTooManyPixels
// before any pixel is decoded. The pixels of a JPEG, PNG or GIF are then
// decoded for the perceptual hash, through a reader that fails once
// lim.DecodeTimeout has passed (or ctx is done): a decoding that runs out
// of time is refused with ErrDecodeTimeout. A file that is no image, or a
// malformed one, yields fewer facts and no error.
func InspectLimited(ctx context.Context, r io.ReaderAt, size int64, lim Limits) (Facts, error) {
	lim = lim.withDefaults()
	var f Facts
	w, h, format := Dimensions(r, size)
	if w > 0 && h > 0 {
		f.Width, f.Height = w, h
		if px := int64(w) * int64(h); px > lim.MaxPixels {
			return f, fmt.Errorf("%w: %d×%d is %d megapixels, more than the limit of %d", ErrTooManyPixels, w, h, px/1_000_000, lim.MaxPixels/1_000_000)
		}
		switch format {
		case "jpeg", "png", "gif":
			dr := &deadlineReader{r: r, ctx: ctx, deadline: lim.Now().Add(lim.DecodeTimeout), now: lim.Now}
			f.PHash = dhashOf(dr, size, format, image.Config{Width: w, Height: h}, lim.MaxPixels)
			if dr.expired {
				return f, fmt.Errorf("%w: not decoded within %s", ErrDecodeTimeout, lim.DecodeTimeout)
			}
		}
	}
	head := make([]byte, min(size, maxExif))
	n, _ := r.ReadAt(head, 0)
	if tiff := jpegExif(head[:n]); tiff != nil {
		f.TakenAt, f.GPS = parseTIFF(tiff)
	}
	return f, nil
}

// deadlineReader fails every read once its deadline has passed or its
// context is done, so that a decoder reading through it stops soon after.
type deadlineReader struct {
	r        io.ReaderAt
	ctx      context.Context
	deadline time.Time
	now      func() time.Time
	expired  bool
}

var errExpired = errors.New("decode deadline passed")

func (d *deadlineReader) ReadAt(p []byte, off int64) (int, error) {
	if d.expired || d.ctx.Err() != nil || !d.now().Before(d.deadline) {
		d.expired = true
		return 0, errExpired
	}
	return d.r.ReadAt(p, off)
}

// Dimensions returns an image's width, height and format ("jpeg", "png",
// "gif", "webp" or "heic") from its header, without decoding pixels, or
// zeros if r holds none of these.
func Dimensions(r io.ReaderAt, size int64) (w, h int, format string) {
	if cfg, f, err := image.DecodeConfig(io.NewSectionReader(r, 0, size)); err == nil {
		return cfg.Width, cfg.Height, f
	}
	head := make([]byte, min(size, maxExif))
	n, _ := r.ReadAt(head, 0)
	head = head[:n]
	if w, h, ok := webpSize(head); ok {
		return w, h, "webp"
	}
	if len(head) >= 12 && string(head[4:8]) == "ftyp" {
		if w, h, ok := heicSize(head); ok {
			return w, h, "heic"
		}
	}
	return 0, 0, ""
}

// webpSize reads a WebP's canvas size from its first chunk.
func webpSize(b []byte) (w, h int, ok bool) {
	if len(b) < 30 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
		return 0, 0, false
	}
	d := b[20:]
	switch string(b[12:16]) {
	case "VP8 ": // lossy: a key frame's start code, then 14-bit sizes
		if d[3] != 0x9d || d[4] != 0x01 || d[5] != 0x2a {
			return 0, 0, false
		}
		return int(binary.LittleEndian.Uint16(d[6:]) & 0x3fff), int(binary.LittleEndian.Uint16(d[8:]) & 0x3fff), true
	case "VP8L": // lossless: a signature, then 14-bit sizes minus one
		if d[0] != 0x2f {
			return 0, 0, false
		}
		v := binary.LittleEndian.Uint32(d[1:])
		return int(v&0x3fff) + 1, int(v>>14&0x3fff) + 1, true
	case "VP8X": // extended: 24-bit canvas sizes minus one
		u24 := func(p []byte) int { return int(p[0]) | int(p[1])<<8 | int(p[2])<<16 }
		return u24(d[4:]) + 1, u24(d[7:]) + 1, true
	}
	return 0, 0, false
}

// heicSize returns the largest image spatial extent ('ispe') property in
// a HEIF file's header: the full image of a grid, or its largest item.
func heicSize(b []byte) (w, h int, ok bool) {
	var best int64
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte("ispe"))
		if j < 0 {
			break
		}
		p := i + j + 4 // after the box type: version and flags, width, height
		if p+12 > len(b) {
			break
		}
		bw := min(int64(binary.BigEndian.Uint32(b[p+4:])), 1<<31-1)
		bh := min(int64(binary.BigEndian.Uint32(b[p+8:])), 1<<31-1)
		if bw*bh > best || !ok {
			best, w, h, ok = bw*bh, int(bw), int(bh), true
		}
		i = p
	}
	return w, h, ok
}

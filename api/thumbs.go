package api

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"taizhang/events"
	"taizhang/gate"
	"taizhang/param"
	"taizhang/thumb"
)

// Thumb answers GET /thumbs/{sha256}?w=N: a JPEG thumbnail, N pixels wide
// (N one of thumb.Widths, default 240; an image narrower keeps its width),
// of the image blob, made once and then served from the cache, with an
// ETag naming the digest and width and a year's immutable caching. 400 for
// another width or a malformed digest, 404 for an unknown blob, 415 for a
// blob that is not a JPEG, PNG, GIF or WebP image or is too large to
// decode, 503 if the decode takes too long.
func (s *Service) Thumb(w http.ResponseWriter, r *http.Request) {
	ref, err := s.visibleRef(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	width := thumb.Widths[0]
	if v := r.URL.Query().Get("w"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || !thumb.ValidWidth(n) {
			s.fail(w, r, fmt.Errorf("%w: w=%q: thumbnails are %v pixels wide", param.ErrBadRequest, v, thumb.Widths))
			return
		}
		width = n
	}
	etag := thumb.ETag(ref, width)
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "private, max-age=31536000, immutable")
	if r.Header.Get("If-None-Match") == etag { // the bytes depend on nothing else
		w.WriteHeader(http.StatusNotModified)
		return
	}
	p, err := s.thumbs.Get(r.Context(), ref, width)
	switch {
	case errors.Is(err, thumb.ErrNotImage), errors.Is(err, thumb.ErrTooManyPixels):
		err = fmt.Errorf("%w: %w", gate.ErrUnsupportedMedia, err)
	case errors.Is(err, thumb.ErrTimeout):
		err = fmt.Errorf("%w: %w", events.ErrUnavailable, err)
	}
	if err != nil {
		h.Del("ETag")
		h.Del("Cache-Control")
		s.fail(w, r, err)
		return
	}
	f, err := os.Open(p)
	if err != nil {
		s.fail(w, r, fmt.Errorf("open thumbnail: %w", err))
		return
	}
	defer f.Close()
	h.Set("Content-Type", "image/jpeg")
	http.ServeContent(w, r, "", time.Time{}, f)
}

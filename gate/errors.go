package gate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"taizhang/auth"
	"taizhang/blobstore"
	"taizhang/closure"
	"taizhang/events"
	"taizhang/media"
	"taizhang/param"
	"taizhang/projections"
)

// ErrNoRoute answers 404 for paths the server does not have; ErrMethod
// 405 for a method a path does not take.
var (
	ErrNoRoute = errors.New("no such route")
	ErrMethod  = errors.New("method not allowed")
)

// ErrUnsupportedMedia is an attachment whose bytes are not of an accepted
// media type.
var ErrUnsupportedMedia = errors.New("unsupported media type")

// ErrTooManyFiles is an upload with more attachment parts than the
// server's limit (413).
var ErrTooManyFiles = errors.New("too many files")

// ErrJSONTooLarge is a JSON body over its limit (413).
var ErrJSONTooLarge = errors.New("JSON body too large")

// errorTable maps error kinds to HTTP status and code, first match wins.
var errorTable = []struct {
	err    error
	status int
	code   string
}{
	{auth.ErrUnauthenticated, http.StatusUnauthorized, "unauthenticated"},
	{auth.ErrForbidden, http.StatusForbidden, "forbidden"},
	{auth.ErrTooManyAttempts, http.StatusTooManyRequests, "too_many_attempts"},
	{ErrNoRoute, http.StatusNotFound, "not_found"},
	{ErrMethod, http.StatusMethodNotAllowed, "method_not_allowed"},
	{param.ErrBadRequest, http.StatusBadRequest, "bad_request"},
	{auth.ErrBadForm, http.StatusBadRequest, "bad_request"},
	{ErrUnsupportedMedia, http.StatusUnsupportedMediaType, "unsupported_media_type"},
	{ErrJSONTooLarge, http.StatusRequestEntityTooLarge, "too_large"},
	{ErrTooManyFiles, http.StatusRequestEntityTooLarge, "too_large"},
	{media.ErrTooManyPixels, http.StatusUnprocessableEntity, "too_many_pixels"},
	{media.ErrDecodeTimeout, http.StatusUnprocessableEntity, "decode_timeout"},
	{events.ErrQuarantined, http.StatusLocked, "quarantined"},
	{closure.ErrNotClosable, http.StatusUnprocessableEntity, "not_closable"},
	{events.ErrBadSignature, http.StatusUnprocessableEntity, "bad_device_signature"},
	{events.ErrInvalid, http.StatusBadRequest, "invalid"},
	{events.ErrNotFound, http.StatusNotFound, "not_found"},
	{events.ErrExists, http.StatusConflict, "exists"},
	{events.ErrConflict, http.StatusConflict, "conflict"},
	{events.ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
	{blobstore.ErrInvalidRef, http.StatusBadRequest, "invalid"},
	{blobstore.ErrNotFound, http.StatusNotFound, "not_found"},
	{blobstore.ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large"},
	{blobstore.ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
	{blobstore.ErrCorrupt, http.StatusInternalServerError, "corrupt"},
	{ErrTooBehind, http.StatusServiceUnavailable, "behind"},
	{projections.ErrBehind, http.StatusServiceUnavailable, "unavailable"},
	{context.DeadlineExceeded, http.StatusServiceUnavailable, "unavailable"},
}

// ErrorCode is a code an error answer may carry, with its HTTP status.
type ErrorCode struct {
	Status int
	Code   string
}

// ErrorCodes lists every status and code an error answer may carry, each
// pair once: errorTable's rows, then StatusOf's fallbacks. The OpenAPI
// document's error responses are checked against it (package openapi).
func ErrorCodes() []ErrorCode {
	var out []ErrorCode
	add := func(status int, code string) {
		if c := (ErrorCode{status, code}); !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	for _, e := range errorTable {
		add(e.status, e.code)
	}
	add(http.StatusRequestEntityTooLarge, "too_large") // *http.MaxBytesError
	add(http.StatusServiceUnavailable, "unavailable")  // an outage (outage.go)
	add(http.StatusInternalServerError, "internal")
	return out
}

// StatusOf returns the HTTP status and error code err answers with.
func StatusOf(err error) (int, string) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, "too_large"
	}
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			return e.status, e.code
		}
	}
	if _, ok := outageMessage(err, false); ok {
		return http.StatusServiceUnavailable, "unavailable" // outage.go
	}
	return http.StatusInternalServerError, "internal"
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		// RequestID is the request's X-Request-Id, also on every log
		// line about it.
		RequestID string `json:"request_id,omitempty"`
	} `json:"error"`
}

// Fail answers err with the status from errorTable: as a web page for the
// web app's paths (SetErrorPage), else as a JSON error.
func (g *Gate) Fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code := StatusOf(err)
	log := g.cfg.Log
	if g.errPage != nil && g.errPage(w, r, status, err) {
		log.InfoContext(r.Context(), "page refused", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
		return
	}
	var body errorBody
	body.Error.Code = code
	body.Error.Message = err.Error()
	body.Error.RequestID = RequestID(r.Context())
	if code == "unavailable" {
		// An outage: a message the client can act on, not the store's
		// error text (logged below with the request id).
		if msg, ok := outageMessage(err, isWrite(r)); ok {
			body.Error.Message = msg
			w.Header().Set("Retry-After", outageRetryAfter)
		}
	}
	if status == http.StatusInternalServerError {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		if code == "internal" {
			body.Error.Message = "internal error; see the server log for request " + body.Error.RequestID
		}
	} else {
		log.InfoContext(r.Context(), "request refused", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="taizhang"`)
	}
	WriteJSON(w, status, body)
}

// WriteJSON answers v as JSON (HTML not escaped) with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, `{"error":{"code":"internal","message":"encode response"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// DecodeJSON decodes a strict JSON body of at most limit bytes into v
// (see DecodeStrict; ErrJSONTooLarge past the limit), with Content-Type
// application/json or none. Every JSON route reads its body through it.
func DecodeJSON(r *http.Request, w http.ResponseWriter, v any, limit int64) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("%w: want Content-Type application/json, got %q", param.ErrBadRequest, ct)
	}
	err := DecodeStrict(http.MaxBytesReader(w, r.Body, limit), v)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return fmt.Errorf("%w: over %d bytes", ErrJSONTooLarge, limit)
	}
	return err
}

// DecodeStrict decodes exactly one JSON value into v, rejecting unknown
// fields and trailing data (param.ErrBadRequest).
func DecodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: empty JSON body", param.ErrBadRequest)
		}
		return fmt.Errorf("%w: malformed JSON: %v", param.ErrBadRequest, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: trailing data after the JSON object", param.ErrBadRequest)
	}
	return nil
}

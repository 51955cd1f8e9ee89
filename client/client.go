// Package client is a small client of taizhang's HTTP API, the one the
// taizhang command uses: bearer-token requests with JSON answers decoded,
// error answers returned as *Error, and reading its own writes on any
// replica (every request carries the largest ledger sequence a write of
// this client was answered with, X-Taizhang-Seq, as X-Taizhang-Min-Seq).
// It holds no global state; a Client is safe for concurrent use.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The headers of read-your-writes across replicas (the server's
// gate.HeaderSeq and HeaderMinSeq).
const (
	HeaderSeq    = "X-Taizhang-Seq"
	HeaderMinSeq = "X-Taizhang-Min-Seq"
)

// Client sends requests to one taizhang server as one API token.
type Client struct {
	base  string
	token string
	kind  string
	http  *http.Client
	seq   atomic.Uint64 // the largest X-Taizhang-Seq seen
}

// New returns a client of the server at base (an http or https URL) that
// authenticates with token and names itself as client kind "cli"
// (X-Taizhang-Client). Requests time out after 10 minutes, except
// Stream's.
func New(base, token string) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("bad server URL %q: want http:// or https:// and a host", base)
	}
	if token == "" {
		return nil, errors.New("no API token")
	}
	return &Client{base: strings.TrimRight(base, "/"), token: token, kind: "cli", http: &http.Client{Timeout: 10 * time.Minute}}, nil
}

// Base returns the server URL, without a trailing slash.
func (c *Client) Base() string { return c.base }

// Token returns the API token the client sends, for a component that
// talks to the same server through its own client (the witness).
func (c *Client) Token() string { return c.token }

// SetMinSeq makes every request ask for at least ledger sequence n
// (TAIZHANG_MIN_SEQ: read the writes of an earlier client on any replica).
func (c *Client) SetMinSeq(n uint64) { c.noteSeq(n) }

// Seq returns the largest ledger sequence a write was answered with (or
// SetMinSeq's, if larger).
func (c *Client) Seq() uint64 { return c.seq.Load() }

// noteSeq keeps the largest sequence seen.
func (c *Client) noteSeq(n uint64) {
	for {
		cur := c.seq.Load()
		if n <= cur || c.seq.CompareAndSwap(cur, n) {
			return
		}
	}
}

// Error is an error answer from the server.
type Error struct {
	Status    int
	Code      string
	Message   string
	RequestID string // the server's X-Request-Id, to find its log lines
}

// Error says the message, the status and code, and the request id.
func (e *Error) Error() string {
	if e.RequestID != "" {
		return fmt.Sprintf("%s (HTTP %d %s, request %s)", e.Message, e.Status, e.Code, e.RequestID)
	}
	return fmt.Sprintf("%s (HTTP %d %s)", e.Message, e.Status, e.Code)
}

// Retryable reports whether a failed request may succeed if sent again: a
// 502, 503 or 504 answer, or no answer (a network failure), but not a
// cancelled context.
func Retryable(err error) bool {
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Status == http.StatusServiceUnavailable || ae.Status == http.StatusBadGateway || ae.Status == http.StatusGatewayTimeout
	}
	return !errors.Is(err, context.Canceled)
}

// request sends a request with the client's headers and notes the
// sequence the answer carries.
func (c *Client) request(ctx context.Context, hc *http.Client, method, path, contentType string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("X-Taizhang-Client", c.kind)
	if n := c.seq.Load(); n > 0 {
		req.Header.Set(HeaderMinSeq, strconv.FormatUint(n, 10))
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %w", c.base, err)
	}
	if n, err := strconv.ParseUint(resp.Header.Get(HeaderSeq), 10, 64); err == nil {
		c.noteSeq(n)
	}
	return resp, nil
}

// errorOf reads an error answer (status 400 or more) into an *Error.
func errorOf(resp *http.Response, b []byte) *Error {
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil || e.Error.Message == "" {
		e.Error.Message = strings.TrimSpace(string(b))
	}
	return &Error{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message, RequestID: resp.Header.Get("X-Request-Id")}
}

// Do sends a request with body (of contentType, if not "") and decodes a
// JSON answer into out (a *json.RawMessage gets the bytes as they came; nil
// discards them). It returns the status, and an *Error for an answer of
// 400 or more. Answers are read up to 256 MiB.
func (c *Client) Do(ctx context.Context, method, path, contentType string, body io.Reader, out any) (int, error) {
	resp, err := c.request(ctx, c.http, method, path, contentType, body)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode >= 400 {
		return resp.StatusCode, errorOf(resp, b)
	}
	if out != nil {
		if raw, ok := out.(*json.RawMessage); ok {
			*raw = b
			return resp.StatusCode, nil
		}
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode answer: %w", err)
		}
	}
	return resp.StatusCode, nil
}

// Get is Do with GET and no body.
func (c *Client) Get(ctx context.Context, path string, out any) (int, error) {
	return c.Do(ctx, http.MethodGet, path, "", nil, out)
}

// PostJSON posts in as JSON and decodes the answer into out (see Do).
func (c *Client) PostJSON(ctx context.Context, path string, in, out any) (int, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return 0, err
	}
	return c.Do(ctx, http.MethodPost, path, "application/json", bytes.NewReader(b), out)
}

// Stream GETs path with no time limit (a large export takes as long as it
// takes) and returns the answer for the caller to read and close; an
// answer other than 200 is returned as an *Error, its body read and closed.
func (c *Client) Stream(ctx context.Context, path string) (*http.Response, error) {
	hc := *c.http
	hc.Timeout = 0
	resp, err := c.request(ctx, &hc, http.MethodGet, path, "", nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, errorOf(resp, b)
	}
	return resp, nil
}

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"taizhang/gate"
	"time"

	"github.com/google/uuid"
)

// client is the bench's HTTP client of the taizhang API: bearer token,
// every answer read to the end (so connections are reused and the time
// includes the whole body).
type client struct {
	base, token string
	http        *http.Client
}

// httpError is a non-2xx answer.
type httpError struct {
	method, path string
	status       int
	body         string
}

func (e *httpError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.method, e.path, e.status, e.body)
}

// do sends the request and reads the answer, returning its size. A non-2xx
// answer is an *httpError with the start of its body.
func (c *client) do(ctx context.Context, method, path, contentType string, body []byte, hdr http.Header) (int64, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, &httpError{method: method, path: path, status: resp.StatusCode, body: string(bytes.TrimSpace(b))}
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return n, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return n, nil
}

func (c *client) postJSON(ctx context.Context, path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, http.MethodPost, path, "application/json", b, nil)
	return err
}

func (c *client) get(ctx context.Context, path string) (int64, error) {
	return c.do(ctx, http.MethodGet, path, "", nil, nil)
}

// submit posts the i-th HTTP submission to unit, as the CLI and the web
// app do: multipart with the evidence JSON (a fresh client id), and file,
// if not nil, as one attachment part.
func (c *client) submit(ctx context.Context, unit string, i int, file []byte) error {
	meta, err := json.Marshal(map[string]any{
		"id": uuid.Must(uuid.NewV7()).String(), "kind": "activity", "title": evTitle, "body": evBody,
		"occurred_at": evOccurred.Format(time.RFC3339), "requirements": []string{evRequirement},
	})
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="evidence"`)
	h.Set("Content-Type", "application/json")
	pw, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	pw.Write(meta)
	if file != nil {
		fw, err := mw.CreateFormFile("attachment", fmt.Sprintf("紀要-%d.txt", i))
		if err != nil {
			return err
		}
		fw.Write(file)
	}
	if err := mw.Close(); err != nil {
		return err
	}
	_, err = c.do(ctx, http.MethodPost, "/api/v1/units/"+unit+"/evidence", mw.FormDataContentType(), buf.Bytes(), nil)
	if err != nil {
		return fmt.Errorf("submission %d to %s: %w", i, unit, err)
	}
	return nil
}

// waitSeq GETs path, asking the server to answer only once it has applied
// ledger sequence seq (X-Taizhang-Min-Seq); a 503 (not there yet) is
// asked again until ctx ends.
func (c *client) waitSeq(ctx context.Context, path string, seq uint64) error {
	hdr := http.Header{}
	if seq > 0 {
		hdr.Set(gate.HeaderMinSeq, strconv.FormatUint(seq, 10))
	}
	for {
		_, err := c.do(ctx, http.MethodGet, path, "", nil, hdr)
		var he *httpError
		if !errors.As(err, &he) || he.status != http.StatusServiceUnavailable {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

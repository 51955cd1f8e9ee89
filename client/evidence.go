package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// Evidence is the JSON metadata of a submission: the "evidence" part of
// POST /api/v1/units/{unit}/evidence (the server's EvidenceInput), with
// OccurredAt an RFC 3339 time or a YYYY-MM-DD date.
type Evidence struct {
	ID           string             `json:"id"`
	Kind         string             `json:"kind"`
	Title        string             `json:"title"`
	Body         string             `json:"body,omitempty"`
	OccurredAt   string             `json:"occurred_at"`
	Requirements []string           `json:"requirements,omitempty"`
	Tags         []string           `json:"tags,omitempty"`
	Figures      map[string]float64 `json:"figures,omitempty"`
	Finding      string             `json:"finding,omitempty"`
	// Device is the device signature (DeviceKey.Sign), if signed.
	Device *Device `json:"device,omitempty"`
}

// Receipt is the server's answer to an append (a submission, an
// amendment, a retraction, a finding).
type Receipt struct {
	ID          string `json:"id"`
	Evidence    string `json:"evidence"`
	Sequence    uint64 `json:"sequence"`
	Hash        string `json:"hash"`
	Version     int    `json:"version"`
	Attachments []struct {
		SHA256    string `json:"sha256"`
		Size      int64  `json:"size"`
		MediaType string `json:"media_type"`
		Name      string `json:"name"`
	} `json:"attachments"`
	// Device is the server's verdict on a signed submission's device
	// signature (absent if unsigned, or if the server could not say yet).
	Device *DeviceVerdict `json:"device,omitempty"`
}

// DeviceVerdict is the server's verdict on a device signature: verdict
// "ok", "unknown_key" or "revoked_key" (recorded, flagged for the
// supervisor), and late when the capture time is after the recorded
// time. A signature that does not verify is refused (422
// bad_device_signature), never recorded.
type DeviceVerdict struct {
	Key        string    `json:"key"`
	CapturedAt time.Time `json:"captured_at"`
	Verdict    string    `json:"verdict"`
	Reason     string    `json:"reason,omitempty"`
	Late       bool      `json:"late,omitempty"`
}

// Flagged reports whether the verdict is one the supervisor will see.
func (d *DeviceVerdict) Flagged() bool { return d != nil && (d.Verdict != "ok" || d.Late) }

// Multipart streams meta as JSON in a form field named metaName, then each
// of files as a part named "attachment" (the file's base name as its
// name), as multipart/form-data; it returns the body and its Content-Type.
// Files are checked to exist and be regular before anything is sent; the
// body is produced as it is read, never whole in memory.
func Multipart(metaName string, meta any, files []string) (io.ReadCloser, string, error) {
	b, err := json.Marshal(meta)
	if err != nil {
		return nil, "", err
	}
	for _, f := range files {
		if st, err := os.Stat(f); err != nil {
			return nil, "", fmt.Errorf("attachment: %w", err)
		} else if st.IsDir() {
			return nil, "", fmt.Errorf("attachment %s is a directory", f)
		}
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		pw.CloseWithError(writeParts(mw, metaName, b, files))
	}()
	return pr, mw.FormDataContentType(), nil
}

// writeParts writes the JSON part and the files, and closes the form.
func writeParts(mw *multipart.Writer, metaName string, meta []byte, files []string) error {
	w, err := mw.CreateFormField(metaName)
	if err != nil {
		return err
	}
	if _, err := w.Write(meta); err != nil {
		return err
	}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		fw, err := mw.CreateFormFile("attachment", filepath.Base(name))
		if err == nil {
			_, err = io.Copy(fw, f)
		}
		f.Close()
		if err != nil {
			return err
		}
	}
	return mw.Close()
}

// Submit submits evidence to unit: meta (which must hold the evidence id,
// so that a retry is the same submission) with files attached. A
// retryable failure (Retryable) is sent again up to retries times, after
// 0.5 s, 1 s, 2 s, ...; onRetry, if not nil, is told of each. The status
// is 201 for a new submission, 200 for one the ledger already had.
func (c *Client) Submit(ctx context.Context, unit string, meta any, files []string, retries int, onRetry func(err error, wait time.Duration)) (Receipt, int, error) {
	var out Receipt
	path := "/api/v1/units/" + url.PathEscape(unit) + "/evidence"
	for attempt := 0; ; attempt++ {
		rc, ct, err := Multipart("evidence", meta, files)
		if err != nil {
			return out, 0, err
		}
		status, err := c.Do(ctx, http.MethodPost, path, ct, rc, &out)
		rc.Close()
		if err == nil || !Retryable(err) || attempt >= retries {
			return out, status, err
		}
		wait := time.Duration(1<<attempt) * 500 * time.Millisecond
		if onRetry != nil {
			onRetry(err, wait)
		}
		select {
		case <-ctx.Done():
			return out, 0, ctx.Err()
		case <-time.After(wait):
		}
	}
}

package natsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
)

// Client calls the NATS service API over a connection: with a taizhang
// token, or (Token empty) as the connection's NATS user when the service
// trusts its account (Config.Accounts). It retries what is safe to retry:
// reads, and submissions (which carry their evidence id, so a retry
// appends nothing new), after a timeout, no responder or a 503.
// Amendments and retractions are not retried: one that was recorded but
// not answered would come back as a conflict (409) on the stale version.
type Client struct {
	NC    *nats.Conn
	Token string
	// Prefix is the endpoints' subject prefix (default DefaultPrefix).
	Prefix string
	// Timeout bounds one attempt (default 30 s); Attempts is how many a
	// retryable call makes (default 5), pausing 100 ms, then twice as long
	// each time, at most 5 s.
	Timeout  time.Duration
	Attempts int
	// OnRetry, if set, is told of each failed attempt that will be retried.
	OnRetry func(attempt int, err error)
}

// Error is a refusal: the HTTP status, the API's error code and message,
// and the request id (as in the server's log).
type Error struct {
	Status                   int
	Code, Message, RequestID string
}

func (e *Error) Error() string {
	return fmt.Sprintf("taizhang %d %s: %s (request %s)", e.Status, e.Code, e.Message, e.RequestID)
}

// Retryable reports whether a call that failed with err may be sent again
// unchanged: a timeout, no responder, or an unavailable service (503).
func Retryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Status == 503
	}
	return errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded)
}

// Call sends payload (JSON-encoded unless already []byte) to endpoint
// once and decodes a successful answer into out (if not nil). It returns
// the HTTP status; a refusal is an *Error.
func (c *Client) Call(ctx context.Context, endpoint string, payload, out any) (int, error) {
	data, ok := payload.([]byte)
	if !ok {
		var err error
		if data, err = json.Marshal(payload); err != nil {
			return 0, fmt.Errorf("natsapi: encode %s payload: %w", endpoint, err)
		}
	}
	prefix := c.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	msg := nats.NewMsg(prefix + "." + endpoint)
	msg.Data = data
	if c.Token != "" {
		msg.Header.Set(HeaderAuthorization, "Bearer "+c.Token)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := c.NC.RequestMsgWithContext(ctx, msg)
	if err != nil {
		return 0, fmt.Errorf("natsapi: %s: %w", endpoint, err)
	}
	status, _ := strconv.Atoi(resp.Header.Get(HeaderStatus))
	if code := resp.Header.Get(micro.ErrorCodeHeader); code != "" {
		e := &Error{Message: resp.Header.Get(micro.ErrorHeader), RequestID: resp.Header.Get(HeaderRequestID)}
		e.Status, _ = strconv.Atoi(code)
		var eb errorBody
		if json.Unmarshal(resp.Data, &eb) == nil {
			e.Code = eb.Error.Code
			if eb.Error.Message != "" {
				e.Message = eb.Error.Message
			}
		}
		return e.Status, e
	}
	if out != nil {
		if err := json.Unmarshal(resp.Data, out); err != nil {
			return status, fmt.Errorf("natsapi: %s: decode answer: %w", endpoint, err)
		}
	}
	return status, nil
}

// retry makes a retryable call, up to Attempts times.
func (c *Client) retry(ctx context.Context, endpoint string, payload, out any) (int, error) {
	attempts := c.Attempts
	if attempts <= 0 {
		attempts = 5
	}
	pause := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		status, err := c.Call(ctx, endpoint, payload, out)
		if err == nil || !Retryable(err) || attempt >= attempts || ctx.Err() != nil {
			return status, err
		}
		if c.OnRetry != nil {
			c.OnRetry(attempt, err)
		}
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return status, err
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// Submit submits evidence (the evidence JSON as a struct or map, e.g. a
// client.Evidence; it must carry its "id") to unit, with attachments from
// the uploads bucket, retrying as Client says. created is true when this
// call recorded it (201), false when it was already recorded (200); out,
// if not nil, receives the receipt.
func (c *Client) Submit(ctx context.Context, unit string, evidence any, objects []ObjectRef, out any) (created bool, err error) {
	b, err := json.Marshal(evidence)
	if err != nil {
		return false, fmt.Errorf("natsapi: encode evidence: %w", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return false, fmt.Errorf("natsapi: evidence must encode as a JSON object")
	}
	if err := needID(b); err != nil {
		return false, err
	}
	m["unit"], _ = json.Marshal(unit)
	if len(objects) > 0 {
		m["objects"], _ = json.Marshal(objects)
	}
	payload, _ := json.Marshal(m)
	status, err := c.retry(ctx, EpSubmit, payload, out)
	return status == 201, err
}

// Read calls a read endpoint (EpHistory, EpArchive, EpCompliance) for
// unit, with asOf ("" for now) and, for compliance, plan ("" for all),
// retrying as Client says, and decodes the answer into out.
func (c *Client) Read(ctx context.Context, endpoint, unit, asOf, plan string, out any) error {
	p := map[string]string{"unit": unit}
	if asOf != "" {
		p["as_of"] = asOf
	}
	if plan != "" {
		p["plan"] = plan
	}
	_, err := c.retry(ctx, endpoint, p, out)
	return err
}

// PutObject puts r into the uploads bucket (bucket; "" for DefaultUploads)
// under name, for a submission's or amendment's "objects". name must be
// UNIT/... for the unit the object will be attached to: the service
// refuses (400) an object named under another unit or none.
func (c *Client) PutObject(ctx context.Context, bucket, name string, r io.Reader) (ObjectRef, error) {
	if bucket == "" {
		bucket = DefaultUploads
	}
	js, err := jetstream.New(c.NC)
	if err != nil {
		return ObjectRef{}, fmt.Errorf("natsapi: jetstream: %w", err)
	}
	os, err := js.ObjectStore(ctx, bucket)
	if err != nil {
		return ObjectRef{}, fmt.Errorf("natsapi: object store %s: %w", bucket, err)
	}
	if _, err := os.Put(ctx, jetstream.ObjectMeta{Name: name}, r); err != nil {
		return ObjectRef{}, fmt.Errorf("natsapi: put %s into %s: %w", name, bucket, err)
	}
	return ObjectRef{Object: name}, nil
}

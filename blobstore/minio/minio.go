// Package minio is the blobstore.Store kept in a bucket of a MinIO server or
// any other S3-compatible service, the production store. It speaks only the
// plain S3 API through minio-go: a blob is the object sha256/<64 hex digits>
// of one bucket, written once with its known size and read back as stored.
// Outages (refused or reset connections, timeouts, 5xx answers) are reported
// as errors wrapping blobstore.ErrUnavailable, within a few seconds: the
// client dials with a short timeout and retries only a few times.
package minio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	mc "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"taizhang/blobstore"
)

// Client tuning. A dead server refuses connections at once, so its failure is
// bounded by maxRetries and minio-go's backoff (200ms doubling, capped at
// 1s); a server that does not answer at all is bounded by dialTimeout and,
// for metadata requests and the start of a download, by metaTimeout.
const (
	dialTimeout           = 3 * time.Second
	responseHeaderTimeout = 15 * time.Second
	metaTimeout           = 5 * time.Second
	maxRetries            = 3
)

// Config says where the store is.
type Config struct {
	// Endpoint is host:port of the S3 service. A URL http://host:port or
	// https://host:port is accepted too; its scheme then decides Secure.
	Endpoint string
	// Bucket is created by New if it does not exist.
	Bucket string
	// AccessKey and SecretKey are static credentials.
	AccessKey, SecretKey string
	// Secure selects HTTPS.
	Secure bool
	// Region is the bucket's region; empty means ask the server (MinIO's
	// default is us-east-1).
	Region string
	// Retention is the default object-lock retention of a bucket that New
	// creates: WORM attachments. Its zero value means GOVERNANCE mode for
	// 3650 days; Disabled creates the bucket without object lock. A bucket
	// that already exists is used as it is.
	Retention Retention
}

// Retention is a bucket's default object-lock retention.
type Retention struct {
	Disabled bool
	Mode     string // "GOVERNANCE" (default) or "COMPLIANCE"
	Days     uint   // default 3650
}

func (r Retention) withDefaults() (mc.RetentionMode, uint, error) {
	mode := mc.RetentionMode(strings.ToUpper(r.Mode))
	if mode == "" {
		mode = mc.Governance
	}
	if !mode.IsValid() {
		return "", 0, fmt.Errorf("blobstore/minio: retention mode %q: want GOVERNANCE or COMPLIANCE", r.Mode)
	}
	days := r.Days
	if days == 0 {
		days = 3650
	}
	return mode, days, nil
}

// Store is a blobstore.Store and blobstore.Pinger over one S3 bucket. It is
// safe for concurrent use, also by several processes sharing the bucket.
type Store struct {
	client *mc.Client
	core   mc.Core
	bucket string
}

var (
	_ blobstore.Store  = (*Store)(nil)
	_ blobstore.Pinger = (*Store)(nil)
)

// New connects to the service described by cfg and creates cfg.Bucket if it
// does not exist yet (concurrent creation by another process is fine).
// Errors: a Config without Endpoint or Bucket, or with a malformed Endpoint;
// an error wrapping blobstore.ErrUnavailable if the service cannot be
// reached; the service's refusal (bad credentials, a bucket owned by someone
// else) otherwise.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Endpoint == "" {
		return nil, errors.New("blobstore/minio: Config.Endpoint is empty")
	}
	if cfg.Bucket == "" {
		return nil, errors.New("blobstore/minio: Config.Bucket is empty")
	}
	endpoint, secure := cfg.Endpoint, cfg.Secure
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil {
			return nil, fmt.Errorf("blobstore/minio: Config.Endpoint: %w", err)
		}
		switch u.Scheme {
		case "http":
			secure = false
		case "https":
			secure = true
		default:
			return nil, fmt.Errorf("blobstore/minio: Config.Endpoint %q: scheme must be http or https", cfg.Endpoint)
		}
		if u.Path != "" && u.Path != "/" {
			return nil, fmt.Errorf("blobstore/minio: Config.Endpoint %q: must not have a path", cfg.Endpoint)
		}
		endpoint = u.Host
	}

	tr, err := mc.DefaultTransport(secure)
	if err != nil {
		return nil, fmt.Errorf("blobstore/minio: %w", err)
	}
	tr.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = responseHeaderTimeout
	tr.TLSHandshakeTimeout = dialTimeout
	tr.ExpectContinueTimeout = time.Second

	client, err := mc.New(endpoint, &mc.Options{
		Creds:      credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:     secure,
		Region:     cfg.Region,
		Transport:  tr,
		MaxRetries: maxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("blobstore/minio: %w", err)
	}
	s := &Store{client: client, core: mc.Core{Client: client}, bucket: cfg.Bucket}
	if err := s.ensureBucket(ctx, cfg.Region, cfg.Retention); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) ensureBucket(ctx context.Context, region string, ret Retention) error {
	mctx, cancel := context.WithTimeout(ctx, metaTimeout)
	defer cancel()
	ok, err := s.client.BucketExists(mctx, s.bucket)
	if err != nil {
		return s.wrap(ctx, "bucket exists", "", err)
	}
	if ok {
		return nil
	}
	mode, days, err := ret.withDefaults()
	if err != nil {
		return err
	}
	err = s.client.MakeBucket(mctx, s.bucket, mc.MakeBucketOptions{Region: region, ObjectLocking: !ret.Disabled})
	if err != nil && mc.ToErrorResponse(err).Code == mc.BucketAlreadyOwnedByYou {
		return nil // another process made it
	}
	if err != nil {
		return s.wrap(ctx, "make bucket", "", err)
	}
	if ret.Disabled {
		return nil
	}
	unit := mc.Days
	if err := s.client.SetObjectLockConfig(mctx, s.bucket, &mode, &days, &unit); err != nil {
		return s.wrap(ctx, "set object lock retention", "", err)
	}
	return nil
}

// Bucket returns the name of the store's bucket.
func (s *Store) Bucket() string { return s.bucket }

// Client returns the minio-go client the store talks through, for raw
// baselines measured over the same connection pool (taizhang bench). A
// caller must not write under the store's own keys (Key) with it.
func (s *Store) Client() *mc.Client { return s.client }

// Key returns the object name under which ref is (or would be) stored.
func Key(ref blobstore.Ref) string { return "sha256/" + ref.String() }

func checkRef(op string, ref blobstore.Ref) error {
	if ref.IsZero() {
		return fmt.Errorf("blobstore/minio: %s: %w: zero ref", op, blobstore.ErrInvalidRef)
	}
	return nil
}

// Put stores exactly size bytes from r under ref, as the blobstore.Store
// contract says. If an object of that size is already stored under ref it
// returns nil without reading r; an object of another size (a damaged copy)
// is replaced. The object is uploaded with its known size, in parts above
// 16 MiB; an r that is an io.ReaderAt and io.Seeker (an *os.File, as Receive
// passes) is streamed without buffering, while another r over 16 MiB costs
// minio-go a part-sized buffer per upload thread. Errors: ctx's error; an
// error wrapping blobstore.ErrUnavailable when the service cannot be reached;
// the service's or the transport's error otherwise (a short r among them). A
// failed upload stores nothing.
func (s *Store) Put(ctx context.Context, ref blobstore.Ref, size int64, r io.Reader) error {
	if err := checkRef("put", ref); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("blobstore/minio: put %s: negative size %d", ref, size)
	}
	info, err := s.Stat(ctx, ref)
	switch {
	case err == nil && info.Size == size:
		return nil
	case err != nil && !errors.Is(err, blobstore.ErrNotFound):
		return err
	}
	key := Key(ref)
	// minio-go reads a seekable io.ReaderAt from its current offset when it
	// sends one request but from offset 0 when it sends parts; a section
	// starting at the current offset makes both the same, and bounds the
	// read to size bytes.
	if ra, ok := r.(interface {
		io.ReaderAt
		io.Seeker
	}); ok {
		off, err := ra.Seek(0, io.SeekCurrent)
		if err != nil {
			return fmt.Errorf("blobstore/minio: put %s: %w", key, err)
		}
		r = io.NewSectionReader(ra, off, size)
	}
	_, err = s.client.PutObject(ctx, s.bucket, key, r, size, mc.PutObjectOptions{
		ContentType: "application/octet-stream",
	})
	if err != nil {
		return s.wrap(ctx, "put", key, err)
	}
	return nil
}

// Get returns the stored object under ref and its size; the bytes are not
// verified (see blobstore.Open). Errors: blobstore.ErrNotFound when there is
// no such object; ctx's error; blobstore.ErrUnavailable when the service
// cannot be reached or does not start answering within a few seconds, also
// for read errors of the returned stream caused by the connection.
func (s *Store) Get(ctx context.Context, ref blobstore.Ref) (io.ReadCloser, int64, error) {
	if err := checkRef("get", ref); err != nil {
		return nil, 0, err
	}
	key := Key(ref)
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("blobstore/minio: get %s: %w", key, err)
	}
	// The request's context must live as long as the body is read, so the
	// wait for the response head is bounded by a timer rather than a
	// deadline.
	gctx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(metaTimeout, cancel)
	body, info, _, err := s.core.GetObject(gctx, s.bucket, key, mc.GetObjectOptions{})
	if !timer.Stop() {
		if err == nil {
			body.Close()
		}
		cancel()
		if ctx.Err() != nil {
			return nil, 0, fmt.Errorf("blobstore/minio: get %s: %w", key, ctx.Err())
		}
		return nil, 0, fmt.Errorf("blobstore/minio: get %s: %w: no answer within %s", key, blobstore.ErrUnavailable, metaTimeout)
	}
	if err != nil {
		cancel()
		return nil, 0, s.wrap(ctx, "get", key, err)
	}
	return &download{s: s, ctx: ctx, key: key, rc: body, cancel: cancel}, info.Size, nil
}

// download maps transport errors of a download to blobstore.ErrUnavailable and
// releases the request's context on Close.
type download struct {
	s      *Store
	ctx    context.Context
	key    string
	rc     io.ReadCloser
	cancel context.CancelFunc
}

func (b *download) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		err = b.s.wrap(b.ctx, "get", b.key, err)
	}
	return n, err
}

func (b *download) Close() error {
	err := b.rc.Close()
	b.cancel()
	return err
}

// Stat returns the size of the object stored under ref. Errors:
// blobstore.ErrNotFound when there is no such object; ctx's error;
// blobstore.ErrUnavailable when the service cannot be reached or does not
// answer within a few seconds.
func (s *Store) Stat(ctx context.Context, ref blobstore.Ref) (blobstore.Info, error) {
	if err := checkRef("stat", ref); err != nil {
		return blobstore.Info{}, err
	}
	key := Key(ref)
	mctx, cancel := context.WithTimeout(ctx, metaTimeout)
	defer cancel()
	oi, err := s.client.StatObject(mctx, s.bucket, key, mc.StatObjectOptions{})
	if err != nil {
		return blobstore.Info{}, s.wrap(ctx, "stat", key, err)
	}
	return blobstore.Info{Ref: ref, Size: oi.Size}, nil
}

// Ping checks that the service answers and the bucket exists. Errors: ctx's
// error; blobstore.ErrUnavailable when the service cannot be reached, does not
// answer within a few seconds, or has lost the bucket; the service's refusal
// (for example bad credentials) otherwise.
func (s *Store) Ping(ctx context.Context) error {
	mctx, cancel := context.WithTimeout(ctx, metaTimeout)
	defer cancel()
	ok, err := s.client.BucketExists(mctx, s.bucket)
	if err != nil {
		return s.wrap(ctx, "ping", "", err)
	}
	if !ok {
		return fmt.Errorf("blobstore/minio: ping: %w: bucket %q does not exist", blobstore.ErrUnavailable, s.bucket)
	}
	return nil
}

// wrap turns an error of minio-go into one of the blobstore errors where one
// applies. ctx is the caller's context: when it is done, its error is
// returned as is; a deadline of this package's own (metaTimeout) means the
// service did not answer, so unavailable.
func (s *Store) wrap(ctx context.Context, op, key string, err error) error {
	what := op
	if key != "" {
		what += " " + key
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("blobstore/minio: %s: %w", what, cerr)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		// Not the caller's context, so one of this package's timeouts.
		return fmt.Errorf("blobstore/minio: %s: %w: no answer in time: %w", what, blobstore.ErrUnavailable, err)
	}
	var er mc.ErrorResponse
	if errors.As(err, &er) && (er.StatusCode != 0 || er.Code != "") {
		switch {
		case er.Code == mc.NoSuchKey || er.StatusCode == http.StatusNotFound && er.Code != mc.NoSuchBucket && key != "":
			return fmt.Errorf("blobstore/minio: %s: %w", what, blobstore.ErrNotFound)
		case er.Code == mc.NoSuchBucket:
			return fmt.Errorf("blobstore/minio: %s: %w: bucket %q does not exist", what, blobstore.ErrUnavailable, s.bucket)
		case er.StatusCode >= 500 || unavailableCodes[er.Code]:
			return fmt.Errorf("blobstore/minio: %s: %w: %w", what, blobstore.ErrUnavailable, err)
		}
		return fmt.Errorf("blobstore/minio: %s: %w", what, err)
	}
	if transportFailure(err) {
		return fmt.Errorf("blobstore/minio: %s: %w: %w", what, blobstore.ErrUnavailable, err)
	}
	return fmt.Errorf("blobstore/minio: %s: %w", what, err)
}

// unavailableCodes are S3 error codes that say "not now" whatever the status.
var unavailableCodes = map[string]bool{
	"InternalError":              true,
	"ServiceUnavailable":         true,
	"SlowDown":                   true,
	"RequestTimeout":             true,
	"XMinioServerNotInitialized": true,
	"XMinioReadQuorum":           true,
	"XMinioWriteQuorum":          true,
}

// transportFailure reports whether err says the connection to the service
// failed: refused, reset, timed out, unresolvable, or closed mid-answer.
// Client-side mistakes that net/http also wraps in a *url.Error (a body
// shorter than its declared length, say) are not transport failures.
func transportFailure(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && (op.Op == "dial" || op.Timeout()) {
		return true
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return true
	}
	for _, e := range []error{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE,
		syscall.ETIMEDOUT, syscall.EHOSTUNREACH, syscall.ENETUNREACH, io.ErrUnexpectedEOF} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ue *url.Error
	if errors.As(err, &ue) && (ue.Timeout() || errors.Is(ue.Err, io.EOF)) {
		return true
	}
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

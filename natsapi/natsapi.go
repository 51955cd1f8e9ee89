// Package natsapi serves taizhang's evidence API as a NATS service (nats.go's
// micro package: discoverable with `nats micro ls` / `nats micro info
// taizhang`, answering $SRV.PING, $SRV.INFO and $SRV.STATS). Its endpoints
// are submit, amend, retract, history, archive and compliance, under the
// subject prefix Config.Prefix (DefaultPrefix: taizhang.v1.submit, ...).
//
// There is no second API behind it and no second authorizer: every call is
// turned into an in-process *http.Request to the HTTP API's handler
// (httpserver.Server), carrying the caller's taizhang token from the message
// header Authorization ("Bearer <token>"), or the NATS user the server
// names when Config.Accounts trusts its account (auth.WithAssertedUser), so
// that the one gate (gate.Gate.Handle: authentication, auth.Decide on the
// route's action, the access log) decides and records it, and the HTTP
// handler does
// the work (idempotent submissions by evidence id, strict JSON, limits,
// sniffing). The answer is the HTTP answer's JSON body; an HTTP status of
// 400 or more answers as a micro error, its code the status ("403") and its
// description the error's message, with the JSON error body as data.
//
// Attachments come by digest of a blob already in the store (the evidence
// JSON's "blobs", checked by the HTTP API) or from the JetStream object
// store bucket Config.Uploads: the client puts the bytes there and names
// the objects in "objects"; they are streamed into the HTTP API as
// multipart file parts, never held in memory whole.
package natsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
)

// Name is the service's name in $SRV discovery; Version is the version of
// the API described here (semantic versioning; the subjects carry its
// major version).
const (
	Name    = "taizhang"
	Version = "1.0.0"
)

// DefaultPrefix is the subject prefix of the endpoints;
// DefaultUploads the object store bucket for attachments;
// DefaultUploadTTL how long an object stays in a bucket the service creates.
const (
	DefaultPrefix    = "taizhang.v1"
	DefaultUploads   = "TAIZHANG_UPLOADS"
	DefaultUploadTTL = 24 * time.Hour
)

// Endpoint names, the last element of their subjects.
const (
	EpSubmit     = "submit"
	EpAmend      = "amend"
	EpRetract    = "retract"
	EpHistory    = "history"
	EpArchive    = "archive"
	EpCompliance = "compliance"
)

// Headers of requests and answers.
const (
	// HeaderAuthorization carries the caller's taizhang token: "Bearer <token>".
	HeaderAuthorization = "Authorization"
	// HeaderStatus is the HTTP status the call was answered with (on every
	// answer, errors included).
	HeaderStatus = "Taizhang-Status"
	// HeaderSeq, HeaderMinSeq and HeaderRequestID are the HTTP API's
	// headers of the same names: the ledger sequence an append recorded,
	// the sequence a read must reflect (read your writes across replicas),
	// and the request's id (as in the server log and the error body).
	HeaderSeq       = "X-Taizhang-Seq"
	HeaderMinSeq    = "X-Taizhang-Min-Seq"
	HeaderRequestID = "X-Request-Id"
)

// Config configures the service.
type Config struct {
	// Handler is the HTTP API every call goes through (required).
	Handler http.Handler
	// Prefix is the subject prefix of the endpoints (default DefaultPrefix).
	Prefix string
	// QueueGroup shares the calls among the replicas serving the same
	// ledger (default "taizhang").
	QueueGroup string
	// JetStream, if set, enables attachments through the object store
	// bucket Uploads (default DefaultUploads), created with UploadTTL
	// (default DefaultUploadTTL) and Replicas (default 1) if it does not
	// exist.
	JetStream jetstream.JetStream
	Uploads   string
	UploadTTL time.Duration
	Replicas  int
	// Accounts, if set, are NATS accounts whose users are taizhang users
	// of the same id: a call that comes from such an account through a
	// service import that shares its requester (share: true; nats-server
	// then sets the Nats-Request-Info header, replacing any the sender
	// wrote) and has no Authorization header acts as that user. Sound only
	// if no user of the service's own account may publish on the
	// endpoints' subjects (they could write the header themselves); see
	// the README's NATS service API.
	Accounts []string
	// Replica names this process in the service's metadata.
	Replica string
	// Workers is how many calls this process serves at once (default 1):
	// each is an instance of the service (its own id in $SRV discovery,
	// metadata "worker"), all in the queue group, since a micro endpoint
	// handles its calls one at a time.
	Workers int
	// Timeout bounds one call (default 2 minutes).
	Timeout time.Duration
	// MaxAnswer bounds an answer's body (default: the connection's
	// maximum payload less 8 KiB for headers); a larger answer is refused
	// with 413, nothing being cut.
	MaxAnswer int
	// Log logs the service's start, stop and failures (default: discard).
	Log *slog.Logger
}

// Service is the running NATS service.
type Service struct {
	nc      *nats.Conn
	svcs    []micro.Service // Config.Workers instances
	cfg     Config
	uploads jetstream.ObjectStore // nil without Config.JetStream
	log     *slog.Logger

	ctx    context.Context // the calls' context, cancelled by Stop
	cancel context.CancelFunc

	mu       sync.Mutex
	stopping bool
	calls    sync.WaitGroup
}

// Start registers the service on nc and returns it running: its endpoints
// and the $SRV discovery subjects are subscribed when Start returns. With
// Config.JetStream it first opens (or creates) the uploads bucket. Stop it
// with Stop.
func Start(ctx context.Context, nc *nats.Conn, cfg Config) (*Service, error) {
	if cfg.Handler == nil {
		return nil, errors.New("natsapi: no Handler")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.QueueGroup == "" {
		cfg.QueueGroup = Name
	}
	if cfg.Uploads == "" {
		cfg.Uploads = DefaultUploads
	}
	if cfg.UploadTTL <= 0 {
		cfg.UploadTTL = DefaultUploadTTL
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}
	if cfg.MaxAnswer <= 0 {
		cfg.MaxAnswer = max(int(nc.MaxPayload())-8<<10, 64<<10)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if err := checkAccounts(nc, cfg.Accounts); err != nil {
		return nil, err
	}
	s := &Service{nc: nc, cfg: cfg, log: cfg.Log}
	if cfg.JetStream != nil {
		os, err := openUploads(ctx, cfg)
		if err != nil {
			return nil, err
		}
		s.uploads = os
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	meta := map[string]string{"prefix": cfg.Prefix, "auth": "Authorization: Bearer <taizhang token> header"}
	if len(cfg.Accounts) > 0 {
		meta["auth"] += "; or a user of NATS account " + strings.Join(cfg.Accounts, ", ") + " through a shared service import"
	}
	if s.uploads != nil {
		meta["uploads"] = cfg.Uploads
	}
	if cfg.Replica != "" {
		meta["replica"] = cfg.Replica
	}
	for w := range cfg.Workers {
		m := maps.Clone(meta)
		if cfg.Workers > 1 {
			m["worker"] = fmt.Sprintf("%d/%d", w+1, cfg.Workers)
		}
		svc, err := s.addInstance(nc, m)
		if err != nil {
			s.stopInstances()
			s.cancel()
			return nil, err
		}
		s.svcs = append(s.svcs, svc)
	}
	// The subscriptions exist once the server has seen them: a client
	// calling right after Start must find them.
	if err := nc.FlushTimeout(10 * time.Second); err != nil {
		s.stopInstances()
		s.cancel()
		return nil, fmt.Errorf("natsapi: flush subscriptions: %w", err)
	}
	s.log.Info("nats api serving", "service", Name, "version", Version, "id", s.svcs[0].Info().ID, "workers", cfg.Workers,
		"subjects", cfg.Prefix+".>", "uploads", meta["uploads"])
	return s, nil
}

// addInstance registers one instance of the service with its endpoints.
func (s *Service) addInstance(nc *nats.Conn, meta map[string]string) (micro.Service, error) {
	svc, err := micro.AddService(nc, micro.Config{
		Name: Name, Version: Version, QueueGroup: s.cfg.QueueGroup, Metadata: meta,
		Description: "taizhang evidence ledger: submit, amend, retract, history, archive, compliance",
		ErrorHandler: func(_ micro.Service, e *micro.NATSError) {
			s.log.Error("nats api: subscription error", "subject", e.Subject, "err", e.Description)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("natsapi: add service: %w", err)
	}
	g := svc.AddGroup(s.cfg.Prefix)
	for _, ep := range s.endpoints() {
		if err := g.AddEndpoint(ep.name, micro.HandlerFunc(s.serve(ep)), micro.WithEndpointMetadata(map[string]string{"description": ep.doc})); err != nil {
			_ = svc.Stop()
			return nil, fmt.Errorf("natsapi: endpoint %s: %w", ep.name, err)
		}
	}
	return svc, nil
}

// stopInstances stops every instance, returning the first error.
func (s *Service) stopInstances() error {
	var first error
	for _, svc := range s.svcs {
		if err := svc.Stop(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// checkAccounts refuses to trust the service's own account (asked of the
// server: $SYS.REQ.USER.INFO): its users reach the endpoints without
// crossing an import, so the Nats-Request-Info header on their messages is
// their own word.
func checkAccounts(nc *nats.Conn, accounts []string) error {
	if len(accounts) == 0 {
		return nil
	}
	resp, err := nc.Request("$SYS.REQ.USER.INFO", nil, 10*time.Second)
	if err != nil {
		return fmt.Errorf("natsapi: ask the NATS server which account this connection is in, to trust accounts %s (may this user publish to $SYS.REQ.USER.INFO?): %w", strings.Join(accounts, ", "), err)
	}
	var info struct {
		Data struct {
			Account string `json:"account"`
		} `json:"data"`
		Error *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(resp.Data, &info); err != nil || info.Error != nil || info.Data.Account == "" {
		return fmt.Errorf("natsapi: the NATS server did not say which account this connection is in: %s", resp.Data)
	}
	if slices.Contains(accounts, info.Data.Account) {
		return fmt.Errorf("natsapi: account %s is the service's own: its users could write the Nats-Request-Info header themselves; trust only accounts that import the service", info.Data.Account)
	}
	return nil
}

// openUploads binds the uploads bucket, creating it if it is missing.
func openUploads(ctx context.Context, cfg Config) (jetstream.ObjectStore, error) {
	os, err := cfg.JetStream.ObjectStore(ctx, cfg.Uploads)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		os, err = cfg.JetStream.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: cfg.Uploads,
			Description: "taizhang: attachments sent for NATS API submissions (transient; the blob store keeps them)",
			TTL:         cfg.UploadTTL, Replicas: cfg.Replicas})
		if errors.Is(err, jetstream.ErrBucketExists) { // another replica made it meanwhile
			os, err = cfg.JetStream.ObjectStore(ctx, cfg.Uploads)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("natsapi: object store %s: %w", cfg.Uploads, err)
	}
	return os, nil
}

// Info returns the $SRV.INFO answer of the service's first instance.
func (s *Service) Info() micro.Info { return s.svcs[0].Info() }

// Stop stops taking calls (the endpoint and discovery subscriptions are
// drained: a call already delivered is answered 503, "retry"; once Stop
// returns, the server routes no more calls here), waits for
// the calls in progress to be answered until ctx ends, then cancels those
// still running. Calling it twice is harmless.
func (s *Service) Stop(ctx context.Context) error {
	s.mu.Lock()
	already := s.stopping
	s.stopping = true
	s.mu.Unlock()
	if already {
		return nil
	}
	err := s.stopInstances()
	// The unsubscriptions are sent: once the server has them, a call made
	// after Stop returns finds no responder (one delivered before is
	// answered 503).
	if ferr := s.nc.FlushTimeout(5 * time.Second); ferr != nil && !errors.Is(ferr, nats.ErrConnectionClosed) {
		s.log.Warn("nats api: flush unsubscriptions", "err", ferr)
	}
	done := make(chan struct{})
	go func() { s.calls.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.cancel()
		<-done
	}
	s.cancel()
	s.log.Info("nats api stopped")
	if err != nil {
		return fmt.Errorf("natsapi: stop: %w", err)
	}
	return nil
}

// begin registers a call, or reports false once Stop has begun.
func (s *Service) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	s.calls.Add(1)
	return true
}

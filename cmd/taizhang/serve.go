package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"taizhang/api"
	"taizhang/auth"
	"taizhang/auth/natsaccess"
	"taizhang/auth/natskv"
	"taizhang/blobstore"
	"taizhang/blobstore/dir"
	"taizhang/blobstore/minio"
	"taizhang/closure"
	"taizhang/events"
	tzjs "taizhang/events/jetstream"
	"taizhang/httpserver"
	"taizhang/internal/demo"
	"taizhang/internal/metrics"
	"taizhang/projections"
)

type serveConfig struct {
	noHistoryCache              bool
	memoryLimit                 string // --memory-limit, parsed by parseMemoryLimit
	data, addr, addrFile        string
	natsURL, natsUser, natsPass string
	natsToken, natsCreds        string
	natsListen                  string
	replicas                    int
	s3Endpoint, s3Bucket        string
	s3AccessKey, s3SecretKey    string
	secretFiles                 secretFiles
	s3Region                    string
	s3Secure                    bool
	s3Retention                 minio.Retention
	maxFileMiB, maxRequestMiB   int64
	maxFiles                    int
	maxJSONKiB, maxMegapixels   int64
	decodeTimeout               time.Duration
	logJSON                     bool
	logLevel                    slog.Level
	demo                        bool
	tlsCert, tlsKey             string
	sessionIdle, sessionMax     time.Duration
	secureCookies               bool
	name                        string           // replica name (--name)
	leaseTTL                    time.Duration    // checkpoint lease TTL (--lease-ttl)
	minSeqWait                  time.Duration    // --min-seq-wait
	closureDistance             float64          // --closure-distance, metres
	metricsAddr                 string           // --metrics-addr: "" the main listener, "off", or HOST:PORT
	metrics                     *metrics.Metrics // serve's registry; nil for the other commands
	natsAPI                     autoBool         // --nats-api (natsapi.go)
	natsAPIPrefix               string           // --nats-api-prefix
	natsAPIAccounts             []string         // --nats-api-accounts
	natsAPIWorkers              int              // --nats-api-workers

	cp checkpointFlags // checkpoints.go

	// onListen, when set, is called once serve listens (after the demo,
	// under --demo), with what it serves; serve goes on until its context
	// ends. `taizhang bench` runs its load through it.
	onListen func(served)
}

// served is what a running serve hands to onListen: its HTTP address, its
// data directory (admin.token in it), the NATS connection and ledger it
// appends through, and its blob store as the API uses it (with metrics) and
// the backend beneath (a *dir.Store or a *minio.Store).
type served struct {
	addr, data   string
	nc           *nats.Conn
	ledger       *tzjs.Ledger
	blobs        blobstore.Store
	blobsBackend blobstore.Store
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	var c serveConfig
	fs := newFlags("serve", stderr)
	serveFlags(fs, &c)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case c.maxFileMiB < 1 || c.maxRequestMiB < 1:
		return usagef("--max-file-mib and --max-request-mib must be at least 1")
	case c.maxFiles < 1 || c.maxFiles > events.MaxAttachments:
		return usagef("--max-files must be from 1 to %d", events.MaxAttachments)
	case c.maxJSONKiB < 1 || c.maxJSONKiB > 1024:
		return usagef("--max-json-kib must be from 1 to 1024")
	case c.maxMegapixels < 1:
		return usagef("--max-megapixels must be at least 1")
	case c.decodeTimeout <= 0:
		return usagef("--decode-timeout must be positive")
	case c.leaseTTL < 100*time.Millisecond || c.minSeqWait <= 0:
		return usagef("--lease-ttl must be at least 100ms and --min-seq-wait positive")
	case !(c.closureDistance >= 1 && c.closureDistance <= 100_000):
		return usagef("--closure-distance must be from 1 to 100000 metres")
	case c.name == "" || len(c.name) > 128 || strings.ContainsAny(c.name, " \t\r\n"):
		return usagef("--name must be 1 to 128 characters without spaces")
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	memLimit, err := parseMemoryLimit(c.memoryLimit)
	if err != nil {
		return usagef("%v", err)
	}
	if c.tlsCert != "" && c.demo {
		return usagef("run --demo without TLS (the demo talks plain HTTP to this server)")
	}
	hopts := &slog.HandlerOptions{Level: c.logLevel}
	var h slog.Handler = slog.NewTextHandler(stderr, hopts)
	if c.logJSON {
		h = slog.NewJSONHandler(stderr, hopts)
	}
	log := slog.New(h)
	applyMemoryLimit(memLimit, log)
	return runServer(ctx, c, log)
}

// serveFlags registers serve's flags (storeFlags among them) on fs, into
// c; bench takes serve's defaults from them.
func serveFlags(fs *flag.FlagSet, c *serveConfig) {
	storeFlags(fs, c)
	fs.StringVar(&c.addr, "addr", envOr("TAIZHANG_ADDR", "127.0.0.1:8080"), "HTTP listen address (port 0 picks a free one)")
	fs.StringVar(&c.addrFile, "addr-file", "", "write the bound HTTP address to this file once listening")
	fs.StringVar(&c.natsListen, "nats-listen", "", "embedded mode: also accept NATS clients on HOST:PORT (default: in-process only)")
	fs.Int64Var(&c.maxFileMiB, "max-file-mib", 64, "largest accepted attachment, MiB")
	fs.Int64Var(&c.maxRequestMiB, "max-request-mib", 512, "largest accepted upload request, MiB")
	fs.IntVar(&c.maxFiles, "max-files", events.MaxAttachments, "most attachments in one request")
	fs.Int64Var(&c.maxJSONKiB, "max-json-kib", 64, "largest accepted JSON body (or JSON part of an upload), KiB; at most 1024")
	fs.Int64Var(&c.maxMegapixels, "max-megapixels", 50, "largest accepted image, in megapixels (width × height from its header, checked before decoding)")
	fs.DurationVar(&c.decodeTimeout, "decode-timeout", 10*time.Second, "longest an attached image's decoding (for its hash) may take before the upload is refused")
	fs.BoolVar(&c.logJSON, "log-json", false, "log as JSON lines")
	fs.StringVar(&c.memoryLimit, "memory-limit", envOr("TAIZHANG_MEMORY_LIMIT", ""), "soft limit on the process's memory, e.g. 1000MiB or 1GiB (the Go collector works harder near it instead of letting the heap double); \"off\" for none; default GOMEMLIMIT if set, else 90% of the container's memory limit if any")
	fs.BoolVar(&c.noHistoryCache, "no-history-cache", false, "read units' histories from the stream, not from a local copy of it in DATA/history (about the stream's size on disk, kept so that a restart replays the ledger from it)")
	fs.TextVar(&c.logLevel, "log-level", levelOr("TAIZHANG_LOG_LEVEL", slog.LevelInfo), "least severe level logged: debug (also one line per request), info, warn or error")
	serveCheckpointFlags(fs, &c.cp)
	natsAPIFlags(fs, c)
	fs.StringVar(&c.tlsCert, "tls-cert", envOr("TAIZHANG_TLS_CERT", ""), "serve HTTPS with this certificate (PEM; with --tls-key)")
	fs.StringVar(&c.tlsKey, "tls-key", envOr("TAIZHANG_TLS_KEY", ""), "the certificate's private key (PEM)")
	fs.DurationVar(&c.sessionIdle, "session-idle", 30*time.Minute, "end a web session unused this long")
	fs.DurationVar(&c.sessionMax, "session-max", 12*time.Hour, "end any web session this old")
	fs.BoolVar(&c.secureCookies, "secure-cookies", false, "mark session cookies Secure without --tls-cert (behind a TLS proxy)")
	fs.StringVar(&c.name, "name", envOr("TAIZHANG_NAME", defaultReplicaName()), "this replica's name among the serve processes sharing a ledger (status, checkpoint lease); default HOST-PID")
	fs.DurationVar(&c.leaseTTL, "lease-ttl", tzjs.DefaultLeaseTTL, "with --nats: time to live of the checkpoint lease in the "+tzjs.DefaultLeaseBucket+" KV bucket, when serve creates the bucket (a dead holder is replaced after at most this)")
	fs.DurationVar(&c.minSeqWait, "min-seq-wait", 5*time.Second, "longest a request with min_seq (or X-Taizhang-Min-Seq) waits for this replica to apply that ledger sequence before answering 503")
	fs.StringVar(&c.metricsAddr, "metrics-addr", envOr("TAIZHANG_METRICS_ADDR", ""), "serve Prometheus metrics (unauthenticated) at /metrics on HOST:PORT instead of the main listener; \"off\" serves none")
	fs.Float64Var(&c.closureDistance, "closure-distance", closure.DefaultMaxDistance, "closing a finding: how far in metres the rectification's photo may be from the finding's photo when both carry a GPS position")
	fs.BoolVar(&c.demo, "demo", false, "once listening, register the seed plans' units and submit their demo evidence through the API (idempotent), then log the tokens to try")
}

// storeFlags registers the flags that say where the ledger and the blobs
// are: serve and verify share them.
func storeFlags(fs *flag.FlagSet, c *serveConfig) {
	fs.StringVar(&c.data, "data", envOr("TAIZHANG_DATA", "taizhang-data"), "data directory (embedded NATS, blobs, admin token)")
	fs.StringVar(&c.natsURL, "nats", envOr("TAIZHANG_NATS_URL", ""), "external NATS URL; empty runs an embedded server in DIR/nats")
	fs.StringVar(&c.natsUser, "nats-user", envOr("TAIZHANG_NATS_USER", ""), "NATS user (env TAIZHANG_NATS_USER)")
	fs.StringVar(&c.natsPass, "nats-password", envOr("TAIZHANG_NATS_PASSWORD", ""), "NATS password (env TAIZHANG_NATS_PASSWORD)")
	fs.StringVar(&c.natsToken, "nats-token", envOr("TAIZHANG_NATS_TOKEN", ""), "NATS token (env TAIZHANG_NATS_TOKEN)")
	fs.StringVar(&c.secretFiles.natsPass, "nats-password-file", envOr("TAIZHANG_NATS_PASSWORD_FILE", ""), "read the NATS password from this file (env TAIZHANG_NATS_PASSWORD_FILE)")
	fs.StringVar(&c.secretFiles.natsToken, "nats-token-file", envOr("TAIZHANG_NATS_TOKEN_FILE", ""), "read the NATS token from this file (env TAIZHANG_NATS_TOKEN_FILE)")
	fs.StringVar(&c.natsCreds, "nats-creds", envOr("TAIZHANG_NATS_CREDS", ""), "NATS credentials file (env TAIZHANG_NATS_CREDS)")
	fs.IntVar(&c.replicas, "replicas", 0, "stream replicas (default 1 embedded, 3 external)")
	fs.StringVar(&c.s3Endpoint, "s3-endpoint", envOr("TAIZHANG_S3_ENDPOINT", ""), "MinIO/S3 endpoint HOST:PORT; empty uses the blob directory DIR/blobs")
	fs.StringVar(&c.s3Bucket, "s3-bucket", envOr("TAIZHANG_S3_BUCKET", "taizhang"), "bucket (created if missing)")
	fs.StringVar(&c.s3AccessKey, "s3-access-key", envOr("TAIZHANG_S3_ACCESS_KEY", ""), "access key (env TAIZHANG_S3_ACCESS_KEY)")
	fs.StringVar(&c.s3SecretKey, "s3-secret-key", envOr("TAIZHANG_S3_SECRET_KEY", ""), "secret key (env TAIZHANG_S3_SECRET_KEY)")
	fs.StringVar(&c.secretFiles.s3Access, "s3-access-key-file", envOr("TAIZHANG_S3_ACCESS_KEY_FILE", ""), "read the access key from this file (env TAIZHANG_S3_ACCESS_KEY_FILE)")
	fs.StringVar(&c.secretFiles.s3Secret, "s3-secret-key-file", envOr("TAIZHANG_S3_SECRET_KEY_FILE", ""), "read the secret key from this file (env TAIZHANG_S3_SECRET_KEY_FILE)")
	fs.StringVar(&c.s3Region, "s3-region", envOr("TAIZHANG_S3_REGION", ""), "region")
	fs.BoolVar(&c.s3Secure, "s3-tls", envOr("TAIZHANG_S3_TLS", "") == "true", "use HTTPS to reach S3")
	fs.StringVar(&c.s3Retention.Mode, "s3-retention-mode", envOr("TAIZHANG_S3_RETENTION_MODE", "GOVERNANCE"), "object-lock mode of a bucket taizhang creates: GOVERNANCE or COMPLIANCE")
	fs.UintVar(&c.s3Retention.Days, "s3-retention-days", 3650, "object-lock retention, days, of a bucket taizhang creates")
	fs.BoolVar(&c.s3Retention.Disabled, "s3-no-object-lock", false, "create the bucket without object lock (not WORM)")
}

// runServer runs serve until ctx ends or the HTTP server fails, in named
// steps: the data directories, the stores (NATS, the ledger, the blobs, the
// credentials, the access log), the projection, the API, the first admin,
// checkpointing, metrics, the listener; then the demo, if asked; then an
// orderly shutdown. It returns the demo's error, if it failed.
func runServer(ctx context.Context, c serveConfig, log *slog.Logger) error {
	tmp, err := makeDataDirs(c.data)
	if err != nil {
		return err
	}
	// The demo records its story at the story's times (internal/demo.Clock);
	// anything else records at the real time.
	now := time.Now
	var clock *demo.Clock
	if c.demo {
		clock = demo.NewClock()
		now = clock.Now
	}
	c.metrics = metrics.New()
	st, err := openStores(ctx, c, now, log)
	if err != nil {
		return err
	}
	defer st.close()
	creds, err := whilePlacing(ctx, log, "the credential buckets", func() (*natskv.Store, error) {
		return natskv.Open(ctx, st.ledger.JetStream(), st.replicas, c.sessionMax)
	})
	if err != nil {
		return explainReplicas(err, c, st.replicas)
	}
	access, err := whilePlacing(ctx, log, "the access log", func() (*natsaccess.Log, error) {
		return natsaccess.Open(ctx, st.ledger.JetStream(), st.replicas, log)
	})
	if err != nil {
		return explainReplicas(err, c, st.replicas)
	}
	defer access.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	archive := projections.NewLive(st.ledger, log)
	// Item bodies on disk: they are most of the archive's bytes.
	archive.SpoolTexts(tmp)
	st.ledger.SetWriteCheck(archive.CheckWritable) // a quarantined unit takes no writes
	projDone := make(chan struct{})
	go func() { defer close(projDone); archive.Run(ctx) }()

	api := newServer(c, st, archive, creds, access, tmp, now, log)
	if err := firstAdmin(ctx, c, st.ledger, archive, api, log); err != nil {
		return err
	}
	cp, err := startCheckpointing(ctx, c, st, api, log)
	if err != nil {
		return err
	}
	defer cp.close()
	watchMetrics(c.metrics, st.ledger, archive, cp.cps)
	stopMetrics, err := serveMetrics(c, log)
	if err != nil {
		return err
	}
	defer stopMetrics()

	natsAPI, err := startNATSAPI(ctx, c, st, api, log)
	if err != nil {
		return err
	}
	defer stopNATSAPI(natsAPI, log) // idempotent
	hs, err := listen(c, api, log)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.srv.Serve(hs.ln) }()
	var demoErr error
	if c.demo {
		if demoErr = runDemo(ctx, c.data, hs.addr, clock, log); demoErr != nil && ctx.Err() == nil {
			log.Error("demo failed", "err", demoErr)
			cancel()
		} else {
			demoErr = nil
			api.Release("demo")
		}
	}
	if c.onListen != nil && ctx.Err() == nil {
		c.onListen(served{addr: hs.addr, data: c.data, nc: st.nc, ledger: st.ledger, blobs: st.blobs, blobsBackend: st.backend})
	}
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}

	// Shut down: the NATS service API and the HTTP server first, then the
	// projection, the checkpointer and the lease (while NATS is still
	// connected, so another replica takes over at once), the access log,
	// the ledger, NATS.
	log.Info("shutting down")
	stopNATSAPI(natsAPI, log)
	sctx, scancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer scancel()
	if err := hs.srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Warn("http shutdown", "err", err)
	}
	cancel()
	<-projDone
	cp.close()
	access.Close()
	st.ledger.Close()
	if err := st.nc.Drain(); err != nil {
		log.Warn("nats drain", "err", err)
	}
	log.Info("stopped")
	return demoErr
}

// makeDataDirs makes the data directory and its tmp/ (the upload spool),
// mode 0700, and returns tmp's path.
func makeDataDirs(data string) (string, error) {
	tmp := filepath.Join(data, "tmp")
	for _, d := range []string{data, tmp} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", fmt.Errorf("data directory: %w", err)
		}
	}
	return tmp, nil
}

// newServer builds the HTTP API on the stores with serve's limits, and its
// access log; with --demo it holds /readyz until the demo is loaded.
func newServer(c serveConfig, st *stores, archive *projections.Live, creds auth.Credentials, access auth.AccessLog, tmp string, now func() time.Time, log *slog.Logger) *httpserver.Server {
	api := httpserver.New(st.ledger, st.blobs, archive, creds, httpserver.Config{
		API: api.Config{MaxFileSize: c.maxFileMiB << 20, MaxRequestSize: c.maxRequestMiB << 20, TempDir: tmp, Now: now,
			MaxFiles: c.maxFiles, MaxJSONSize: c.maxJSONKiB << 10, MaxPixels: c.maxMegapixels * 1_000_000, DecodeTimeout: c.decodeTimeout,
			ThumbDir: filepath.Join(c.data, "thumbs"), ClosureDistance: c.closureDistance},
		SessionIdle: c.sessionIdle, SessionMax: c.sessionMax, SecureCookies: c.secureCookies,
		Replica: c.name, MinSeqWait: c.minSeqWait, Metrics: c.metrics, MetricsHandler: mainMetrics(c),
	}, log)
	api.SetAccessLog(access)
	if c.demo {
		// Not ready until the demo is told: it records at its story's
		// times, so a client's write meanwhile would be dated in the story.
		api.Hold("demo", "the demo is still loading (its story's clock is running); wait for \"demo ready\" in the log")
	}
	return api
}

// firstAdmin records the first admin, once the projection has caught up
// with the ledger: its user (an event on the users chain) and a token in
// DATA/admin.token.
func firstAdmin(ctx context.Context, c serveConfig, ledger *tzjs.Ledger, archive *projections.Live, api *httpserver.Server, log *slog.Logger) error {
	last, err := ledger.LastSeq(ctx)
	if err != nil {
		return err
	}
	if err := waitProjection(ctx, archive, last, log); err != nil {
		return err
	}
	if err := api.EnsureUser(ctx, events.User{ID: "admin", Name: "admin", Role: events.RoleAdmin}); err != nil {
		return fmt.Errorf("first admin: %w", err)
	}
	return ensureAdminToken(ctx, api, c.data, log)
}

// checkpointing is the checkpointer, and the checkpoint lease when the
// ledger is shared (external NATS).
type checkpointing struct {
	cps   *tzjs.Checkpointer
	lease *tzjs.Lease // nil on the embedded server
}

// close stops the checkpointer, then gives up the lease. It may be called
// more than once.
func (cp *checkpointing) close() {
	cp.cps.Close()
	if cp.lease != nil {
		cp.lease.Close()
	}
}

// startCheckpointing starts the checkpointer and the cosignature log and
// gives them to the API. It runs after the first admin is recorded, so
// that the first start's checkpoint covers it. With an external NATS
// several replicas may share the ledger: only the holder of the
// checkpoint lease appends checkpoints, and it checkpoints at once when it
// takes the lease.
func startCheckpointing(ctx context.Context, c serveConfig, st *stores, api *httpserver.Server, log *slog.Logger) (*checkpointing, error) {
	var holds func() bool
	var cpRef atomic.Pointer[tzjs.Checkpointer]
	var lease *tzjs.Lease
	if c.natsURL != "" {
		var err error
		lease, err = tzjs.OpenLease(ctx, st.ledger, tzjs.LeaseConfig{Key: "checkpoint", Holder: c.name, TTL: c.leaseTTL, Replicas: st.replicas, Log: log},
			func(held bool) {
				if cp := cpRef.Load(); held && cp != nil {
					cp.Poke() // checkpoint now, not an interval later
				}
			})
		if err != nil {
			return nil, explainReplicas(err, c, st.replicas)
		}
		holds = lease.Held
		api.SetCheckpointLease(lease)
	}
	cps, err := startCheckpoints(ctx, c, st.ledger, holds, log)
	if err != nil {
		if lease != nil {
			lease.Close()
		}
		return nil, err
	}
	cpRef.Store(cps)
	cp := &checkpointing{cps: cps, lease: lease}
	api.SetCheckpoints(cps)
	cosigs, err := tzjs.StartCosignatures(ctx, cps, 5*time.Minute)
	if err != nil {
		cp.close()
		return nil, err
	}
	api.SetCosignatures(cosigs)
	return cp, nil
}

// httpServer is serve's listener and HTTP server.
type httpServer struct {
	ln   net.Listener
	srv  *http.Server
	addr string // the address listened on (the port chosen, for :0)
}

// listen listens on --addr (with TLS if --tls-cert), writes the address to
// --addr-file if set, and logs where it serves.
func listen(c serveConfig, api http.Handler, log *slog.Logger) (*httpServer, error) {
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", c.addr, err)
	}
	hs := &httpServer{ln: ln, addr: ln.Addr().String(), srv: &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}}
	if c.addrFile != "" {
		if err := os.WriteFile(c.addrFile, []byte(hs.addr), 0o600); err != nil {
			ln.Close()
			return nil, fmt.Errorf("write --addr-file: %w", err)
		}
	}
	scheme := "http"
	if c.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("load TLS certificate: %w", err)
		}
		hs.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		hs.ln = tls.NewListener(ln, hs.srv.TLSConfig)
		scheme = "https"
	}
	log.Info("taizhang serving", "addr", scheme+"://"+hs.addr)
	return hs, nil
}

// ensureAdminToken writes a new admin token to DATA/admin.token (mode 0600)
// on first start and says where in the log; it never logs the token.
func ensureAdminToken(ctx context.Context, api *httpserver.Server, data string, log *slog.Logger) error {
	path := filepath.Join(data, "admin.token")
	if _, err := os.Stat(path); err == nil {
		log.Info("admin token", "file", path)
		return nil
	}
	tok, err := api.IssueToken(ctx, events.RoleAdmin, "", "admin")
	if err != nil {
		return fmt.Errorf("create admin token: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write admin token: %w", err)
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("write admin token: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write admin token: %w", err)
	}
	log.Info("created an admin token (first start)", "file", path)
	return nil
}

// redactURL drops credentials from a NATS URL for logging.
func redactURL(u string) string {
	if at := strings.LastIndex(u, "@"); at >= 0 {
		if i := strings.Index(u, "://"); i >= 0 && i < at {
			return u[:i+3] + "***@" + u[at+1:]
		}
		return "***@" + u[at+1:]
	}
	return u
}

// stores are the ledger and the blob store, opened from the flags that
// storeFlags registers.
type stores struct {
	nc       *nats.Conn
	ledger   *tzjs.Ledger
	blobs    blobstore.Store // with metrics
	backend  blobstore.Store // beneath blobs: *dir.Store or *minio.Store
	replicas int
	closers  []func()
}

// close closes what openStores opened, last first.
func (st *stores) close() {
	for i := len(st.closers) - 1; i >= 0; i-- {
		st.closers[i]()
	}
}

// openStores starts the embedded NATS server (sync always) on DATA/nats, or
// connects to an external one, opens the ledger on it, and opens the blob
// directory DATA/blobs or the S3 bucket. The embedded store is locked, so
// that two processes never open it at once.
func openStores(ctx context.Context, c serveConfig, now func() time.Time, log *slog.Logger) (_ *stores, err error) {
	st, err := openNATS(ctx, c, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			st.close() // what was opened before the failure
		}
	}()
	cfg := tzjs.Config{Replicas: st.replicas, Now: now, Observe: c.metrics.ObserveAppend,
		IndexFeed: 3 * time.Second, Log: log} // the archive follows the ledger at once
	if !c.noHistoryCache {
		// and feeds the history cache, whose copy of the stream a restart
		// replays from disk
		cfg.HistoryDir = filepath.Join(c.data, "history")
	}
	ledger, err := whilePlacing(ctx, log, "the ledger", func() (*tzjs.Ledger, error) {
		return tzjs.Open(ctx, st.nc, cfg)
	})
	if err != nil {
		return nil, explainReplicas(err, c, st.replicas)
	}
	st.ledger = ledger
	st.closers = append(st.closers, ledger.Close)
	blobs, err := openBlobs(ctx, c, log)
	if err != nil {
		return nil, err
	}
	st.backend = blobs
	st.blobs = c.metrics.Blobs(blobs)
	return st, nil
}

// openNATS reads the credential files, then starts the embedded NATS server
// (sync always) on DATA/nats, locking DATA, or connects to the external one,
// and returns stores with only the connection and the replica count set:
// nothing is created on the server. Errors: a usage error for bad flags; the
// lock, the server's or the connection's error otherwise.
func openNATS(ctx context.Context, c serveConfig, log *slog.Logger) (_ *stores, err error) {
	if err := c.readSecretFiles(); err != nil {
		return nil, err
	}
	st := &stores{}
	defer func() {
		if err != nil {
			st.close() // what was opened before the failure
		}
	}()
	var nc *nats.Conn
	replicas := c.replicas
	if c.natsURL == "" {
		if err := os.MkdirAll(c.data, 0o700); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		unlock, err := lockData(c.data)
		if err != nil {
			return nil, err
		}
		st.closers = append(st.closers, unlock)
		ecfg := tzjs.EmbeddedConfig{StoreDir: filepath.Join(c.data, "nats"), NoListen: c.natsListen == ""}
		if c.natsListen != "" {
			host, port, err := net.SplitHostPort(c.natsListen)
			if err != nil {
				return nil, usagef("--nats-listen: %v", err)
			}
			ecfg.Host = host
			if _, err := fmt.Sscan(port, &ecfg.Port); err != nil {
				return nil, usagef("--nats-listen: bad port %q", port)
			}
		}
		ns, err := tzjs.StartEmbedded(ecfg)
		if err != nil {
			return nil, err
		}
		st.closers = append(st.closers, func() {
			ns.Shutdown()
			ns.WaitForShutdown()
		})
		nc, err = nats.Connect(ns.ClientURL(), nats.InProcessServer(ns), nats.Name("taizhang"))
		if err != nil {
			return nil, fmt.Errorf("connect to embedded nats: %w", err)
		}
		if replicas == 0 {
			replicas = 1
		}
		log.Info("embedded NATS with JetStream, sync always", "store", ecfg.StoreDir, "clients", c.natsListen)
	} else {
		opts := []nats.Option{nats.Name("taizhang"), nats.MaxReconnects(-1), nats.Timeout(10 * time.Second)}
		if c.natsUser != "" {
			opts = append(opts, nats.UserInfo(c.natsUser, c.natsPass))
		}
		if c.natsToken != "" {
			opts = append(opts, nats.Token(c.natsToken))
		}
		if c.natsCreds != "" {
			opts = append(opts, nats.UserCredentials(c.natsCreds))
		}
		var err error
		nc, err = nats.Connect(c.natsURL, opts...)
		if err != nil {
			return nil, fmt.Errorf("connect to NATS at %s: %w", redactURL(c.natsURL), err)
		}
		if replicas == 0 {
			replicas = 3
		}
		log.Info("external NATS", "url", redactURL(c.natsURL), "replicas", replicas)
	}
	st.nc, st.replicas = nc, replicas
	st.closers = append(st.closers, nc.Close)
	return st, nil
}

// openBlobs opens the blob store the flags name: the directory DATA/blobs,
// or the S3 bucket (created, with object lock, if missing). It reads the
// credential files itself: c is its own copy, and openNATS's reading them
// into its copy does not reach this one.
func openBlobs(ctx context.Context, c serveConfig, log *slog.Logger) (blobstore.Store, error) {
	if err := c.readSecretFiles(); err != nil {
		return nil, err
	}
	var blobs blobstore.Store
	if c.s3Endpoint == "" {
		d, err := dir.New(filepath.Join(c.data, "blobs"))
		if err != nil {
			return nil, err
		}
		blobs = d
		log.Info("blob store: local directory", "root", d.Root())
	} else {
		if c.s3AccessKey == "" || c.s3SecretKey == "" {
			return nil, usagef("--s3-endpoint needs --s3-access-key and --s3-secret-key (or TAIZHANG_S3_ACCESS_KEY and TAIZHANG_S3_SECRET_KEY)")
		}
		m, err := minio.New(ctx, minio.Config{Endpoint: c.s3Endpoint, Bucket: c.s3Bucket, AccessKey: c.s3AccessKey,
			SecretKey: c.s3SecretKey, Secure: c.s3Secure, Region: c.s3Region, Retention: c.s3Retention})
		if err != nil {
			return nil, err
		}
		blobs = m
		log.Info("blob store: S3", "endpoint", redactURL(c.s3Endpoint), "bucket", c.s3Bucket)
	}
	return blobs, nil
}

// secretFiles name files that hold credentials, so that they need not be
// given on the command line (where ps shows them) or in the environment.
type secretFiles struct {
	natsPass, natsToken string
	s3Access, s3Secret  string
}

// maxSecretFile bounds a credentials file.
const maxSecretFile = 64 << 10

// readSecretFiles reads the credentials that c.secretFiles names into c: a
// file's content without its trailing newline. Giving a credential both
// directly and as a file is a usage error. Errors name the file, never
// its content.
func (c *serveConfig) readSecretFiles() error {
	for _, f := range []struct {
		flag, file string
		dst        *string
	}{
		{"nats-password", c.secretFiles.natsPass, &c.natsPass},
		{"nats-token", c.secretFiles.natsToken, &c.natsToken},
		{"s3-access-key", c.secretFiles.s3Access, &c.s3AccessKey},
		{"s3-secret-key", c.secretFiles.s3Secret, &c.s3SecretKey},
	} {
		if f.file == "" {
			continue
		}
		if *f.dst != "" {
			return usagef("give --%s or --%s-file, not both", f.flag, f.flag)
		}
		fh, err := os.Open(f.file)
		if err != nil {
			return fmt.Errorf("--%s-file: %w", f.flag, err)
		}
		b, err := io.ReadAll(io.LimitReader(fh, maxSecretFile+1))
		fh.Close()
		if err != nil {
			return fmt.Errorf("--%s-file %s: %w", f.flag, f.file, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if len(b) > maxSecretFile || v == "" || strings.ContainsAny(v, "\r\n") {
			return fmt.Errorf("--%s-file %s must hold the credential alone on one line", f.flag, f.file)
		}
		*f.dst = v
	}
	return nil
}

// lockData takes an exclusive lock on DATA/lock, so that serve and verify
// never open the same embedded store at once. It returns the unlock.
func lockData(data string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(data, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data directory %s is in use by another taizhang process (a running serve?): %w", data, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// waitProjection waits for the archive projection to reach seq, for as
// long as it keeps advancing: a ledger of millions of events takes more
// than a minute to replay on a small machine, and that is no reason to
// give up. It fails when the projection has not moved for a minute.
func waitProjection(ctx context.Context, archive *projections.Live, seq uint64, log *slog.Logger) error {
	const stall = time.Minute
	last, since, logged := archive.Applied(), time.Now(), time.Now()
	for {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := archive.WaitFor(wctx, seq)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("archive projection: %w", ctx.Err())
		}
		now := archive.Applied()
		if now > last {
			last, since = now, time.Now()
		} else if time.Since(since) > stall {
			return fmt.Errorf("archive projection: no progress for %s: %w", stall, err)
		}
		if time.Since(logged) > 10*time.Second {
			log.Info("rebuilding the archive projection from the ledger", "applied", now, "of", seq)
			logged = time.Now()
		}
	}
}

// defaultReplicaName is HOST-PID: unique among the serve processes of one
// cluster as long as host names are.
func defaultReplicaName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "taizhang"
	}
	return fmt.Sprintf("%s-%d", h, os.Getpid())
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"taizhang/bench"
	"taizhang/blobstore/dir"
	"taizhang/blobstore/minio"
	tzjs "taizhang/events/jetstream"
)

// benchCmd is `taizhang bench`: flags and wiring around package bench. By
// default it runs serve in this process on a temporary data directory
// (or --data, --nats, --s3-... as serve takes them) and loads it; with
// --url it loads a running server over HTTP, and with --nats (and
// --s3-...) also through its ledger and blob store.
func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c serveConfig
	serveFlags(newFlags("serve", io.Discard), &c) // serve's defaults
	c.data = ""
	cfg := bench.DefaultConfig()
	fs := newFlags("bench", stderr)
	storeFlags(fs, &c)
	c.data = "" // a temporary directory unless --data is given
	if f := fs.Lookup("data"); f != nil {
		f.DefValue, f.Usage = "", "data directory of the in-process server (default: a temporary one, removed afterwards)"
	}
	fs.IntVar(&cfg.Units, "units", cfg.Units, "units to register and append to")
	fs.IntVar(&cfg.EventsPerUnit, "events", cfg.EventsPerUnit, "evidence events per unit in each append phase (raw publish, ledger, HTTP)")
	fs.IntVar(&cfg.Attachments, "attachments", cfg.Attachments, "attachments to store and read back, and to upload via HTTP one a submission (0: none)")
	size := fs.String("attachment-size", "64KiB", "size of each attachment: bytes, or with KiB or MiB")
	fs.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "concurrent writers and clients")
	fs.DurationVar(&cfg.Duration, "duration", 0, "bound each append phase to this long (0: until --events are appended)")
	fs.IntVar(&cfg.Reads, "reads", cfg.Reads, "history reads and archive pages to measure")
	fs.StringVar(&cfg.Prefix, "prefix", "", "name the run's units PREFIX-0001, ... (default: bench- and random hex)")
	url := fs.String("url", "", "load a running server at this URL instead of an in-process one (with --token)")
	token := fs.String("token", "", "admin token of the --url server (or --token-file, or TAIZHANG_TOKEN)")
	tokenFile := fs.String("token-file", "", "read the admin token from this file")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	asMarkdown := fs.Bool("markdown", false, "print the rows as a Markdown table")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if cfg.AttachmentSize, err = parseSize(*size); err != nil {
		return usagef("--attachment-size: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err.Error()}
	}
	if *asJSON && *asMarkdown {
		return usagef("give --json or --markdown, not both")
	}
	if *url != "" && c.data != "" {
		return usagef("--data is for the in-process server; a --url server has its own")
	}
	if *url == "" && (*token != "" || *tokenFile != "") {
		return usagef("--token and --token-file go with --url")
	}
	if cfg.Prefix == "" {
		if cfg.Prefix, err = bench.NewPrefix(); err != nil {
			return err
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	progress := bench.NewProgress(stderr, isTerminal(stderr))

	var rep *bench.Report
	if *url == "" {
		rep, err = benchInProcess(ctx, c, cfg, progress, log)
	} else {
		tok, terr := benchToken(*token, *tokenFile)
		if terr != nil {
			return terr
		}
		rep, err = benchRemote(ctx, c, cfg, *url, tok, progress, log)
	}
	if err != nil {
		return err
	}
	switch {
	case *asJSON:
		return bench.WriteJSON(stdout, rep)
	case *asMarkdown:
		return bench.WriteMarkdown(stdout, rep)
	}
	return bench.WriteTable(stdout, rep)
}

// benchInProcess runs serve in this process, as `taizhang serve` would
// with c, on a free loopback port, and runs the bench against it.
func benchInProcess(ctx context.Context, c serveConfig, cfg bench.Config, p bench.Progress, log *slog.Logger) (*bench.Report, error) {
	if c.data == "" {
		tmp, err := os.MkdirTemp("", "taizhang-bench-")
		if err != nil {
			return nil, fmt.Errorf("temporary data directory: %w", err)
		}
		defer os.RemoveAll(tmp)
		c.data = tmp
	}
	c.addr = "127.0.0.1:0"
	c.addrFile, c.natsListen, c.demo, c.tlsCert, c.tlsKey = "", "", false, "", ""
	// The server outlives an interrupted run until Run has returned, so
	// that the run can still delete its raw stream.
	srvCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	up := make(chan served, 1)
	c.onListen = func(s served) { up <- s }
	exited := make(chan error, 1)
	go func() { exited <- runServer(srvCtx, c, log) }()
	var s served
	select {
	case s = <-up:
	case err := <-exited:
		if err == nil {
			err = errors.New("stopped before it listened")
		}
		return nil, fmt.Errorf("in-process server: %w", err)
	}
	tok, err := readTokenFile(filepath.Join(c.data, "admin.token"))
	if err != nil {
		stop()
		<-exited
		return nil, err
	}
	t := bench.Target{URL: "http://" + s.addr, Token: tok, Ledger: s.ledger, Blobs: s.blobs,
		SpoolDir: filepath.Join(c.data, "tmp"), InProcess: true, Log: log}
	t.RawBlobs, t.Mode = rawBlobs(s.blobsBackend, c.data, cfg.Prefix)
	nats := "embedded NATS (sync always)"
	if c.natsURL != "" {
		nats = "NATS at " + redactURL(c.natsURL)
	}
	t.Mode = "in-process serve, " + nats + ", " + t.Mode
	rep, runErr := bench.Run(ctx, cfg, t, p)
	stop()
	if err := <-exited; err != nil && runErr == nil {
		runErr = fmt.Errorf("in-process server: %w", err)
	}
	return rep, runErr
}

// benchRemote runs the bench against the server at url; with --nats it
// opens the ledger on the same stream for the rows that need it, and with
// --s3-endpoint the blob store.
func benchRemote(ctx context.Context, c serveConfig, cfg bench.Config, url, token string, p bench.Progress, log *slog.Logger) (*bench.Report, error) {
	t := bench.Target{URL: strings.TrimRight(url, "/"), Token: token, Log: log, Mode: "server at " + url}
	if c.natsURL != "" {
		st, err := openNATS(ctx, c, log)
		if err != nil {
			return nil, err
		}
		defer st.close()
		l, err := tzjs.Open(ctx, st.nc, tzjs.Config{Replicas: st.replicas})
		if err != nil {
			return nil, fmt.Errorf("open the ledger on %s: %w", redactURL(c.natsURL), err)
		}
		defer l.Close()
		t.Ledger = l
		t.Mode += ", its ledger on NATS at " + redactURL(c.natsURL)
	}
	if c.s3Endpoint != "" {
		blobs, err := openBlobs(ctx, c, log)
		if err != nil {
			return nil, err
		}
		spool, err := os.MkdirTemp("", "taizhang-bench-spool-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(spool)
		t.Blobs, t.SpoolDir = blobs, spool
		var mode string
		t.RawBlobs, mode = rawBlobs(blobs, spool, cfg.Prefix)
		t.Mode += ", " + mode
	}
	return bench.Run(ctx, cfg, t, p)
}

// rawBlobs is the raw baseline for the blob store backend, and its name.
func rawBlobs(backend any, data, prefix string) (bench.RawBlobs, string) {
	switch b := backend.(type) {
	case *dir.Store:
		return bench.RawDir(filepath.Join(data, "bench-raw-"+prefix)), "directory blob store"
	case *minio.Store:
		return bench.RawMinIO(b.Client(), b.Bucket(), "bench-raw/"+prefix+"/"), "S3 blob store (bucket " + b.Bucket() + ")"
	}
	return nil, fmt.Sprintf("blob store %T (no raw baseline)", backend)
}

// benchToken is the --url server's token: --token, --token-file or
// TAIZHANG_TOKEN.
func benchToken(token, file string) (string, error) {
	switch {
	case token != "" && file != "":
		return "", usagef("give --token or --token-file, not both")
	case token != "":
		return token, nil
	case file != "":
		return readTokenFile(file)
	case os.Getenv("TAIZHANG_TOKEN") != "":
		return os.Getenv("TAIZHANG_TOKEN"), nil
	}
	return "", usagef("--url needs an admin token: --token, --token-file or TAIZHANG_TOKEN")
}

func readTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("admin token file %s is empty", path)
	}
	return tok, nil
}

// parseSize reads a size in bytes: a number, optionally followed by B,
// KiB (or K) or MiB (or M).
func parseSize(s string) (int64, error) {
	num, mul := strings.TrimSpace(s), int64(1)
	for _, u := range []struct {
		suffix string
		mul    int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"K", 1 << 10}, {"M", 1 << 20}, {"B", 1}} {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mul = strings.TrimSpace(n), u.mul
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<40)/mul {
		return 0, fmt.Errorf("%q is not a size (e.g. 4096, 4KiB, 1MiB)", s)
	}
	return n * mul, nil
}

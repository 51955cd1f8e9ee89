package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"taizhang/events/checkpoint"
	"taizhang/verify"
	"taizhang/witness"
)

// witnessCmd runs `taizhang witness init|run|compare|key`: a checkpoint
// witness with its own key and state directory (package witness).
func witnessCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("usage: taizhang witness init|run|compare|status|key ...")
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "init":
		return witnessInit(rest, stdout, stderr)
	case "run":
		return witnessRun(ctx, rest, stdout, stderr)
	case "compare":
		return witnessCompare(ctx, rest, stdout, stderr)
	case "status":
		return witnessStatus(rest, stdout, stderr)
	case "key":
		fs := newFlags("witness key", stderr)
		dir := fs.String("state", "", "the witness's state directory")
		if err := parseFlags(fs, rest); err != nil {
			return err
		}
		k, err := witness.PublicKey(*dir)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, k)
		return nil
	}
	return usagef("unknown witness command %q (init, run, compare, status, key)", args[0])
}

// caughtTheLog reports whether err is a witness catching the log: a
// checkpoint inconsistent with one it cosigned, or two witnesses shown two
// histories (exit status 3, apart from 1 for a failure such as an
// unreachable server, so that whatever runs the witness can tell).
func caughtTheLog(err error) bool {
	return errors.Is(err, witness.ErrInconsistent) || errors.Is(err, witness.ErrSplitView)
}

// witnessStatus prints what a witness's state directory holds.
func witnessStatus(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("witness status", stderr)
	dir := fs.String("state", "", "the witness's state directory")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usagef("--state is required")
	}
	k, err := witness.PublicKey(*dir)
	if err != nil {
		return err
	}
	st, err := witness.LoadState(*dir)
	if err != nil {
		return err
	}
	h, herr := witness.History(*dir)
	fmt.Fprintf(stdout, "witness key: %s\nlog key:     %s\n", k, orNone(st.LogKey, "none pinned yet"))
	if st.Last == nil {
		fmt.Fprintln(stdout, "cosigned:    nothing yet")
	} else {
		fmt.Fprintf(stdout, "last cosigned: checkpoint #%d, %d events, root %s, at %s (from %s); %d in the history\n",
			st.Last.Seq, st.Last.Size, st.Last.Root, st.Last.At.Format(time.RFC3339), st.URL, len(h))
	}
	if herr != nil {
		fmt.Fprintf(stdout, "history: %v\n", herr)
	}
	ev, _ := os.ReadDir(filepath.Join(*dir, witness.EvidenceDir))
	if len(ev) > 0 {
		fmt.Fprintf(stdout, "REFUSALS: %d, evidence in %s:\n", len(ev), filepath.Join(*dir, witness.EvidenceDir))
		for _, e := range ev {
			fmt.Fprintln(stdout, "  "+e.Name())
		}
		return fmt.Errorf("%w: this witness refused %d checkpoints; see the evidence", witness.ErrInconsistent, len(ev))
	}
	return nil
}

func orNone(s, none string) string {
	if s == "" {
		return none
	}
	return s
}

// readKeyArg returns a key given as itself or as a file holding it.
func readKeyArg(flagName, v string, valid func(string) error) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", nil
	}
	kerr := valid(v)
	if kerr == nil {
		return v, nil
	}
	b, err := os.ReadFile(v)
	if err != nil {
		return "", usagef("%s: neither a key (%v) nor a readable file (%v)", flagName, kerr, err)
	}
	k := strings.TrimSpace(string(b))
	if err := valid(k); err != nil {
		return "", fmt.Errorf("%s %s: %w", flagName, v, err)
	}
	return k, nil
}

func validLogKey(k string) error { _, err := checkpoint.NewVerifier(k); return err }

func witnessInit(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("witness init", stderr)
	dir := fs.String("state", "", "the state directory to create (holds the key: keep it on the witness's own machine)")
	name := fs.String("name", "", "the witness's key name, e.g. witness.example.org/supervisor-1")
	logKey := fs.String("log-key", "", "the ledger's checkpoint public key (as serve logs it), or a file holding it: pinned, so a server showing another key is refused")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" || *name == "" {
		return usagef("usage: taizhang witness init --state DIR --name NAME [--log-key KEY|FILE]")
	}
	lk, err := readKeyArg("--log-key", *logKey, validLogKey)
	if err != nil {
		return err
	}
	vkey, err := witness.Init(*dir, *name, lk)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, vkey)
	fmt.Fprintf(stderr, "witness key made in %s; give the line above (also in %s/%s) to whoever verifies with --witness-key\n", *dir, *dir, witness.PubFile)
	return nil
}

func witnessRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("witness run", stderr)
	var dir, logKey string
	var once bool
	var interval time.Duration
	a, err := newAPI(fs, args, func() {
		fs.StringVar(&dir, "state", "", "the witness's state directory (taizhang witness init)")
		fs.StringVar(&logKey, "log-key", "", "the ledger's checkpoint public key or a file holding it (checked against, or pinned into, the state)")
		fs.BoolVar(&once, "once", false, "one round, then exit")
		fs.DurationVar(&interval, "interval", time.Minute, "time between rounds")
	})
	if err != nil {
		return err
	}
	if dir == "" {
		return usagef("--state is required")
	}
	if interval <= 0 {
		return usagef("--interval must be positive")
	}
	lk, err := readKeyArg("--log-key", logKey, validLogKey)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	w, err := witness.New(witness.Config{Dir: dir, URL: a.Base(), Token: a.Token(), LogKey: lk, Log: log, HTTP: &http.Client{Timeout: 30 * time.Second}})
	if err != nil {
		return err
	}
	if !once {
		return w.Run(ctx, interval)
	}
	res, err := w.Once(ctx)
	if err != nil {
		return err
	}
	what := "already cosigned"
	if res.Cosigned {
		what = "cosigned"
	}
	fmt.Fprintf(stdout, "%s checkpoint #%d: %d events, root %s\n", what, res.Seq, res.Checkpoint.Size, res.Checkpoint.Root)
	return nil
}

func witnessCompare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("witness compare", stderr)
	server := fs.String("url", "", "a server to ask for a consistency proof when the two latest checkpoints differ in size (optional; the proof is checked, not trusted)")
	tokenFile := fs.String("token-file", os.Getenv("TAIZHANG_TOKEN_FILE"), "the API token file for --url (or TAIZHANG_TOKEN)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usagef("usage: taizhang witness compare [--url URL] STATE-DIR-A STATE-DIR-B")
	}
	var proofs witness.ProofFunc
	if *server != "" {
		tok := os.Getenv("TAIZHANG_TOKEN")
		if *tokenFile != "" {
			b, err := os.ReadFile(*tokenFile)
			if err != nil {
				return fmt.Errorf("token file: %w", err)
			}
			tok = strings.TrimSpace(string(b))
		}
		proofs = witness.ServerProofs(*server, tok, nil)
	}
	cmp, err := witness.Compare(ctx, fs.Arg(0), fs.Arg(1), proofs)
	for _, s := range cmp.Splits {
		fmt.Fprintf(stdout, "SPLIT: %s\n--- A:\n%s--- B:\n%s", s.Why, s.NoteA, s.NoteB)
	}
	if err != nil {
		if errors.Is(err, witness.ErrSplitView) {
			slog.New(slog.NewTextHandler(stderr, nil)).Error("witness compare: the log showed the two witnesses different histories", "splits", len(cmp.Splits))
		}
		return err
	}
	fmt.Fprintf(stdout, "consistent: %d tree sizes cosigned by both agree", cmp.Common)
	if cmp.ProofChecked {
		fmt.Fprint(stdout, "; the two latest checkpoints are proven consistent")
	}
	if cmp.Note != "" {
		fmt.Fprintf(stdout, "; NOT checked: %s", cmp.Note)
	}
	fmt.Fprintln(stdout)
	return nil
}

// witnessFlags are the trusted witnesses of verify and verify-bag.
type witnessFlags struct {
	keys   stringList // keys, or files of keys (one a line, # comments)
	quorum int
}

func addWitnessFlags(fs *flag.FlagSet, w *witnessFlags) {
	fs.Var(&w.keys, "witness-key", "a trusted witness's verifier key (as witness init prints it), or a file of such keys, one a line; repeatable")
	fs.IntVar(&w.quorum, "witness-quorum", -1, "how many of the trusted witnesses must have cosigned (default: all of them)")
}

// resolve returns the trusted keys and the quorum; none if no key is
// given (then --witness-quorum is a usage error).
func (w *witnessFlags) resolve() ([]string, int, error) {
	var keys []string
	seen := map[string]bool{}
	add := func(k string) error {
		v, err := checkpoint.NewCosignatureVerifier(k)
		if err != nil {
			return err
		}
		if !seen[v.String()] {
			seen[v.String()] = true
			keys = append(keys, v.Key())
		}
		return nil
	}
	for _, arg := range w.keys {
		if err := add(arg); err == nil {
			continue
		} else if _, serr := os.Stat(arg); serr != nil {
			return nil, 0, usagef("--witness-key %q: neither a witness key (%v) nor a file (%v)", arg, err, serr)
		}
		b, err := os.ReadFile(arg)
		if err != nil {
			return nil, 0, fmt.Errorf("--witness-key: %w", err)
		}
		for n, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if err := add(line); err != nil {
				return nil, 0, fmt.Errorf("--witness-key %s line %d: %w", arg, n+1, err)
			}
		}
	}
	switch {
	case len(keys) == 0 && w.quorum > 0:
		return nil, 0, usagef("--witness-quorum %d without any --witness-key", w.quorum)
	case w.quorum < 0:
		return keys, len(keys), nil
	}
	return keys, w.quorum, nil
}

func printWitnesses(w io.Writer, wr *verify.WitnessReport) {
	if wr == nil {
		return
	}
	if wr.Seq == 0 {
		fmt.Fprintf(w, "  witnesses: quorum %d of %d trusted NOT met (%d cosignatures recorded in all)\n", wr.Quorum, len(wr.Trusted), wr.Records)
		return
	}
	fmt.Fprintf(w, "  witnesses: checkpoint #%d (%d events) cosigned by %d of %d trusted (%s), quorum %d\n",
		wr.Seq, wr.Size, len(wr.Cosigners), len(wr.Trusted), strings.Join(wr.Cosigners, ", "), wr.Quorum)
}

// demoWitness runs one round of a witness kept in DATA/demo-witness with
// the demo supervisor's token, after a checkpoint of the demo, so that the
// supervisor's witnesses page shows a cosignature. A real witness runs on
// the supervisor's own machine: this one only shows the mechanism.
func demoWitness(ctx context.Context, url, admin, supToken, data string, log *slog.Logger) error {
	hc := &http.Client{Timeout: 30 * time.Second}
	call := func(method, path, token string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, method, url+path, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err == nil && resp.StatusCode >= 300 {
			err = fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(b)))
		}
		return b, err
	}
	if _, err := call(http.MethodPost, "/api/v1/checkpoints", admin); err != nil {
		return fmt.Errorf("demo witness: %w", err)
	}
	dir := filepath.Join(data, "demo-witness")
	if _, err := os.Stat(filepath.Join(dir, witness.KeyFile)); errors.Is(err, os.ErrNotExist) {
		b, err := call(http.MethodGet, "/api/v1/checkpoints/key", admin)
		if err != nil {
			return fmt.Errorf("demo witness: %w", err)
		}
		var k struct{ Key string }
		if err := json.Unmarshal(b, &k); err != nil {
			return fmt.Errorf("demo witness: %w", err)
		}
		if _, err := witness.Init(dir, "demo.taizhang/witness-supervisor-li", k.Key); err != nil {
			return fmt.Errorf("demo witness: %w", err)
		}
	}
	w, err := witness.New(witness.Config{Dir: dir, URL: url, Token: supToken, Log: log, HTTP: hc})
	if err != nil {
		return fmt.Errorf("demo witness: %w", err)
	}
	res, err := w.Once(ctx)
	if err != nil {
		return fmt.Errorf("demo witness: %w", err)
	}
	pub, _ := witness.PublicKey(dir)
	log.Info("demo: a witness cosigned the checkpoint (see /audit/witnesses)", "checkpoint", res.Seq, "events", res.Checkpoint.Size,
		"witness_key", pub, "state", dir)
	return nil
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"taizhang/events"
	"taizhang/events/checkpoint"
	tzjs "taizhang/events/jetstream"
	"taizhang/verify"
)

// checkpointFlags are the checkpoint options of serve and verify.
type checkpointFlags struct {
	key      string        // signer key file; DATA/checkpoint.key if empty
	interval time.Duration // serve: between automatic checkpoints
	pubkey   string        // verify: verifier key, or a file holding it
}

const checkpointKeyFile = "checkpoint.key"

func serveCheckpointFlags(fs *flag.FlagSet, c *checkpointFlags) {
	fs.StringVar(&c.key, "checkpoint-key", envOr("TAIZHANG_CHECKPOINT_KEY", ""),
		"file holding the checkpoint signing key (an Ed25519 note signer key); default DATA/"+checkpointKeyFile+", generated on first start. Every serve process of one ledger needs the same key")
	fs.DurationVar(&c.interval, "checkpoint-interval", time.Minute, "how often to append a signed checkpoint if the ledger grew (0: only on demand, POST /api/v1/checkpoints)")
}

func verifyCheckpointFlags(fs *flag.FlagSet, c *checkpointFlags) {
	fs.StringVar(&c.pubkey, "checkpoint-pubkey", envOr("TAIZHANG_CHECKPOINT_PUBKEY", ""),
		"checkpoint public key (a note verifier key, as serve logs it and GET /api/v1/checkpoints/key answers), or a file holding it; default: the public half of --checkpoint-key or DATA/"+checkpointKeyFile)
	fs.StringVar(&c.key, "checkpoint-key", envOr("TAIZHANG_CHECKPOINT_KEY", ""), "checkpoint signing key file whose public half checks the signatures")
}

// loadCheckpointKey reads the signer key from file, or from
// DATA/checkpoint.key, which it creates (mode 0600) if create is set and it
// does not exist. It returns the key, the file and whether it was created.
func loadCheckpointKey(data, file string, create bool) (skey, path string, created bool, err error) {
	path = file
	if path == "" {
		path = filepath.Join(data, checkpointKeyFile)
	}
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), path, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) || file != "" || !create {
		return "", path, false, fmt.Errorf("checkpoint key: %w", err)
	}
	skey, _, err = checkpoint.GenerateKey(checkpoint.Origin(tzjs.DefaultStream))
	if err != nil {
		return "", path, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", path, false, fmt.Errorf("write checkpoint key: %w", err)
	}
	if _, err := f.WriteString(skey + "\n"); err != nil {
		f.Close()
		return "", path, false, fmt.Errorf("write checkpoint key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", path, false, fmt.Errorf("write checkpoint key: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", path, false, fmt.Errorf("write checkpoint key: %w", err)
	}
	return skey, path, true, nil
}

// startCheckpoints starts the checkpointer of serve and logs its public key.
// holds, if not nil, says whether this process holds the checkpoint lease
// (only then does it append checkpoints).
func startCheckpoints(ctx context.Context, c serveConfig, ledger *tzjs.Ledger, holds func() bool, log *slog.Logger) (*tzjs.Checkpointer, error) {
	if c.cp.interval < 0 {
		return nil, usagef("--checkpoint-interval must not be negative")
	}
	skey, path, created, err := loadCheckpointKey(c.data, c.cp.key, true)
	if err != nil {
		return nil, err
	}
	signer, err := checkpoint.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	vkey, err := checkpoint.VerifierKey(skey)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cps, err := tzjs.StartCheckpointer(ctx, ledger, tzjs.CheckpointConfig{Signer: signer, VerifierKey: vkey, Interval: c.cp.interval, Log: log, Holds: holds, Writer: c.name})
	if err != nil {
		return nil, err
	}
	if created {
		log.Info("created a checkpoint signing key (first start)", "file", path)
	}
	log.Info("checkpoints", "public_key", vkey, "key_file", path, "interval", c.cp.interval.String(), "stream", tzjs.DefaultCheckpointStream)
	return cps, nil
}

// noCheckpoints stands for a ledger without a checkpoint stream.
type noCheckpoints struct{ origin string }

func (n noCheckpoints) Origin() string { return n.origin }
func (n noCheckpoints) List(context.Context, uint64, int) ([]checkpoint.Stored, error) {
	return nil, nil
}

// checkpointOptions sets verify's checkpoint stream and public key: from
// --checkpoint-pubkey, or the public half of the signing key file.
func checkpointOptions(ctx context.Context, c serveConfig, st *stores, opt *verify.Options) error {
	cl, err := tzjs.OpenCheckpointLog(ctx, st.ledger, tzjs.CheckpointConfig{}, false)
	switch {
	case errors.Is(err, events.ErrNotFound):
		opt.Checkpoints = noCheckpoints{checkpoint.Origin(tzjs.DefaultStream)}
	case err != nil:
		return err
	default:
		opt.Checkpoints = cl
		cs, err := tzjs.OpenCosignatureLog(ctx, cl, false)
		switch {
		case errors.Is(err, events.ErrNotFound): // no witness has cosigned yet
		case err != nil:
			return err
		default:
			opt.Cosignatures = cs
		}
	}
	if k := strings.TrimSpace(c.cp.pubkey); k != "" {
		opt.CheckpointKey, err = readVerifierKey(k)
		return err
	}
	skey, path, _, err := loadCheckpointKey(c.data, c.cp.key, false)
	if err != nil {
		if c.cp.key != "" {
			return err
		}
		return nil // no key: signatures are not checked, and the report says so
	}
	if opt.CheckpointKey, err = checkpoint.VerifierKey(skey); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func printCheckpoints(w io.Writer, rep *verify.Report) {
	cr := rep.Checkpoints
	switch {
	case cr == nil:
		fmt.Fprintln(w, "checkpoints: not checked")
		return
	case cr.Count == 0:
		fmt.Fprintf(w, "checkpoints: none yet (%d events in the ledger)\n", cr.LedgerEvents)
		return
	}
	fmt.Fprintf(w, "checkpoints: %d, latest #%d of %d events (the ledger holds %d); checked: each with the next, the latest against the ledger\n",
		cr.Count, cr.LatestSeq, cr.LatestSize, cr.LedgerEvents)
	if cr.Key != "" {
		fmt.Fprintf(w, "  signatures checked with %s\n", cr.Key)
	} else {
		fmt.Fprintln(w, "  signatures NOT checked: no public key (give --checkpoint-pubkey)")
	}
	printWitnesses(w, cr.Witnesses)
}

// readVerifierKey returns --checkpoint-pubkey's key: k itself if it is a
// note verifier key, else the key in the file k names.
func readVerifierKey(k string) (string, error) {
	_, err := checkpoint.NewVerifier(k)
	if err == nil {
		return k, nil
	}
	b, ferr := os.ReadFile(k)
	if ferr != nil {
		return "", usagef("--checkpoint-pubkey: neither a verifier key (%v) nor a readable file (%v)", err, ferr)
	}
	key := strings.TrimSpace(string(b))
	if _, err := checkpoint.NewVerifier(key); err != nil {
		return "", fmt.Errorf("--checkpoint-pubkey %s: %w", k, err)
	}
	return key, nil
}

package main

// backup, backup check and restore (package backup does the work): the
// flags, and the stores opened as serve opens them.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"taizhang/backup"
	"taizhang/blobstore"
)

// backupCmd runs `taizhang backup --to DIR` and `taizhang backup check DIR`.
func backupCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "check" {
		fs := newFlags("backup check", stderr)
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return usagef("usage: taizhang backup check DIR")
		}
		m, problems, err := backup.Check(fs.Arg(0))
		if err != nil {
			return err
		}
		m.Summary(stdout, fs.Arg(0))
		if len(problems) > 0 {
			fmt.Fprintf(stdout, "%d PROBLEMS:\n", len(problems))
			for _, p := range problems {
				fmt.Fprintln(stdout, "  "+p)
			}
			return fmt.Errorf("backup %s: %d problems", fs.Arg(0), len(problems))
		}
		fmt.Fprintln(stdout, "every file matches the manifest: no problems found")
		return nil
	}
	var c serveConfig
	var to string
	fs := newFlags("backup", stderr)
	storeFlags(fs, &c)
	fs.StringVar(&to, "to", "", "write the backup into this directory (new or empty)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if to == "" {
		return usagef("--to DIR is required")
	}
	if c.natsURL == "" {
		if _, err := os.Stat(c.data); err != nil {
			return fmt.Errorf("no data directory %s: %w", c.data, err)
		}
	}
	m, err := runBackup(ctx, c, to, slog.New(slog.DiscardHandler))
	if m != nil {
		m.Summary(stdout, to)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "check it with: taizhang backup check %s\n", to)
	return nil
}

// runBackup writes a backup of the stores c names into dir (backup.Write).
func runBackup(ctx context.Context, c serveConfig, dir string, log *slog.Logger) (*backup.Manifest, error) {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("%s is not empty; back up into a new directory", dir)
	}
	st, err := openNATS(ctx, c, log)
	if err != nil {
		return nil, err
	}
	defer st.close()
	return backup.Write(ctx, backupStores(c, st, log), dir)
}

// runRestore restores the checked backup m in dir into the stores c names
// (backup.Restore).
func runRestore(ctx context.Context, c serveConfig, dir string, m *backup.Manifest, log *slog.Logger) error {
	st, err := openNATS(ctx, c, log)
	if err != nil {
		return err
	}
	defer st.close()
	return backup.Restore(ctx, backupStores(c, st, log), dir, m)
}

// backupStores names the stores of c, on st's connection, for package backup.
func backupStores(c serveConfig, st *stores, log *slog.Logger) backup.Stores {
	natsName := "embedded " + filepath.Join(c.data, "nats")
	if c.natsURL != "" {
		natsName = redactURL(c.natsURL)
	}
	blobsName := "directory " + filepath.Join(c.data, "blobs")
	if c.s3Endpoint != "" {
		blobsName = "s3 " + c.s3Endpoint + " bucket " + c.s3Bucket
	}
	return backup.Stores{NC: st.nc, Replicas: st.replicas, NATSName: natsName, BlobsName: blobsName,
		Blobs: func(ctx context.Context) (blobstore.Store, error) { return openBlobs(ctx, c, log) }}
}

// restoreCmd runs `taizhang restore --from DIR`.
func restoreCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c serveConfig
	var from string
	fs := newFlags("restore", stderr)
	storeFlags(fs, &c)
	fs.StringVar(&from, "from", "", "the backup directory (made by taizhang backup)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if from == "" {
		return usagef("--from DIR is required")
	}
	m, problems, err := backup.Check(from)
	if err != nil {
		return fmt.Errorf("%w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("the backup fails its check (%d problems, the first: %s); see taizhang backup check %s", len(problems), problems[0], from)
	}
	if err := runRestore(ctx, c, from, m, slog.New(slog.DiscardHandler)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s: %d streams, ledger %d events to seq %d, %d blobs\n", from, len(m.Streams), m.Ledger.Events, m.Ledger.LastSeq, m.Blobs.Count)
	fmt.Fprintln(stdout, "now run taizhang verify with the same flags (and the checkpoint key) before starting serve")
	return nil
}

package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"taizhang/api"
	"taizhang/export"
	"taizhang/verify"
)

// exportCmd downloads a unit's bag (GET /api/v1/units/{unit}/export) into
// a file, streaming: written to FILE.part and renamed once complete.
func exportCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("export", stderr)
	var unit, asOf, out string
	a, err := newAPI(fs, args, func() {
		fs.StringVar(&unit, "unit", "", "unit id (required)")
		fs.StringVar(&asOf, "as-of", "", "the archive as the ledger stood at this time (RFC 3339 or YYYY-MM-DD; default now)")
		fs.StringVar(&out, "o", "", "output zip file (required)")
	})
	if err != nil {
		return err
	}
	if unit == "" || out == "" {
		return usagef("--unit and -o are required")
	}
	path := "/api/v1/units/" + url.PathEscape(unit) + "/export"
	if asOf != "" {
		path += "?as_of=" + url.QueryEscape(asOf)
	}
	resp, err := a.Stream(ctx, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	part := out + ".part"
	f, err := os.Create(part)
	if err != nil {
		return err
	}
	n, err := io.CopyBuffer(f, resp.Body, make([]byte, 256<<10))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(part)
		return fmt.Errorf("download: %w (the server cuts the connection if the export fails)", err)
	}
	if err := os.Rename(part, out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes), sha256 %s, recorded as ledger event %s of unit %s\n",
		filepath.Base(out), n, resp.Trailer.Get(api.TrailerBagSHA256), resp.Trailer.Get(api.TrailerExportSeq), unit)
	return nil
}

// verifyBagCmd checks a bag offline.
func verifyBagCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("verify-bag", stderr)
	pubkey := fs.String("pubkey", "", "the checkpoint public key (note verifier key) the bag must be signed with, or a file holding it; default the key in bag-info.txt")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	var wf witnessFlags
	addWitnessFlags(fs, &wf)
	var cosigned stringList
	fs.Var(&cosigned, "cosigned", "a file holding the bag's checkpoint as a note with witness cosignatures (GET /api/v1/checkpoints/{seq}?format=note after the witnesses ran); repeatable")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("usage: taizhang verify-bag [--pubkey KEY|FILE] [--witness-key KEY|FILE]... [--witness-quorum N] [--cosigned FILE]... FILE.zip")
	}
	var opt export.VerifyOptions
	var err error
	if opt.WitnessKeys, opt.WitnessQuorum, err = wf.resolve(); err != nil {
		return err
	}
	for _, f := range cosigned {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("--cosigned: %w", err)
		}
		opt.Cosigned = append(opt.Cosigned, b)
	}
	key := *pubkey
	if key != "" && !strings.Contains(key, "+") {
		b, err := os.ReadFile(key)
		if err != nil {
			return fmt.Errorf("--pubkey: %w", err)
		}
		key = strings.TrimSpace(string(b))
	}
	opt.PublicKey = key
	rep, err := export.VerifyFile(fs.Arg(0), opt)
	if err != nil {
		return err
	}
	if *asJSON {
		if err := printJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		for _, p := range rep.Problems {
			fmt.Fprintln(stdout, p.String())
		}
		if rep.OK() {
			fmt.Fprintf(stdout, "OK: unit %s as of %s: %d events, %d attachments, %d files; proven in checkpoint of tree size %d, root %s, signed by %s\n",
				rep.Unit, rep.AsOf.Format("2006-01-02T15:04:05Z07:00"), rep.Events, rep.Attachments, rep.Files, rep.TreeSize, rep.RootHash, rep.Key)
			if len(opt.WitnessKeys) > 0 {
				fmt.Fprintf(stdout, "  cosigned by %d of %d trusted witnesses (quorum %d): %s\n", len(rep.Witnesses), len(opt.WitnessKeys), opt.WitnessQuorum, strings.Join(rep.Witnesses, ", "))
			}
		}
		if d := rep.Devices; d != nil {
			flags := make([]verify.DeviceFlag, len(d.Flagged))
			for i, f := range d.Flagged {
				flags[i] = verify.DeviceFlag{Unit: rep.Unit, Seq: f.Seq, Event: f.Event, DeviceCheck: f.DeviceCheck}
			}
			printDevices(stdout, &verify.DeviceReport{Signed: d.Signed, OK: d.OK, Keys: -1, Flagged: flags})
		}
	}
	if !rep.OK() {
		return fmt.Errorf("%d problem(s): the bag does not verify", len(rep.Problems))
	}
	return nil
}

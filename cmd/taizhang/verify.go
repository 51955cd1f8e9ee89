package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"taizhang/client"
	"taizhang/verify"
)

// verifyCmd runs `taizhang verify`: it reads the stores directly (the same
// flags as serve), checks every unit's hash chain and the fixity of every
// referenced blob, prints a report and exits 1 on any problem. With --url
// (or TAIZHANG_URL and no --data or --nats) it checks a running server
// from outside instead (verifyURL).
func verifyCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c serveConfig
	fs := newFlags("verify", stderr)
	storeFlags(fs, &c)
	verifyCheckpointFlags(fs, &c.cp)
	var opt verify.Options
	var asJSON bool
	var wf witnessFlags
	addWitnessFlags(fs, &wf)
	fs.StringVar(&opt.Unit, "unit", "", "only this unit")
	fs.Float64Var(&opt.Sample, "sample", 1, "share of the blobs to re-read and re-hash, (0, 1]")
	fs.BoolVar(&opt.NoBlob, "no-blobs", false, "check the hash chains only")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	connect := apiFlags(fs, "")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if env := os.Getenv("TAIZHANG_URL"); !set["url"] && !set["data"] && !set["nats"] && env != "" {
		_ = fs.Set("url", env) // TAIZHANG_URL and no store named: verify that server
		set["url"] = true
	}
	if set["url"] {
		return verifyURL(ctx, fs, set, connect, &c, &wf, opt.Unit, asJSON, stdout)
	}
	if opt.Sample <= 0 || opt.Sample > 1 {
		return usagef("--sample must be in (0, 1]")
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if opt.WitnessKeys, opt.WitnessQuorum, err = wf.resolve(); err != nil {
		return err
	}
	if len(opt.WitnessKeys) > 0 && opt.Unit != "" {
		return usagef("--witness-key checks the checkpoints, which --unit does not")
	}
	if c.natsURL == "" {
		if _, err := os.Stat(c.data); err != nil {
			return fmt.Errorf("no data directory %s: %w", c.data, err)
		}
	}
	log := slog.New(slog.DiscardHandler)
	st, err := openStores(ctx, c, time.Now, log)
	if err != nil {
		return err
	}
	defer st.close()
	if err := checkpointOptions(ctx, c, st, &opt); err != nil {
		return err
	}
	if isTerminal(stderr) {
		opt.Progress = func(done, total int) {
			if done == total || done%50 == 0 {
				fmt.Fprintf(stderr, "\rchecking attachments: %d/%d", done, total)
				if done == total {
					fmt.Fprintln(stderr)
				}
			}
		}
	}
	rep, err := verify.Run(ctx, st.ledger, st.blobs, opt)
	if err != nil {
		return err
	}
	if asJSON {
		if err := printJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		printVerify(stdout, rep)
	}
	if !rep.OK() {
		return fmt.Errorf("%d problems found", len(rep.Problems))
	}
	return nil
}

// verifyURL is verify against a running server (--url, or TAIZHANG_URL
// with no --data or --nats): what needs the stores is refused by name.
func verifyURL(ctx context.Context, fs *flag.FlagSet, set map[string]bool, connect func() (*client.Client, error), c *serveConfig, wf *witnessFlags, unit string, asJSON bool, stdout io.Writer) error {
	for _, f := range []string{"data", "nats", "sample", "no-blobs", "checkpoint-key"} {
		if set[f] {
			return usagef("--%s reads the stores; with --url verify asks the server (leave out --url and TAIZHANG_URL to read the stores)", f)
		}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	a, err := connect()
	if err != nil {
		return err
	}
	opt := verify.RemoteOptions{Unit: unit}
	if opt.WitnessKeys, opt.WitnessQuorum, err = wf.resolve(); err != nil {
		return err
	}
	if k := strings.TrimSpace(c.cp.pubkey); k != "" {
		if opt.CheckpointKey, err = readVerifierKey(k); err != nil {
			return err
		}
	} else if len(opt.WitnessKeys) > 0 {
		return usagef("--witness-key needs --checkpoint-pubkey, the operator's checkpoint key you trust")
	}
	return verifyRemote(ctx, a, opt, asJSON, stdout)
}

func printVerify(w io.Writer, rep *verify.Report) {
	bad := 0
	for _, u := range rep.Units {
		if !u.OK {
			bad++
		}
	}
	fmt.Fprintf(w, "hash chains: %d chains, %d events, %d broken\n", len(rep.Units), rep.Events, bad)
	for _, u := range rep.Units {
		mark := "ok"
		if !u.OK {
			plural := "s"
			if u.Good == 1 {
				plural = ""
			}
			mark = fmt.Sprintf("BROKEN after %d good event%s at seq %d: %s", u.Good, plural, u.BrokenAt, u.Reason)
		}
		fmt.Fprintf(w, "  %-24s %6d events  head %.16s  %s\n", u.Unit, u.Events, u.Head.String(), mark)
	}
	fmt.Fprintf(w, "attachments: %d referenced, %d re-read and re-hashed (%.1f MiB)\n", rep.Blobs, rep.BlobsChecked, float64(rep.BlobBytes)/(1<<20))
	printCheckpoints(w, rep)
	printDevices(w, rep.Devices)
	if rep.OK() {
		fmt.Fprintln(w, "no problems found")
		return
	}
	fmt.Fprintf(w, "%d PROBLEMS:\n", len(rep.Problems))
	for _, p := range rep.Problems {
		fmt.Fprintln(w, "  "+p.String())
	}
}

// isTerminal reports whether w is a terminal (for the progress line).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// printDevices prints the device signature check, if there was one: the
// counts, then each flagged submission (recorded, for the supervisor).
func printDevices(w io.Writer, d *verify.DeviceReport) {
	if d == nil {
		return
	}
	fmt.Fprintf(w, "device signatures: %d signed submissions, %d by a registered key, %d flagged", d.Signed, d.OK, len(d.Flagged))
	if d.Keys >= 0 {
		fmt.Fprintf(w, "; %d key(s) registered", d.Keys)
	}
	fmt.Fprintln(w)
	for _, f := range d.Flagged {
		why := string(f.Verdict)
		if f.Late {
			why += fmt.Sprintf(", captured %s after it was recorded", f.Ahead.Round(time.Second))
		}
		by := ""
		if f.Actor != "" {
			by = " by " + f.Actor
		}
		fmt.Fprintf(w, "  FLAGGED %-20s seq %-6d %s%s, key %s: %s\n", f.Unit, f.Seq, f.Event, by, f.Key, why)
	}
}

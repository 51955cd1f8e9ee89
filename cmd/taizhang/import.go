package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"taizhang/bench"
	"taizhang/client"
	"taizhang/events"
	"taizhang/importer"
)

// importCmd is `taizhang import DIR`: flags and wiring; the work is in
// package importer.
func importCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("import", stderr)
	var opts importer.Options
	var dryRun bool
	var retries int
	var maxMiB int64
	var loadKey func() (*client.DeviceKey, error)
	a, err := newAPI(fs, args, func() {
		fs.StringVar(&opts.Unit, "unit", "", "unit of the folders whose evidence.yaml or evidence.csv row names none")
		fs.StringVar(&opts.Kind, "kind", "", "kind of the folders without a manifest (evidence.yaml or an evidence.csv row; default photo if all files are images, else document)")
		fs.BoolVar(&dryRun, "dry-run", false, "check everything and print what would be submitted; send nothing (works without a token, then without checking requirement ids)")
		fs.Int64Var(&maxMiB, "max-file-mib", 64, "the server's largest attachment in MiB (serve --max-file-mib)")
		fs.IntVar(&retries, "retries", 5, "times to resend an item, with the same id, on network failures and 503s")
		loadKey = deviceKeyFlag(fs)
	})
	if err != nil && !(dryRun && tokenMissing(err)) {
		return err
	}
	opts.Limits.MaxFileSize = maxMiB << 20
	if fs.NArg() != 1 {
		return usagef("want one DIR, the folder of evidence folders")
	}
	dir := fs.Arg(0)
	if a != nil {
		reqs, err := publishedRequirements(ctx, a)
		if err != nil {
			fmt.Fprintf(stderr, "taizhang import: requirement ids not checked: %v\n", err)
		} else {
			opts.Requirements = reqs
		}
	} else {
		fmt.Fprintln(stderr, "taizhang import: no token: requirement ids not checked against the published plans")
	}
	b, err := importer.Plan(dir, opts)
	if err != nil {
		return err
	}
	if dryRun {
		if err := importer.WritePlan(stdout, b); err != nil {
			return err
		}
		if len(b.Refused) > 0 || len(b.Problems) > 0 {
			return fmt.Errorf("%d problem(s) in %d folder(s); nothing was sent", len(b.Problems), len(b.Refused))
		}
		return nil
	}
	ro := importer.RunOptions{Retries: retries}
	if isTerminal(stderr) {
		ro.Progress = bench.NewProgress(stderr, true) // a bar; off a terminal, the summary says it all
	}
	key, err := loadKey()
	if err != nil {
		return err
	}
	zone := opts.Zone
	if zone == nil {
		zone = importer.DefaultZone
	}
	sum := importer.Run(ctx, b, apiSubmitter{a: a, key: key, zone: zone, stderr: stderr}, ro)
	if err := importer.WriteSummary(stdout, sum); err != nil {
		return err
	}
	if !sum.OK() {
		if sum.Err != nil {
			return sum.Err
		}
		return fmt.Errorf("not every folder is in the ledger as it is on disk (see above)")
	}
	return nil
}

// tokenMissing reports whether newAPI failed only for want of a token.
func tokenMissing(err error) bool {
	var ue usageError
	return errors.As(err, &ue) && ue.msg == errNoToken
}

// publishedRequirements returns every requirement id of the plans the
// server has published.
func publishedRequirements(ctx context.Context, a *client.Client) (map[string]bool, error) {
	var list struct {
		Plans []struct {
			ID string `json:"id"`
		} `json:"plans"`
	}
	if _, err := a.Get(ctx, "/api/v1/plans", &list); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, p := range list.Plans {
		var v struct {
			Plan struct {
				Requirements []struct {
					ID string `json:"id"`
				} `json:"requirements"`
			} `json:"plan"`
		}
		if _, err := a.Get(ctx, "/api/v1/plans/"+url.PathEscape(p.ID), &v); err != nil {
			return nil, fmt.Errorf("plan %s: %w", p.ID, err)
		}
		for _, r := range v.Plan.Requirements {
			out[r.ID] = true
		}
	}
	return out, nil
}

// apiSubmitter sends import items over the HTTP API, as `submit` does,
// signed with key if it is set (dates read in zone; a flagged verdict is
// told to stderr).
type apiSubmitter struct {
	a      *client.Client
	key    *client.DeviceKey
	zone   *time.Location
	stderr io.Writer
}

// Submit posts the item with its files; a 4xx answer (but 408 and 429)
// is a refusal.
func (s apiSubmitter) Submit(ctx context.Context, it importer.Item) (importer.Receipt, bool, error) {
	paths := make([]string, len(it.Files))
	atts := make([]events.SignedAttachment, len(it.Files))
	for i, f := range it.Files {
		paths[i] = f.Path
		atts[i] = events.SignedAttachment{SHA256: f.SHA256, Size: f.Size}
	}
	meta := it.Meta
	if s.key != nil {
		var err error
		if meta, err = s.key.Sign(it.Unit, meta, atts, s.zone, time.Now()); err != nil {
			return importer.Receipt{}, false, &importer.Refusal{Msg: err.Error()}
		}
	}
	rc, ct, err := client.Multipart("evidence", meta, paths)
	if err != nil {
		return importer.Receipt{}, false, &importer.Refusal{Msg: err.Error()}
	}
	defer rc.Close()
	var out client.Receipt
	status, err := s.a.Do(ctx, http.MethodPost, "/api/v1/units/"+url.PathEscape(it.Unit)+"/evidence", ct, rc, &out)
	if err != nil {
		var ae *client.Error
		if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 && ae.Status != http.StatusRequestTimeout && ae.Status != http.StatusTooManyRequests {
			return importer.Receipt{}, false, &importer.Refusal{Status: ae.Status, Code: ae.Code, Msg: ae.Message}
		}
		return importer.Receipt{}, false, err
	}
	if s.stderr != nil {
		warnDevice(s.stderr, out.ID, out.Device)
	}
	r := importer.Receipt{Sequence: out.Sequence, Hash: out.Hash, Attachments: []string{}}
	for _, at := range out.Attachments {
		r.Attachments = append(r.Attachments, at.SHA256)
	}
	return r, status == http.StatusCreated, nil
}

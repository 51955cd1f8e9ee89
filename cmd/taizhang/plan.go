package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"text/tabwriter"

	"taizhang/projections/plan"
)

// planCmd runs `taizhang plan check|publish|list`.
func planCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("want 'plan check FILE...', 'plan publish FILE' or 'plan list'")
	}
	switch args[0] {
	case "check":
		return planCheck(args[1:], stdout)
	case "publish":
		return planPublish(ctx, args[1:], stdout, stderr)
	case "list":
		return planList(ctx, args[1:], stdout, stderr)
	}
	return usagef("unknown plan command %q", args[0])
}

// planPublish sends a plan file to the server, which checks and records it.
func planPublish(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("plan publish", stderr)
	var asJSON bool
	a, err := newAPI(fs, args, func() { fs.BoolVar(&asJSON, "json", false, "print JSON") })
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("plan publish takes one plan file")
	}
	name := fs.Arg(0)
	data, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	var out struct {
		Plan     string `json:"plan"`
		Version  int    `json:"version"`
		Sequence uint64 `json:"sequence"`
		Created  bool   `json:"created"`
	}
	var raw json.RawMessage
	if _, err := a.Do(ctx, http.MethodPost, "/api/v1/plans?file="+url.QueryEscape(filepath.Base(name)), "application/yaml", bytes.NewReader(data), &raw); err != nil {
		return err
	}
	if asJSON {
		_, err := stdout.Write(raw)
		return err
	}
	_ = json.Unmarshal(raw, &out)
	if out.Created {
		fmt.Fprintf(stdout, "published plan %s version %d at sequence %d\n", out.Plan, out.Version, out.Sequence)
	} else {
		fmt.Fprintf(stdout, "plan %s version %d is already published with this content\n", out.Plan, out.Version)
	}
	return nil
}

func planList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("plan list", stderr)
	var asJSON bool
	a, err := newAPI(fs, args, func() { fs.BoolVar(&asJSON, "json", false, "print JSON") })
	if err != nil {
		return err
	}
	raw, printed, err := fetchView(ctx, a, "/api/v1/plans", asJSON, stdout)
	if err != nil || printed {
		return err
	}
	var out struct {
		Plans []struct {
			ID, Title    string
			Version      int
			Requirements int
			Period       struct{ Start, End string }
		} `json:"plans"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tVERSION\tPERIOD\tREQUIREMENTS\tTITLE")
	for _, p := range out.Plans {
		fmt.Fprintf(tw, "%s\t%d\t%s – %s\t%d\t%s\n", p.ID, p.Version, p.Period.Start, p.Period.End, p.Requirements, p.Title)
	}
	return tw.Flush()
}

// planCheck validates plan files and lists every problem by file and line.
func planCheck(files []string, stdout io.Writer) error {
	if len(files) == 0 {
		return usagef("plan check needs at least one plan file")
	}
	bad := 0
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		p, err := plan.Parse(name, data)
		var probs plan.Problems
		switch {
		case errors.As(err, &probs):
			bad++
			for _, pr := range probs {
				fmt.Fprintln(stdout, pr)
			}
		case err != nil:
			return err
		default:
			fmt.Fprintf(stdout, "%s: ok: %s, %s to %s, %d phases, %d requirements\n", name, p.ID, p.Period.Start, p.Period.End, len(p.Phases), len(p.Requirements))
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d plan files have problems", bad, len(files))
	}
	return nil
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"text/tabwriter"
)

// statusMark is how a status reads in the terminal.
var statusMark = map[string]string{"met": "✓ met", "partial": "… partial", "missing": "✗ missing", "not_due": "· not due", "overdue": "✗ OVERDUE"}

func complianceCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("compliance", stderr)
	var unit, asOf, planID, lang string
	var asJSON bool
	a, err := newAPI(fs, args, func() {
		fs.StringVar(&unit, "unit", "", "unit id (required)")
		fs.StringVar(&asOf, "as-of", "", "as the ledger stood at this time (RFC 3339 or YYYY-MM-DD)")
		fs.StringVar(&planID, "plan", "", "only this plan")
		fs.StringVar(&lang, "lang", "", "language of what is missing and why: zh-Hant (default), zh-Hans or en")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	if unit == "" {
		return usagef("--unit is required")
	}
	q := url.Values{}
	if asOf != "" {
		q.Set("as_of", asOf)
	}
	if planID != "" {
		q.Set("plan", planID)
	}
	if lang != "" {
		q.Set("lang", lang)
	}
	raw, printed, err := fetchView(ctx, a, "/api/v1/units/"+url.PathEscape(unit)+"/compliance?"+q.Encode(), asJSON, stdout)
	if err != nil || printed {
		return err
	}
	var ans struct {
		Unit  string `json:"unit"`
		AsOf  string `json:"as_of"`
		Plans []struct {
			Plan         string `json:"plan"`
			Met, Due     int
			Requirements []struct {
				Requirement, Ref, Title, Status, Missing string
				Counted                                  []any
			} `json:"requirements"`
		} `json:"plans"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s as of %s\n", ans.Unit, ans.AsOf)
	if len(ans.Plans) == 0 {
		fmt.Fprintln(stdout, "no plan applies to this unit")
	}
	for _, p := range ans.Plans {
		fmt.Fprintf(stdout, "\n%s: %d of %d due requirements met\n", p.Plan, p.Met, p.Due)
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		for _, r := range p.Requirements {
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\n", statusMark[r.Status], r.Requirement, len(r.Counted), r.Ref, r.Missing)
		}
		tw.Flush()
	}
	return nil
}

func rankingCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("ranking", stderr)
	var planID, period string
	var asJSON bool
	a, err := newAPI(fs, args, func() {
		fs.StringVar(&planID, "plan", "", "plan id (required)")
		fs.StringVar(&period, "period", "", "month, YYYY-MM (required)")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	if planID == "" || period == "" {
		return usagef("--plan and --period are required")
	}
	raw, printed, err := fetchView(ctx, a, "/api/v1/plans/"+url.PathEscape(planID)+"/ranking?period="+url.QueryEscape(period), asJSON, stdout)
	if err != nil || printed {
		return err
	}
	var rk struct {
		Plan   string `json:"plan"`
		Period string `json:"period"`
		AsOf   string `json:"as_of"`
		Units  []struct {
			Rank     int
			Unit     string
			Name     string
			Met, Due int
			Share    float64
		}
	}
	if err := json.Unmarshal(raw, &rk); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s, %s (as of %s)\n", planID, period, rk.AsOf)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RANK\tUNIT\tNAME\tMET\tDUE\tSHARE")
	for _, u := range rk.Units {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%.0f%%\n", u.Rank, u.Unit, u.Name, u.Met, u.Due, u.Share*100)
	}
	return tw.Flush()
}

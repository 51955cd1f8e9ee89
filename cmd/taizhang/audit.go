package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"taizhang/projections/audit"
)

// auditViews are the views `taizhang audit VIEW` prints, in usage order.
var auditViews = []string{"corrections", "backfill", "bursts", "reuse", "photo-times", "devices", "actors"}

// auditCmd runs `taizhang audit VIEW`: one of the supervisor's audit views
// (GET /api/v1/audit/VIEW), as a table or as JSON.
func auditCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "access" {
		return auditAccess(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || !slices.Contains(auditViews, args[0]) {
		return usagef("want 'audit VIEW' with VIEW one of %s, access", strings.Join(auditViews, ", "))
	}
	view := args[0]
	fs := newFlags("audit "+view, stderr)
	var unit, from, to, actor string
	var threshold int
	var asJSON, all bool
	a, err := newAPI(fs, args[1:], func() {
		fs.StringVar(&unit, "unit", "", "only this unit")
		fs.StringVar(&from, "from", "", "only what was recorded on or after this date (YYYY-MM-DD)")
		fs.StringVar(&to, "to", "", "only what was recorded on or before this date (YYYY-MM-DD)")
		fs.StringVar(&actor, "actor", "", "only what this user did")
		fs.IntVar(&threshold, "threshold-days", 0, "backfill and bursts: flag a lag over this many days (default 30)")
		fs.BoolVar(&all, "all", false, "backfill: list every item, not only the flagged ones")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range map[string]string{"unit": unit, "from": from, "to": to, "actor": actor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if threshold != 0 {
		q.Set("threshold_days", strconv.Itoa(threshold))
	}
	if view == "backfill" && !all {
		q.Set("flagged", "true")
	}
	raw, printed, err := fetchView(ctx, a, "/api/v1/audit/"+view+"?"+q.Encode(), asJSON, stdout)
	if err != nil || printed {
		return err
	}
	return printAudit(stdout, view, raw)
}

// printAudit prints an audit answer as tables.
func printAudit(w io.Writer, view string, raw []byte) error {
	decode := func(v any) error {
		if err := json.Unmarshal(raw, v); err != nil {
			return fmt.Errorf("decode %s: %w", view, err)
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	zone := displayZone()
	when := func(t time.Time) string { return t.In(zone).Format("2006-01-02 15:04") }
	date := func(t time.Time) string { return t.In(zone).Format(time.DateOnly) }
	switch view {
	case "corrections":
		var r audit.CorrectionsReport
		if err := decode(&r); err != nil {
			return err
		}
		fmt.Fprintf(tw, "%d corrections\n", len(r.Corrections))
		for _, c := range r.Corrections {
			fmt.Fprintf(tw, "\n%s\t%s\t%s\tby %s (%s)\tv%d\t%s\n", when(c.RecordedAt), c.Unit, c.Kind, c.Actor.ID, c.Actor.Role, c.Version, auditShort(c.Title, 40))
			fmt.Fprintf(tw, "  reason:\t%s\n", c.Reason)
			for _, ch := range c.Changes {
				fmt.Fprintf(tw, "  %s:\t%s → %s\n", ch.Field, auditValue(ch.Before), auditValue(ch.After))
			}
			for _, d := range c.AttachmentsAdded {
				fmt.Fprintf(tw, "  attached:\t%.16s…\n", d)
			}
			for _, d := range c.AttachmentsRemoved {
				fmt.Fprintf(tw, "  removed:\t%.16s…\n", d)
			}
			fmt.Fprintf(tw, "  target:\t%s\n", c.Target)
		}
	case "backfill":
		var r audit.BackfillReport
		if err := decode(&r); err != nil {
			return err
		}
		fmt.Fprintf(tw, "lag = recorded − occurred; flagged over %d days\n\n", r.ThresholdDays)
		fmt.Fprintln(tw, "UNIT\tNAME\tITEMS\tFLAGGED\tMAX LAG\tMEDIAN LAG")
		for _, u := range r.Units {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.1f d\t%.1f d\n", u.Unit, u.Name, u.Items, u.Flagged, u.MaxLagDays, u.MedianLagDays)
		}
		fmt.Fprintln(tw, "\nUNIT\tOCCURRED\tRECORDED\tLAG\tFLAG\tTITLE")
		for _, it := range r.Items {
			flag := ""
			if it.Flagged {
				flag = "BACKFILLED"
			}
			if it.Retracted {
				flag += " (retracted)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f d\t%s\t%s\n", it.Unit, date(it.OccurredAt), when(it.RecordedAt), it.LagDays, flag, auditShort(it.Title, 40))
		}
	case "bursts":
		var r audit.BurstsReport
		if err := decode(&r); err != nil {
			return err
		}
		fmt.Fprintf(tw, "%d bursts: at least %d items recorded within %d days before a phase start or a deadline, each claiming a date more than %d days earlier\n",
			len(r.Bursts), r.MinItems, r.WindowDays, r.ThresholdDays)
		for _, b := range r.Bursts {
			fmt.Fprintf(tw, "\n%s %s: %d items recorded %s..%s before %s %s %s (%s, plan %s)\n", b.Unit, b.Name, b.Count,
				date(b.Items[0].RecordedAt), date(auditLatest(b.Items)), b.Before.Kind, b.Before.ID, b.Before.Name, b.Before.Date, b.Before.Plan)
			for _, x := range b.Also {
				fmt.Fprintf(tw, "  also before %s %s (%s, plan %s)\n", x.Kind, x.ID, x.Date, x.Plan)
			}
			fmt.Fprintf(tw, "  claiming dates %s..%s\n", b.OccurredFrom, b.OccurredTo)
			for _, it := range b.Items {
				fmt.Fprintf(tw, "  %s\t%s\t%.1f d\t%s\n", date(it.OccurredAt), when(it.RecordedAt), it.LagDays, auditShort(it.Title, 40))
			}
		}
	case "reuse":
		var r audit.ReuseReport
		if err := decode(&r); err != nil {
			return err
		}
		uses := func(us []audit.Use) {
			for _, u := range us {
				mark := ""
				if u.Retracted {
					mark = " (retracted)"
				}
				fmt.Fprintf(tw, "    %s\t%s\t%s\t%s%s\t%s\n", u.Unit, when(u.AttachedAt), u.Name, auditShort(u.Title, 30), mark, u.ID)
			}
		}
		fmt.Fprintf(tw, "%d contents attached to more than one item\n", len(r.Exact))
		for _, e := range r.Exact {
			fmt.Fprintf(tw, "\n  %.16s…\t%s\t%d bytes\t%d uses, units %s\n", e.SHA256, e.MediaType, e.Size, len(e.Uses), strings.Join(e.Units, ", "))
			uses(e.Uses)
		}
		fmt.Fprintf(tw, "\n%d pairs of near-duplicate photos (perceptual hash within %d bits)\n", len(r.Near), r.NearDistance)
		for _, n := range r.Near {
			fmt.Fprintf(tw, "\n  %d bits: %.16s… (%dx%d) ~ %.16s… (%dx%d)\n", n.Distance, n.A.SHA256, n.A.Width, n.A.Height, n.B.SHA256, n.B.Width, n.B.Height)
			uses(n.A.Uses)
			uses(n.B.Uses)
		}
	case "photo-times":
		var r audit.PhotoTimesReport
		if err := decode(&r); err != nil {
			return err
		}
		fmt.Fprintf(tw, "%d photos with an EXIF time checked; %d flagged (taken more than %d day(s) after or %d days before the claimed date)\n\n",
			r.Checked, len(r.Flagged), r.LateDays, r.EarlyDays)
		fmt.Fprintln(tw, "UNIT\tCLAIMED\tTAKEN\tDAYS\tFLAG\tTITLE")
		for _, p := range r.Flagged {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%+d\t%s\t%s\n", p.Unit, p.Occurred, strings.Replace(p.TakenAt, "T", " ", 1), p.Days, p.Flag, auditShort(p.Title, 40))
		}
		fmt.Fprintf(tw, "\n%d photos without an EXIF time (cannot be checked; not a finding)\n", len(r.NoEXIF))
		for _, p := range r.NoEXIF {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Unit, p.Occurred, p.Name, auditShort(p.Title, 40))
		}
	case "devices":
		var r audit.DevicesReport
		if err := decode(&r); err != nil {
			return err
		}
		fmt.Fprintf(tw, "%d device-signed submissions, %d by a registered key; %d flagged (key unknown or revoked when recorded, or captured after it was recorded)\n\n",
			r.Signed, r.OK, len(r.Flagged))
		fmt.Fprintln(tw, "UNIT\tRECORDED\tCAPTURED\tKEY\tVERDICT\tBY\tTITLE")
		for _, d := range r.Flagged {
			verdict := string(d.Verdict)
			if d.Late {
				verdict += fmt.Sprintf(", captured %s after recorded", (time.Duration(d.AheadSeconds) * time.Second).String())
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Unit, when(d.RecordedAt), when(d.CapturedAt), d.Key, verdict, d.Actor, auditShort(d.Title, 40))
		}
	case "actors":
		var r audit.ActorsReport
		if err := decode(&r); err != nil {
			return err
		}
		fmt.Fprintln(tw, "ACTOR\tROLE\tSUBMITTED\tAMENDED\tRETRACTED\tFINDINGS REC/RES/REOPEN\tPLANS\tEXPORTED\tFIRST\tLAST\tUNITS")
		for _, x := range r.Actors {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d/%d/%d\t%d\t%d\t%s\t%s\t%s\n", x.Actor, x.Role, x.Submitted, x.Amended, x.Retracted,
				x.FindingsRecorded, x.FindingsResolved, x.FindingsReopened, x.PlansPublished, x.Exported, date(x.First), date(x.Last), auditShort(strings.Join(x.Units, ","), 40))
		}
		fmt.Fprintln(tw, "\n(exports are not recorded yet: EXPORTED is always 0)")
	}
	return nil
}

func auditLatest(items []audit.BackfillItem) time.Time {
	var t time.Time
	for _, it := range items {
		if it.RecordedAt.After(t) {
			t = it.RecordedAt
		}
	}
	return t
}

// auditValue shows a field's value on one line.
func auditValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "(none)"
	case string:
		return strconv.Quote(auditShort(x, 60))
	}
	b, _ := json.Marshal(v)
	return auditShort(string(b), 60)
}

// auditShort cuts s to n characters, one line.
func auditShort(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

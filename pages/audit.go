package pages

import (
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"taizhang/api"
	"taizhang/auth"
	"taizhang/events"
	"taizhang/gate"
	"taizhang/param"
	"taizhang/projections"
	"taizhang/projections/audit"
	"taizhang/verify"
	"taizhang/web/chart"
)

// auditPageViews are the supervisor's audit pages, in the order of their
// tabs; each is /audit/{view}, the same view as GET /api/v1/audit/{view}.
var auditPageViews = []string{"corrections", "backfill", "bursts", "reuse", "photo-times", "devices", "actors"}

// AuditViews names the audit pages, in the order of their tabs: each is
// GET /audit/{view}, answered by AuditPage(view).
func AuditViews() []string { return slices.Clone(auditPageViews) }

// auditUnit is a unit in the filter's list.
type auditUnit struct{ ID, Name string }

// auditData is what the audit pages show: the view, its filter and the one
// report the view computed.
type auditData struct {
	View    string
	Views   []string
	Filter  api.AuditFilter
	Units   []auditUnit
	Applied uint64
	Chart   template.HTML
	// Quarantined lists the quarantined units the principal may see, on
	// every audit page.
	Quarantined []events.Quarantine

	Corrections *audit.CorrectionsReport
	Backfill    *audit.BackfillReport
	Bursts      *audit.BurstsReport
	Reuse       *audit.ReuseReport
	PhotoTimes  *audit.PhotoTimesReport
	Devices     *audit.DevicesReport
	Actors      *audit.ActorsReport
	// BackfillFlagged lists the flagged items of the backfill view.
	BackfillFlagged []audit.BackfillItem
	// NearPairs are the reuse view's near duplicates, side by side.
	NearPairs []nearPair
}

// nearPair is two near-duplicate photos, the first attached first.
type nearPair struct {
	Distance int
	Photos   []audit.Photo
}

// unitsForFilter lists the units p may see, for a filter's unit choice.
func unitsForFilter(a *projections.Archive, p auth.Principal) []auditUnit {
	var out []auditUnit
	for _, u := range a.Units() {
		if p.Sees(u.ID, a.Within) {
			out = append(out, auditUnit{u.ID, u.Name})
		}
	}
	return out
}

// AuditIndex serves GET /audit/: the supervisor's audit index.
func (pg *Pages) AuditIndex(w http.ResponseWriter, r *http.Request) {
	if _, _, err := pg.api.AuditOptions(r); err != nil { // a unit out of scope is refused here too
		pg.failErr(w, r, err)
		return
	}
	d := auditData{Views: auditPageViews, Quarantined: pg.api.QuarantinedFor(gate.Principal(r))}
	pg.render(w, r, http.StatusOK, "audit", pg.page(w, r, d, "title.audit"))
}

// AuditPage renders one audit view, filtered by the query as the API is
// (unit, from, to, actor, threshold_days, ...).
func (pg *Pages) AuditPage(view string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		o, f, err := pg.api.AuditOptions(r)
		if err != nil {
			pg.failErr(w, r, err)
			return
		}
		d := auditData{View: view, Views: auditPageViews, Filter: f, Quarantined: pg.api.QuarantinedFor(gate.Principal(r))}
		lang := pg.lang(w, r)
		err = pg.api.Archive().Read(func(a *projections.Archive) error {
			if o.Unit != "" && a.Unit(o.Unit) == nil {
				return fmt.Errorf("unit %s: %w", o.Unit, events.ErrNotFound)
			}
			d.Units, d.Applied = unitsForFilter(a, gate.Principal(r)), a.Applied()
			switch view {
			case "corrections":
				rep := audit.Corrections(a, o)
				d.Corrections = &rep
			case "backfill":
				rep := audit.Backfill(a, o)
				d.Backfill = &rep
				for _, it := range rep.Items {
					if it.Flagged {
						d.BackfillFlagged = append(d.BackfillFlagged, it)
					}
				}
				marks := map[string][]string{} // the units' bursts before inspections, which a median hides
				for _, b := range audit.Bursts(a, o).Bursts {
					marks[b.Unit] = append(marks[b.Unit], pg.r.T(lang, "audit.backfill.burst", b.Count, b.Before.Name,
						b.Before.At.In(pg.api.Config().Zone).Format(pg.r.T(lang, "fmt.date"))))
				}
				d.Chart = backfillChart(rep, marks, pg.r.T(lang, "audit.backfill.chart"), pg.r.T(lang, "audit.backfill.chart_desc"),
					pg.r.T(lang, "audit.backfill.threshold", rep.ThresholdDays), f)
			case "bursts":
				rep := audit.Bursts(a, o)
				d.Bursts = &rep
				// every item of the bursting units, to show the burst
				// against the unit's usual pace
				bo := o
				bo.FlaggedOnly = false
				all := audit.Backfill(a, bo)
				d.Chart = burstsChart(rep, all, o.Zone, pg.r.T(lang, "audit.bursts.chart"), pg.r.T(lang, "audit.bursts.chart_desc"),
					func(n, flagged int) string { return pg.r.T(lang, "audit.bursts.day", n, flagged) })
			case "reuse":
				rep := audit.Reuse(a, o)
				d.Reuse = &rep
				for _, n := range rep.Near {
					d.NearPairs = append(d.NearPairs, nearPair{n.Distance, []audit.Photo{n.A, n.B}})
				}
			case "photo-times":
				rep := audit.PhotoTimes(a, o)
				d.PhotoTimes = &rep
			case "devices":
				rep := audit.Devices(a, o)
				d.Devices = &rep
			case "actors":
				rep := audit.Actors(a, o)
				d.Actors = &rep
			}
			return nil
		})
		if err != nil {
			pg.failErr(w, r, err)
			return
		}
		pg.render(w, r, http.StatusOK, "audit", pg.page(w, r, d, "title.audit_"+view))
	}
}

// backfillChart draws each unit's median backfill lag, units with flagged
// items in the flagged colour, each bar linking to the unit's items; the
// units with a burst before an inspection (marks: unit → what to say of
// each) come first, their rows marked.
func backfillChart(rep audit.BackfillReport, marks map[string][]string, title, desc, threshold string, f api.AuditFilter) template.HTML {
	var bars []chart.Bar
	for _, u := range rep.Units {
		if u.Items == 0 {
			continue
		}
		q := url.Values{"unit": {u.Unit}}
		if f.From != "" {
			q.Set("from", f.From)
		}
		if f.To != "" {
			q.Set("to", f.To)
		}
		bars = append(bars, chart.Bar{Label: u.Unit + " " + u.Name, Href: "/audit/backfill?" + q.Encode(),
			Value: u.MedianLagDays, Flagged: u.Flagged > 0,
			Note: fmt.Sprintf("max %.1f, %d/%d", u.MaxLagDays, u.Flagged, u.Items), Mark: strings.Join(marks[u.Unit], "；")})
	}
	slices.SortStableFunc(bars, func(a, b chart.Bar) int {
		switch {
		case (a.Mark != "") == (b.Mark != ""):
			return 0
		case a.Mark != "":
			return -1
		}
		return 1
	})
	return chart.Bars(chart.BarsChart{ID: "backfill-chart", Title: title, Desc: desc, Bars: bars,
		Threshold: float64(rep.ThresholdDays), ThresholdLabel: threshold})
}

// burstsChart draws, for each unit with a burst, its items by recorded day
// (backfilled ones flagged), the burst windows shaded and the anchors
// (phase starts, deadlines) marked.
func burstsChart(rep audit.BurstsReport, all audit.BackfillReport, zone *time.Location, title, desc string, count func(n, flagged int) string) template.HTML {
	lanes := map[string]*chart.Lane{}
	var order []string
	markers := map[time.Time]string{}
	for _, b := range rep.Bursts {
		l := lanes[b.Unit]
		if l == nil {
			l = &chart.Lane{Label: b.Unit, Href: "/units/" + url.PathEscape(b.Unit) + "/timeline"}
			lanes[b.Unit] = l
			order = append(order, b.Unit)
		}
		l.Spans = append(l.Spans, chart.Span{From: b.WindowStart, To: b.WindowEnd,
			Label: fmt.Sprintf("%s: %d", b.Before.Name, b.Count)})
		markers[b.Before.At] = b.Before.Name
	}
	var from, to time.Time
	for _, it := range all.Items {
		l := lanes[it.Unit]
		if l == nil {
			continue
		}
		l.Stamps = append(l.Stamps, chart.Stamp{At: it.RecordedAt, Flagged: it.Flagged})
		if from.IsZero() || it.RecordedAt.Before(from) {
			from = it.RecordedAt
		}
		if it.RecordedAt.After(to) {
			to = it.RecordedAt
		}
	}
	c := chart.TimelineChart{ID: "bursts-chart", Title: title, Desc: desc, Zone: zone, From: from, To: to, CountText: count}
	for _, u := range order {
		c.Lanes = append(c.Lanes, *lanes[u])
	}
	for at, name := range markers {
		c.Markers = append(c.Markers, chart.Marker{At: at, Label: name})
		if at.After(c.To) {
			c.To = at
		}
	}
	slices.SortFunc(c.Markers, func(a, b chart.Marker) int { return a.At.Compare(b.At) })
	return chart.Timeline(c)
}

// verifyData is the verification page: the latest checkpoint, and the
// result of a unit check if one was asked for.
type verifyData struct {
	Units      []auditUnit
	Unit       string
	Checkpoint *CheckpointStatus
	Ran        bool
	OK         bool
	Report     *verify.Report
	Took       time.Duration
	AsOf       string
}

// CheckpointStatus is what the verification page says of the newest
// checkpoint.
type CheckpointStatus struct {
	Seq      uint64
	TreeSize uint64
	Time     time.Time
	RootHash string
	Units    uint64
	Problem  string
}

// AuditVerify shows the ledger's verification status (the newest signed
// checkpoint) and, with ?unit=, runs the unit check of GET /api/v1/verify:
// the unit's chain recomputed and every attachment re-hashed. It also
// offers each unit's BagIt export as of a date.
func (pg *Pages) AuditVerify(w http.ResponseWriter, r *http.Request) {
	d := verifyData{Unit: r.URL.Query().Get("unit"), AsOf: r.URL.Query().Get("as_of")}
	_ = pg.api.Archive().Read(func(a *projections.Archive) error {
		d.Units = unitsForFilter(a, gate.Principal(r))
		return nil
	})
	if pg.api.Checkpoints() != nil {
		cs := &CheckpointStatus{}
		cp, err := pg.api.Checkpoints().Latest(r.Context())
		switch {
		case errors.Is(err, events.ErrNotFound):
			cs = nil // none yet
		case err != nil:
			cs.Problem = err.Error()
		default:
			cs.Seq, cs.TreeSize, cs.Time, cs.RootHash, cs.Units, cs.Problem = cp.Seq, cp.Size, cp.Time, cp.Root.String(), cp.Units, cp.Problem
		}
		d.Checkpoint = cs
	}
	if d.Unit != "" {
		if err := events.ValidUnitID(d.Unit); err != nil {
			pg.failErr(w, r, err)
			return
		}
		if err := pg.gate.Authorize(gate.Principal(r), auth.ActAudit, d.Unit); err != nil {
			pg.failErr(w, r, err)
			return
		}
		if _, err := pg.api.UnitSeq(r.Context(), d.Unit); err != nil {
			pg.failErr(w, r, err)
			return
		}
		start := time.Now()
		rep, err := verify.Run(r.Context(), api.OneUnit{Ledger: pg.api.Ledger()}, pg.api.Blobs(), verify.Options{Unit: d.Unit})
		if err != nil {
			pg.failErr(w, r, err)
			return
		}
		d.Ran, d.OK, d.Report, d.Took = true, rep.OK(), rep, time.Since(start).Round(time.Millisecond)
	}
	pg.render(w, r, http.StatusOK, "verify", pg.page(w, r, d, "title.audit_verify"))
}

// AuditExport turns the export form (?unit=&as_of=) into the API's export
// URL, so the form needs no script.
func (pg *Pages) AuditExport(w http.ResponseWriter, r *http.Request) {
	unit, asOf := r.URL.Query().Get("unit"), r.URL.Query().Get("as_of")
	if err := events.ValidUnitID(unit); err != nil {
		pg.failErr(w, r, err)
		return
	}
	if asOf != "" {
		if _, err := time.Parse(time.DateOnly, asOf); err != nil {
			pg.failErr(w, r, fmt.Errorf("%w: as_of %q is not a YYYY-MM-DD date", param.ErrBadRequest, asOf))
			return
		}
	}
	u := "/api/v1/units/" + url.PathEscape(unit) + "/export"
	if asOf != "" {
		u += "?as_of=" + url.QueryEscape(asOf)
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

// rankingData is the monthly ranking page: the month's ranking and each
// unit's trend over the plan's months up to it.
type rankingData struct {
	Plan    string
	Title   string
	Month   string
	Months  []string // the plan's months up to now, for the month choice
	Ranking api.Ranking
	Rows    []rankRow
	Chart   template.HTML
}

// rankRow is a ranking entry with its share as a percentage.
type rankRow struct {
	api.RankEntry
	Pct string
}

// rankingMonths lists the months of a plan's period (in its zone) up to
// now, at most the last 24.
func rankingMonths(from, to, now time.Time) []string {
	if to.After(now) {
		to = now
	}
	var out []string
	for m := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, from.Location()); !m.After(to); m = m.AddDate(0, 1, 0) {
		out = append(out, m.Format("2006-01"))
	}
	if len(out) > 24 {
		out = out[len(out)-24:]
	}
	return out
}

// RankingPage is /plans/{plan}/ranking?month=YYYY-MM (default: the plan's
// last month so far): the ranking table and a chart of each unit's share
// met, month by month, up to that month.
func (pg *Pages) RankingPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("plan")
	var pv projections.PlanVersion
	var ok bool
	_ = pg.api.Archive().Read(func(a *projections.Archive) error {
		pv, ok = a.Plan(id, time.Time{})
		return nil
	})
	if !ok {
		pg.failErr(w, r, fmt.Errorf("plan %s: %w", id, events.ErrNotFound))
		return
	}
	loc := pv.Plan.Location()
	months := rankingMonths(pv.Plan.Period.Start.Start(loc), pv.Plan.Period.End.Start(loc), pg.api.Now().In(loc))
	if len(months) == 0 {
		pg.failErr(w, r, fmt.Errorf("%w: plan %s has not started", param.ErrBadRequest, id))
		return
	}
	month := r.URL.Query().Get("month")
	if month == "" {
		month = months[len(months)-1]
	}
	i := slices.Index(months, month)
	if i < 0 {
		pg.failErr(w, r, fmt.Errorf("%w: month %q is not a month of plan %s so far (YYYY-MM)", param.ErrBadRequest, month, id))
		return
	}
	d := rankingData{Plan: id, Title: pv.Plan.Title, Month: month, Months: months}
	trend := months[:i+1]
	if len(trend) > 12 {
		trend = trend[len(trend)-12:]
	}
	shares := map[string][]float64{}
	names := map[string]string{}
	for k, m := range trend {
		t, _ := time.Parse("2006-01", m)
		rk, err := pg.api.Rank(r.Context(), id, t)
		if err != nil {
			pg.failErr(w, r, err)
			return
		}
		for _, e := range rk.Units {
			if shares[e.Unit] == nil {
				shares[e.Unit] = make([]float64, len(trend))
				for j := range shares[e.Unit] {
					shares[e.Unit][j] = math.NaN()
				}
			}
			names[e.Unit] = e.Name
			if e.Due > 0 {
				shares[e.Unit][k] = e.Share
			}
		}
		if k == len(trend)-1 {
			d.Ranking = rk
		}
	}
	// the series in the order of the month's ranking
	var series []chart.Series
	for _, e := range d.Ranking.Units {
		pct := "–"
		if e.Due > 0 {
			pct = strconv.FormatFloat(e.Share*100, 'f', 0, 64) + "%"
		}
		d.Rows = append(d.Rows, rankRow{e, pct})
		series = append(series, chart.Series{Name: e.Unit + " " + names[e.Unit], Href: "/units/" + url.PathEscape(e.Unit), Values: shares[e.Unit]})
	}
	lang := pg.lang(w, r)
	d.Chart = chart.Line(chart.LineChart{ID: "ranking-chart", Title: pg.r.T(lang, "ranking.chart", pv.Plan.Title),
		Desc: pg.r.T(lang, "ranking.chart_desc"), X: trend, Series: series, YMax: 1,
		YFormat: func(v float64) string { return strconv.FormatFloat(v*100, 'f', 0, 64) + "%" }})
	pg.render(w, r, http.StatusOK, "ranking", pg.page(w, r, d, "title.ranking", pv.Plan.Title))
}

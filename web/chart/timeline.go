package chart

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// Stamp is one thing recorded at a time, e.g. a submission.
type Stamp struct {
	At      time.Time
	Flagged bool // e.g. backfilled: dated long before it was recorded
}

// Span is a shaded stretch of time, e.g. the window before an inspection.
type Span struct {
	From, To time.Time
	Label    string
}

// Marker is an instant marked across all lanes, e.g. a deadline.
type Marker struct {
	At    time.Time
	Label string
}

// Lane is one row of a timeline, e.g. a unit.
type Lane struct {
	Label  string
	Href   string // the lane's label links here, if given
	Stamps []Stamp
	Spans  []Span
}

// TimelineChart counts stamps per day along a time axis, one lane per row,
// with spans shaded and markers drawn across, e.g. submissions by recorded
// date with the windows before inspections: a burst is a tall cluster in a
// shaded window.
type TimelineChart struct {
	ID      string
	Title   string
	Desc    string
	From    time.Time // the axis; default: the stamps', spans' and markers' extent
	To      time.Time
	Zone    *time.Location // days are counted in this zone (default UTC)
	Lanes   []Lane
	Markers []Marker
	Width   int // default 720
	// CountText is a day's tooltip text for its count of stamps and of
	// flagged ones (default "N (F flagged)").
	CountText func(all, flagged int) string
}

// Timeline draws c as an SVG timeline: per lane, a bar per day as high as
// the day's count (flagged stamps stacked in ColourFlagged), shaded spans,
// dashed markers, and month ticks.
func Timeline(c TimelineChart) template.HTML {
	if c.Width <= 0 {
		c.Width = 720
	}
	if c.CountText == nil {
		c.CountText = countText
	}
	if c.Zone == nil {
		c.Zone = time.UTC
	}
	if c.From.IsZero() || c.To.IsZero() {
		var lo, hi time.Time
		see := func(t time.Time) {
			if t.IsZero() {
				return
			}
			if lo.IsZero() || t.Before(lo) {
				lo = t
			}
			if hi.IsZero() || t.After(hi) {
				hi = t
			}
		}
		for _, l := range c.Lanes {
			for _, s := range l.Stamps {
				see(s.At)
			}
			for _, s := range l.Spans {
				see(s.From)
				see(s.To)
			}
		}
		for _, m := range c.Markers {
			see(m.At)
		}
		if c.From.IsZero() {
			c.From = lo
		}
		if c.To.IsZero() {
			c.To = hi
		}
	}
	// whole days in the zone
	day := func(t time.Time) time.Time {
		t = t.In(c.Zone)
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, c.Zone)
	}
	from, to := day(c.From), day(c.To).AddDate(0, 0, 1)
	if !to.After(from) {
		to = from.AddDate(0, 0, 1)
	}
	const labelW, top, laneH, gap, bottom, right = 130.0, 28.0, 44.0, 8.0, 28.0, 12.0
	height := int(top + (laneH+gap)*float64(max(len(c.Lanes), 1)) + bottom)
	pw := float64(c.Width) - labelW - right
	span := to.Sub(from).Seconds()
	xAt := func(t time.Time) float64 {
		f := t.Sub(from).Seconds() / span
		return labelW + pw*math.Min(math.Max(f, 0), 1)
	}
	dayW := math.Max(pw*86400/span, 1)

	var b strings.Builder
	id := idFor(c.ID, c.Title)
	open(&b, id, c.Title, c.Desc, c.Width, height)
	axisY := top + (laneH+gap)*float64(max(len(c.Lanes), 1))
	// month ticks, thinned to at most one per 48 px
	months := 0
	for m := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, c.Zone); m.Before(to); m = m.AddDate(0, 1, 0) {
		months++
	}
	every := max(1, int(math.Ceil(float64(months)*48/pw)))
	k := 0
	for m := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, c.Zone); m.Before(to); m = m.AddDate(0, 1, 0) {
		if !m.Before(from) && k%every == 0 {
			x := xAt(m)
			line(&b, x, top-4, x, axisY, ColourGrid, "")
			text(&b, x, axisY+16, "middle", "#333333", m.Format("2006-01"))
		}
		k++
	}
	for i, l := range c.Lanes {
		y0 := top + (laneH+gap)*float64(i)
		fmt.Fprintf(&b, `<g class="lane">`)
		for _, s := range l.Spans {
			x1, x2 := xAt(s.From), xAt(s.To)
			fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>`,
				num(x1), num(y0), num(math.Max(x2-x1, 1)), num(laneH), ColourWindow, esc(s.Label))
		}
		line(&b, labelW, y0+laneH, labelW+pw, y0+laneH, ColourMark, "")
		link(&b, l.Href, func() {
			text(&b, labelW-8, y0+laneH/2+4, "end", "#222222", truncate(l.Label, 16))
		})
		type count struct{ all, flagged int }
		days := map[time.Time]*count{}
		var order []time.Time
		peak := 0
		for _, s := range l.Stamps {
			if s.At.Before(from) || !s.At.Before(to) {
				continue
			}
			d := day(s.At)
			n := days[d]
			if n == nil {
				n = &count{}
				days[d] = n
				order = append(order, d)
			}
			n.all++
			if s.Flagged {
				n.flagged++
			}
			peak = max(peak, n.all)
		}
		unitH := (laneH - 4) / float64(max(peak, 1))
		for _, d := range order {
			n := days[d]
			x := xAt(d)
			h := unitH * float64(n.all)
			fh := unitH * float64(n.flagged)
			fmt.Fprintf(&b, `<g class="day"><title>%s: %s</title>`, d.Format(time.DateOnly), esc(c.CountText(n.all, n.flagged)))
			if n.all > n.flagged {
				fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"/>`, num(x), num(y0+laneH-h), num(dayW), num(h-fh), ColourNormal)
			}
			if n.flagged > 0 {
				fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"/>`, num(x), num(y0+laneH-fh), num(dayW), num(fh), ColourFlagged)
			}
			b.WriteString("</g>")
		}
		if peak > 0 {
			text(&b, labelW+pw+2, y0+10, "start", "#555555", strconv.Itoa(peak))
		}
		b.WriteString("</g>")
	}
	lastLabel := math.Inf(-1)
	for _, m := range c.Markers {
		if m.At.Before(from) || m.At.After(to) {
			continue
		}
		x := xAt(m.At)
		fmt.Fprintf(&b, `<g class="marker"><title>%s %s</title>`, m.At.In(c.Zone).Format(time.DateOnly), esc(m.Label))
		line(&b, x, top-6, x, axisY, ColourMark, "4 3")
		if x-lastLabel >= 90 {
			text(&b, x, top-10, "middle", ColourMark, truncate(m.Label, 12))
			lastLabel = x
		}
		b.WriteString("</g>")
	}
	return done(&b)
}

func countText(all, flagged int) string {
	if flagged == 0 {
		return strconv.Itoa(all)
	}
	return fmt.Sprintf("%d (%d flagged)", all, flagged)
}

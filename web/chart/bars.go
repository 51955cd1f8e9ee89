package chart

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// Bar is one labelled value.
type Bar struct {
	Label   string
	Href    string // the bar and its label link here, if given
	Value   float64
	Flagged bool   // drawn in ColourFlagged, e.g. over a threshold
	Note    string // added to the bar's tooltip
	// Mark, if given, calls the eye to the row whatever its value: the
	// row is shaded, its label bold, and Mark written after the value
	// behind a ▲ in ColourMarkText (e.g. a backfill burst before an
	// inspection, which a median does not show).
	Mark string
}

// BarsChart is a horizontal bar per label, e.g. the backfill lag per unit.
type BarsChart struct {
	ID    string
	Title string
	Desc  string
	Bars  []Bar
	// Max is the end of the scale (default: the largest value or the
	// threshold, rounded up).
	Max float64
	// Threshold, if positive, is marked with a dashed line and
	// ThresholdLabel.
	Threshold      float64
	ThresholdLabel string
	// Format labels values and ticks (default: the number, one decimal).
	Format func(float64) string
	Width  int // default 720
}

// Bars draws c as an SVG horizontal bar chart, one row per bar in order.
func Bars(c BarsChart) template.HTML {
	if c.Width <= 0 {
		c.Width = 720
	}
	if c.Format == nil {
		c.Format = func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
	}
	const labelW, top, rowH, barH, bottom, right = 150.0, 24.0, 22.0, 14.0, 28.0, 70.0
	height := int(top + rowH*float64(max(len(c.Bars), 1)) + bottom)
	mx := c.Max
	if mx <= 0 {
		mx = c.Threshold
		for _, b := range c.Bars {
			mx = math.Max(mx, b.Value)
		}
		mx = niceMax(mx)
	}
	pw := float64(c.Width) - labelW - right
	xAt := func(v float64) float64 { return labelW + pw*math.Min(math.Max(v, 0), mx)/mx }

	var b strings.Builder
	id := idFor(c.ID, c.Title)
	open(&b, id, c.Title, c.Desc, c.Width, height)
	axisY := top + rowH*float64(max(len(c.Bars), 1))
	for k := 0; k <= 4; k++ {
		v := mx * float64(k) / 4
		line(&b, xAt(v), top-4, xAt(v), axisY, ColourGrid, "")
		text(&b, xAt(v), axisY+16, "middle", "#333333", c.Format(v))
	}
	for i, bar := range c.Bars {
		y := top + rowH*float64(i)
		if bar.Mark != "" {
			fmt.Fprintf(&b, `<rect class="marked" x="0" y="%s" width="%d" height="%s" fill="%s"/>`, num(y-(rowH-barH)/2), c.Width, num(rowH), ColourWindow)
		}
		colour := ColourNormal
		if bar.Flagged {
			colour = ColourFlagged
		}
		tip := bar.Label + ": " + c.Format(bar.Value)
		if bar.Note != "" {
			tip += " (" + bar.Note + ")"
		}
		if bar.Mark != "" {
			tip += " — " + bar.Mark
		}
		link(&b, bar.Href, func() {
			fmt.Fprintf(&b, `<g class="bar"><title>%s</title>`, esc(tip))
			if bar.Mark != "" {
				fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="end" fill="#222222" font-weight="700">%s</text>`, num(labelW-8), num(y+barH-2), esc(truncate(bar.Label, 20)))
			} else {
				text(&b, labelW-8, y+barH-2, "end", "#222222", truncate(bar.Label, 20))
			}
			fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"/>`,
				num(labelW), num(y), num(math.Max(xAt(bar.Value)-labelW, 1)), num(barH), colour)
			text(&b, xAt(bar.Value)+4, y+barH-2, "start", "#222222", c.Format(bar.Value))
			if bar.Mark != "" {
				markText(&b, xAt(bar.Value)+40, y+barH-2, float64(c.Width), bar.Mark)
			}
			b.WriteString("</g>")
		})
	}
	if c.Threshold > 0 {
		x := xAt(c.Threshold)
		fmt.Fprintf(&b, `<g class="threshold"><title>%s</title>`, esc(c.ThresholdLabel+" "+c.Format(c.Threshold)))
		line(&b, x, top-8, x, axisY, ColourMark, "4 3")
		text(&b, x, top-10, "middle", ColourMark, c.ThresholdLabel)
		b.WriteString("</g>")
	}
	return done(&b)
}

// markText writes a bar's mark from x, or ending at the chart's right edge
// when it would not fit (12 px per rune is wide enough for CJK at 12 px).
func markText(b *strings.Builder, x, y, width float64, mark string) {
	s := "▲ " + mark
	if w := 12 * float64(len([]rune(s))); x+w > width-4 {
		x = math.Max(4, width-4-w)
	}
	fmt.Fprintf(b, `<text class="mark" x="%s" y="%s" text-anchor="start" fill="%s" font-weight="700" stroke="`+ColourWindow+`" stroke-width="3" paint-order="stroke">%s</text>`, num(x), num(y), ColourMarkText, esc(s))
}

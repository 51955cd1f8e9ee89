package chart

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// Series is one line: a value per X position, NaN where there is none (the
// line breaks there).
type Series struct {
	Name   string
	Href   string // the legend entry links here, if given
	Values []float64
}

// LineChart is a line per series over labelled X positions, e.g. each
// unit's score by month.
type LineChart struct {
	ID    string // prefix of the ids the chart is labelled by (default: from Title)
	Title string // the chart's accessible name
	Desc  string // a sentence saying what it shows
	X     []string
	// Series are drawn in order, coloured from Palette, then dashed.
	Series []Series
	// YMax is the top of the scale (default: the largest value, rounded up).
	YMax float64
	// YFormat labels the Y ticks and values (default: the number).
	YFormat func(float64) string
	// Width and Height in pixels (defaults 720 and 320; taller if the
	// legend needs it).
	Width, Height int
}

// Style returns the colour and dash pattern of the i-th series.
func Style(i int) (colour, dash string) {
	return Palette[i%len(Palette)], Dashes[(i/len(Palette))%len(Dashes)]
}

// Line draws c as an SVG line chart with a legend.
func Line(c LineChart) template.HTML {
	if c.Width <= 0 {
		c.Width = 720
	}
	if c.Height <= 0 {
		c.Height = 320
	}
	if c.YFormat == nil {
		c.YFormat = func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	}
	const left, top, bottom, legendW, rowH = 48.0, 16.0, 36.0, 170.0, 16.0
	if need := int(top + bottom + rowH*float64(len(c.Series)) + 8); need > c.Height {
		c.Height = need
	}
	ymax := c.YMax
	if ymax <= 0 {
		for _, s := range c.Series {
			for _, v := range s.Values {
				if !math.IsNaN(v) && v > ymax {
					ymax = v
				}
			}
		}
		ymax = niceMax(ymax)
	}
	pw := float64(c.Width) - left - legendW - 16
	ph := float64(c.Height) - top - bottom
	xAt := func(i int) float64 {
		if len(c.X) <= 1 {
			return left + pw/2
		}
		return left + pw*float64(i)/float64(len(c.X)-1)
	}
	yAt := func(v float64) float64 { return top + ph - ph*math.Min(math.Max(v, 0), ymax)/ymax }

	var b strings.Builder
	id := idFor(c.ID, c.Title)
	open(&b, id, c.Title, c.Desc, c.Width, c.Height)
	// grid and Y ticks
	for k := 0; k <= 4; k++ {
		v := ymax * float64(k) / 4
		y := yAt(v)
		line(&b, left, y, left+pw, y, ColourGrid, "")
		text(&b, left-6, y+4, "end", "#333333", c.YFormat(v))
	}
	line(&b, left, top+ph, left+pw, top+ph, ColourMark, "")
	// X labels, thinned so they do not overlap
	step := max(1, int(math.Ceil(float64(len(c.X))*56/math.Max(pw, 1))))
	for i, x := range c.X {
		if i%step == 0 {
			text(&b, xAt(i), top+ph+16, "middle", "#333333", x)
		}
	}
	for si, s := range c.Series {
		colour, dash := Style(si)
		fmt.Fprintf(&b, `<g class="series" stroke="%s" fill="%s"><title>%s</title>`, colour, colour, esc(s.Name))
		var d strings.Builder
		pen := false
		for i := range c.X {
			if i >= len(s.Values) || math.IsNaN(s.Values[i]) {
				pen = false
				continue
			}
			cmd := "L"
			if !pen {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%s %s ", cmd, num(xAt(i)), num(yAt(s.Values[i])))
			pen = true
		}
		if d.Len() > 0 {
			fmt.Fprintf(&b, `<path d="%s" fill="none" stroke-width="2"`, strings.TrimSpace(d.String()))
			if dash != "" {
				fmt.Fprintf(&b, ` stroke-dasharray="%s"`, dash)
			}
			b.WriteString("/>")
		}
		for i := range c.X {
			if i >= len(s.Values) || math.IsNaN(s.Values[i]) {
				continue
			}
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3"><title>%s %s: %s</title></circle>`,
				num(xAt(i)), num(yAt(s.Values[i])), esc(s.Name), esc(c.X[i]), esc(c.YFormat(s.Values[i])))
		}
		b.WriteString("</g>")
		// legend entry
		lx, ly := left+pw+16, top+rowH*float64(si)
		link(&b, s.Href, func() {
			b.WriteString(`<g class="legend">`)
			fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"`, num(lx), num(ly+6), num(lx+22), num(ly+6), colour)
			if dash != "" {
				fmt.Fprintf(&b, ` stroke-dasharray="%s"`, dash)
			}
			b.WriteString("/>")
			text(&b, lx+28, ly+10, "start", "#222222", truncate(s.Name, 18))
			b.WriteString("</g>")
		})
	}
	return done(&b)
}

// Package chart draws the web app's few charts as inline SVG on the
// server: no JavaScript, no fonts or scripts from elsewhere, so a page with
// a chart works offline and prints. Each function returns an <svg> element
// as template.HTML, with role="img", a <title> and a <desc> it is labelled
// by, every caller-supplied text escaped, and colours from a palette whose
// every entry has at least 3:1 contrast on white (WCAG 2.1, 1.4.11). The
// output is a pure function of the input, so golden files test it.
package chart

import (
	"fmt"
	"hash/fnv"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// Palette is the series colours, in order: an Okabe–Ito-based set darkened
// where needed to keep 3:1 contrast on white.
var Palette = []string{"#0072B2", "#C15100", "#007A5A", "#A7477F", "#000000", "#5B5BAD", "#8A6A00", "#2F6F8F"}

// Dashes are the stroke patterns paired with the palette when there are
// more series than colours, so no two series look alike.
var Dashes = []string{"", "6 3", "2 3", "8 3 2 3"}

// Colours with a meaning.
const (
	ColourNormal  = "#0072B2" // bars and items in order
	ColourFlagged = "#C15100" // items over a threshold
	ColourMark    = "#555555" // deadlines, thresholds, axes
	ColourWindow  = "#F2E3C6" // shaded windows (background, under the data)
	ColourGrid    = "#DDDDDD"
	// ColourMarkText is the flagged colour darkened for text on
	// ColourWindow (5.4:1, WCAG AA for small text).
	ColourMarkText = "#9A3F00"
)

// esc escapes s for SVG text and attribute values.
func esc(s string) string { return html.EscapeString(s) }

// num formats a coordinate compactly.
func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		v = 0
	}
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

// idFor returns id, or one derived from the title, for the title and desc
// elements a chart is labelled by.
func idFor(id, title string) string {
	if id != "" {
		return id
	}
	h := fnv.New32a()
	h.Write([]byte(title))
	return fmt.Sprintf("chart-%08x", h.Sum32())
}

// open writes the opening of a chart: the element (scaling to its
// container's width, the aspect ratio kept by the viewBox), its title and desc.
func open(b *strings.Builder, id, title, desc string, w, h int) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 %d %d" aria-labelledby="%s-title %s-desc" font-family="sans-serif" font-size="12">`,
		w, h, id, id)
	fmt.Fprintf(b, `<title id="%s-title">%s</title><desc id="%s-desc">%s</desc>`, id, esc(title), id, esc(desc))
}

func text(b *strings.Builder, x, y float64, anchor, fill, s string) {
	fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="%s" fill="%s">%s</text>`, num(x), num(y), anchor, fill, esc(s))
}

func line(b *strings.Builder, x1, y1, x2, y2 float64, stroke, dash string) {
	fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"`, num(x1), num(y1), num(x2), num(y2), stroke)
	if dash != "" {
		fmt.Fprintf(b, ` stroke-dasharray="%s"`, dash)
	}
	b.WriteString("/>")
}

// link wraps inner in an <a> to href, if href is given. Only relative
// URLs and http(s) are linked.
func link(b *strings.Builder, href string, inner func()) {
	if href == "" || !(strings.HasPrefix(href, "/") || strings.HasPrefix(href, "http://") || strings.HasPrefix(href, "https://")) {
		inner()
		return
	}
	fmt.Fprintf(b, `<a href="%s">`, esc(href))
	inner()
	b.WriteString("</a>")
}

// truncate shortens labels to n runes.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// niceMax rounds v up to a value that makes round tick labels.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func done(b *strings.Builder) template.HTML {
	b.WriteString("</svg>")
	return template.HTML(b.String()) // every text and attribute above was escaped
}

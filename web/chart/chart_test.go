package chart

import (
	"encoding/xml"
	"flag"
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var zone = time.FixedZone("UTC+8", 8*3600)

func pct(v float64) string { return strconv.FormatFloat(v*100, 'f', 0, 64) + "%" }

func date(s string) time.Time {
	t, err := time.ParseInLocation(time.DateOnly, s, zone)
	if err != nil {
		panic(err)
	}
	return t
}

func charts() map[string]template.HTML {
	nan := math.NaN()
	var many []Series
	for i := range 12 {
		v := make([]float64, 6)
		for m := range v {
			v[m] = math.Mod(float64(i*7+m*13), 100) / 100
		}
		many = append(many, Series{Name: fmt.Sprintf("村%02d", i+1), Href: fmt.Sprintf("/units/cun-%d", i+1), Values: v})
	}
	var stamps []Stamp
	for d := range 40 {
		stamps = append(stamps, Stamp{At: date("2016-03-01").AddDate(0, 0, d*3).Add(10 * time.Hour)})
	}
	for i := range 17 {
		stamps = append(stamps, Stamp{At: date("2016-09-08").Add(time.Duration(i) * 3 * time.Hour), Flagged: true})
	}
	return map[string]template.HTML{
		"line": Line(LineChart{
			ID: "trend", Title: "雙創 2016 每月得分", Desc: "Each unit's share of due requirements met, by month.",
			X: []string{"2016-03", "2016-04", "2016-05", "2016-06", "2016-07", "2016-08"},
			Series: []Series{
				{Name: "東村", Href: "/units/dongcun", Values: []float64{0.2, 0.4, 0.5, 0.5, 0.75, 1}},
				{Name: "西村", Values: []float64{0, nan, 0.25, 0.5, nan, 0.5}},
			},
			YMax: 1, YFormat: pct,
		}),
		"line-many": Line(LineChart{ID: "many", Title: "12 units", X: []string{"1", "2", "3", "4", "5", "6"}, Series: many, YMax: 1, YFormat: pct}),
		"bars": Bars(BarsChart{
			ID: "lag", Title: "補錄天數", Desc: "Median days between the claimed date and the recorded date, per unit.",
			Bars: []Bar{
				{Label: "cun-1 東村", Href: "/audit/backfill?unit=cun-1", Value: 2.5},
				{Label: "cun-6 六村", Href: "/audit/backfill?unit=cun-6", Value: 141.2, Flagged: true, Note: "17 flagged"},
				{Label: "cun-7", Value: 0},
			},
			Threshold: 30, ThresholdLabel: "30 days",
		}),
		"timeline": Timeline(TimelineChart{
			ID: "bursts", Title: "提交時間線", Desc: "Submissions per day by recorded date; shaded: the 14 days before an inspection.",
			Zone: zone, From: date("2016-03-01"), To: date("2016-10-31"),
			Lanes: []Lane{
				{Label: "cun-6", Href: "/units/cun-6/timeline", Stamps: stamps,
					Spans: []Span{{From: date("2016-09-02"), To: date("2016-09-16"), Label: "迎接測評 window"}}},
				{Label: "cun-1", Stamps: stamps[:10]},
			},
			Markers: []Marker{{At: date("2016-09-16"), Label: "迎接測評"}, {At: date("2016-09-17"), Label: "too close to label"}, {At: date("2016-06-30"), Label: "deadline"}},
		}),
		"empty-line":     Line(LineChart{Title: "empty"}),
		"empty-bars":     Bars(BarsChart{Title: "empty"}),
		"empty-timeline": Timeline(TimelineChart{Title: "empty"}),
	}
}

// TestGolden compares each chart with testdata/NAME.svg (go test -update
// rewrites them; look at them in a browser before committing).
func TestGolden(t *testing.T) {
	for name, got := range charts() {
		p := filepath.Join("testdata", name+".svg")
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(got+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (run with -update to create)", err)
		}
		if string(got)+"\n" != string(want) {
			t.Errorf("%s differs from %s (run with -update after checking it)", name, p)
		}
	}
}

// TestWellFormedAndLabelled: every chart is well-formed XML, an <svg> with
// role="img" labelled by its title and desc, and has no script.
func TestWellFormedAndLabelled(t *testing.T) {
	for name, svg := range charts() {
		d := xml.NewDecoder(strings.NewReader(string(svg)))
		var ids = map[string]bool{}
		var root *xml.StartElement
		for {
			tok, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: not well-formed: %v", name, err)
			}
			if se, ok := tok.(xml.StartElement); ok {
				if root == nil {
					c := se.Copy()
					root = &c
				}
				if se.Name.Local == "script" || se.Name.Local == "foreignObject" {
					t.Errorf("%s: has a %s", name, se.Name.Local)
				}
				for _, a := range se.Attr {
					if a.Name.Local == "id" {
						ids[a.Value] = true
					}
					if strings.HasPrefix(a.Name.Local, "on") {
						t.Errorf("%s: event handler attribute %s", name, a.Name.Local)
					}
				}
			}
		}
		if root == nil || root.Name.Local != "svg" {
			t.Fatalf("%s: root is not svg", name)
		}
		attr := map[string]string{}
		for _, a := range root.Attr {
			attr[a.Name.Local] = a.Value
		}
		if attr["role"] != "img" {
			t.Errorf("%s: role=%q", name, attr["role"])
		}
		for _, ref := range strings.Fields(attr["aria-labelledby"]) {
			if !ids[ref] {
				t.Errorf("%s: aria-labelledby names %q, which is not there", name, ref)
			}
		}
		if len(strings.Fields(attr["aria-labelledby"])) != 2 {
			t.Errorf("%s: aria-labelledby=%q", name, attr["aria-labelledby"])
		}
	}
}

// TestEscaping: text from users (unit names, labels, titles) is text, and
// only relative or http(s) links are made.
func TestEscaping(t *testing.T) {
	evil := `<script>alert("x")</script>&"'`
	out := string(Line(LineChart{Title: evil, Desc: evil, X: []string{evil}, Series: []Series{{Name: evil, Href: "javascript:alert(1)", Values: []float64{1}}}}) +
		Bars(BarsChart{Title: evil, Bars: []Bar{{Label: evil, Href: `/x?a="b"`, Value: 1, Note: evil}}, Threshold: 1, ThresholdLabel: evil}) +
		Timeline(TimelineChart{Title: evil, Lanes: []Lane{{Label: evil, Stamps: []Stamp{{At: date("2016-01-01")}}, Spans: []Span{{From: date("2016-01-01"), To: date("2016-01-02"), Label: evil}}}},
			Markers: []Marker{{At: date("2016-01-01"), Label: evil}}}))
	if strings.Contains(out, "<script") || strings.Contains(out, `"x"`) || strings.Contains(out, "javascript:") {
		t.Fatalf("unescaped: %s", out)
	}
	if !strings.Contains(out, "&lt;script&gt;") || !strings.Contains(out, `href="/x?a=&#34;b&#34;"`) {
		t.Fatalf("escaped text or the safe link missing: %s", out)
	}
}

// relLum is the WCAG relative luminance of #RRGGBB.
func relLum(hex string) float64 {
	v, _ := strconv.ParseUint(hex[1:], 16, 32)
	ch := func(c uint64) float64 {
		s := float64(c) / 255
		if s <= 0.03928 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*ch(v>>16&255) + 0.7152*ch(v>>8&255) + 0.0722*ch(v&255)
}

func contrast(a, b string) float64 {
	la, lb := relLum(a), relLum(b)
	return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
}

// TestContrast: every colour data is drawn in has 3:1 contrast with the
// white page and with the shaded window behind it (WCAG 2.1, 1.4.11).
func TestContrast(t *testing.T) {
	for _, c := range append(append([]string{}, Palette...), ColourNormal, ColourFlagged, ColourMark) {
		for _, bg := range []string{"#FFFFFF", ColourWindow} {
			if r := contrast(c, bg); r < 3 {
				t.Errorf("%s on %s: contrast %.2f < 3", c, bg, r)
			}
		}
	}
}

// TestBarMark: a marked bar's row is shaded, its label bold and its mark
// written in text that meets 4.5:1 on the shade, even when its value is
// the smallest on the chart; an unmarked chart has none of it.
func TestBarMark(t *testing.T) {
	bars := []Bar{{Label: "cun-1", Value: 0.1}, {Label: "cun-6 下洋村", Value: 0.1, Flagged: true, Mark: "17 條突擊補錄，在“迎接測評”之前"}, {Label: "cun-2", Value: 40}}
	got := string(Bars(BarsChart{Title: "補錄", Bars: bars, Threshold: 30, ThresholdLabel: "閾值"}))
	if strings.Count(got, `class="marked"`) != 1 || strings.Count(got, `class="mark"`) != 1 || !strings.Contains(got, "▲ 17 條突擊補錄") ||
		!strings.Contains(got, `font-weight="700">cun-6 下洋村</text>`) {
		t.Errorf("the marked bar is not marked:\n%s", got)
	}
	// The mark stays in the chart when the bar is long.
	long := string(Bars(BarsChart{Title: "long", Bars: []Bar{{Label: "x", Value: 100, Mark: strings.Repeat("長", 30)}}}))
	m := regexp.MustCompile(`class="mark" x="([0-9.]+)"`).FindStringSubmatch(long)
	if m == nil {
		t.Fatalf("no mark on the long bar:\n%s", long)
	}
	if x, _ := strconv.ParseFloat(m[1], 64); x+12*32 > 720 {
		t.Errorf("the long mark starts at %v and leaves the 720 px chart", x)
	}
	if c := contrast(ColourMarkText, ColourWindow); c < 4.5 {
		t.Errorf("mark text contrast %.2f < 4.5", c)
	}
	plain := string(Bars(BarsChart{Title: "plain", Bars: bars[:1]}))
	if strings.Contains(plain, "marked") || strings.Contains(plain, "▲") {
		t.Error("an unmarked chart is marked")
	}
}

package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteTable writes the report as an aligned text table, one row a
// figure: taizhang's value and latencies, the raw baseline's, the ratio,
// then what each baseline did.
func WriteTable(w io.Writer, rep *Report) error {
	fmt.Fprintf(w, "taizhang bench: %s, %d units × %d events, %d writers, %s on %d CPUs (%s)\n\n",
		rep.Mode, rep.Config.Units, rep.Config.EventsPerUnit, rep.Config.Concurrency, rep.Machine.OS, rep.Machine.CPUs, rep.Machine.Go)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-18s\ttaizhang\tp50 ms\tp99 ms\traw\tp50 ms\tp99 ms\tratio\t\n", "row")
	for _, r := range rep.Rows {
		if r.Skipped != "" {
			fmt.Fprintf(tw, "%-18s\t%s\t\t\t\t\t\t\t\n", r.Key, "skipped")
			continue
		}
		tz, raw := cells(r.Taizhang, r.Unit), cells(r.Raw, rawUnit(r))
		ratio := "–"
		if r.Ratio > 0 {
			ratio = ratioText(r)
		}
		fmt.Fprintf(tw, "%-18s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Key, tz[0], tz[1], tz[2], raw[0], raw[1], raw[2], ratio)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, r := range rep.Rows {
		switch {
		case r.Skipped != "":
			fmt.Fprintf(w, "%-18s skipped: %s\n", r.Key, r.Skipped)
		case r.RawWhat == "":
			fmt.Fprintf(w, "%-18s %s\n", r.Key, r.What)
		default:
			fmt.Fprintf(w, "%-18s %s\n%-18s   raw: %s\n", r.Key, r.What, "", r.RawWhat)
		}
	}
	fmt.Fprintf(w, "\n%s\n", summary(rep))
	fmt.Fprintln(w, "ratio = taizhang ÷ raw: above 1 is better for rates (/s), worse for times (ms) and memory; (low–high) of the interleaved rounds")
	return nil
}

// WriteMarkdown writes the report's rows as a GitHub Markdown table, for
// a README.
func WriteMarkdown(w io.Writer, rep *Report) error {
	fmt.Fprintln(w, "| what | taizhang | p50 / p99 | raw baseline | raw | p50 / p99 | ratio |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, r := range rep.Rows {
		if r.Skipped != "" {
			fmt.Fprintf(w, "| %s | skipped: %s | | | | | |\n", r.What, r.Skipped)
			continue
		}
		tz, raw := cells(r.Taizhang, r.Unit), cells(r.Raw, rawUnit(r))
		ratio := ""
		if r.Ratio > 0 {
			ratio = ratioText(r)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", r.What, tz[0], pair(tz), r.RawWhat, raw[0], pair(raw), ratio)
	}
	fmt.Fprintf(w, "\n%s.\n", summary(rep))
	return nil
}

// summary says what the run appended, against what, in how long.
func summary(rep *Report) string {
	a := rep.Appended
	return fmt.Sprintf("%s; %d units; appended %d evidence events (%d warm-up, %d through the ledger, %d via HTTP, %d uploads) of %d bytes and %d raw messages; %s in all",
		rep.Mode, rep.Config.Units, a.Evidence(), a.Warmup, a.Ledger, a.HTTP, a.Uploads, rep.EventBytes, a.Raw, (time.Duration(rep.Seconds * 1e9)).Round(100*time.Millisecond))
}

// ratioText is the row's ratio, with the range of its rounds' if any.
func ratioText(r Row) string {
	if len(r.RatioRange) == 2 {
		return fmt.Sprintf("%.2f (%.2f–%.2f)", r.Ratio, r.RatioRange[0], r.RatioRange[1])
	}
	return fmt.Sprintf("%.2f", r.Ratio)
}

func pair(c [3]string) string {
	if c[1] == "" {
		return ""
	}
	return c[1] + " / " + c[2] + " ms"
}

// rawUnit is the unit of a row's baseline: msgs/s for publishes.
func rawUnit(r Row) string {
	switch {
	case r.Key == "memory_per_event":
		return "B"
	case r.Key == "upload_http":
		return "puts+msgs/s"
	case r.Unit == "events/s":
		return "msgs/s"
	}
	return r.Unit
}

// cells formats a figure: value with its unit, p50, p99 (empty when the
// figure has no latencies, or is missing).
func cells(f *Figure, unit string) [3]string {
	if f == nil {
		return [3]string{"–", "", ""}
	}
	v := fmt.Sprintf("%s %s", num(f.Value), unit)
	if unit == "ms" {
		v = fmt.Sprintf("%.2f ms", f.Value)
	}
	if f.P50ms == 0 && f.P99ms == 0 {
		return [3]string{v, "", ""}
	}
	return [3]string{v, fmt.Sprintf("%.2f", f.P50ms), fmt.Sprintf("%.2f", f.P99ms)}
}

// num formats a figure with thousands separators, to three significant
// digits below 100.
func num(v float64) string {
	if v < 100 {
		return fmt.Sprintf("%.3g", v)
	}
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// NewProgress returns a Progress writing to w: on a terminal, a bar
// redrawn in place at most ten times a second; otherwise one line when
// each phase ends.
func NewProgress(w io.Writer, terminal bool) Progress {
	return &progress{w: w, tty: terminal}
}

type progress struct {
	w   io.Writer
	tty bool

	mu          sync.Mutex
	phase       string
	total, done int
	start, drew time.Time
}

func (p *progress) Start(phase string, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phase, p.total, p.done, p.start = phase, total, 0, time.Now()
	p.drew = time.Time{}
	p.draw()
}

func (p *progress) Add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if p.tty && time.Since(p.drew) >= 100*time.Millisecond {
		p.draw()
	}
}

func (p *progress) End() {
	p.mu.Lock()
	defer p.mu.Unlock()
	took := time.Since(p.start).Round(time.Millisecond)
	if p.tty {
		p.draw()
		fmt.Fprintf(p.w, " %s\n", took)
		return
	}
	if p.total > 0 {
		fmt.Fprintf(p.w, "bench: %s: %d of %d in %s\n", p.phase, p.done, p.total, took)
	} else {
		fmt.Fprintf(p.w, "bench: %s: %s\n", p.phase, took)
	}
}

// draw redraws the bar line (terminal only).
func (p *progress) draw() {
	if !p.tty {
		return
	}
	p.drew = time.Now()
	const width = 30
	if p.total <= 0 {
		fmt.Fprintf(p.w, "\r\033[K%-40s %s", p.phase, time.Since(p.start).Round(100*time.Millisecond))
		return
	}
	fill := min(width, p.done*width/p.total)
	fmt.Fprintf(p.w, "\r\033[K%-40s [%s%s] %d/%d", p.phase, strings.Repeat("#", fill), strings.Repeat(" ", width-fill), p.done, p.total)
}

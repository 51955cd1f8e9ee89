package plan

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// DefaultTimeZone is the zone of plans that name none.
const DefaultTimeZone = "Asia/Shanghai"

// Problem is one thing wrong with a plan file.
type Problem struct {
	File string
	Line int
	Msg  string
}

func (p Problem) String() string { return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg) }

// Problems is every problem found in a plan file; Parse returns it as its
// error.
type Problems []Problem

func (ps Problems) Error() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, "\n")
}

var slugRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$`)

// Evidence kinds a requirement may accept (those of events.Kinds).
var evidenceKinds = []string{"activity", "photo", "study_note", "summary", "rectification", "document"}

var periods = []string{EveryWeek, EveryMonth, EveryTwoMonths, EveryQuarter, EveryYear}

// parser collects problems while it walks the YAML tree.
type parser struct {
	file  string
	probs Problems
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.probs = append(p.probs, Problem{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// fields checks that n is a mapping with only the allowed keys and returns
// its values by key.
func (p *parser) fields(n *yaml.Node, what string, allowed ...string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	if n == nil {
		return out
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a mapping", what)
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !slices.Contains(allowed, k.Value) {
			p.errorf(k, "unknown key %q in %s (allowed: %s)", k.Value, what, strings.Join(allowed, ", "))
			continue
		}
		if _, dup := out[k.Value]; dup {
			p.errorf(k, "duplicate key %q in %s", k.Value, what)
		}
		out[k.Value] = v
	}
	return out
}

func (p *parser) str(n *yaml.Node, what string, required bool, parent *yaml.Node) string {
	if n == nil {
		if required {
			p.errorf(parent, "%s is required", what)
		}
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, "%s must be a string", what)
		return ""
	}
	if required && strings.TrimSpace(n.Value) == "" {
		p.errorf(n, "%s must not be empty", what)
	}
	return n.Value
}

func (p *parser) slug(n *yaml.Node, what string, parent *yaml.Node) string {
	s := p.str(n, what, true, parent)
	if s != "" && !slugRE.MatchString(s) {
		p.errorf(n, "%s %q is not a slug (a-z, 0-9 and inner '-', at most 64)", what, s)
	}
	return s
}

func (p *parser) strs(n *yaml.Node, what string) []string {
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "%s must be a list", what)
		return nil
	}
	var out []string
	for _, c := range n.Content {
		if c.Kind != yaml.ScalarNode || strings.TrimSpace(c.Value) == "" {
			p.errorf(c, "%s: every entry must be a non-empty string", what)
			continue
		}
		out = append(out, c.Value)
	}
	return out
}

func (p *parser) date(n *yaml.Node, what string, required bool, parent *yaml.Node) Date {
	if n == nil {
		if required {
			p.errorf(parent, "%s is required", what)
		}
		return Date{}
	}
	t, err := time.Parse(time.DateOnly, n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		p.errorf(n, "%s %q is not a date (YYYY-MM-DD)", what, n.Value)
		return Date{}
	}
	return Date{t.Year(), t.Month(), t.Day()}
}

func (p *parser) int(n *yaml.Node, what string) int {
	if n == nil {
		return 0
	}
	v, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || v < 0 {
		p.errorf(n, "%s %q is not a whole number >= 0", what, n.Value)
		return 0
	}
	return v
}

func (p *parser) span(n *yaml.Node, what string, parent *yaml.Node, extra ...string) (Span, map[string]*yaml.Node) {
	if n == nil {
		p.errorf(parent, "%s is required", what)
		return Span{}, nil
	}
	f := p.fields(n, what, append([]string{"start", "end"}, extra...)...)
	s := Span{Start: p.date(f["start"], what+" start", true, n), End: p.date(f["end"], what+" end", true, n)}
	if !s.Start.IsZero() && !s.End.IsZero() && s.End.Before(s.Start) {
		p.errorf(n, "%s ends (%s) before it starts (%s)", what, s.End, s.Start)
	}
	return s, f
}

func inside(s, outer Span) bool {
	return !s.Start.Before(outer.Start) && !outer.End.Before(s.End)
}

func (p *parser) scope(n *yaml.Node, what string) Scope {
	if n == nil {
		return Scope{}
	}
	f := p.fields(n, what, "types", "units")
	s := Scope{Types: p.strs(f["types"], what+" types"), Units: p.strs(f["units"], what+" units")}
	for i, u := range s.Units {
		if !slugRE.MatchString(u) {
			p.errorf(f["units"].Content[i], "%s: unit id %q is not a slug", what, u)
		}
	}
	return s
}

// Parse reads a plan file. It returns the plan, or a Problems error listing
// every problem found with its line (file names the file in messages).
func Parse(file string, data []byte) (*Plan, error) {
	p := &parser{file: file}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line := 0
		if _, after, ok := strings.Cut(err.Error(), "line "); ok {
			fmt.Sscan(after, &line)
		}
		return nil, Problems{{File: file, Line: line, Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, Problems{{File: file, Line: 1, Msg: "empty plan file"}}
	}
	root := doc.Content[0]
	f := p.fields(root, "plan", "id", "title", "issuer", "source", "timezone", "period", "phases", "applies_to", "requirements")
	pl := &Plan{
		ID:       p.slug(f["id"], "plan id", root),
		Title:    p.str(f["title"], "plan title", true, root),
		Issuer:   p.str(f["issuer"], "issuer", true, root),
		Source:   p.str(f["source"], "source", false, root),
		TimeZone: p.str(f["timezone"], "timezone", false, root),
	}
	if pl.TimeZone == "" {
		pl.TimeZone = DefaultTimeZone
	} else if _, err := time.LoadLocation(pl.TimeZone); err != nil {
		p.errorf(f["timezone"], "unknown time zone %q", pl.TimeZone)
	}
	pl.Period, _ = p.span(f["period"], "period", root)
	pl.AppliesTo = p.scope(f["applies_to"], "applies_to")
	if f["applies_to"] == nil || pl.AppliesTo.Empty() {
		p.errorf(root, "applies_to must name unit types or units")
	}

	// Phases: inside the period, in order, not overlapping, unique ids.
	phaseIDs := map[string]bool{}
	if n := f["phases"]; n != nil {
		if n.Kind != yaml.SequenceNode {
			p.errorf(n, "phases must be a list")
		} else {
			for i, c := range n.Content {
				sp, pf := p.span(c, "phase", c, "id", "name")
				ph := Phase{ID: p.slug(pf["id"], "phase id", c), Name: p.str(pf["name"], "phase name", true, c), Span: sp}
				if phaseIDs[ph.ID] {
					p.errorf(pf["id"], "duplicate phase id %q", ph.ID)
				}
				phaseIDs[ph.ID] = true
				if !sp.Start.IsZero() && !sp.End.IsZero() && !pl.Period.Start.IsZero() && !inside(sp, pl.Period) {
					p.errorf(c, "phase %q (%s to %s) is outside the plan period (%s to %s)", ph.ID, sp.Start, sp.End, pl.Period.Start, pl.Period.End)
				}
				if i > 0 {
					prev := pl.Phases[len(pl.Phases)-1]
					if !prev.End.IsZero() && !sp.Start.IsZero() && !prev.End.Before(sp.Start) {
						p.errorf(c, "phase %q overlaps or precedes phase %q (phases must be in order, not overlapping)", ph.ID, prev.ID)
					}
				}
				pl.Phases = append(pl.Phases, ph)
			}
		}
	}

	// Requirements.
	n := f["requirements"]
	if n == nil || n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		p.errorf(root, "requirements must be a non-empty list")
	} else {
		ids := map[string]bool{}
		for _, c := range n.Content {
			r := p.requirement(c, pl, phaseIDs)
			if r.ID != "" && ids[r.ID] {
				p.errorf(c, "duplicate requirement id %q", r.ID)
			}
			ids[r.ID] = true
			pl.Requirements = append(pl.Requirements, r)
		}
	}
	if len(p.probs) > 0 {
		slices.SortStableFunc(p.probs, func(a, b Problem) int { return a.Line - b.Line })
		return nil, p.probs
	}
	return pl, nil
}

func (p *parser) requirement(c *yaml.Node, pl *Plan, phaseIDs map[string]bool) Requirement {
	f := p.fields(c, "requirement", "id", "ref", "title", "applies_to", "accepts", "attachments", "rule", "note")
	r := Requirement{
		ID:        p.slug(f["id"], "requirement id", c),
		Ref:       p.str(f["ref"], "requirement ref (the seed's item number)", true, c),
		Title:     p.str(f["title"], "requirement title", true, c),
		AppliesTo: p.scope(f["applies_to"], "requirement applies_to"),
		Note:      p.str(f["note"], "note", false, c),
	}
	if a := f["accepts"]; a != nil {
		af := p.fields(a, "accepts", "kinds", "tags")
		r.Accepts = Accepts{Kinds: p.strs(af["kinds"], "accepts kinds"), Tags: p.strs(af["tags"], "accepts tags")}
		for i, k := range r.Accepts.Kinds {
			if !slices.Contains(evidenceKinds, k) {
				p.errorf(af["kinds"].Content[i], "unknown evidence kind %q (want one of %s)", k, strings.Join(evidenceKinds, ", "))
			}
		}
	}
	r.Requires = p.strs(f["attachments"], "attachments")
	for i, k := range r.Requires {
		if k != AttachPhoto && k != AttachDocument {
			p.errorf(f["attachments"].Content[i], "unknown attachment kind %q (want photo or document)", k)
		}
	}
	if f["rule"] == nil {
		p.errorf(c, "requirement %q has no rule", r.ID)
		return r
	}
	r.Rule = p.rule(f["rule"], pl, phaseIDs)
	return r
}

func (p *parser) rule(n *yaml.Node, pl *Plan, phaseIDs map[string]bool) Rule {
	f := p.fields(n, "rule", "kind", "min", "phase", "every", "from", "to", "windows", "by", "figure", "min_ratio", "renew")
	ru := Rule{Kind: p.str(f["kind"], "rule kind", true, n), Min: p.int(f["min"], "min")}
	allowed := map[string][]string{
		RuleCount:    {"kind", "min", "phase"},
		RuleEvery:    {"kind", "min", "every", "from", "to"},
		RuleWindows:  {"kind", "min", "windows"},
		RuleDeadline: {"kind", "min", "by"},
		RuleRatio:    {"kind", "figure", "min_ratio"},
		RulePresence: {"kind", "renew"},
	}
	keys, ok := allowed[ru.Kind]
	if !ok {
		if ru.Kind != "" {
			p.errorf(f["kind"], "unknown rule kind %q (want count, every, windows, deadline, ratio or presence)", ru.Kind)
		}
		return ru
	}
	for k, v := range f {
		if !slices.Contains(keys, k) {
			p.errorf(v, "a %s rule takes no %q", ru.Kind, k)
		}
	}
	needMin := func() {
		if f["min"] == nil || ru.Min < 1 {
			p.errorf(n, "a %s rule needs min >= 1", ru.Kind)
		}
	}
	inPeriod := func(d Date, v *yaml.Node, what string) {
		if !d.IsZero() && !pl.Period.Start.IsZero() && !inside(Span{d, d}, pl.Period) {
			p.errorf(v, "%s %s is outside the plan period (%s to %s)", what, d, pl.Period.Start, pl.Period.End)
		}
	}
	switch ru.Kind {
	case RuleCount:
		needMin()
		if v := f["phase"]; v != nil {
			ru.Phase = v.Value
			if !phaseIDs[ru.Phase] {
				p.errorf(v, "unknown phase %q", ru.Phase)
			}
		}
	case RuleEvery:
		needMin()
		ru.Every = p.str(f["every"], "every", true, n)
		if ru.Every != "" && !slices.Contains(periods, ru.Every) {
			p.errorf(f["every"], "unknown period %q (want %s)", ru.Every, strings.Join(periods, ", "))
		}
		ru.From = p.date(f["from"], "from", false, n)
		ru.To = p.date(f["to"], "to", false, n)
		inPeriod(ru.From, f["from"], "from")
		inPeriod(ru.To, f["to"], "to")
		if !ru.From.IsZero() && !ru.To.IsZero() && ru.To.Before(ru.From) {
			p.errorf(n, "to (%s) is before from (%s)", ru.To, ru.From)
		}
	case RuleWindows:
		needMin()
		w := f["windows"]
		if w == nil || w.Kind != yaml.SequenceNode || len(w.Content) == 0 {
			p.errorf(n, "a windows rule needs a non-empty list of windows")
			break
		}
		for _, c := range w.Content {
			sp, wf := p.span(c, "window", c, "name")
			ru.Windows = append(ru.Windows, Window{Name: p.str(wf["name"], "window name", true, c), Span: sp})
		}
	case RuleDeadline:
		needMin()
		ru.By = p.date(f["by"], "deadline by", true, n)
		inPeriod(ru.By, f["by"], "deadline")
	case RuleRatio:
		ru.Figure = p.str(f["figure"], "ratio figure", true, n)
		if v := f["min_ratio"]; v == nil {
			p.errorf(n, "a ratio rule needs min_ratio")
		} else if x, err := strconv.ParseFloat(v.Value, 64); err != nil || x <= 0 || x > 1 {
			p.errorf(v, "min_ratio %q must be a number in (0, 1]", v.Value)
		} else {
			ru.MinRatio = x
		}
	case RulePresence:
		if v := f["renew"]; v != nil {
			ru.Renew = v.Value
			if !slices.Contains(periods, ru.Renew) {
				p.errorf(v, "unknown period %q (want %s)", ru.Renew, strings.Join(periods, ", "))
			}
		}
	}
	return ru
}

// Location returns the plan's time zone.
func (pl *Plan) Location() *time.Location {
	if loc, err := time.LoadLocation(pl.TimeZone); err == nil {
		return loc
	}
	loc, _ := time.LoadLocation(DefaultTimeZone)
	if loc == nil {
		return time.FixedZone("CST", 8*3600)
	}
	return loc
}

// Applies reports whether scope s (or, if s is empty, the plan's) selects
// the unit.
func (pl *Plan) Applies(s Scope, unitID, unitType string) bool {
	if s.Empty() {
		s = pl.AppliesTo
	}
	return slices.Contains(s.Units, unitID) || slices.Contains(s.Types, unitType)
}

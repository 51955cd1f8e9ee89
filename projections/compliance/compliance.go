// Package compliance is taizhang's requirement engine: given an
// implementation plan, a unit and the unit's archive as it stood at a time
// T, it says for every requirement that applies to the unit whether it is
// met as of T, which items count, which items name the requirement but do
// not count and why, and what is still missing, in words a unit
// understands. It is a pure, deterministic function: no I/O, no clock, the
// same inputs give the same report whatever the order of the items.
//
// # As of T
//
// "As of T" means the events recorded at or before T. Evaluate does not
// re-derive items from their correction chains (an amendment records what
// changed, not what was there before, so a chain cannot be run backwards):
// the items passed in must be the unit's archive folded from the events
// recorded at or before T, which is what projections.FoldUnit of the
// unit's history cut at T gives. An item first recorded after T is ignored
// (it did not exist at T). An item with a later link (an amendment or a
// retraction recorded after T) cannot be evaluated as it stood at T from
// its current fields, so Evaluate refuses it with ErrNotAsOf rather than
// report something the ledger did not hold at T. To evaluate the current
// state of a live archive, pass an asOf no earlier than the latest recorded
// time in it.
//
// # Which items count
//
// An item counts for requirement R if all of these hold:
//
//   - it is not retracted (an item retracted at or before T never counts;
//     one retracted after T counts as it stood, which the fold cut at T
//     gives);
//   - its Requirements name R, as "REQID" or "PLANID/REQID" (naming it
//     twice counts once; names of other plans are ignored);
//   - its Kind is one of R.Accepts.Kinds, if any are listed;
//   - it carries at least one of R.Accepts.Tags, if any are listed (a menu
//     of activity types is a tag list);
//   - it carries every attachment kind in R.Requires: photo is a media type
//     image/*; document is application/pdf, text/plain, Word, Excel or
//     PowerPoint (application/msword, application/vnd.ms-excel,
//     application/vnd.ms-powerpoint, application/vnd.openxmlformats-officedocument.*),
//     OpenDocument (application/vnd.oasis.opendocument.*), or
//     application/zip named .docx, .xlsx, .pptx, .odt, .ods or .odp (what
//     content sniffing makes of an Office file). A presence rule with no
//     attachment kinds listed asks for a photo ("shown by a photo");
//   - its occurred date, the date in the plan's time zone of what the unit
//     claims (OccurredAt), is not after T's date, and falls in the rule's
//     range: count, the plan period or the rule's phase; every, From to To
//     (the plan period by default, clipped to it); windows, one of the
//     windows; deadline, on or before By; ratio and presence, on or before
//     the end of the plan period.
//
// An item that names R but does not count is listed in Result.Rejected with
// every reason (a code and the words a unit reads). Ranges are inclusive
// dates in the plan's time zone (Asia/Shanghai by default): an item at
// 23:59 on the last day of a month counts for that month, one at 00:00 on
// the first of the next month counts for the next, whatever the UTC date
// of the instant.
//
// # Status
//
// Let today be T's date in the plan's time zone. Before the plan period
// starts, every requirement is not_due. Otherwise, by rule kind:
//
//   - count: met if at least Min items count; else not_due before the
//     range (phase) starts, overdue after it ended, and within it partial
//     if some count, missing if none.
//   - every, windows, and presence with renew (Min 1): each calendar
//     period (ISO weeks Monday to Sunday; months; Jan-Feb, Mar-Apr, ...;
//     quarters; years) or named window is judged on its own: met with at
//     least Min items, overdue if it ended short, partial or missing if it
//     is current and short, not_due if it has not started. The result is
//     not_due if no period has started, overdue if any ended short, partial
//     (or missing if nothing counts at all) if only a current period is
//     short, and met if every period started so far is met.
//   - deadline: met if at least Min items count; else overdue after By,
//     partial or missing until then.
//   - ratio: the latest counted item reporting the figure (by occurred
//     time, then recorded time, then id) gives the value; met if value /
//     headcount >= MinRatio, partial if below or if the unit's headcount is
//     unknown (0), missing if no item reports it; overdue instead of
//     partial or missing after the plan period ended.
//   - presence without renew: met if an item counts; else missing, or
//     overdue after the plan period ended.
//
// Report.Due counts the requirements whose status is not not_due and
// Report.Met those that are met. Requirements are in plan order; counted and
// rejected items are ordered by occurred time, then id.
package compliance

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"taizhang/events"
	"taizhang/projections"
	"taizhang/projections/plan"
)

// DefaultTimeZone is the zone of a plan that names none.
const DefaultTimeZone = "Asia/Shanghai"

// Statuses of a requirement, and of a period or window within one.
const (
	StatusMet     = "met"
	StatusPartial = "partial" // some evidence, not enough yet; still time
	StatusMissing = "missing" // no evidence yet; still time
	StatusNotDue  = "not_due" // its range has not started
	StatusOverdue = "overdue" // its deadline or a period ended short
)

// Reason codes of a rejected item.
const (
	ReasonRetracted  = "retracted"
	ReasonKind       = "kind_not_accepted"
	ReasonTag        = "tag_not_in_menu"
	ReasonNoPhoto    = "missing_photo"
	ReasonNoDocument = "missing_document"
	ReasonFuture     = "occurred_after_as_of" // claims a date after the as-of date
	ReasonOutside    = "outside_range"        // occurred outside the rule's period, phase, windows or deadline
	ReasonNoFigure   = "missing_figure"       // a ratio rule's figure is not reported
)

// ErrNotAsOf is returned when an item has an event recorded after the as-of
// time: the caller passed an archive folded past the as-of time.
var ErrNotAsOf = errors.New("compliance: item has events recorded after the as-of time; pass the archive folded as of that time")

// Unit is what the engine needs of a unit, as of the evaluation time.
type Unit struct {
	ID        string
	Type      string
	Headcount int
}

// UnitOf returns what the engine needs of a projected unit.
func UnitOf(u projections.Unit) Unit { return Unit{ID: u.ID, Type: u.Type, Headcount: u.Headcount} }

// Report is a unit's compliance with a plan as of a time.
type Report struct {
	Plan         string    `json:"plan"`
	Unit         string    `json:"unit"`
	AsOf         time.Time `json:"as_of"`
	Today        plan.Date `json:"today"` // AsOf's date in the plan's time zone
	Requirements []Result  `json:"requirements"`
	Met          int       `json:"met"` // requirements met
	Due          int       `json:"due"` // requirements not not_due
}

// Result is the compliance with one requirement.
type Result struct {
	Requirement string     `json:"requirement"`
	Ref         string     `json:"ref,omitempty"`
	Title       string     `json:"title"`
	Rule        string     `json:"rule"`
	Min         int        `json:"min,omitempty"`
	Status      string     `json:"status"`
	Counted     []Counted  `json:"counted"`
	Rejected    []Rejected `json:"rejected,omitempty"`
	// Periods are, for every, windows and presence with renew, each
	// calendar period or window in order, including those not yet due.
	Periods []PeriodResult `json:"periods,omitempty"`
	// Ratio is the figure a ratio rule is judged by.
	Ratio *Ratio `json:"ratio,omitempty"`
	// Owed says what is still owed, clause by clause, for a reader's
	// language (Say); empty when met. Missing is the same in DefaultLang.
	Owed    []Message `json:"owed,omitempty"`
	Missing string    `json:"missing,omitempty"`
	// Due is the date the status is judged by: the range end or deadline,
	// or for periods the end of the first one short (or of the latest
	// started one if all are met).
	Due plan.Date `json:"due,omitzero"`
}

// Counted identifies an item that counts (or, in Rejected, one that does not).
type Counted struct {
	ID         uuid.UUID `json:"id"`
	Title      string    `json:"title"`
	OccurredAt time.Time `json:"occurred_at"`
	Occurred   plan.Date `json:"occurred"` // in the plan's time zone
	Version    int       `json:"version"`
}

// Rejected is an item that names the requirement but does not count: the
// item, the reason codes (Reason*), the same as Messages for a reader's
// language (Because, one per reason) and in DefaultLang (Why).
type Rejected struct {
	Counted
	Reasons []string  `json:"reasons"`
	Because []Message `json:"because"`
	Why     string    `json:"why"`
}

// PeriodResult is one calendar period or named window of a requirement.
type PeriodResult struct {
	// Label names the period or window for a reader's language (Say);
	// Name is the same in DefaultLang.
	Label  Message     `json:"label"`
	Name   string      `json:"name"`
	Start  plan.Date   `json:"start"`
	End    plan.Date   `json:"end"`
	Count  int         `json:"count"`
	Min    int         `json:"min"`
	Status string      `json:"status"`
	Items  []uuid.UUID `json:"items,omitempty"`
}

// Ratio is the figure a ratio rule is judged by.
type Ratio struct {
	Figure    string    `json:"figure"`
	Value     float64   `json:"value"`
	Headcount int       `json:"headcount"`
	Ratio     float64   `json:"ratio"` // Value / Headcount; 0 if the headcount is 0
	MinRatio  float64   `json:"min_ratio"`
	Item      uuid.UUID `json:"item"`
}

// Applies reports whether requirement r of plan p applies to unit u: r's
// scope if it has one, the plan's otherwise, selects u by type or by id. A
// plan with an empty scope applies to no unit.
func Applies(p *plan.Plan, r *plan.Requirement, u Unit) bool {
	s := r.AppliesTo
	if s.Empty() {
		s = p.AppliesTo
	}
	return slices.Contains(s.Types, u.Type) || slices.Contains(s.Units, u.ID)
}

var zones sync.Map // name -> *time.Location

// location loads a plan's time zone once per process.
func location(name string) (*time.Location, error) {
	if name == "" {
		name = DefaultTimeZone
	}
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("compliance: plan time zone: %w", err)
	}
	zones.Store(name, l)
	return l, nil
}

// day is a civil date as a day number (days since 1970-01-01), so that
// ranges are integer comparisons.
type day int

func dayOfDate(d plan.Date) day {
	return day(time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

func (d day) date() plan.Date {
	y, m, dd := time.Unix(int64(d)*86400, 0).UTC().Date()
	return plan.Date{Year: y, Month: m, Day: dd}
}

func (d day) String() string { return d.date().String() }

func dayOfTime(t time.Time, loc *time.Location) day {
	y, m, d := t.In(loc).Date()
	return dayOfDate(plan.Date{Year: y, Month: m, Day: d})
}

// slot is one period or window of a rule.
type slot struct {
	name   Message // a window's name from the plan, or the calendar period's
	lo, hi day
}

// label is how a slot is named in a sentence: a window with its dates.
func (s slot) label(window bool) Message {
	if window {
		return msg("slot.window", s.name, s.lo.date(), s.hi.date())
	}
	return s.name
}

// Attachment kind bits.
const (
	hasPhoto uint8 = 1 << iota
	hasDocument
)

func attachBit(kind string) (uint8, error) {
	switch kind {
	case plan.AttachPhoto:
		return hasPhoto, nil
	case plan.AttachDocument:
		return hasDocument, nil
	}
	return 0, fmt.Errorf("unknown attachment kind %q (want %s or %s)", kind, plan.AttachPhoto, plan.AttachDocument)
}

// attachMask returns the attachment kinds atts carry.
func attachMask(atts projections.Attachments) uint8 {
	var m uint8
	for i := range atts {
		mt := atts.MediaType(i)
		if i := strings.IndexByte(mt, ';'); i >= 0 {
			mt = mt[:i]
		}
		mt = strings.ToLower(strings.TrimSpace(mt))
		switch {
		case strings.HasPrefix(mt, "image/"):
			m |= hasPhoto
		case isDocument(mt, atts.Name(i)):
			m |= hasDocument
		}
	}
	return m
}

func isDocument(mt, name string) bool {
	switch mt {
	case "application/pdf", "text/plain", "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint":
		return true
	case "application/zip", "application/x-zip-compressed":
		switch strings.ToLower(filepath.Ext(name)) {
		case ".docx", ".xlsx", ".pptx", ".odt", ".ods", ".odp":
			return true
		}
		return false
	}
	return strings.HasPrefix(mt, "application/vnd.openxmlformats-officedocument.") ||
		strings.HasPrefix(mt, "application/vnd.oasis.opendocument.")
}

// rule is a requirement compiled for evaluation.
type rule struct {
	r        *plan.Requirement
	requires uint8
	lo, hi   day     // the range an item must occur in (lo may be unbounded)
	outside  Message // why an item outside [lo, hi] does not count
	kinds    Message // the accepted kinds, a list
	tags     Message // the accepted tags, a list
	slots    []slot  // every, windows, presence with renew
	window   bool    // slots are named windows (items may fall in several)
	min      int
	period   Message // the calendar period word for every and renew
	phase    string  // a count rule's phase name
}

const unbounded = day(-1 << 40)

// evaluator holds what is shared by all requirements of one evaluation.
type evaluator struct {
	p            *plan.Plan
	loc          *time.Location
	u            Unit
	today        day
	pStart, pEnd day
	items        []*projections.Item
	facts        []fact
	brief        bool // Score: statuses only, words may be cut short
}

// fact is what is derived once from an item.
type fact struct {
	sec      int64 // OccurredAt, for ordering
	nsec     int32
	atts     uint8
	day      day       // the occurred date in the plan's zone
	date     plan.Date // the same
	recAt    projections.Stamp
	from, to int32 // the requirements it names: reqOf[from:to] in Evaluate
}

func (e *evaluator) derive(i int) {
	it, f := e.items[i], &e.facts[i]
	occ := it.OccurredAt()
	f.sec, f.nsec = occ.Unix(), int32(occ.Nanosecond())
	y, m, d := occ.In(e.loc).Date()
	f.date = plan.Date{Year: y, Month: m, Day: d}
	f.day = dayOfDate(f.date)
	f.atts = attachMask(it.Attachments)
	if len(it.Chain) > 0 {
		f.recAt = it.Chain[0].RecordedAt
	}
}

// order compares items by occurred time, then id.
func (e *evaluator) order(a, b int) int {
	fa, fb := &e.facts[a], &e.facts[b]
	if c := cmp.Compare(fa.sec, fb.sec); c != 0 {
		return c
	}
	if c := cmp.Compare(fa.nsec, fb.nsec); c != 0 {
		return c
	}
	return bytes.Compare(e.items[a].ID[:], e.items[b].ID[:])
}

// Evaluate returns unit u's compliance with plan p as of asOf: for each
// requirement that applies to u (see Applies), in plan order, its status,
// the items that count and those that name it but do not, and what is
// still missing. items must be u's archive folded from the events recorded
// at or before asOf (projections.FoldUnit of u's history cut at asOf), and
// u as it stood then; see the package documentation for the full contract.
// It returns an error for a plan it cannot evaluate (an unknown time zone,
// rule kind, phase, calendar period or attachment kind, a missing period,
// deadline or figure) and ErrNotAsOf for an item changed after asOf.
func Evaluate(p *plan.Plan, u Unit, items []*projections.Item, asOf time.Time) (Report, error) {
	return evaluate(p, u, items, asOf, false)
}

// Score returns how many of the requirements that apply to u are due and
// how many of those are met, as Evaluate would count them (same contract and
// errors), without writing out what is missing: what a ranking needs.
func Score(p *plan.Plan, u Unit, items []*projections.Item, asOf time.Time) (met, due int, err error) {
	rep, err := evaluate(p, u, items, asOf, true)
	return rep.Met, rep.Due, err
}

func evaluate(p *plan.Plan, u Unit, items []*projections.Item, asOf time.Time, brief bool) (Report, error) {
	if p == nil {
		return Report{}, errors.New("compliance: no plan")
	}
	loc, err := location(p.TimeZone)
	if err != nil {
		return Report{}, err
	}
	if p.Period.Start.IsZero() || p.Period.End.IsZero() || p.Period.End.Before(p.Period.Start) {
		return Report{}, fmt.Errorf("compliance: plan %s: period %s to %s is not a range", p.ID, p.Period.Start, p.Period.End)
	}
	e := &evaluator{p: p, loc: loc, u: u, today: dayOfTime(asOf, loc), brief: brief,
		pStart: dayOfDate(p.Period.Start), pEnd: dayOfDate(p.Period.End), items: items, facts: make([]fact, len(items))}
	rep := Report{Plan: p.ID, Unit: u.ID, AsOf: asOf.UTC(), Today: e.today.date(), Requirements: []Result{}}

	// Compile the requirements that apply, and index them by the names
	// items use for them.
	cp, err := e.compileAll()
	if err != nil {
		return Report{}, err
	}
	var rules []*rule
	ruleOf := make([]int, len(p.Requirements)) // requirement index -> index in rules, or -1
	for i := range p.Requirements {
		ruleOf[i] = -1
		if Applies(p, &p.Requirements[i], u) {
			ruleOf[i] = len(rules)
			rules = append(rules, cp.rules[i])
		}
	}

	// Which items name which requirement, as of asOf: the items in order
	// (occurred, then id), so that every requirement's list is in order.
	cut := projections.StampOf(asOf)
	var relevant []int
	var reqOf []int32 // the requirements items name, facts[i].from to .to
	for i, it := range items {
		if len(it.Chain) > 0 {
			if it.Chain[0].RecordedAt > cut {
				continue // not yet recorded at asOf
			}
			if it.Chain[len(it.Chain)-1].RecordedAt > cut {
				return Report{}, fmt.Errorf("%w: item %s version %d recorded %s, as of %s", ErrNotAsOf, it.ID,
					it.Version, it.UpdatedAt().Format(time.RFC3339Nano), asOf.UTC().Format(time.RFC3339Nano))
			}
		}
		from := int32(len(reqOf))
		for _, n := range it.Requirements {
			if ri, ok := cp.names[n]; ok && ruleOf[ri] >= 0 && !slices.Contains(reqOf[from:], int32(ruleOf[ri])) {
				k := ruleOf[ri]
				reqOf = append(reqOf, int32(k))
			}
		}
		if int32(len(reqOf)) > from {
			e.derive(i)
			e.facts[i].from, e.facts[i].to = from, int32(len(reqOf))
			relevant = append(relevant, i)
		}
	}
	slices.SortFunc(relevant, e.order)
	named := make([][]int, len(rules))
	for j, i := range relevant {
		if j > 0 && items[relevant[j-1]].ID == items[i].ID {
			continue // the same item twice in the slice counts once
		}
		for _, k := range reqOf[e.facts[i].from:e.facts[i].to] {
			named[k] = append(named[k], i)
		}
	}

	for k, ru := range rules {
		res := e.evaluate(ru, named[k])
		if res.Status == StatusMet {
			rep.Met++
		}
		if res.Status != StatusNotDue {
			rep.Due++
		}
		rep.Requirements = append(rep.Requirements, res)
	}
	return rep, nil
}

// compiledPlans caches the compiled rules of the plans evaluated, keyed by
// plan pointer: a plan is never changed once published (a revision is a
// new *plan.Plan), and compiling (calendars, period names) costs more than
// evaluating a unit's items, which matters when a ranking evaluates a
// thousand units against one plan. Bounded: cleared when it grows large.
var compiledPlans struct {
	sync.Mutex
	m map[planKey]*compiled
}

// compiled is a plan's rules, in plan order, and the names items may use
// for its requirements ("REQ" and "PLAN/REQ") mapped to their index.
type compiled struct {
	rules []*rule
	names map[string]int
}

// planKey identifies a plan's content cheaply: the plan, its requirements'
// backing array, period and zone (a caller that reuses a *plan.Plan value
// with another period or requirement list gets a fresh compilation).
type planKey struct {
	p      *plan.Plan
	reqs   *plan.Requirement
	n      int
	period plan.Span
	zone   string
}

func keyOf(p *plan.Plan) planKey {
	k := planKey{p: p, n: len(p.Requirements), period: p.Period, zone: p.TimeZone}
	if k.n > 0 {
		k.reqs = &p.Requirements[0]
	}
	return k
}

// compileAll returns every requirement of e.p compiled, in plan order.
// Rules depend only on the plan (its zone and period), never on the unit or
// the as-of time, so they are shared by all evaluations of the plan.
func (e *evaluator) compileAll() (*compiled, error) {
	key := keyOf(e.p)
	compiledPlans.Lock()
	c, ok := compiledPlans.m[key]
	compiledPlans.Unlock()
	if ok {
		return c, nil
	}
	c = &compiled{rules: make([]*rule, len(e.p.Requirements)), names: map[string]int{}}
	for i := range e.p.Requirements {
		r := &e.p.Requirements[i]
		ru, err := e.compile(r)
		if err != nil {
			return nil, fmt.Errorf("compliance: plan %s requirement %s: %w", e.p.ID, r.ID, err)
		}
		c.rules[i] = ru
		if _, dup := c.names[r.ID]; !dup { // the first of a duplicated id wins
			c.names[r.ID] = i
			c.names[e.p.ID+"/"+r.ID] = i
		}
	}
	compiledPlans.Lock()
	if compiledPlans.m == nil || len(compiledPlans.m) > 64 {
		compiledPlans.m = map[planKey]*compiled{}
	}
	compiledPlans.m[key] = c
	compiledPlans.Unlock()
	return c, nil
}

// compile checks a requirement's rule and works out its range and slots.
func (e *evaluator) compile(r *plan.Requirement) (*rule, error) {
	ru := &rule{r: r, min: r.Rule.Min, lo: e.pStart, hi: e.pEnd, kinds: kindList(r.Accepts.Kinds), tags: textList("list.and", r.Accepts.Tags),
		outside: msg("outside.plan", e.pStart.date(), e.pEnd.date())}
	for _, a := range r.Requires {
		b, err := attachBit(a)
		if err != nil {
			return nil, err
		}
		ru.requires |= b
	}
	rl := r.Rule
	switch rl.Kind {
	case plan.RuleCount:
		if rl.Phase != "" {
			i := slices.IndexFunc(e.p.Phases, func(ph plan.Phase) bool { return ph.ID == rl.Phase })
			if i < 0 {
				return nil, fmt.Errorf("unknown phase %q", rl.Phase)
			}
			ph := e.p.Phases[i]
			ru.lo, ru.hi, ru.phase = dayOfDate(ph.Start), dayOfDate(ph.End), cmp.Or(ph.Name, ph.ID)
			ru.outside = msg("outside.phase", ru.phase, ru.lo.date(), ru.hi.date())
		}
	case plan.RuleEvery:
		if !rl.From.IsZero() {
			ru.lo = max(ru.lo, dayOfDate(rl.From))
		}
		if !rl.To.IsZero() {
			ru.hi = min(ru.hi, dayOfDate(rl.To))
		}
		ru.outside = msg("outside.range", ru.lo.date(), ru.hi.date())
		slots, word, err := calendar(rl.Every, ru.lo, ru.hi)
		if err != nil {
			return nil, err
		}
		ru.slots, ru.period = slots, word
	case plan.RuleWindows:
		if len(rl.Windows) == 0 {
			return nil, errors.New("windows rule without windows")
		}
		ru.window = true
		ru.lo, ru.hi = day(1<<40), unbounded
		for _, w := range rl.Windows {
			s := slot{name: msg("text", w.Name), lo: dayOfDate(w.Start), hi: dayOfDate(w.End)}
			ru.slots = append(ru.slots, s)
			ru.lo, ru.hi = min(ru.lo, s.lo), max(ru.hi, s.hi)
		}
		ru.outside = msg("outside.windows")
	case plan.RuleDeadline:
		if rl.By.IsZero() {
			return nil, errors.New("deadline rule without a date (by)")
		}
		ru.lo, ru.hi = unbounded, dayOfDate(rl.By)
		ru.outside = msg("outside.deadline", ru.hi.date())
	case plan.RuleRatio:
		if rl.Figure == "" {
			return nil, errors.New("ratio rule without a figure")
		}
		ru.lo = unbounded
		ru.outside = msg("outside.plan_end", ru.hi.date())
	case plan.RulePresence:
		if ru.requires == 0 {
			ru.requires = hasPhoto
		}
		ru.min = 1
		if rl.Renew != "" {
			slots, word, err := calendar(rl.Renew, ru.lo, ru.hi)
			if err != nil {
				return nil, err
			}
			ru.slots, ru.period = slots, word
			ru.outside = msg("outside.plan", ru.lo.date(), ru.hi.date())
		} else {
			ru.lo = unbounded
			ru.outside = msg("outside.plan_end", ru.hi.date())
		}
	default:
		return nil, fmt.Errorf("unknown rule kind %q", rl.Kind)
	}
	return ru, nil
}

// calendar returns the calendar periods of kind every that meet [lo, hi],
// each clipped to it, and the word for one such period.
func calendar(every string, lo, hi day) ([]slot, Message, error) {
	switch every {
	case plan.EveryWeek, plan.EveryMonth, plan.EveryTwoMonths, plan.EveryQuarter, plan.EveryYear:
	default:
		return nil, Message{}, fmt.Errorf("unknown calendar period %q (want week, month, two_months, quarter or year)", every)
	}
	var out []slot
	for start := periodStart(every, lo); start <= hi; {
		next := periodNext(every, start)
		out = append(out, slot{name: periodName(every, start), lo: max(start, lo), hi: min(next-1, hi)})
		start = next
	}
	return out, msg("every." + every), nil
}

// periodStart returns the first day of the period of kind every holding d.
func periodStart(every string, d day) day {
	t := time.Unix(int64(d)*86400, 0).UTC()
	y, m := t.Year(), t.Month()
	switch every {
	case plan.EveryWeek:
		return d - day((int(t.Weekday())+6)%7) // ISO: Monday first
	case plan.EveryMonth:
	case plan.EveryTwoMonths:
		m -= (m - 1) % 2
	case plan.EveryQuarter:
		m -= (m - 1) % 3
	case plan.EveryYear:
		m = time.January
	}
	return dayOfDate(plan.Date{Year: y, Month: m, Day: 1})
}

// periodNext returns the first day of the period after the one starting at start.
func periodNext(every string, start day) day {
	if every == plan.EveryWeek {
		return start + 7
	}
	months := map[string]int{plan.EveryMonth: 1, plan.EveryTwoMonths: 2, plan.EveryQuarter: 3, plan.EveryYear: 12}[every]
	t := time.Unix(int64(start)*86400, 0).UTC().AddDate(0, months, 0)
	return day(t.Unix() / 86400)
}

// periodName names the period starting at start, e.g. 2016年7月
// (period.month, 2016, 7).
func periodName(every string, start day) Message {
	t := time.Unix(int64(start)*86400, 0).UTC()
	y, m := t.Year(), int(t.Month())
	switch every {
	case plan.EveryWeek:
		iy, w := t.ISOWeek()
		return msg("period.week", iy, w, start.date())
	case plan.EveryMonth:
		return msg("period.month", y, m)
	case plan.EveryTwoMonths:
		return msg("period.two_months", y, m, m+1)
	case plan.EveryQuarter:
		return msg("period.quarter", y, (m-1)/3+1)
	}
	return msg("period.year", y)
}

// kindWords are the names of the evidence kinds, boxed once (a read-only
// table: words is called for every rejected item).
var kindWords = func() map[events.Kind]any {
	m := map[events.Kind]any{}
	for _, k := range []events.Kind{events.KindActivity, events.KindPhoto, events.KindStudyNote, events.KindSummary, events.KindRectification, events.KindDocument} {
		m[k] = msg("kind." + string(k))
	}
	return m
}()

// kindWord names an evidence kind (kind.activity: 活動); a kind the
// engine does not know shows as itself.
func kindWord(k string) any {
	if w, ok := kindWords[events.Kind(k)]; ok {
		return w
	}
	return k
}

// kindList is a list of kinds' names; sep is list.and or list.or.
func kindList(ks []string) Message { return kindsJoined("list.and", ks) }

func kindsJoined(sep string, ks []string) Message {
	ws := make([]any, len(ks))
	for i, k := range ks {
		ws[i] = kindWord(k)
	}
	return Message{Key: sep, Args: ws}
}

// textList is a list of texts from the plan, joined by sep (list.and or
// list.or).
func textList(sep string, ts []string) Message {
	ws := make([]any, len(ts))
	for i, t := range ts {
		ws[i] = t
	}
	return Message{Key: sep, Args: ws}
}

// check returns why item i does not count for ru, or nothing if it does.
func (e *evaluator) check(ru *rule, i int, f *fact) []string {
	it := e.items[i]
	if it.Retracted {
		return []string{ReasonRetracted}
	}
	var why []string
	r := ru.r
	if len(r.Accepts.Kinds) > 0 && !slices.Contains(r.Accepts.Kinds, string(it.Kind)) {
		why = append(why, ReasonKind)
	}
	if len(r.Accepts.Tags) > 0 && !slices.ContainsFunc(it.Tags(), func(t string) bool { return slices.Contains(r.Accepts.Tags, t) }) {
		why = append(why, ReasonTag)
	}
	if ru.requires&hasPhoto != 0 && f.atts&hasPhoto == 0 {
		why = append(why, ReasonNoPhoto)
	}
	if ru.requires&hasDocument != 0 && f.atts&hasDocument == 0 {
		why = append(why, ReasonNoDocument)
	}
	switch {
	case f.day > e.today:
		why = append(why, ReasonFuture)
	case f.day < ru.lo || f.day > ru.hi:
		why = append(why, ReasonOutside)
	case ru.window && !slices.ContainsFunc(ru.slots, func(s slot) bool { return s.lo <= f.day && f.day <= s.hi }):
		why = append(why, ReasonOutside)
	}
	if r.Rule.Kind == plan.RuleRatio {
		if _, ok := it.Figures()[r.Rule.Figure]; !ok {
			why = append(why, ReasonNoFigure)
		}
	}
	return why
}

// words says the reasons, one Message each.
func (e *evaluator) words(ru *rule, i int, f *fact, reasons []string) []Message {
	it := e.items[i]
	r := ru.r
	out := make([]Message, 0, len(reasons))
	for _, c := range reasons {
		switch c {
		case ReasonRetracted:
			w := msg("reason.retracted")
			if n := len(it.Chain); n > 0 && it.Chain[n-1].Reason() != "" {
				w = msg("reason.retracted_because", it.Chain[n-1].Reason())
			}
			out = append(out, w)
		case ReasonKind:
			out = append(out, msg("reason.kind", kindWord(string(it.Kind)), ru.kinds))
		case ReasonTag:
			out = append(out, msg("reason.tag", ru.tags))
		case ReasonNoPhoto:
			out = append(out, msg("reason.no_photo"))
		case ReasonNoDocument:
			out = append(out, msg("reason.no_document"))
		case ReasonFuture:
			out = append(out, msg("reason.future", f.date, e.today.date()))
		case ReasonOutside:
			out = append(out, msg("reason.outside", f.date, ru.outside))
		case ReasonNoFigure:
			out = append(out, msg("reason.no_figure", r.Rule.Figure))
		}
	}
	return out
}

func (e *evaluator) ref(i int, f *fact) Counted {
	it := e.items[i]
	return Counted{ID: it.ID, Title: it.Title, OccurredAt: it.OccurredAt(), Occurred: f.date, Version: int(it.Version)}
}

// evaluate judges one requirement over the items naming it, sorted.
func (e *evaluator) evaluate(ru *rule, idx []int) Result {
	r := ru.r
	res := Result{Requirement: r.ID, Ref: r.Ref, Title: r.Title, Rule: r.Rule.Kind, Min: ru.min}
	// Judge every item first, then fill slices of the right size.
	why := make([][]string, len(idx))
	rejected := 0
	for j, i := range idx {
		if why[j] = e.check(ru, i, &e.facts[i]); why[j] != nil {
			rejected++
		}
	}
	counted := make([]int, 0, len(idx)-rejected)
	res.Counted = make([]Counted, 0, len(idx)-rejected)
	if rejected > 0 {
		res.Rejected = make([]Rejected, 0, rejected)
	}
	for j, i := range idx {
		f := &e.facts[i]
		if why[j] != nil {
			if !e.brief {
				because := e.words(ru, i, f, why[j])
				res.Rejected = append(res.Rejected, Rejected{Counted: e.ref(i, f), Reasons: why[j], Because: because, Why: Say(DefaultLang, because, nil)})
			}
			continue
		}
		counted = append(counted, i)
		if !e.brief {
			res.Counted = append(res.Counted, e.ref(i, f))
		}
	}
	n := len(counted)
	switch r.Rule.Kind {
	case plan.RuleCount, plan.RuleDeadline:
		res.Due = ru.hi.date()
		switch {
		case n >= ru.min:
			res.Status = StatusMet
		case e.today < ru.lo:
			res.Status = StatusNotDue
			if !e.brief {
				w := msg("owed.starts", ru.lo.date())
				if ru.phase != "" {
					w = msg("owed.phase_starts", ru.phase, ru.lo.date())
				}
				res.owe(w)
			}
		case e.today > ru.hi:
			res.Status = StatusOverdue
			if !e.brief {
				res.owe(msg("owed.count_overdue", ru.hi.date(), ru.min, measure(r), noun(ru), n))
			}
		default:
			res.Status = partialOrMissing(n)
			if !e.brief {
				res.owe(msg("owed.count_short", ru.min-n, measure(r), noun(ru), ru.hi.date()))
			}
		}
	case plan.RuleEvery, plan.RuleWindows:
		e.judgeSlots(ru, &res, counted)
	case plan.RulePresence:
		if ru.slots != nil {
			e.judgeSlots(ru, &res, counted)
			break
		}
		res.Due = ru.hi.date()
		switch {
		case n > 0:
			res.Status = StatusMet
		case e.today > ru.hi:
			res.Status = StatusOverdue
			if !e.brief {
				res.owe(msg("owed.presence_overdue", ru.hi.date(), noun(ru)))
			}
		default:
			res.Status = StatusMissing
			if !e.brief {
				res.owe(msg("owed.presence_short", noun(ru), ru.hi.date()))
			}
		}
	case plan.RuleRatio:
		e.judgeRatio(ru, &res, counted)
	}
	if e.today < e.pStart {
		res.Status = StatusNotDue
		if !e.brief {
			res.owe(msg("owed.plan_starts", e.pStart.date()))
		}
	}
	return res
}

func partialOrMissing(n int) string {
	if n > 0 {
		return StatusPartial
	}
	return StatusMissing
}

// judgeSlots judges a rule by its periods or windows.
func (e *evaluator) judgeSlots(ru *rule, res *Result, counted []int) {
	counts := make([]int, len(ru.slots))
	if !e.brief {
		res.Periods = make([]PeriodResult, len(ru.slots))
		for k, s := range ru.slots {
			res.Periods[k] = PeriodResult{Label: s.name, Name: Say(DefaultLang, []Message{s.name}, nil), Start: s.lo.date(), End: s.hi.date(), Min: ru.min}
		}
	}
	add := func(k, i int) {
		counts[k]++
		if !e.brief {
			res.Periods[k].Count++
			res.Periods[k].Items = append(res.Periods[k].Items, e.items[i].ID)
		}
	}
	for _, i := range counted {
		d := e.facts[i].day
		if ru.window {
			for k, s := range ru.slots {
				if s.lo <= d && d <= s.hi {
					add(k, i)
				}
			}
			continue
		}
		// Periods are in order and tile [lo, hi].
		k, _ := slices.BinarySearchFunc(ru.slots, d, func(s slot, d day) int { return cmp.Compare(s.hi, d) })
		add(k, i)
	}
	var late, short []int
	started, anyMet := false, false
	var lastStarted day = unbounded
	for k, s := range ru.slots {
		var status string
		switch {
		case counts[k] >= ru.min && s.lo <= e.today:
			status = StatusMet
		case s.lo > e.today:
			status = StatusNotDue
		case s.hi < e.today:
			status = StatusOverdue
			late = append(late, k)
		default:
			status = partialOrMissing(counts[k])
			short = append(short, k)
		}
		if !e.brief {
			res.Periods[k].Status = status
		}
		if s.lo <= e.today {
			started = true
			lastStarted = max(lastStarted, s.hi)
			anyMet = anyMet || status == StatusMet
		}
	}
	earliest := func(ks []int) day {
		d := ru.slots[ks[0]].hi
		for _, k := range ks[1:] {
			d = min(d, ru.slots[k].hi)
		}
		return d
	}
	name := func(k int) Message { return ru.slots[k].label(ru.window) }
	if !e.brief { // scoring says no words
		var words []Message
		if len(late) > 0 {
			ls := make([]any, len(late))
			for j, k := range late {
				ls[j] = msg("slot.count", name(k), counts[k], ru.min)
			}
			words = append(words, msg("owed.slots_overdue", Message{Key: "list.and", Args: ls}, slotWord(ru), ru.min, measure(ru.r)))
		}
		for _, k := range short {
			words = append(words, msg("owed.slot_short", name(k), ru.min-counts[k], measure(ru.r), noun(ru), ru.slots[k].hi.date()))
		}
		res.owe(words...)
	}
	switch {
	case !started:
		res.Status = StatusNotDue
		first := ru.slots[0]
		for _, s := range ru.slots[1:] {
			if s.lo < first.lo {
				first = s
			}
		}
		res.Due = first.hi.date()
		if !e.brief {
			w := msg("owed.starts", first.lo.date())
			if ru.window {
				w = msg("owed.window_starts", first.name, first.lo.date())
			}
			res.owe(w)
		}
	case len(late) > 0:
		res.Status = StatusOverdue
		res.Due = earliest(late).date()
	case len(short) > 0:
		res.Status = StatusMissing
		if len(counted) > 0 || anyMet {
			res.Status = StatusPartial
		}
		res.Due = earliest(short).date()
	default:
		res.Status = StatusMet
		res.Due = lastStarted.date()
	}
}

func slotWord(ru *rule) Message {
	if ru.window {
		return msg("every.window")
	}
	return ru.period
}

// judgeRatio judges a ratio rule by the latest counted item.
func (e *evaluator) judgeRatio(ru *rule, res *Result, counted []int) {
	rl := ru.r.Rule
	res.Due = ru.hi.date()
	late := e.today > ru.hi
	unmet := func(status string, words Message) {
		res.Status = status
		if late {
			res.Status, words = StatusOverdue, msg("owed.overdue", words)
		}
		if !e.brief {
			res.owe(words)
		}
	}
	if len(counted) == 0 {
		unmet(StatusMissing, msg("owed.ratio_missing", rl.Figure, percent(rl.MinRatio)))
		return
	}
	best := counted[0]
	for _, i := range counted[1:] {
		a, b := e.items[i], e.items[best]
		c := a.OccurredAt().Compare(b.OccurredAt())
		if c == 0 {
			c = cmp.Compare(e.facts[i].recAt, e.facts[best].recAt)
		}
		if c == 0 {
			c = strings.Compare(string(a.ID[:]), string(b.ID[:]))
		}
		if c > 0 {
			best = i
		}
	}
	v := e.items[best].Figures()[rl.Figure]
	rt := &Ratio{Figure: rl.Figure, Value: v, Headcount: e.u.Headcount, MinRatio: rl.MinRatio, Item: e.items[best].ID}
	res.Ratio = rt
	if e.u.Headcount <= 0 {
		unmet(StatusPartial, msg("owed.ratio_no_headcount", rl.Figure, num(v)))
		return
	}
	rt.Ratio = v / float64(e.u.Headcount)
	if rt.Ratio >= rl.MinRatio {
		res.Status = StatusMet
		return
	}
	need := int(ceilTo(rl.MinRatio*float64(e.u.Headcount))) - int(v)
	unmet(StatusPartial, msg("owed.ratio_short", rl.Figure, num(v), e.u.Headcount, percent1(rt.Ratio), percent(rl.MinRatio), max(need, 1)))
}

// ceilTo rounds x up, forgiving the float error of e.g. 0.1*1200.
func ceilTo(x float64) float64 {
	r := float64(int64(x))
	if x-r > 1e-9 {
		r++
	}
	return r
}

// percent writes a plan's ratio, e.g. 10%.
func percent(x float64) string { return strconv.FormatFloat(x*100, 'f', -1, 64) + "%" }

// percent1 writes a measured ratio to one decimal, e.g. 8.3%.
func percent1(x float64) string { return strconv.FormatFloat(x*100, 'f', 1, 64) + "%" }

func num(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

// measure is the counting word for a requirement's items: 次 for
// activities (measure.times), 件 for anything else (measure.pieces).
func measure(r *plan.Requirement) Message {
	if len(r.Accepts.Tags) > 0 {
		return msg("measure.times")
	}
	if len(r.Accepts.Kinds) == 0 {
		return msg("measure.pieces")
	}
	for _, k := range r.Accepts.Kinds {
		if k != string(events.KindActivity) && k != string(events.KindStudyNote) {
			return msg("measure.pieces")
		}
	}
	return msg("measure.times")
}

// noun says what a requirement's items are, with what they must carry,
// e.g. 集中學習（附照片及文件）.
func noun(ru *rule) Message {
	r := ru.r
	var what Message
	switch {
	case len(r.Accepts.Tags) > 0:
		what = textList("list.or", r.Accepts.Tags)
	case len(r.Accepts.Kinds) > 0:
		what = kindsJoined("list.or", r.Accepts.Kinds)
	default:
		what = msg("noun.any")
	}
	switch ru.requires {
	case hasPhoto:
		what = msg("noun.with_photo", what)
	case hasDocument:
		what = msg("noun.with_document", what)
	case hasPhoto | hasDocument:
		what = msg("noun.with_both", what)
	}
	return what
}

// owe sets what res still owes: ms replace any earlier clauses (a later
// judgement, such as the plan not having started, overrides), and Missing
// says them in DefaultLang.
func (res *Result) owe(ms ...Message) {
	res.Owed = ms
	res.Missing = Say(DefaultLang, ms, nil)
}

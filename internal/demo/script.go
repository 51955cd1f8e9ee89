package demo

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"taizhang/projections/plan"
)

// The script: everything the demo does, worked out before the first
// request from the plans and a fixed seed, so that the same plans always
// give the same requests (evidence ids included).

// Seed is the demo's fixed random seed.
const Seed = 20160701

// namespace derives the demo's evidence and finding ids.
var namespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://taizhang.invalid/demo"))

// zone is the time zone of every date in the demo (the plans' Asia/Shanghai).
var zone = time.FixedZone("UTC+8", 8*3600)

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, zone) }

func dayOf(d plan.Date) time.Time { return date(d.Year, d.Month, d.Day) }

func parseDay(s string) time.Time {
	t, err := time.ParseInLocation(time.DateOnly, s, zone)
	if err != nil {
		panic(err)
	}
	return t
}

// item is one piece of evidence to submit.
type item struct {
	Key      string // stable name the id is derived from
	ID       uuid.UUID
	Unit     string
	Kind     string
	Title    string
	Body     string
	Occurred time.Time
	Reqs     []string
	Tags     []string
	Figures  map[string]float64
	Finding  uuid.UUID
	Photos   []photoSpec
	Docs     []docSpec
	Plan     string    // the plan it was written for ("" for routine items)
	Req      string    // the requirement it was written for
	Slot     string    // the period or window it was written for
	Sim      time.Time // when it is submitted in the story (zero: when it occurred)
}

type opKind int

const (
	opSubmit opKind = iota
	opAmend
	opRetract
	opFinding
	opResolve
	opReopen
)

// op is one request of the script, at a time of the story.
type op struct {
	Kind    opKind
	Unit    string
	Sim     time.Time // when it happens in the story: ops run in this order per unit
	Item    *item     // opSubmit
	Target  uuid.UUID // opAmend, opRetract: the evidence; opResolve, opReopen: the finding
	Version int       // the version being corrected or decided
	Reason  string
	Changes map[string]any // opAmend
	Finding *findingSpec   // opFinding
	// Refused, for an opResolve, is the closure rule the server must
	// refuse it on (package closure): the story shows the refusal.
	Refused string
	// Override, for an opResolve, closes the finding against the closure
	// rules, on Reason alone.
	Override bool
	order    int
}

// findingSpec is a finding an inspector records.
type findingSpec struct {
	ID                               uuid.UUID
	Plan, Req, Description, Sev, Due string
	Photo                            photoSpec
}

// Story is one of the demo's deliberate stories, for whoever explores it.
type Story struct {
	Name     string `json:"name"`
	Unit     string `json:"unit"`
	Evidence string `json:"evidence,omitempty"` // evidence id(s), comma-separated
	Finding  string `json:"finding,omitempty"`
	What     string `json:"what"`
}

// script is the whole demo, worked out.
type script struct {
	plans     []*plan.Plan
	units     []unitDef
	unitPlans map[string][]string
	ops       []*op
	stories   []Story
}

// unitGen writes one unit's items.
type unitGen struct {
	u     unitDef
	r     *rand.Rand
	items []*item
	ords  map[string]int
}

func hashOf(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// buildScript works out the demo for the given plans.
func buildScript(plans []*plan.Plan) (*script, error) {
	s := &script{plans: plans, unitPlans: map[string][]string{}}
	s.units = unitsFor(plans)
	for _, u := range s.units {
		for _, p := range plans {
			if appliesAny(p, u) {
				s.unitPlans[u.ID] = append(s.unitPlans[u.ID], p.ID)
			}
		}
	}
	gens := map[string]*unitGen{}
	for _, u := range s.units {
		g := &unitGen{u: u, r: rand.New(rand.NewPCG(Seed, hashOf(u.ID))), ords: map[string]int{}}
		gens[u.ID] = g
		gap := gaps[u.ID]
		for _, p := range plans {
			for i := range p.Requirements {
				req := &p.Requirements[i]
				if p.Applies(req.AppliesTo, u.ID, u.Type) && !slices.Contains(gap.Skip, req.ID) {
					g.requirement(p, req, gap)
				}
			}
			if appliesAny(p, u) {
				g.routine(p)
			}
		}
	}
	for _, g := range gens {
		for _, it := range g.items {
			it.ID = uuid.NewSHA1(namespace, []byte("demo/"+it.Key))
		}
	}
	if err := s.tell(gens); err != nil {
		return nil, err
	}
	for _, u := range s.units {
		for _, it := range gens[u.ID].items {
			sim := it.Sim
			if sim.IsZero() {
				sim = it.Occurred
			}
			s.add(&op{Kind: opSubmit, Unit: u.ID, Sim: sim, Item: it})
		}
	}
	slices.SortStableFunc(s.ops, func(a, b *op) int {
		if c := a.Sim.Compare(b.Sim); c != 0 {
			return c
		}
		return a.order - b.order
	})
	return s, nil
}

func (s *script) add(o *op) {
	o.order = len(s.ops)
	s.ops = append(s.ops, o)
}

func appliesAny(p *plan.Plan, u unitDef) bool {
	if p.Applies(plan.Scope{}, u.ID, u.Type) {
		return true
	}
	for i := range p.Requirements {
		if !p.Requirements[i].AppliesTo.Empty() && p.Applies(p.Requirements[i].AppliesTo, u.ID, u.Type) {
			return true
		}
	}
	return false
}

// unitsFor returns the units the plans name (by id or by type), with
// their parents, parents first.
func unitsFor(plans []*plan.Plan) []unitDef {
	want := map[string]bool{}
	types := map[string]bool{}
	scope := func(sc plan.Scope) {
		for _, id := range sc.Units {
			want[id] = true
		}
		for _, t := range sc.Types {
			types[t] = true
		}
	}
	for _, p := range plans {
		scope(p.AppliesTo)
		for _, r := range p.Requirements {
			scope(r.AppliesTo)
		}
	}
	known := map[string]unitDef{}
	for _, u := range knownUnits {
		known[u.ID] = u
		if types[u.Type] {
			want[u.ID] = true
		}
	}
	for changed := true; changed; { // parents of wanted units
		changed = false
		for id := range want {
			if u, ok := known[id]; ok && u.Parent != "" && !want[u.Parent] {
				want[u.Parent], changed = true, true
			}
		}
	}
	var out []unitDef
	for _, u := range knownUnits {
		if want[u.ID] {
			out = append(out, u)
			delete(want, u.ID)
		}
	}
	var rest []string
	for id := range want {
		rest = append(rest, id)
	}
	slices.Sort(rest)
	for _, id := range rest { // named by a plan, unknown here
		out = append(out, unitDef{ID: id, Name: id, Type: "unit", Short: id, Headcount: 30})
	}
	return out
}

// ── dates ───────────────────────────────────────────────────────────────

// between returns a random day in [lo, hi].
func (g *unitGen) between(lo, hi time.Time) time.Time {
	days := int(hi.Sub(lo).Hours()/24 + 0.5)
	if days <= 0 {
		return lo
	}
	return lo.AddDate(0, 0, g.r.IntN(days+1))
}

// weekday moves a weekend day to the nearest weekday inside [lo, hi].
func weekday(d, lo, hi time.Time) time.Time {
	switch d.Weekday() {
	case time.Saturday:
		if x := d.AddDate(0, 0, -1); !x.Before(lo) {
			return x
		}
		if x := d.AddDate(0, 0, 2); !x.After(hi) {
			return x
		}
	case time.Sunday:
		if x := d.AddDate(0, 0, 1); !x.After(hi) {
			return x
		}
		if x := d.AddDate(0, 0, -2); !x.Before(lo) {
			return x
		}
	}
	return d
}

// spread returns n days in [lo, hi], one in each of n equal parts, on
// weekdays where possible, in order.
func (g *unitGen) spread(lo, hi time.Time, n int, weekdays bool) []time.Time {
	total := int(hi.Sub(lo).Hours()/24+0.5) + 1
	out := make([]time.Time, 0, n)
	for k := 0; k < n; k++ {
		a := lo.AddDate(0, 0, total*k/n)
		b := lo.AddDate(0, 0, max(total*(k+1)/n-1, total*k/n))
		d := g.between(a, b)
		if weekdays {
			d = weekday(d, lo, hi)
		}
		out = append(out, d)
	}
	slices.SortFunc(out, time.Time.Compare)
	return out
}

// near narrows [lo, hi] to a "MM-DD..MM-DD" range in lo's year (or hi's),
// if they overlap.
func near(spec string, lo, hi time.Time) (time.Time, time.Time) {
	a, b, ok := strings.Cut(spec, "..")
	if !ok {
		return lo, hi
	}
	for _, y := range []int{lo.Year(), hi.Year()} {
		s, err1 := time.ParseInLocation(time.DateOnly, fmt.Sprintf("%d-%s", y, a), zone)
		e, err2 := time.ParseInLocation(time.DateOnly, fmt.Sprintf("%d-%s", y, b), zone)
		if err1 != nil || err2 != nil {
			return lo, hi
		}
		if s.Before(lo) {
			s = lo
		}
		if e.After(hi) {
			e = hi
		}
		if !e.Before(s) {
			return s, e
		}
	}
	return lo, hi
}

// slot is one calendar period of an "every" or "renew" rule.
type slot struct {
	Label  string // the period's first day, YYYY-MM-DD
	Name   string // how titles name it
	Lo, Hi time.Time
}

// calendar returns the periods of kind every between lo and hi (each cut
// to [lo, hi]).
func calendar(every string, lo, hi time.Time) []slot {
	start := lo
	switch every {
	case plan.EveryWeek:
		start = lo.AddDate(0, 0, -((int(lo.Weekday()) + 6) % 7))
	case plan.EveryMonth:
		start = date(lo.Year(), lo.Month(), 1)
	case plan.EveryTwoMonths:
		start = date(lo.Year(), lo.Month()-(lo.Month()-1)%2, 1)
	case plan.EveryQuarter:
		start = date(lo.Year(), lo.Month()-(lo.Month()-1)%3, 1)
	case plan.EveryYear:
		start = date(lo.Year(), 1, 1)
	}
	var out []slot
	for !start.After(hi) {
		var next time.Time
		var name string
		switch every {
		case plan.EveryWeek:
			next = start.AddDate(0, 0, 7)
			_, w := start.ISOWeek()
			name = fmt.Sprintf("第%d周", w)
		case plan.EveryMonth:
			next = start.AddDate(0, 1, 0)
			name = fmt.Sprintf("%d月", start.Month())
		case plan.EveryTwoMonths:
			next = start.AddDate(0, 2, 0)
			name = fmt.Sprintf("%d–%d月", start.Month(), start.Month()+1)
		case plan.EveryQuarter:
			next = start.AddDate(0, 3, 0)
			name = fmt.Sprintf("%d年第%s季度", start.Year(), []string{"一", "二", "三", "四"}[(start.Month()-1)/3])
		default:
			next = start.AddDate(1, 0, 0)
			name = fmt.Sprintf("%d年", start.Year())
		}
		s := slot{Label: start.Format(time.DateOnly), Name: name, Lo: start, Hi: next.AddDate(0, 0, -1)}
		if s.Lo.Before(lo) {
			s.Lo = lo
		}
		if s.Hi.After(hi) {
			s.Hi = hi
		}
		out = append(out, s)
		start = next
	}
	return out
}

// ── items for requirements ──────────────────────────────────────────────

func textFor(p *plan.Plan, req *plan.Requirement) reqText {
	if t, ok := texts[p.ID+"/"+req.ID]; ok {
		return t
	}
	if t, ok := texts[req.ID]; ok {
		return t
	}
	title := req.Title // not written for this requirement: say it in the plan's words
	if i := strings.IndexAny(title, ",，。;；"); i > 0 {
		title = title[:i]
	}
	if len([]rune(title)) > 40 {
		title = string([]rune(title)[:40])
	}
	return reqText{Titles: []string{"{u}" + title}}
}

// offMenuTag is an activity no plan's menu offers.
const offMenuTag = "廣場舞排練"

// requirement writes the items that evidence one requirement, following
// its rule, less what the unit's gap leaves out.
func (g *unitGen) requirement(p *plan.Plan, req *plan.Requirement, gap gapSpec) {
	txt := textFor(p, req)
	rl := req.Rule
	lo, hi := dayOf(p.Period.Start), dayOf(p.Period.End)
	short := func(label string) bool { return slices.Contains(gap.Slots[req.ID], label) }
	switch rl.Kind {
	case plan.RuleCount:
		if rl.Phase != "" {
			for _, ph := range p.Phases {
				if ph.ID == rl.Phase {
					lo, hi = dayOf(ph.Start), dayOf(ph.End)
				}
			}
		}
		n := max(rl.Min, 1)
		if g.r.IntN(10) < 3 {
			n++
		}
		a, b := near(txt.Near, lo, hi)
		for _, d := range g.spread(a, b, n, true) {
			g.add(p, req, txt, d, slot{})
		}
	case plan.RuleEvery:
		from, to := lo, hi
		if !rl.From.IsZero() {
			from = dayOf(rl.From)
		}
		if !rl.To.IsZero() {
			to = dayOf(rl.To)
		}
		for _, sl := range calendar(rl.Every, from, to) {
			n := max(rl.Min, 1)
			offMenu := gap.OffMenu[req.ID] != "" && strings.HasPrefix(sl.Label, gap.OffMenu[req.ID])
			if short(sl.Label) {
				n--
			} else if rl.Every != plan.EveryWeek && !offMenu && g.r.IntN(10) < 2 {
				n++
			}
			for k, d := range g.spread(sl.Lo, sl.Hi, n, true) {
				it := g.add(p, req, txt, d, sl)
				if offMenu && k == 0 { // an activity the menu does not offer: it does not count
					it.Tags = []string{offMenuTag}
					it.Title = g.u.Short + offMenuTag + "活動"
				}
			}
		}
	case plan.RuleWindows:
		for _, w := range rl.Windows {
			n := max(rl.Min, 1)
			if short(w.Name) {
				n--
			}
			a, b := dayOf(w.Start), dayOf(w.End)
			mid := a.AddDate(0, 0, int(b.Sub(a).Hours()/48))
			for k := 0; k < n; k++ {
				d := mid.AddDate(0, 0, g.r.IntN(3)-1)
				if d.Before(a) || d.After(b) {
					d = mid
				}
				g.add(p, req, txt, d, slot{Label: w.Name, Name: w.Name})
			}
		}
	case plan.RuleDeadline:
		by := dayOf(rl.By)
		a := by.AddDate(0, 0, -24)
		if a.Before(lo) {
			a = lo
		}
		for k := 0; k < max(rl.Min, 1); k++ {
			d := weekday(g.between(a, by.AddDate(0, 0, -3)), a, by)
			if late := gap.Late[req.ID]; late > 0 {
				d = by.AddDate(0, 0, late)
			}
			g.add(p, req, txt, d, slot{})
		}
	case plan.RuleRatio:
		// A first registration list in mid-year, the latest one later.
		ratios := []float64{0.05 + float64(g.r.IntN(30))/1000, rl.MinRatio + 0.01 + float64(g.r.IntN(40))/1000}
		if gap.Ratio > 0 {
			ratios[1] = gap.Ratio
		}
		dates := []time.Time{weekday(g.between(date(lo.Year(), 7, 4), date(lo.Year(), 7, 29)), lo, hi),
			weekday(g.between(date(lo.Year(), 9, 19), date(lo.Year(), 10, 14)), lo, hi)}
		for k, ratio := range ratios {
			it := g.add(p, req, txt, dates[k], slot{})
			v := math.Ceil(ratio * float64(g.u.Headcount))
			if gap.Ratio == 0 && k == 1 && v < rl.MinRatio*float64(g.u.Headcount) {
				v = math.Ceil(rl.MinRatio * float64(g.u.Headcount))
			}
			it.Figures = map[string]float64{rl.Figure: v}
			pct := fmt.Sprintf("%.1f%%", 100*v/float64(max(g.u.Headcount, 1)))
			it.Body = fmt.Sprintf("截至%s，%s在志願服務平臺注冊志願者%d人，占總人數%d人的%s。\n%s", cnDate(dates[k]), g.u.Short, int(v), g.u.Headcount, pct, it.Body)
		}
	case plan.RulePresence:
		if rl.Renew != "" {
			for _, sl := range calendar(rl.Renew, lo, hi) {
				if short(sl.Label) {
					continue
				}
				g.add(p, req, txt, weekday(g.between(sl.Lo, sl.Lo.AddDate(0, 0, 40)), sl.Lo, sl.Hi), sl)
			}
			return
		}
		a, b := near(txt.Near, lo, lo.AddDate(0, 0, int(hi.Sub(lo).Hours()/24*0.45)))
		g.add(p, req, txt, weekday(g.between(a, b), a, b), slot{})
		if g.r.IntN(4) == 0 { // a later photo of the same board
			g.add(p, req, txt, weekday(g.between(b, hi), b, hi), slot{})
		}
	default: // a rule kind this demo does not know: one item in the period
		g.add(p, req, txt, g.between(lo, hi), slot{})
	}
}

// menuPick chooses a tag from a requirement's menu: a course, not one of
// the categories (the tags ending in 類), if the menu has both.
func (g *unitGen) menuPick(tags []string, n int) []string {
	var courses []string
	for _, t := range tags {
		if !strings.HasSuffix(t, "類") {
			courses = append(courses, t)
		}
	}
	if len(courses) == 0 {
		courses = tags
	}
	return []string{courses[(n+g.r.IntN(len(courses)))%len(courses)]}
}

// add writes one item for req on day d.
func (g *unitGen) add(p *plan.Plan, req *plan.Requirement, txt reqText, d time.Time, sl slot) *item {
	key := p.ID + "/" + req.ID
	n := g.ords[key]
	g.ords[key]++
	kind := txt.Kind
	if kind == "" || (len(req.Accepts.Kinds) > 0 && !slices.Contains(req.Accepts.Kinds, kind)) {
		kind = "activity"
		if len(req.Accepts.Kinds) > 0 {
			kind = req.Accepts.Kinds[0]
		}
	}
	var tags []string
	if len(req.Accepts.Tags) > 0 {
		tags = g.menuPick(req.Accepts.Tags, n)
	} else {
		tags = slices.Clone(txt.Tags)
	}
	title := txt.Titles[n%len(txt.Titles)]
	if ft, ok := festivalTitles[sl.Name]; ok && req.Rule.Kind == plan.RuleWindows {
		title = ft
	}
	tag := ""
	if len(tags) > 0 {
		tag = tags[len(tags)-1]
	}
	title = g.fill(title, d, n, sl, tag)
	at := g.timeOfDay(d, kind)
	it := &item{Key: fmt.Sprintf("%s/%s/%s/%d", g.u.ID, p.ID, req.ID, n), Unit: g.u.ID, Kind: kind, Title: title,
		Occurred: at, Reqs: []string{req.ID}, Tags: tags, Plan: p.ID, Req: req.ID, Slot: sl.Label}
	g.body(it, p, req, txt)
	requires := req.Requires
	if req.Rule.Kind == plan.RulePresence && !slices.Contains(requires, plan.AttachPhoto) {
		requires = append(slices.Clone(requires), plan.AttachPhoto) // presence is shown by a photo
	}
	g.attach(it, requires, txt)
	g.items = append(g.items, it)
	return it
}

func (g *unitGen) fill(tmpl string, d time.Time, n int, sl slot, tag string) string {
	w := sl.Name
	return strings.NewReplacer("{u}", g.u.Short, "{d}", fmt.Sprintf("%d月%d日", d.Month(), d.Day()),
		"{m}", fmt.Sprint(int(d.Month())), "{n}", fmt.Sprint(n+1), "{w}", w, "{t}", tag).Replace(tmpl)
}

// timeOfDay puts an item at a plausible time of day d.
func (g *unitGen) timeOfDay(d time.Time, kind string) time.Time {
	h := []int{8, 9, 9, 10, 14, 15, 15, 16}[g.r.IntN(8)]
	if kind == "photo" || kind == "document" {
		h = 8 + g.r.IntN(9)
	}
	return d.Add(time.Duration(h)*time.Hour + time.Duration(g.r.IntN(4)*15)*time.Minute)
}

func cnDate(t time.Time) string { return fmt.Sprintf("%d年%d月%d日", t.Year(), t.Month(), t.Day()) }

func (g *unitGen) name() string {
	return string(surnames[g.r.IntN(len(surnames))]) + given[g.r.IntN(len(given))]
}

func (g *unitGen) place() string {
	ps := places[g.u.Type]
	if len(ps) == 0 {
		return "會議室"
	}
	return ps[g.r.IntN(len(ps))]
}

// body writes the item's text: when, where, who, what.
func (g *unitGen) body(it *item, p *plan.Plan, req *plan.Requirement, txt reqText) {
	var b strings.Builder
	fmt.Fprintf(&b, "時間：%s %s\n", cnDate(it.Occurred), it.Occurred.Format("15:04"))
	switch it.Kind {
	case "photo":
		fmt.Fprintf(&b, "地點：%s\n拍攝人：%s\n", g.place(), g.name())
	case "document", "summary":
		fmt.Fprintf(&b, "經辦人：%s\n", g.name())
	default:
		n := 8 + g.r.IntN(40)
		if g.u.Headcount > 0 && g.u.Headcount < 60 {
			n = max(3, g.u.Headcount*(60+g.r.IntN(40))/100)
		}
		fmt.Fprintf(&b, "地點：%s\n主持人：%s\n參加人員：%d人\n", g.place(), g.name(), n)
	}
	if txt.Body != "" {
		b.WriteString(txt.Body + "\n")
	}
	if req != nil {
		fmt.Fprintf(&b, "依據：《%s》%s", p.Title, req.Ref)
	}
	it.Body = strings.TrimSpace(b.String())
}

// attach gives the item 1–3 attachments: what the requirement asks each
// item to carry, and what its kind naturally has.
func (g *unitGen) attach(it *item, requires []string, txt reqText) {
	photo := slices.Contains(requires, plan.AttachPhoto)
	doc := slices.Contains(requires, plan.AttachDocument)
	if !photo && !doc {
		switch it.Kind {
		case "document", "summary", "study_note":
			doc = true
		default:
			photo = true
		}
	}
	if doc && it.Kind == "activity" && g.r.IntN(10) < 4 {
		photo = true
	}
	if photo && it.Kind == "activity" && !doc && g.r.IntN(10) < 2 {
		doc = true
	}
	nPhotos := 0
	if photo {
		nPhotos = []int{1, 1, 1, 1, 2, 2, 2, 3}[g.r.IntN(8)]
		if doc {
			nPhotos = min(nPhotos, 2)
		}
	}
	scene := txt.Scene - 1
	for k := 0; k < nPhotos; k++ {
		sc := scene
		if sc < 0 {
			switch it.Kind {
			case "photo":
				sc = sceneBoard
			case "study_note", "document", "summary":
				sc = sceneMeeting
			default:
				sc = []int{sceneOutdoor, sceneOutdoor, sceneMeeting}[g.r.IntN(3)]
				if g.u.Type == "school" && g.r.IntN(2) == 0 {
					sc = sceneClass
				}
			}
		}
		it.Photos = append(it.Photos, g.photo(it, k, sc, it.Occurred.Add(time.Duration(5+k*7+g.r.IntN(5))*time.Minute)))
	}
	if doc {
		it.Docs = append(it.Docs, g.doc(it, txt.Doc))
	}
}

func (g *unitGen) photo(it *item, k, scene int, taken time.Time) photoSpec {
	taken = taken.Add(time.Duration(g.r.IntN(60)) * time.Second)
	var pos *gps
	if g.u.Pos != nil {
		pos = &gps{Lat: g.u.Pos.Lat + float64(int(hashOf(g.u.ID)%200)-100)/10000 + float64(g.r.IntN(20))/100000,
			Lon: g.u.Pos.Lon + float64(int(hashOf(g.u.ID)/200%200)-100)/10000 + float64(g.r.IntN(20))/100000}
	}
	return photoSpec{Seed: hashOf(it.Key) + uint64(k), Scene: scene, Label: g.u.ID, Taken: taken, GPS: pos,
		Name: taken.Format("IMG_20060102_150405") + ".jpg"}
}

// doc writes the item's document: a PDF for about a third, text otherwise.
func (g *unitGen) doc(it *item, name string) docSpec {
	if name == "" {
		name = map[string]string{"summary": "工作總結", "study_note": "學習記錄", "activity": "活動記錄"}[it.Kind]
		if name == "" {
			name = "文件"
		}
	}
	lines := []string{"單位：" + g.u.Name}
	lines = append(lines, strings.Split(it.Body, "\n")...)
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(name, w) {
				return true
			}
		}
		return false
	}
	switch {
	case has("例會", "會議記錄", "學習記錄"):
		lines = append(lines, "記錄人："+g.name(), "內容：",
			"一、傳達學習上級有關文件和會議精神；",
			"二、通報前一階段工作進展，查擺存在問題；",
			"三、研究部署下一步工作，明確責任人和完成時限。")
	case has("活動記錄", "比賽記錄"):
		lines = append(lines, "記錄人："+g.name(), "活動內容："+it.Title,
			"活動過程：主持人介紹活動主題和安排，參加人員分組開展，工作人員拍照留存。",
			"活動效果：參與者反響良好，達到了預期目的。")
	case has("方案", "規劃", "計劃"):
		lines = append(lines, "一、指導思想", "二、工作目標", "三、主要任務和措施", "四、時間安排", "五、工作要求")
	case has("總結", "小結"):
		lines = append(lines, "一、基本情況", "二、主要做法和成效", "三、存在的問題", "四、下一步工作打算")
	case has("名冊", "名單"):
		lines = append(lines, "序號　姓名　聯系電話")
		for k := 1; k <= 12; k++ {
			lines = append(lines, fmt.Sprintf("%d　%s　1%010d", k, g.name(), g.r.Int64N(1e10)))
		}
		lines = append(lines, "（以下略）")
	case has("報告", "清單", "記錄"):
		lines = append(lines, "一、基本情況", "二、主要發現", "三、意見和整改措施")
	default:
		lines = append(lines, "一、總則", "二、具體內容", "三、附則")
	}
	lines = append(lines, "", g.u.Name, cnDate(it.Occurred))
	pdf := g.r.IntN(3) == 0
	ext := ".txt"
	if pdf {
		ext = ".pdf"
	}
	return docSpec{PDF: pdf, Name: it.Occurred.Format("2006-01-02") + "_" + name + ext, Title: it.Title, Lines: lines, Date: it.Occurred}
}

// routine writes the unit's everyday items for a year of plan p.
func (g *unitGen) routine(p *plan.Plan) {
	list := routines[g.u.Type]
	per := routinePerMonth[g.u.Type]
	if len(list) == 0 || per == 0 {
		return
	}
	lo := dayOf(p.Period.Start)
	hi := lo.AddDate(1, 0, -1)
	if end := dayOf(p.Period.End); end.Before(hi) {
		hi = end
	}
	for _, sl := range calendar(plan.EveryMonth, lo, hi) {
		for k, d := range g.spread(sl.Lo, sl.Hi, per, true) {
			parts := strings.SplitN(list[g.r.IntN(len(list))], "|", 3)
			kind, tmpl, sc := parts[0], parts[1], parts[2]
			n := g.ords["routine"]
			g.ords["routine"]++
			it := &item{Key: fmt.Sprintf("%s/routine/%s/%d", g.u.ID, p.ID, n), Unit: g.u.ID, Kind: kind,
				Title: g.fill(tmpl, d, k, sl, ""), Occurred: g.timeOfDay(d, kind), Tags: []string{"日常工作"}, Slot: sl.Label}
			g.body(it, p, nil, reqText{})
			scene := 0
			fmt.Sscan(sc, &scene)
			if scene < 0 {
				name := strings.TrimPrefix(it.Title, g.u.Short)
				name, _, _ = strings.Cut(name, "（")
				it.Docs = append(it.Docs, g.doc(it, name))
			} else {
				for j := 0; j < 1+g.r.IntN(2); j++ {
					it.Photos = append(it.Photos, g.photo(it, j, scene, it.Occurred.Add(time.Duration(3+j*9)*time.Minute)))
				}
			}
			g.items = append(g.items, it)
		}
	}
}

package demo

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The deliberate stories: what an inspector or a supervisor should find
// when they look. Each is written into the script here, on top of the
// items the plans' rules gave every unit.

// Story units and dates, fixed.
const (
	amendUnit    = "cun-1"             // an activity dated wrongly, amended with a reason
	retractUnit  = "cun-2"             // a study record submitted twice, the copy retracted
	reuseFrom    = "cun-3"             // a board photo …
	reuseTo      = "cun-4"             // … that another village submits as its own (and a resized copy of another)
	burstUnit    = "cun-6"             // half a year backfilled just before 迎接測評
	resolvedUnit = "cun-2"             // a finding answered and resolved
	rejectUnit   = "cun-5"             // a finding answered, resolved, reopened (rejected), answered again
	overdueUnit  = "xumu-zhan"         // a finding never answered, past its due date
	inspector    = "inspector-chen"    // the inspector's user name
	supervisor   = "supervisor-li"     // the supervisor's user name
	burstCutoff  = "2016-07-01"        // burstUnit's items dated before this are backfilled
	burstDay     = "2016-09-08"        // … and submitted from this day to the 10th
	fixPlan      = "shuangchuang-2016" // the plan the findings are about
)

func (g *unitGen) find(req, slot string) *item {
	for _, it := range g.items {
		if it.Req == req && (slot == "" || it.Slot == slot) {
			return it
		}
	}
	return nil
}

func ids(items []*item) string {
	s := make([]string, len(items))
	for i, it := range items {
		s[i] = it.ID.String()
	}
	return strings.Join(s, ",")
}

// tell writes the stories into the script. A story whose unit or item the
// plans no longer give is left out.
func (s *script) tell(gens map[string]*unitGen) error {
	add := func(st Story) { s.stories = append(s.stories, st) }

	// An amendment: 東坡村's 端午 activity was entered as 6月19日 (a typo: its
	// photos say 6月9日, inside the festival's window); the clerk amends the
	// date ten days later, with the reason.
	if g := gens[amendUnit]; g != nil {
		if it := g.find("our-festivals", "端午節"); it != nil {
			// Held on the festival itself, 6月9日; entered as 6月19日.
			right := date(2016, 6, 9).Add(it.Occurred.Sub(date(it.Occurred.Year(), it.Occurred.Month(), it.Occurred.Day())))
			for k := range it.Photos {
				it.Photos[k].Taken = right.Add(it.Photos[k].Taken.Sub(it.Occurred))
				it.Photos[k].Name = it.Photos[k].Taken.Format("IMG_20060102_150405") + ".jpg"
			}
			for k := range it.Docs {
				d := &it.Docs[k]
				for i := range d.Lines {
					d.Lines[i] = strings.ReplaceAll(d.Lines[i], cnDate(it.Occurred), cnDate(right))
				}
				d.Name = right.Format(time.DateOnly) + strings.TrimPrefix(d.Name, it.Occurred.Format(time.DateOnly))
				d.Date = right
			}
			it.Body = strings.Replace(it.Body, cnDate(it.Occurred), cnDate(right), 1)
			it.Occurred = right.AddDate(0, 0, 10)
			it.Body = strings.Replace(it.Body, cnDate(right), cnDate(it.Occurred), 1)
			s.add(&op{Kind: opAmend, Unit: g.u.ID, Sim: it.Occurred.AddDate(0, 0, 1), Target: it.ID, Version: 1,
				Reason:  fmt.Sprintf("活動日期填寫錯誤：端午節包粽子活動於%s（端午節當天）舉行，見照片拍攝時間", cnDate(right)),
				Changes: map[string]any{"occurred_at": right.Format(time.RFC3339), "body": strings.Replace(it.Body, cnDate(it.Occurred), cnDate(right), 1)}})
			add(Story{Name: "amended", Unit: g.u.ID, Evidence: it.ID.String(), What: fmt.Sprintf(
				"submitted with occurred_at %s (outside the 端午節 window 06-06..06-12), amended to %s with a reason; its photos' EXIF says %s",
				it.Occurred.Format(time.DateOnly), right.Format(time.DateOnly), it.Photos[0].Taken.Format(time.DateOnly))})
		}
	}

	// A retraction: 西嶺村 submits its first study record twice (same
	// files), and retracts the copy two days later.
	if g := gens[retractUnit]; g != nil {
		if orig := g.find("study-sessions", ""); orig != nil {
			dup := *orig
			dup.Key = g.u.ID + "/duplicate/" + orig.Key
			dup.ID = uuid.NewSHA1(namespace, []byte("demo/"+dup.Key))
			dup.Sim = orig.Occurred.Add(2 * time.Hour)
			g.items = append(g.items, &dup)
			s.add(&op{Kind: opRetract, Unit: g.u.ID, Sim: orig.Occurred.AddDate(0, 0, 2), Target: dup.ID, Version: 1,
				Reason: fmt.Sprintf("重複提交：與%s集中學習記錄（同一次學習）重複，撤回本條", cnDate(orig.Occurred))})
			add(Story{Name: "retracted", Unit: g.u.ID, Evidence: dup.ID.String(), What: fmt.Sprintf(
				"a copy of the study record %s (%s, same attachments) retracted with a reason", orig.ID, orig.Occurred.Format(time.DateOnly))})
		}
	}

	// A reused photo: 北港村's 道德模范宣傳欄 is 南塘村's photo, the same bytes.
	if from, to := gens[reuseFrom], gens[reuseTo]; from != nil && to != nil {
		a, b := from.find("moral-model-board", ""), to.find("moral-model-board", "")
		if a != nil && b != nil && len(a.Photos) > 0 && len(b.Photos) > 0 {
			p := a.Photos[0]
			b.Photos[0] = p
			b.Photos[0].Name = "道德模範宣傳欄.jpg" // the same bytes: the name is only a label
			add(Story{Name: "reused-photo", Unit: b.Unit, Evidence: a.ID.String() + "," + b.ID.String(), What: fmt.Sprintf(
				"%s's moral-model-board item (occurred %s) carries %s's photo (item occurred %s, EXIF %s): one digest, two units",
				b.Unit, b.Occurred.Format(time.DateOnly), a.Unit, a.Occurred.Format(time.DateOnly), p.Taken.Format("2006-01-02 15:04:05"))})
		}
	}

	// A near-duplicate: 北港村's 善行義舉榜 photo is 南塘村's too, shrunk and
	// saved again without its EXIF, as a messaging app passes a photo on:
	// other bytes (another digest), the same picture (a close perceptual hash).
	if from, to := gens[reuseFrom], gens[reuseTo]; from != nil && to != nil {
		a, b := from.find("good-deeds-board", ""), to.find("good-deeds-board", "")
		if a != nil && b != nil && len(a.Photos) > 0 && len(b.Photos) > 0 {
			p := a.Photos[0]
			p.Resaved = 200
			p.Name = fmt.Sprintf("mmexport%d.jpg", b.Occurred.Add(-3*time.Hour).UnixMilli())
			b.Photos[0] = p
			add(Story{Name: "resized-copy", Unit: b.Unit, Evidence: a.ID.String() + "," + b.ID.String(), What: fmt.Sprintf(
				"%s's good-deeds-board item (occurred %s) carries %s's photo (item occurred %s) shrunk to 200x150 and saved again without EXIF: another digest, a perceptual hash a few bits away",
				b.Unit, b.Occurred.Format(time.DateOnly), a.Unit, a.Occurred.Format(time.DateOnly))})
		}
	}

	// A backfill burst: 下洋村 recorded nothing before July; on 9月8日–10日,
	// just before 迎接測評 (from 9月11日), it submits the first half year's
	// evidence at once, dated months earlier, with photos taken that week.
	if g := gens[burstUnit]; g != nil {
		cut, day := parseDay(burstCutoff), parseDay(burstDay)
		var burst []*item
		kept := g.items[:0]
		for _, it := range g.items {
			switch {
			case !it.Occurred.Before(cut):
				kept = append(kept, it)
			case it.Req != "":
				kept = append(kept, it)
				burst = append(burst, it)
			} // routine items before July: the unit did not keep any
		}
		g.items = kept
		for i, it := range burst {
			// Three afternoons, 9月8日–10日, a few minutes apart.
			sim := day.AddDate(0, 0, i*3/len(burst)).Add(14*time.Hour + time.Duration(i*4)*time.Minute)
			it.Sim = sim
			for k := range it.Photos {
				it.Photos[k].Taken = sim.AddDate(0, 0, -1).Add(time.Duration(k*3+g.r.IntN(3)) * time.Minute).Add(-2 * time.Hour)
				it.Photos[k].Name = it.Photos[k].Taken.Format("IMG_20060102_150405") + ".jpg"
			}
		}
		if len(burst) > 0 {
			add(Story{Name: "backfill-burst", Unit: g.u.ID, Evidence: ids(burst), What: fmt.Sprintf(
				"%d items occurred %s..%s, all submitted last before the 迎接測評 phase (sim %s..09-10), their photos' EXIF dated the day before submission",
				len(burst), burst[0].Occurred.Format(time.DateOnly), latest(burst).Format(time.DateOnly), burstDay)})
		}
	}

	// Findings, recorded by the inspector in the 迎接測評 phase.
	fid := func(unit, name string) uuid.UUID {
		return uuid.NewSHA1(namespace, []byte("demo/finding/"+unit+"/"+name))
	}
	inspPhoto := func(g *unitGen, name string, scene int, at time.Time) photoSpec {
		p := g.photo(&item{Key: "finding/" + name}, 0, scene, at)
		p.Name = at.Format("督查_20060102_1504") + ".jpg"
		return p
	}
	rect := func(g *unitGen, f uuid.UUID, key, title string, at time.Time, photo photoSpec) *item {
		it := &item{Key: g.u.ID + "/rectification/" + key, Unit: g.u.ID, Kind: "rectification", Title: title,
			Occurred: at, Finding: f, Tags: []string{"整改"}}
		it.ID = uuid.NewSHA1(namespace, []byte("demo/"+it.Key))
		it.Body = fmt.Sprintf("時間：%s %s\n整改責任人：%s\n針對督查發現的問題，已按要求整改到位，現將整改情況報告如下。", cnDate(at), at.Format("15:04"), g.name())
		it.Photos = []photoSpec{photo}
		g.items = append(g.items, it)
		return it
	}

	// Answered and resolved.
	if g := gens[resolvedUnit]; g != nil {
		id := fid(g.u.ID, "good-deeds-board")
		at := parseDay("2016-09-20").Add(10*time.Hour + 12*time.Minute)
		s.add(&op{Kind: opFinding, Unit: g.u.ID, Sim: at.Add(20 * time.Minute), Finding: &findingSpec{ID: id, Plan: fixPlan, Req: "good-deeds-board",
			Description: "“善行義舉”榜內容未更新，仍為2015年名單", Sev: "medium", Due: "2016-09-30", Photo: inspPhoto(g, "a", sceneBoard, at)}})
		fixed := parseDay("2016-09-26").Add(15 * time.Hour)
		r := rect(g, id, "good-deeds-board/1", g.u.Short+"“善行義舉”榜更新整改", fixed, g.photo(&item{Key: "rect/a"}, 0, sceneBoard, fixed.Add(-40*time.Minute)))
		s.add(&op{Kind: opResolve, Unit: g.u.ID, Sim: parseDay("2016-09-29").Add(11 * time.Hour), Target: id, Version: 1, Reason: "已現場核實，榜單已按第三季度評選結果更新"})
		add(Story{Name: "finding-resolved", Unit: g.u.ID, Finding: id.String(), Evidence: r.ID.String(), What: "recorded 2016-09-20 (due 2016-09-30), rectification occurred 2016-09-26 with a photo taken on the spot that afternoon; resolved on that photo (the closure rules pass: after the finding, near the inspector's photo, closed by someone else): version 2"})
	}

	// Answered, resolved, reopened ("rejected": the rectification photo is
	// an old one), answered again, awaiting review past its due date.
	if g := gens[rejectUnit]; g != nil {
		id := fid(g.u.ID, "public-service-ads")
		at := parseDay("2016-09-20").Add(14*time.Hour + 5*time.Minute)
		s.add(&op{Kind: opFinding, Unit: g.u.ID, Sim: at.Add(25 * time.Minute), Finding: &findingSpec{ID: id, Plan: fixPlan, Req: "public-service-ads",
			Description: "村口宣傳欄公益廣告破損褪色，部分內容缺失", Sev: "high", Due: "2016-10-10", Photo: inspPhoto(g, "b", sceneBoard, at)}})
		old := g.photo(&item{Key: "rect/b-old"}, 0, sceneBoard, parseDay("2016-06-10").Add(9*time.Hour+20*time.Minute))
		reason := "駁回（rejected）：整改照片拍攝時間早於問題發現日期，不是整改後的現場照片，請重新整改並上傳現場照片"
		if ads := g.find("public-service-ads", ""); ads != nil && len(ads.Photos) > 0 {
			old = ads.Photos[0] // the board's photo from the ledger, before it was damaged
			reason = fmt.Sprintf("駁回（rejected）：整改照片與%s臺帳中的公益廣告照片為同一張（拍攝於%s），不是整改後的現場照片，請重新整改並上傳現場照片",
				cnDate(ads.Occurred), old.Taken.Format("2006-01-02 15:04"))
		}
		old.Name = "整改後.jpg"
		first := parseDay("2016-09-23").Add(16 * time.Hour)
		r1 := rect(g, id, "public-service-ads/1", g.u.Short+"宣傳欄公益廣告整改", first, old)
		refusedAt := parseDay("2016-09-25").Add(10 * time.Hour)
		s.add(&op{Kind: opResolve, Unit: g.u.ID, Sim: refusedAt, Target: id, Version: 1, Reason: "同意銷號", Refused: "after"})
		s.add(&op{Kind: opResolve, Unit: g.u.ID, Sim: refusedAt.Add(6 * time.Minute), Target: id, Version: 1, Override: true,
			Reason: "村委會稱宣傳欄已修復，現場照片稍後補交，先行銷號"})
		s.add(&op{Kind: opReopen, Unit: g.u.ID, Sim: parseDay("2016-10-12").Add(15 * time.Hour), Target: id, Version: 2, Reason: reason})
		second := parseDay("2016-10-18").Add(11 * time.Hour)
		r2 := rect(g, id, "public-service-ads/2", g.u.Short+"宣傳欄公益廣告重新制作（第二次整改）", second,
			g.photo(&item{Key: "rect/b-new"}, 0, sceneBoard, second.Add(-30*time.Minute)))
		add(Story{Name: "finding-refused", Unit: g.u.ID, Finding: id.String(), Evidence: r1.ID.String(), What: fmt.Sprintf(
			"2016-09-25 the inspector's resolve is refused by the closure rules: the rectification's only photo was taken %s, before the finding was recorded (rule after)",
			old.Taken.Format(time.DateOnly))})
		add(Story{Name: "closure-overridden", Unit: g.u.ID, Finding: id.String(), What: "2016-09-25, minutes after the refusal, the inspector closes it anyway with an override and a reason; the supervisor's corrections audit lists it as closure_overridden"})
		add(Story{Name: "finding-rejected", Unit: g.u.ID, Finding: id.String(), Evidence: r1.ID.String() + "," + r2.ID.String(), What: fmt.Sprintf(
			"recorded 2016-09-20 (due 2016-10-10, high); rectification 2016-09-23 reusing the photo of %s; resolve refused, then overridden; reopened 2016-10-12 with a reason (rejected); rectified again 2016-10-18; open at version 3, overdue",
			old.Taken.Format(time.DateOnly))})
	}

	// Never answered.
	if g := gens[overdueUnit]; g != nil {
		id := fid(g.u.ID, "moral-model-board")
		at := parseDay("2016-09-21").Add(9*time.Hour + 40*time.Minute)
		s.add(&op{Kind: opFinding, Unit: g.u.ID, Sim: at.Add(15 * time.Minute), Finding: &findingSpec{ID: id, Plan: fixPlan, Req: "moral-model-board",
			Description: "未設置道德模範宣傳欄", Sev: "medium", Due: "2016-10-15", Photo: inspPhoto(g, "c", sceneOutdoor, at)}})
		add(Story{Name: "finding-overdue", Unit: g.u.ID, Finding: id.String(), What: "recorded 2016-09-21, due 2016-10-15, never answered: open and overdue"})
	}
	return nil
}

func latest(items []*item) time.Time {
	t := items[0].Occurred
	for _, it := range items {
		if it.Occurred.After(t) {
			t = it.Occurred
		}
	}
	return t
}

// epochs cuts the story's time at month starts and at the plans' phase
// starts; the ops of one epoch run (per unit in order, units in parallel)
// before the next epoch starts, so that the ledger's order follows the
// story's time (the backfill burst lands just before 迎接測評).
func (s *script) epochs() [][]*op {
	cuts := map[time.Time]bool{}
	for _, p := range s.plans {
		for _, ph := range p.Phases {
			cuts[dayOf(ph.Start)] = true
		}
	}
	key := func(t time.Time) time.Time {
		k := date(t.In(zone).Year(), t.In(zone).Month(), 1)
		for c := range cuts {
			if c.After(k) && !c.After(t) {
				k = c
			}
		}
		return k
	}
	var out [][]*op
	var cur time.Time
	for i, o := range s.ops { // s.ops is sorted by Sim
		k := key(o.Sim)
		if i == 0 || !k.Equal(cur) {
			out = append(out, nil)
			cur = k
		}
		out[len(out)-1] = append(out[len(out)-1], o)
	}
	return out
}

// byUnit splits an epoch's ops by unit, each unit's in order, units in
// registration order.
func (s *script) byUnit(ops []*op) [][]*op {
	idx := map[string]int{}
	for i, u := range s.units {
		idx[u.ID] = i
	}
	m := map[string][]*op{}
	for _, o := range ops {
		m[o.Unit] = append(m[o.Unit], o)
	}
	var out [][]*op
	for _, u := range s.units {
		if len(m[u.ID]) > 0 {
			out = append(out, m[u.ID])
		}
	}
	slices.SortStableFunc(out, func(a, b []*op) int { return len(b) - len(a) }) // longest first
	return out
}

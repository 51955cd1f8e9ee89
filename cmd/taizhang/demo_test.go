package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"taizhang/events"
	"taizhang/events/checkpoint"
	"taizhang/internal/testenv"
	"taizhang/media"
)

// waitDemo waits until serve --demo says the demo is ready.
func (s *server) waitDemo(t *testing.T) string {
	t.Helper()
	testenv.Eventually(t, 3*time.Minute, func() error {
		l := s.log.String()
		if strings.Contains(l, "demo failed") {
			t.Fatalf("demo failed:\n%s", l)
		}
		if !strings.Contains(l, "demo ready") {
			return errNotYet
		}
		if r := s.get(t, "", "/readyz"); r.Status != 200 {
			return fmt.Errorf("readyz %d %s", r.Status, r.Body)
		}
		return nil
	})
	return s.log.String()
}

var errNotYet = &notYet{}

type notYet struct{}

func (*notYet) Error() string { return "not yet" }

type demoItem struct {
	ID           string             `json:"id"`
	Kind         string             `json:"kind"`
	Title        string             `json:"title"`
	OccurredAt   time.Time          `json:"occurred_at"`
	Requirements []string           `json:"requirements"`
	Figures      map[string]float64 `json:"figures"`
	Finding      string             `json:"finding"`
	Version      int                `json:"version"`
	Status       string             `json:"status"`
	Attachments  []events.Attachment
	Chain        []struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"chain"`
}

func (s *server) demoArchive(t *testing.T, unit string) []demoItem {
	t.Helper()
	r := s.get(t, s.Admin, "/api/v1/units/"+unit+"/archive")
	if r.Status != 200 {
		t.Fatalf("archive %s: %d %s", unit, r.Status, r.Body)
	}
	var a struct{ Items []demoItem }
	r.decode(t, &a)
	return a.Items
}

// TestDemo: serve --demo on an empty data directory tells the seed plans'
// story through the API: the units, the plans, a year of evidence with
// EXIF-dated photos, a photo reused by two units, an amendment, a
// retraction, a backfill burst and findings in each state; a second run
// on the same data directory appends nothing.
func TestDemo(t *testing.T) {
	start := time.Now()
	s := startServer(t, "", "--demo")
	// Not ready while the demo loads (on its story's clock); ready once
	// it is told (waitDemo waits for /readyz 200 after "demo ready").
	if code, rd := s.readyz(t); code == 200 {
		if !strings.Contains(s.log.String(), "demo ready") {
			t.Fatalf("/readyz 200 before the demo was loaded: %+v", rd)
		}
		t.Log("the demo was loaded before the first /readyz")
	} else if !strings.Contains(rd.NotReady["demo"], "demo is still loading") {
		t.Fatalf("/readyz while the demo loads: %d %+v", code, rd)
	}
	log := s.waitDemo(t)
	t.Logf("demo took %s", time.Since(start).Round(time.Millisecond))
	for _, want := range []string{"demo ready", "admin_token_file", "role=inspector", "role=supervisor", "unit=cun-1", "demo story", "a witness cosigned the checkpoint"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	// The demo's witness cosigned the checkpoint of the whole demo.
	var cp checkpoint.Stored
	s.get(t, s.Admin, "/api/v1/checkpoints/latest").decode(t, &cp)
	if len(cp.Cosignatures) != 1 || !strings.HasPrefix(cp.Cosignatures[0].Witness, "demo.taizhang/witness-supervisor-li+") {
		t.Errorf("the demo checkpoint's cosignatures: %+v", cp.Cosignatures)
	}

	// Every demo user signs in with the demo password; it is in a file,
	// never in the log.
	pw, err := os.ReadFile(filepath.Join(s.Data, "demo.password"))
	if err != nil || len(strings.TrimSpace(string(pw))) < 10 {
		t.Fatalf("demo.password: %q %v", pw, err)
	}
	if strings.Contains(log, strings.TrimSpace(string(pw))) {
		t.Error("the log holds the demo password")
	}
	for _, u := range []string{"admin", "clerk-cun-1"} {
		if r, _ := newBrowser(t, s.URL).signIn(t, u, strings.TrimSpace(string(pw))); r.Status != 200 {
			t.Errorf("%s signs in with the demo password: %d %s", u, r.Status, r.Body)
		}
	}

	// The units, with their parents.
	var units struct {
		Units []struct {
			ID, Name, Type, Parent string
			Headcount              int
		}
	}
	s.get(t, s.Admin, "/api/v1/units").decode(t, &units)
	byID := map[string]int{}
	for i, u := range units.Units {
		byID[u.ID] = i
	}
	want := []string{"zhen-zhengfu", "cun-1", "cun-2", "cun-3", "cun-4", "cun-5", "cun-6", "juweihui", "zhen-zhongxue", "zhen-xiaoxue",
		"zhen-youeryuan", "guihua-suo", "caizheng-suo", "xumu-zhan", "nongye-ju", "zhongzi-guanlizhan", "nongguangxiao",
		"hongshan-qu", "hongshan-fulian", "hongshan-shequ-01", "hongshan-shequ-10"}
	for _, id := range want {
		if _, ok := byID[id]; !ok {
			t.Errorf("unit %s not registered", id)
		}
	}
	if len(units.Units) != 29 {
		t.Errorf("%d units, want 29", len(units.Units))
	}
	if u := units.Units[byID["cun-3"]]; u.Type != "village" || u.Parent != "zhen-zhengfu" || u.Headcount < 800 || u.Headcount > 3000 {
		t.Errorf("cun-3: %+v", u)
	}
	if u := units.Units[byID["nongguangxiao"]]; u.Type != "station" || u.Parent != "nongye-ju" {
		t.Errorf("nongguangxiao: %+v", u)
	}

	var plans struct{ Plans []struct{ ID string } }
	s.get(t, s.Admin, "/api/v1/plans").decode(t, &plans)
	if len(plans.Plans) != 3 {
		t.Fatalf("plans: %+v", plans)
	}

	// Photos are JPEGs carrying the EXIF capture time the demo wrote: the
	// amended 端午 activity's photos say 6月9日.
	cun1 := s.demoArchive(t, "cun-1")
	if len(cun1) < 40 {
		t.Errorf("cun-1 has %d items", len(cun1))
	}
	var amended *demoItem
	for i, it := range cun1 {
		if it.Version == 2 && len(it.Chain) == 2 && it.Chain[1].Type == string(events.TypeEvidenceAmended) {
			amended = &cun1[i]
		}
	}
	if amended == nil || !strings.Contains(amended.Chain[1].Reason, "日期") || amended.OccurredAt.In(testZone).Format(time.DateOnly) != "2016-06-09" ||
		!slices.Contains(amended.Requirements, "our-festivals") {
		t.Fatalf("amended item: %+v", amended)
	}
	photos := 0
	for _, it := range cun1 {
		for _, a := range it.Attachments {
			if a.MediaType != "image/jpeg" {
				continue
			}
			if photos++; photos > 5 && it.ID != amended.ID {
				continue
			}
			r := s.get(t, s.Admin, "/api/v1/blobs/"+a.SHA256)
			if r.Status != 200 || !bytes.HasPrefix(r.Body, []byte{0xFF, 0xD8, 0xFF, 0xE1}) || !bytes.Contains(r.Body[:200], []byte("Exif\x00\x00")) {
				t.Fatalf("blob %s: %d %x", a.SHA256, r.Status, r.Body[:min(len(r.Body), 16)])
			}
			f := media.Inspect(bytes.NewReader(r.Body), int64(len(r.Body)))
			if f.TakenAt == "" || f.Width != 320 || f.Height != 240 || f.GPS == nil {
				t.Fatalf("photo %s: %+v", a.SHA256, f)
			}
			if a.TakenAt != f.TakenAt {
				t.Errorf("attachment taken_at %q, EXIF %q", a.TakenAt, f.TakenAt)
			}
			if it.ID == amended.ID && !strings.HasPrefix(f.TakenAt, "2016-06-09T") {
				t.Errorf("amended item's photo taken %s", f.TakenAt)
			}
		}
	}
	if photos == 0 {
		t.Fatal("no photos in cun-1's archive")
	}

	// One photo, two units: 南塘村's 道德模範宣傳欄 photo in 北港村's archive.
	digests := func(unit, req string) map[string]bool {
		m := map[string]bool{}
		for _, it := range s.demoArchive(t, unit) {
			if req == "" || slices.Contains(it.Requirements, req) {
				for _, a := range it.Attachments {
					m[a.SHA256] = true
				}
			}
		}
		return m
	}
	shared := 0
	d3 := digests("cun-3", "")
	for d := range digests("cun-4", "moral-model-board") {
		if d3[d] {
			shared++
		}
	}
	if shared != 1 {
		t.Errorf("%d digests shared by cun-3 and cun-4's moral-model-board, want 1", shared)
	}

	// A retracted copy of a study record, with its reason.
	retracted := 0
	for _, it := range s.demoArchive(t, "cun-2") {
		if it.Status == "retracted" {
			retracted++
			if it.Chain[len(it.Chain)-1].Reason == "" || !strings.Contains(it.Chain[len(it.Chain)-1].Reason, "重複") {
				t.Errorf("retraction without its reason: %+v", it)
			}
		}
	}
	if retracted != 1 {
		t.Errorf("%d retracted items in cun-2, want 1", retracted)
	}

	// The ratio rule's figure.
	vol := 0
	for _, it := range s.demoArchive(t, "cun-3") {
		if slices.Contains(it.Requirements, "volunteer-ratio") && it.Figures["volunteers"] > 0 {
			vol++
		}
	}
	if vol != 2 {
		t.Errorf("cun-3 has %d volunteer reports, want 2", vol)
	}

	// The backfill burst: 下洋村's items dated before July arrive in one
	// block, after its July–August items and just before 迎接測評.
	h6 := s.history(t, s.Admin, "cun-6", "")
	var first, last = -1, -1
	july := time.Date(2016, 7, 1, 0, 0, 0, 0, testZone)
	for i, e := range h6 {
		if e.Type == events.TypeEvidenceSubmitted && e.OccurredAt.Before(july) {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 || last-first < 10 {
		t.Fatalf("no burst in cun-6: %d..%d", first, last)
	}
	for i, e := range h6 {
		if e.Type != events.TypeEvidenceSubmitted {
			continue
		}
		d := e.OccurredAt.In(testZone).Format(time.DateOnly)
		switch {
		case i > first && i < last && d >= "2016-07-01":
			t.Errorf("burst interrupted at %d by an item of %s", i, d)
		case i < first && (d < "2016-07-01" || d > "2016-09-10"):
			t.Errorf("before the burst, an item of %s", d)
		case i > last && d < "2016-09-08":
			t.Errorf("after the burst, an item of %s", d)
		}
	}

	// Findings: resolved; rejected and answered again; overdue.
	type finding struct {
		Status         string
		Version        int
		Photos         []events.Attachment
		Rectifications []string
		Chain          []struct{ Type, Reason string }
	}
	findings := func(unit string) (open, overdue, resolved []finding) {
		var v struct{ Open, Overdue, Resolved []finding }
		s.get(t, s.Admin, "/api/v1/units/"+unit+"/findings").decode(t, &v)
		return v.Open, v.Overdue, v.Resolved
	}
	if open, _, res := findings("cun-2"); len(open) != 0 || len(res) != 1 || res[0].Version != 2 || len(res[0].Rectifications) != 1 || len(res[0].Photos) != 1 {
		t.Errorf("cun-2 findings: open %+v resolved %+v", open, res)
	}
	if open, over, res := findings("cun-5"); len(open) != 1 || len(over) != 1 || len(res) != 0 || open[0].Version != 3 ||
		len(open[0].Rectifications) != 2 || open[0].Chain[2].Type != string(events.TypeFindingReopened) || !strings.Contains(open[0].Chain[2].Reason, "rejected") {
		t.Errorf("cun-5 findings: open %+v", open)
	}
	if open, over, _ := findings("xumu-zhan"); len(open) != 1 || len(over) != 1 || open[0].Version != 1 || len(open[0].Rectifications) != 0 {
		t.Errorf("xumu-zhan findings: open %+v", open)
	}

	// Compliance as of now: the units with gaps miss exactly these
	// requirements; every other unit meets all of its plan's.
	gaps := map[string][]string{
		"cun-3": {"volunteer-ratio", "our-festivals"}, "cun-4": {"door-to-door"}, "zhen-xiaoxue": {"school-theme-sasao", "school-drawing-contest"},
		"caizheng-suo": {"chinese-dream-summary"}, "xumu-zhan": {"moral-model-board"},
		"hongshan-shequ-06": {"monthly-courses"}, "hongshan-shequ-07": {"monthly-courses"}, "hongshan-shequ-08": {"needs-survey"},
		"hongshan-shequ-09": {"satisfaction-survey"}, "nongguangxiao": {"column", "led-board"},
	}
	for _, u := range units.Units {
		r := s.get(t, s.Admin, "/api/v1/units/"+u.ID+"/compliance")
		if r.Status == 404 && u.ID == units.Units[0].ID {
			t.Log("no compliance route: compliance not checked")
			break
		}
		var c struct {
			Plans []struct {
				Plan         string
				Met, Due     int
				Requirements []struct{ Requirement, Status string }
			}
		}
		r.decode(t, &c)
		var unmet []string
		for _, p := range c.Plans {
			for _, q := range p.Requirements {
				if q.Status != "met" {
					unmet = append(unmet, q.Requirement)
				}
			}
		}
		if u.ID != "hongshan-qu" && len(c.Plans) != 1 || !slices.Equal(unmet, gaps[u.ID]) {
			t.Errorf("%s: unmet %v, want %v (%d plans)", u.ID, unmet, gaps[u.ID], len(c.Plans))
		}
	}

	// Every unit's chain is intact; a second run appends nothing.
	lengths := map[string]int{}
	total := 0
	for _, u := range units.Units {
		h := s.history(t, s.Admin, u.ID, "")
		if err := verifyChain(h); err != nil {
			t.Fatalf("%s: %v", u.ID, err)
		}
		lengths[u.ID] = len(h)
		total += len(h)
	}
	if total < 1200 {
		t.Errorf("only %d events", total)
	}
	s.restart(t)
	log = s.waitDemo(t)
	if !strings.Contains(log, "(0 new)") || !strings.Contains(log, "0 applied now") {
		t.Errorf("second run says:\n%s", log)
	}
	for id, n := range lengths {
		if h := s.history(t, s.Admin, id, ""); len(h) != n {
			t.Errorf("%s: %d events after the second run, %d before", id, len(h), n)
		}
	}
}

var testZone = time.FixedZone("UTC+8", 8*3600)

// TestDemoRefusesForeignUnit: on a ledger where a demo unit id is already
// someone else's unit, serve --demo exits non-zero with the reason.
func TestDemoRefusesForeignUnit(t *testing.T) {
	s := startServer(t, "")
	if r := s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": "zhen-zhengfu", "name": "另一個鎮", "type": "town"}); r.Status != 201 {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	s.stop(t)
	var log syncBuffer
	code := Run(t.Context(), []string{"serve", "--data", s.Data, "--addr", "127.0.0.1:0", "--demo"}, nil, io.Discard, &log)
	if code != 1 || !strings.Contains(log.String(), "already registered") || !strings.Contains(log.String(), "empty data directory") {
		t.Fatalf("serve --demo exited %d:\n%s", code, log.String())
	}
	// Nothing was registered before the refusal.
	s.start(t)
	var units struct{ Units []struct{ ID string } }
	s.get(t, s.Admin, "/api/v1/units").decode(t, &units)
	if len(units.Units) != 1 {
		t.Fatalf("units after the refusal: %+v", units)
	}
}

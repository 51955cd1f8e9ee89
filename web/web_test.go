package web

import (
	"io/fs"
	"math"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"taizhang/events"
)

// TestCatalogues: the three catalogues have the same keys taking the same
// arguments, and every key the templates use (literally, or as a prefix
// and a known value) exists.
func TestCatalogues(t *testing.T) {
	cats, err := LoadCatalogues()
	if err != nil {
		t.Fatal(err)
	}
	zh := cats[LangZH]
	if len(cats) != 3 || len(zh) < 300 {
		t.Fatalf("%d catalogues, zh-Hans has %d keys", len(cats), len(zh))
	}
	for _, a := range Langs {
		for _, b := range Langs {
			for k, v := range cats[a] {
				w, ok := cats[b][k]
				if !ok {
					t.Errorf("key %q is in %s but not in %s", k, a, b)
				} else if verbs(v) != verbs(w) {
					t.Errorf("key %q: %s and %s take different arguments: %q, %q", k, a, b, v, w)
				}
			}
		}
	}
	used := regexp.MustCompile(`\{\{-?\s*t "([^"]+)"`)
	prefixed := regexp.MustCompile(`tk "([^"]+)"`)
	names, _ := fs.Glob(templateFS, "templates/*.html")
	n := 0
	for _, name := range names {
		b, _ := fs.ReadFile(templateFS, name)
		for _, m := range used.FindAllStringSubmatch(string(b), -1) {
			n++
			if !zh.Has(m[1]) {
				t.Errorf("%s uses key %q, not in the catalogues", name, m[1])
			}
		}
		for _, m := range prefixed.FindAllStringSubmatch(string(b), -1) {
			if !slices.Contains([]string{"status.", "short.", "kind.", "role.", "event.", "severity.", "audit.view.", "audit.hint.", "audit.kind.", "audit.photos.flag.", "audit.devices.verdict.", "client.", "unittype."}, m[1]) {
				t.Errorf("%s uses prefix %q: add its values to this test", name, m[1])
			}
		}
	}
	if n < 100 {
		t.Errorf("only %d keys found in the templates: is the pattern right?", n)
	}
	// The values the prefixes take (the Go side also uses title.* and error.*).
	for prefix, values := range map[string][]string{
		"status.":   {"met", "partial", "missing", "not_due", "overdue"},
		"short.":    {"met", "partial", "missing", "not_due", "overdue", "na"},
		"kind.":     {"activity", "photo", "study_note", "summary", "rectification", "document"},
		"role.":     {"admin", "submitter", "inspector", "supervisor", "system"},
		"severity.": {"low", "medium", "high"},
		"client.":   {"web", "cli", "api", "import", "nats"},
		"unittype.": {"district", "town", "bureau", "federation", "village", "community", "school", "station", "unit"},
		// the audit pages (pages/audit.go)
		"audit.view.":            {"corrections", "backfill", "bursts", "reuse", "photo-times", "devices", "actors"},
		"audit.hint.":            {"corrections", "backfill", "bursts", "reuse", "photo-times", "devices", "actors", "verify"},
		"audit.devices.verdict.": {"unknown_key", "revoked_key", "bad_signature"},
		"audit.kind.":            {"amended", "retracted", "finding_reopened"},
		"audit.photos.flag.":     {"later", "earlier"},
		"event.": {"unit.registered", "evidence.submitted", "evidence.amended", "evidence.retracted", "plan.published",
			"plan.revised", "unit.exported", "finding.recorded", "finding.resolved", "finding.reopened"},
		"title.": {"login", "home", "home_submitter", "units", "unit", "timeline", "submit", "receipt", "dossier", "error",
			"audit", "audit_corrections", "audit_backfill", "audit_bursts", "audit_reuse", "audit_photo-times", "audit_devices", "audit_actors", "audit_verify", "ranking"},
		"error.": {"400", "401", "403", "404", "409", "413", "415", "500", "503", "login"},
	} {
		for _, v := range values {
			if !zh.Has(prefix + v) {
				t.Errorf("key %q missing", prefix+v)
			}
		}
	}
}

// verbs is the sequence of fmt verbs in a message.
func verbs(m string) string {
	return strings.Join(regexp.MustCompile(`%[a-z%]`).FindAllString(m, -1), "")
}

// TestCatalogueScripts: no zh-Hant message holds a character written only
// in simplified Chinese, no zh-Hans message one written only in
// traditional, and each Chinese catalogue reads as its own script as a
// whole (so a catalogue copied over the other is caught too).
func TestCatalogueScripts(t *testing.T) {
	cats, err := LoadCatalogues()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		lang  string
		wrong func(rune) bool
	}{{LangHant, SimplifiedOnly}, {LangZH, TraditionalOnly}} {
		var all []string
		for k, v := range cats[c.lang] {
			all = append(all, v)
			if k == "lang.self" {
				continue
			}
			for _, r := range v {
				if c.wrong(r) {
					t.Errorf("%s %q = %q: %q is of the other script", c.lang, k, v, r)
				}
			}
		}
		if got := Script(all...); got != c.lang {
			t.Errorf("the %s catalogue reads as %q", c.lang, got)
		}
	}
	// The lists themselves: known characters on the right side, shared ones on neither.
	for chars, want := range map[string][2]bool{"为体发账简": {true, false}, "為體發帳簡": {false, true}, "台后于群和": {false, false}} {
		for _, r := range chars {
			if got := [2]bool{SimplifiedOnly(r), TraditionalOnly(r)}; got != want {
				t.Errorf("%q: simplified-only, traditional-only = %v, want %v", r, got, want)
			}
		}
	}
}

// TestScript: the script of a text is told by its characters.
func TestScript(t *testing.T) {
	for in, want := range map[string]string{
		"端午節主題活動":     LangHant,
		"端午节主题活动":     LangZH,
		"台后于群":        "",
		"plan 2016":   "",
		"為了進一步弘揚廉政文化": LangHant,
	} {
		if got := Script(in); got != want {
			t.Errorf("Script(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"zh-Hant": LangHant, "zh-TW": LangHant, "zh-hant-HK": LangHant, "zh-CN": LangZH,
		"zh-Hans": LangZH, "en-GB": LangEN, "fr": ""} {
		if got := NormLang(in); got != want {
			t.Errorf("NormLang(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPagesParse(t *testing.T) {
	r, err := New(time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range Langs {
		if len(r.pages[l]) < 9 {
			t.Errorf("%s: only %d pages", l, len(r.pages[l]))
		}
	}
}

// TestStatusContrast: every status colour pair in app.css meets WCAG AA
// (4.5:1) for its text.
func TestStatusContrast(t *testing.T) {
	css, err := fs.ReadFile(staticFS, "static/app.css")
	if err != nil {
		t.Fatal(err)
	}
	rule := regexp.MustCompile(`(\.(?:st-[a-z_]+|badge(?:\.later)?|primary|danger))\s*\{([^}]*)\}`)
	n := 0
	for _, m := range rule.FindAllStringSubmatch(string(css), -1) {
		bg := regexp.MustCompile(`background:\s*(#[0-9a-fA-F]{6})`).FindStringSubmatch(m[2])
		fg := regexp.MustCompile(`(?:^|[;\s])color:\s*(#[0-9a-fA-F]{6})`).FindStringSubmatch(m[2])
		if bg == nil || fg == nil {
			continue
		}
		n++
		if c := contrast(bg[1], fg[1]); c < 4.5 {
			t.Errorf("%s: contrast %.2f < 4.5 (%s on %s)", m[1], c, fg[1], bg[1])
		}
	}
	if n < 8 {
		t.Errorf("only %d colour rules checked", n)
	}
}

func luminance(hex string) float64 {
	var c [3]float64
	for i := range 3 {
		v, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		s := float64(v) / 255
		if s <= 0.03928 {
			c[i] = s / 12.92
		} else {
			c[i] = math.Pow((s+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*c[0] + 0.7152*c[1] + 0.0722*c[2]
}

func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// TestReadableLabels: dates and times read as a clerk writes them, in the
// zone; media types by name; no raw ISO or MIME string.
func TestReadableLabels(t *testing.T) {
	zone := time.FixedZone("UTC+8", 8*3600)
	r, err := New(zone)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2016, 9, 20, 2, 32, 0, 0, time.UTC) // 10:32 in UTC+8
	for _, c := range []struct {
		lang, fn string
		in       any
		want     string
	}{
		{LangHant, "datetime", at, "2016年9月20日 10:32"},
		{LangZH, "datetime", at, "2016年9月20日 10:32"},
		{LangEN, "datetime", at, "20 Sep 2016 10:32"},
		{LangHant, "date", time.Date(2016, 9, 19, 23, 0, 0, 0, time.UTC), "2016年9月20日"}, // the day in the zone
		{LangHant, "date", "2016-06-30", "2016年6月30日"},
		{LangEN, "date", "2016-06", "Jun 2016"},
		{LangHant, "date", "not a date", "not a date"},
		{LangHant, "isodate", at, "2016-09-20"},
		{LangHant, "mime", "image/jpeg", "JPEG 照片"},
		{LangZH, "mime", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "Word 文档"},
		{LangEN, "mime", "application/pdf; charset=binary", "PDF document"},
		{LangHant, "mime", "image/x-icon", "圖片（image/x-icon）"},
		{LangHant, "mime", "application/x-thing", "其他文件（application/x-thing）"},
	} {
		var got string
		switch f := r.funcs(c.lang)[c.fn].(type) {
		case func(any) string:
			got = f(c.in)
		case func(time.Time) string:
			got = f(c.in.(time.Time))
		case func(string) string:
			got = f(c.in.(string))
		}
		if got != c.want {
			t.Errorf("%s %s(%v) = %q, want %q", c.lang, c.fn, c.in, got, c.want)
		}
	}
	// Every client kind an event can name has a label.
	cats, _ := LoadCatalogues()
	for _, c := range []events.Client{events.ClientWeb, events.ClientCLI, events.ClientAPI, events.ClientImport, events.ClientNATS} {
		if !cats[LangHant].Has("client." + string(c)) {
			t.Errorf("no label for client %q", c)
		}
	}
}

// TestServiceWorker: the worker is served as JavaScript from /sw.js with a
// scope allowed over the whole site, revalidated on every registration
// check, and it precaches exactly the static files the layout names.
func TestServiceWorker(t *testing.T) {
	rec := httptest.NewRecorder()
	ServiceWorker().ServeHTTP(rec, httptest.NewRequest("GET", "/sw.js?v="+AssetVersion, nil))
	h := rec.Header()
	if rec.Code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/javascript") {
		t.Fatalf("GET /sw.js: %d %s", rec.Code, h.Get("Content-Type"))
	}
	if h.Get("Service-Worker-Allowed") != "/" || h.Get("Cache-Control") != "no-cache" || h.Get("Content-Security-Policy") != CSP {
		t.Errorf("GET /sw.js headers: %v", h)
	}
	body := rec.Body.String()
	if !strings.Contains(body, `importScripts("/static/queue.js?v=" + VERSION)`) {
		t.Error("the worker does not load queue.js")
	}
	layout, _ := fs.ReadFile(templateFS, "templates/layout.html")
	named := regexp.MustCompile(`asset "([^"]+)"`).FindAllStringSubmatch(string(layout), -1)
	m := regexp.MustCompile(`var ASSETS = \[([^\]]*)\]`).FindStringSubmatch(body)
	if m == nil || len(named) == 0 {
		t.Fatalf("no ASSETS list in sw.js, or no assets in the layout (%d)", len(named))
	}
	for _, n := range named {
		if !strings.Contains(m[1], `"`+n[1]+`"`) {
			t.Errorf("the layout names %s, which the worker does not keep (ASSETS: %s)", n[1], m[1])
		}
	}
	if _, err := fs.Stat(staticFS, "static/queue.js"); err != nil {
		t.Error(err)
	}
}

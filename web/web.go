// Package web holds the web app's presentation: the server-rendered page
// templates, the static CSS and JavaScript, and the message catalogues
// (zh-Hans, zh-Hant and en), all embedded in the binary. It knows
// nothing of the ledger: the handlers in package pages build the data a
// page shows and call Render.
//
// Every user-visible string comes from a catalogue through the template
// function t ("t \"key\" args..."); a page's templates are parsed once per
// language with t bound to that language's catalogue.
package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Languages. Which one a page is shown in is the request's choice (?lang=,
// remembered in a cookie), else the deployment's default (see Script).
const (
	LangZH   = "zh-Hans" // simplified Chinese
	LangHant = "zh-Hant" // traditional Chinese
	LangEN   = "en"
)

// Langs lists the supported languages in the order the language switch
// shows them.
var Langs = []string{LangZH, LangHant, LangEN}

// CSP is the Content-Security-Policy of every page: scripts, styles,
// images and form targets from the app itself only, no inline code.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// Page is what the shared layout needs of every page, plus the page's own
// Data.
type Page struct {
	Lang  string // LangZH, LangHant or LangEN
	Title string // the page title, already translated
	User  string // the signed-in user, "" on the login page
	Role  string // admin, submitter, inspector, supervisor or ""
	Unit  string // a submitter's unit
	CSRF  string // the value of every form's hidden csrf field
	// URL is the request's path and query, for the language switch.
	URL *url.URL
	// Print selects the printable layout (no navigation).
	Print bool
	Data  any
}

// LangURL returns the page's URL with ?lang=l, for the language switch.
func (p *Page) LangURL(l string) string {
	if p.URL == nil {
		return "?lang=" + l
	}
	q := p.URL.Query()
	q.Set("lang", l)
	return p.URL.Path + "?" + q.Encode()
}

// Renderer renders the pages in every language.
type Renderer struct {
	pages map[string]map[string]*template.Template // lang → page → template
	cats  map[string]Catalogue
	zone  *time.Location
}

// New parses every page template in every language. zone is where dates
// are shown (UTC+8 for China).
func New(zone *time.Location) (*Renderer, error) {
	cats, err := LoadCatalogues()
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: list templates: %w", err)
	}
	r := &Renderer{pages: map[string]map[string]*template.Template{}, cats: cats, zone: zone}
	for _, lang := range Langs {
		r.pages[lang] = map[string]*template.Template{}
		for _, n := range names {
			base := path.Base(n)
			if base == "layout.html" || strings.HasPrefix(base, "_") {
				continue
			}
			page := strings.TrimSuffix(base, ".html")
			t := template.New("layout.html").Funcs(r.funcs(lang))
			partials, _ := fs.Glob(templateFS, "templates/_*.html")
			files := append([]string{"templates/layout.html"}, partials...)
			files = append(files, n)
			if _, err := t.ParseFS(templateFS, files...); err != nil {
				return nil, fmt.Errorf("web: parse %s: %w", n, err)
			}
			r.pages[lang][page] = t
		}
	}
	return r, nil
}

// T translates key in lang, formatting args into it if any.
func (r *Renderer) T(lang, key string, args ...any) string {
	return r.cats[langOr(lang)].T(key, args...)
}

// Date writes v as the pages show a day in lang (2016年9月20日, 20 Sep
// 2016): a time.Time in the renderer's zone, a calendar date (a plan.Date
// or YYYY-MM-DD) or a month (YYYY-MM); anything else as itself.
func (r *Renderer) Date(lang string, v any) string { return showDate(r.cats[langOr(lang)], r.zone, v) }

// Render renders page name into w with status. The page is rendered
// whole before anything is written, so a template failure answers 500.
func (r *Renderer) Render(w http.ResponseWriter, status int, name string, p *Page) error {
	p.Lang = langOr(p.Lang)
	t := r.pages[p.Lang][name]
	if t == nil {
		return fmt.Errorf("web: no page %q", name)
	}
	var buf bytes.Buffer
	buf.Grow(32 << 10)
	if err := t.Execute(&buf, p); err != nil {
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", CSP)
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Language", p.Lang)
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// Static serves the embedded CSS and JavaScript under /static/, with a
// long cache lifetime only when the request names the build's version
// (?v=), which the layout always does.
func Static() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Get("v") == AssetVersion {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		files.ServeHTTP(w, r)
	})
}

// ServiceWorker serves the web app's service worker (static/sw.js) at
// /sw.js, so that its scope is the whole site: it keeps the static files
// and the submit pages on the device and sends the offline queue
// (static/queue.js). It is always revalidated (no-cache), as browsers
// expect of a worker script; the layout registers it as /sw.js?v=
// AssetVersion, so a new build installs a new worker.
func ServiceWorker() http.Handler {
	b, err := staticFS.ReadFile("static/sw.js")
	if err != nil {
		panic(err) // embedded: a missing file is a build defect
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("Service-Worker-Allowed", "/")
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		http.ServeContent(w, r, "sw.js", time.Time{}, bytes.NewReader(b))
	})
}

// AssetVersion changes whenever a static file does: a hash of their bytes.
var AssetVersion = assetVersion()

func assetVersion() string {
	var all bytes.Buffer
	_ = fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := staticFS.ReadFile(p)
			all.WriteString(p)
			all.Write(b)
		}
		return nil
	})
	return fmt.Sprintf("%08x", fnv32(all.Bytes()))
}

func fnv32(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}

// NormLang returns the supported language l names (zh-TW, zh-HK and
// zh-Hant-* are LangHant, en-* is LangEN, zh and zh-CN LangZH), or "" if it
// names none.
func NormLang(l string) string {
	for _, x := range Langs {
		if strings.EqualFold(l, x) {
			return x
		}
	}
	switch l = strings.ToLower(l); {
	case strings.HasPrefix(l, "en"):
		return LangEN
	case strings.HasPrefix(l, "zh-hant"), l == "zh-tw", l == "zh-hk", l == "zh-mo":
		return LangHant
	case strings.HasPrefix(l, "zh"):
		return LangZH
	}
	return ""
}

// langOr returns NormLang(l), or LangZH if l names no supported language.
func langOr(l string) string {
	if n := NormLang(l); n != "" {
		return n
	}
	return LangZH
}

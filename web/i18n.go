package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"path"
	"strings"
	"time"
)

//go:embed i18n/*.json
var catalogueFS embed.FS

// Catalogue is one language's messages: key → text, the text a fmt format
// when the message takes arguments.
type Catalogue map[string]string

// T returns the message for key with args formatted into it. A missing key
// shows as the key itself in brackets (the catalogue test keeps that from
// happening in a page).
func (c Catalogue) T(key string, args ...any) string {
	m, ok := c[key]
	if !ok {
		return "[" + key + "]"
	}
	if len(args) == 0 {
		return m
	}
	return fmt.Sprintf(m, args...)
}

// Has reports whether key is in the catalogue.
func (c Catalogue) Has(key string) bool { _, ok := c[key]; return ok }

// LoadCatalogues reads the embedded catalogues, one per language.
func LoadCatalogues() (map[string]Catalogue, error) {
	out := map[string]Catalogue{}
	for _, l := range Langs {
		b, err := fs.ReadFile(catalogueFS, path.Join("i18n", l+".json"))
		if err != nil {
			return nil, fmt.Errorf("web: catalogue %s: %w", l, err)
		}
		var c Catalogue
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("web: catalogue %s: %w", l, err)
		}
		out[l] = c
	}
	return out, nil
}

// funcs are the template functions, t bound to lang's catalogue.
func (r *Renderer) funcs(lang string) template.FuncMap {
	cat := r.cats[lang]
	zone := r.zone
	return template.FuncMap{
		"t": cat.T,
		// tk translates a key built from a prefix and a value, e.g.
		// tk "status." .Status; an unknown value shows as itself.
		"tk": func(prefix string, v any) string {
			k := prefix + fmt.Sprint(v)
			if cat.Has(k) {
				return cat[k]
			}
			return fmt.Sprint(v)
		},
		"date": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.In(zone).Format(time.DateOnly)
		},
		"datetime": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.In(zone).Format("2006-01-02 15:04")
		},
		"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"short": func(v any) string {
			s := fmt.Sprint(v)
			if len(s) > 12 {
				return s[:12]
			}
			return s
		},
		"isImage": func(mt string) bool { return strings.HasPrefix(mt, "image/") },
		"join":    strings.Join,
		"asset":   func(name string) string { return "/static/" + name + "?v=" + AssetVersion },
		"add":     func(a, b int) int { return a + b },
		"kib": func(n int64) string {
			if n >= 1<<20 {
				return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
			}
			return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10)+0.5)
		},
		"langName": func(l string) string { return r.cats[l].T("lang.self") },
		"langs":    func() []string { return Langs },
	}
}

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
		// date shows a day readably in the catalogue's fmt.date layout
		// (2016年9月20日, 20 Sep 2016): a time.Time in the zone, or a
		// calendar date as YYYY-MM-DD (a string or a plan.Date), or a
		// month as YYYY-MM in fmt.month; anything else as itself.
		"date": func(v any) string { return showDate(cat, zone, v) },
		// datetime shows a time readably in the zone (2016年9月20日 10:32).
		"datetime": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.In(zone).Format(cat.T("fmt.datetime"))
		},
		// isodate is a day as YYYY-MM-DD in the zone, for <input type=date>.
		"isodate": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.In(zone).Format(time.DateOnly)
		},
		// mime names a file's media type in the reader's words (JPEG 圖片).
		"mime": func(mt string) string { return mimeLabel(cat, mt) },
		"iso":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"short": func(v any) string {
			s := fmt.Sprint(v)
			if len(s) > 12 {
				return s[:12]
			}
			return s
		},
		"isImage":      func(mt string) bool { return strings.HasPrefix(mt, "image/") },
		"join":         strings.Join,
		"asset":        func(name string) string { return "/static/" + name + "?v=" + AssetVersion },
		"assetVersion": func() string { return AssetVersion },
		// zoneOffset is the zone's UTC offset now ("+08:00"): a date
		// entered in the browser is midnight there.
		"zoneOffset": func() string { return time.Now().In(zone).Format("-07:00") },
		"add":        func(a, b int) int { return a + b },
		"sub":        func(a, b int) int { return a - b },
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

// showDate is the template function date.
func showDate(cat Catalogue, zone *time.Location, v any) string {
	var s string
	switch x := v.(type) {
	case time.Time:
		if x.IsZero() {
			return ""
		}
		return x.In(zone).Format(cat.T("fmt.date"))
	case string:
		s = x
	case fmt.Stringer:
		s = x.String()
	default:
		s = fmt.Sprint(v)
	}
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return d.Format(cat.T("fmt.date"))
	}
	if m, err := time.Parse("2006-01", s); err == nil {
		return m.Format(cat.T("fmt.month"))
	}
	return s
}

// mimeKeys are the catalogue keys of the media types uploads accept.
var mimeKeys = map[string]string{
	"image/jpeg": "mime.jpeg", "image/png": "mime.png", "image/webp": "mime.webp", "image/heic": "mime.heic",
	"image/gif": "mime.gif", "application/pdf": "mime.pdf", "text/plain": "mime.text", "application/zip": "mime.zip",
	"application/msword": "mime.word", "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "mime.word",
	"application/vnd.ms-excel": "mime.excel", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "mime.excel",
	"application/vnd.ms-powerpoint":                                             "mime.powerpoint",
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": "mime.powerpoint",
	"application/vnd.oasis.opendocument.text":                                   "mime.odt",
	"application/vnd.oasis.opendocument.spreadsheet":                            "mime.ods",
	"application/vnd.oasis.opendocument.presentation":                           "mime.odp",
}

// mimeLabel is the template function mime: a known type by name, another
// image or file generically with its type.
func mimeLabel(cat Catalogue, mt string) string {
	base, _, _ := strings.Cut(mt, ";")
	base = strings.ToLower(strings.TrimSpace(base))
	if k, ok := mimeKeys[base]; ok {
		return cat.T(k)
	}
	if strings.HasPrefix(base, "image/") {
		return cat.T("mime.image", base)
	}
	return cat.T("mime.other", base)
}

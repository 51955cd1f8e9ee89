package importer

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"taizhang/client"
	"taizhang/events"
	"taizhang/media"
)

// Namespace is the UUIDv5 namespace of derived evidence ids.
var Namespace = uuid.MustParse("6f1c2a4e-93d1-5b0e-9c57-7a1f3e0d2b88")

// ItemID is the evidence id of the folder rel (its path relative to the
// imported DIR, with '/' separators) for unit: a UUIDv5 over both. It does
// not depend on the manifest's content, so an edited manifest keeps its id
// (and is reported as changed, never appended a second time); renaming or
// moving the folder makes it a new item unless its manifest pins `id:`.
func ItemID(unit, rel string) uuid.UUID {
	return uuid.NewSHA1(Namespace, fmt.Appendf(nil, "taizhang-import %d:%s %d:%s", len(unit), unit, len(rel), rel))
}

// Limits are the server's bounds on an upload that Plan checks before
// anything is sent. The zero value means the server's defaults.
type Limits struct {
	MaxFileSize int64 // per attachment (default 64 MiB)
	MaxFiles    int   // per item (default events.MaxAttachments)
	MaxPixels   int64 // per image, width × height (default media.DefaultMaxPixels)
}

func (l Limits) withDefaults() Limits {
	if l.MaxFileSize <= 0 {
		l.MaxFileSize = 64 << 20
	}
	if l.MaxFiles <= 0 || l.MaxFiles > events.MaxAttachments {
		l.MaxFiles = events.MaxAttachments
	}
	if l.MaxPixels <= 0 {
		l.MaxPixels = media.DefaultMaxPixels
	}
	return l
}

// DefaultZone is Options.Zone's default: China's UTC+8, the server's default.
var DefaultZone = time.FixedZone("UTC+8", 8*3600)

// Options tune Plan.
type Options struct {
	// Unit is the unit of folders whose manifest names none.
	Unit string
	// Kind is the kind of folders without a manifest; empty means photo
	// when every file is an image, else document.
	Kind string
	// Requirements, if not nil, is every requirement id of the published
	// plans: a manifest naming another is a problem. Nil skips the check.
	Requirements map[string]bool
	Limits       Limits
	// Zone interprets YYYY-MM-DD dates and cameras' EXIF times (default
	// UTC+8, as the server).
	Zone *time.Location
	// Now and ClockSkew bound occurred dates: none later than Now+ClockSkew
	// (defaults time.Now and 5 minutes).
	Now       func() time.Time
	ClockSkew time.Duration
}

// File is one attachment of an item.
type File struct {
	Path      string // on disk
	Name      string // the attachment's name (the file's base name)
	Size      int64
	MediaType string // sniffed from the content, as the server does
	SHA256    string // hex
}

// Item is one evidence folder, checked and ready to submit.
type Item struct {
	Folder   string    // relative to DIR, '/'-separated
	Unit     string    //
	ID       uuid.UUID // derived (ItemID) or pinned by the manifest
	Manifest bool      // described by a manifest (evidence.yaml or a sheet row), not by its files alone
	// Source names the manifest: "evidence.yaml", "evidence.csv:LINE", or
	// "" for a folder described by its files alone.
	Source string
	// Meta is the JSON metadata part of the submission (the API's
	// EvidenceInput).
	Meta  Meta
	Files []File
}

// Meta is the evidence metadata sent with the files.
type Meta = client.Evidence

// Problem is one thing wrong, with the path (relative to DIR) it is about.
type Problem struct {
	Path string
	Msg  string
}

func (p Problem) String() string { return p.Path + ": " + p.Msg }

// Batch is what Plan found in DIR: the items that can be submitted and,
// per folder, the problems of those that cannot. A folder with any problem
// has no item: it is refused whole, never sent in part.
type Batch struct {
	Dir      string
	Items    []Item
	Problems []Problem
	// Refused lists the folders with problems, in order.
	Refused []string
}

// ignored are files an operating system leaves in folders.
func ignored(name string) bool {
	return strings.HasPrefix(name, ".") || strings.EqualFold(name, "Thumbs.db") || strings.EqualFold(name, "desktop.ini")
}

// Plan reads every sub-folder of dir (in name order; hidden ones skipped)
// as one evidence item and checks it as the server would: the manifest's
// keys and values (kind, title, date, requirements against
// opts.Requirements, finding), the unit, and each file's type (sniffed from
// its bytes, a text file under a photo's or document's name refused), size,
// pixels and name against opts.Limits. The manifest is the folder's
// evidence.yaml or its row of dir's evidence.csv (readSheet); with a sheet,
// a folder on neither is refused. It reads files but sends nothing. An
// error is returned only if dir itself cannot be read.
func Plan(dir string, opts Options) (*Batch, error) {
	if opts.Zone == nil {
		opts.Zone = DefaultZone
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ClockSkew <= 0 {
		opts.ClockSkew = 5 * time.Minute
	}
	opts.Limits = opts.Limits.withDefaults()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	b := &Batch{Dir: dir}
	sheet, sheetOK := readSheet(dir, ents, b)
	ids := map[uuid.UUID]string{}
	for _, e := range ents {
		name := e.Name()
		if ignored(name) || (name == SheetName && !e.IsDir()) {
			continue
		}
		if !e.IsDir() {
			b.Problems = append(b.Problems, Problem{name, "not in an evidence folder: put each item's files in a folder of its own"})
			continue
		}
		var it *Item
		var probs []Problem
		switch row, listed := sheet[name]; {
		case !sheetOK:
			probs = []Problem{{name, "not checked: " + SheetName + " has a problem (see above)"}}
		case sheet != nil && !listed && !hasManifest(filepath.Join(dir, name)):
			probs = []Problem{{name, fmt.Sprintf("not in %s and no %s of its own: add a row for it (a misspelt folder name?)", SheetName, ManifestName)}}
		default:
			it, probs = planFolder(dir, name, row, opts)
		}
		if len(probs) == 0 {
			if other, dup := ids[it.ID]; dup {
				probs = append(probs, Problem{name, fmt.Sprintf("evidence id %s is also %s's: each folder needs its own id", it.ID, other)})
			}
		}
		if len(probs) > 0 {
			b.Problems = append(b.Problems, probs...)
			b.Refused = append(b.Refused, name)
			continue
		}
		ids[it.ID] = name
		b.Items = append(b.Items, *it)
	}
	return b, nil
}

// readSheet reads DIR's evidence.csv, if there is one, into rows by
// folder; ok is false if it cannot be read or parsed (then every folder
// is refused: the sheet was meant to describe them). A row naming a folder
// that is not in dir is a problem of the sheet's.
func readSheet(dir string, ents []os.DirEntry, b *Batch) (rows map[string]*SheetRow, ok bool) {
	i := slices.IndexFunc(ents, func(e os.DirEntry) bool { return e.Name() == SheetName && !e.IsDir() })
	if i < 0 {
		return nil, true
	}
	raw, err := readBounded(filepath.Join(dir, SheetName), maxManifest)
	var list []SheetRow
	if err == nil {
		list, err = ParseSheet(raw)
	}
	if err != nil {
		b.Problems = append(b.Problems, Problem{SheetName, strings.TrimPrefix(err.Error(), SheetName+" ")})
		return nil, false
	}
	rows = map[string]*SheetRow{}
	for k := range list {
		r := &list[k]
		if !slices.ContainsFunc(ents, func(e os.DirEntry) bool { return e.IsDir() && e.Name() == r.Folder }) {
			b.Problems = append(b.Problems, Problem{SheetName, fmt.Sprintf("line %d: folder %q is not in %s", r.Line, r.Folder, dir)})
			continue
		}
		rows[r.Folder] = r
	}
	return rows, true
}

// hasManifest reports whether folder holds an evidence.yaml.
func hasManifest(folder string) bool {
	fi, err := os.Stat(filepath.Join(folder, ManifestName))
	return err == nil && !fi.IsDir()
}

// planFolder checks the folder rel of dir, described by its evidence.yaml,
// or by row of DIR's evidence.csv (not both), or by its files alone.
func planFolder(dir, rel string, row *SheetRow, opts Options) (*Item, []Problem) {
	folder := filepath.Join(dir, filepath.FromSlash(rel))
	var probs []Problem
	bad := func(p, format string, args ...any) {
		probs = append(probs, Problem{p, fmt.Sprintf(format, args...)})
	}
	ents, err := os.ReadDir(folder)
	if err != nil {
		bad(rel, "%v", err)
		return nil, probs
	}
	var m *Manifest
	var names []string
	for _, e := range ents {
		n := e.Name()
		switch {
		case ignored(n):
		case n == ManifestName && row != nil:
			bad(path.Join(rel, n), "this folder is also on line %d of %s: describe it in one place", row.Line, SheetName)
		case n == ManifestName:
			raw, err := readBounded(filepath.Join(folder, n), maxManifest)
			if err == nil {
				m, err = ParseManifest(raw)
			}
			if err != nil {
				bad(path.Join(rel, n), "%v", err)
			}
		case e.IsDir():
			bad(path.Join(rel, n), "a folder inside an evidence folder is not imported: move its files up or make it an item of its own")
		case !e.Type().IsRegular():
			bad(path.Join(rel, n), "not a regular file")
		default:
			names = append(names, n)
		}
	}
	if len(probs) > 0 {
		return nil, probs
	}
	mfile := path.Join(rel, ManifestName) // where the manifest's problems are reported
	if row != nil {
		m, mfile = row.Manifest, fmt.Sprintf("%s:%d", SheetName, row.Line)
	}
	it := &Item{Folder: rel, Manifest: m != nil}
	switch {
	case row != nil:
		it.Source = mfile
	case m != nil:
		it.Source = ManifestName
	}
	if m == nil {
		m = &Manifest{Title: rel}
	} else if len(m.Files) > 0 {
		listed := map[string]bool{}
		for _, f := range m.Files {
			switch {
			case f != path.Base(f) || f == "." || f == ".." || strings.ContainsRune(f, '\\'):
				bad(mfile, "files: %q is not a file name in this folder", f)
			case !slices.Contains(names, f):
				bad(mfile, "files: %q is not in the folder", f)
			case listed[f]:
				bad(mfile, "files: %q is listed twice", f)
			}
			listed[f] = true
		}
		for _, n := range names {
			if !listed[n] {
				bad(path.Join(rel, n), "not listed under files: in %s (list it, or move it out)", mfile)
			}
		}
		if len(probs) > 0 {
			return nil, probs
		}
		names = m.Files
	}
	if len(names) > opts.Limits.MaxFiles {
		bad(rel, "%d files; at most %d per item", len(names), opts.Limits.MaxFiles)
	}
	images := len(names) > 0
	var firstTaken, firstMod time.Time
	for _, n := range names {
		p := path.Join(rel, n)
		f, taken, mod, err := inspectFile(filepath.Join(folder, n), n, opts)
		if err != nil {
			bad(p, "%v", err)
			continue
		}
		it.Files = append(it.Files, f)
		if !strings.HasPrefix(f.MediaType, "image/") {
			images = false
		}
		if !taken.IsZero() && (firstTaken.IsZero() || taken.Before(firstTaken)) {
			firstTaken = taken
		}
		if firstMod.IsZero() || mod.Before(firstMod) {
			firstMod = mod
		}
	}
	mpath := mfile
	if !it.Manifest {
		mpath = rel
		if len(names) == 0 {
			bad(rel, "empty: an evidence folder needs an %s or at least one file", ManifestName)
			return nil, probs
		}
		m.Kind = opts.Kind
		if m.Kind == "" {
			m.Kind = string(events.KindDocument)
			if images {
				m.Kind = string(events.KindPhoto)
			}
		}
		switch {
		case !firstTaken.IsZero():
			m.Occurred = firstTaken.Format(time.RFC3339)
		case !firstMod.IsZero():
			m.Occurred = firstMod.Format(time.RFC3339)
		}
	}
	it.Unit = m.Unit
	switch {
	case m.Unit == "":
		it.Unit = opts.Unit
		if it.Unit == "" {
			bad(mpath, "no unit: give --unit or unit: in %s", ManifestName)
		}
	case opts.Unit != "" && opts.Unit != m.Unit:
		bad(mpath, "unit: %s, but --unit %s", m.Unit, opts.Unit)
	}
	if it.Unit != "" {
		if err := events.ValidUnitID(it.Unit); err != nil {
			bad(mpath, "unit %q: %v", it.Unit, err)
		}
	}
	it.ID = ItemID(it.Unit, rel)
	if m.ID != "" {
		id, err := uuid.Parse(m.ID)
		if err != nil || id == uuid.Nil || len(m.ID) != 36 {
			bad(mpath, "id %q is not a UUID", m.ID)
		}
		it.ID = id
	}
	reqs := m.AllRequirements()
	it.Meta = Meta{ID: it.ID.String(), Kind: m.Kind, Title: strings.TrimSpace(m.Title), Body: m.Body, OccurredAt: m.Occurred,
		Requirements: reqs, Tags: m.Tags, Figures: m.Figures, Finding: m.Finding}
	ev := events.Evidence{Kind: events.Kind(m.Kind), Title: it.Meta.Title, Body: m.Body, Requirements: reqs, Tags: m.Tags,
		Figures: m.Figures, Finding: m.Finding}
	if err := ev.Validate(); err != nil {
		bad(mpath, "%s", strings.TrimPrefix(err.Error(), events.ErrInvalid.Error()+": "))
	}
	if err := checkOccurred(m.Occurred, opts); err != nil {
		bad(mpath, "%v", err)
	}
	if opts.Requirements != nil {
		for _, r := range reqs {
			if !opts.Requirements[r] {
				bad(mpath, "requirement %q is in no published plan", r)
			}
		}
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return it, nil
}

// checkOccurred checks an occurred date as the server does.
func checkOccurred(v string, opts Options) error {
	if v == "" {
		return fmt.Errorf("occurred: is required (YYYY-MM-DD or RFC 3339)")
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		if t, err = time.ParseInLocation(time.DateOnly, v, opts.Zone); err != nil {
			return fmt.Errorf("occurred %q is not a YYYY-MM-DD date or an RFC 3339 time", v)
		}
	}
	if t.After(opts.Now().Add(opts.ClockSkew)) {
		return fmt.Errorf("occurred %s is in the future", v)
	}
	if t.Year() < 1970 {
		return fmt.Errorf("occurred %s is before 1970", v)
	}
	return nil
}

// inspectFile sniffs, sizes and hashes one attachment, and reads a photo's
// EXIF time (in opts.Zone) and the file's modification time.
func inspectFile(p, name string, opts Options) (f File, taken, mod time.Time, err error) {
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > events.MaxAttachmentName {
		return f, taken, mod, fmt.Errorf("the file name must be valid UTF-8 of at most %d characters", events.MaxAttachmentName)
	}
	fh, err := os.Open(p)
	if err != nil {
		return f, taken, mod, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return f, taken, mod, err
	}
	f = File{Path: p, Name: name, Size: st.Size()}
	mod = st.ModTime()
	switch {
	case st.Size() == 0:
		return f, taken, mod, fmt.Errorf("empty file")
	case st.Size() > opts.Limits.MaxFileSize:
		return f, taken, mod, fmt.Errorf("%d bytes; the server takes at most %d per file", st.Size(), opts.Limits.MaxFileSize)
	}
	head := make([]byte, min(st.Size(), 512))
	n, _ := fh.ReadAt(head, 0)
	f.MediaType = media.Sniff(head[:n], fh, st.Size(), name)
	if f.MediaType == "text/plain" && media.TextClaimsOther(name) {
		return f, taken, mod, fmt.Errorf("plain text under a name that claims another type (%s); plain text is accepted only as itself, e.g. .txt", path.Ext(name))
	}
	if !media.Allowed[f.MediaType] {
		return f, taken, mod, fmt.Errorf("%s is not accepted: photos (JPEG, PNG, WebP, HEIC, GIF) and documents (PDF, Office, OpenDocument, plain text) are", f.MediaType)
	}
	if strings.HasPrefix(f.MediaType, "image/") {
		if w, h, _ := media.Dimensions(fh, st.Size()); int64(w)*int64(h) > opts.Limits.MaxPixels {
			return f, taken, mod, fmt.Errorf("%d×%d pixels; the server takes at most %d", w, h, opts.Limits.MaxPixels)
		}
		if at, _ := media.EXIF(fh, st.Size()); at != "" {
			taken, _ = time.ParseInLocation("2006-01-02T15:04:05", at, opts.Zone)
		}
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(fh, 0, st.Size())); err != nil {
		return f, taken, mod, err
	}
	f.SHA256 = hex.EncodeToString(h.Sum(nil))
	return f, taken, mod, nil
}

// readBounded reads a file of at most limit bytes.
func readBounded(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("over %d bytes", limit)
	}
	return b, nil
}

// Folders returns the folders of the batch in name order, accepted or not.
func (b *Batch) Folders() []string {
	var out []string
	for _, it := range b.Items {
		out = append(out, it.Folder)
	}
	out = append(out, b.Refused...)
	sort.Strings(out)
	return out
}

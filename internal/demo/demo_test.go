package demo

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"image/jpeg"
	"io/fs"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"taizhang/deploy/plans"
	"taizhang/events"
	"taizhang/media"
	"taizhang/projections/plan"
)

// ifdValue finds tag in the IFD at off of a little-endian TIFF block and
// returns its type, count and value bytes (inline or at the offset the
// entry gives).
func ifdValue(t *testing.T, tiff []byte, off uint32, tag uint16) (uint16, uint32, []byte) {
	t.Helper()
	le := binary.LittleEndian
	n := int(le.Uint16(tiff[off:]))
	for i := 0; i < n; i++ {
		e := tiff[int(off)+2+12*i:]
		if le.Uint16(e) != tag {
			continue
		}
		typ, count := le.Uint16(e[2:]), le.Uint32(e[4:])
		size := int(count) * map[uint16]int{1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1}[typ]
		if size <= 4 {
			return typ, count, e[8 : 8+size]
		}
		at := le.Uint32(e[8:])
		if int(at)+size > len(tiff) {
			t.Fatalf("tag %#x: value at %d+%d outside the TIFF block (%d)", tag, at, size, len(tiff))
		}
		return typ, count, tiff[at : int(at)+size]
	}
	t.Fatalf("tag %#x not in the IFD at %d", tag, off)
	return 0, 0, nil
}

// TestDemoExif parses the demo's own JPEG back by hand: the APP1 marker right
// after SOI, "Exif\0\0", the TIFF header, IFD0's pointer to the Exif IFD,
// and DateTimeOriginal (0x9003) at the offset its entry says; then checks
// that the server's EXIF reader and image/jpeg agree.
func TestDemoExif(t *testing.T) {
	taken := time.Date(2016, 6, 9, 9, 30, 5, 0, zone)
	p := photoSpec{Seed: 7, Scene: sceneOutdoor, Label: "cun-1", Taken: taken, GPS: &gps{19.8345, 110.4321}, Name: "x.jpg"}
	b, err := p.JPEG()
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 0xFF || b[1] != 0xD8 || b[2] != 0xFF || b[3] != 0xE1 {
		t.Fatalf("no APP1 right after SOI: % x", b[:4])
	}
	segLen := int(binary.BigEndian.Uint16(b[4:]))
	seg := b[6 : 4+segLen]
	if string(seg[:6]) != "Exif\x00\x00" {
		t.Fatalf("APP1 starts %q", seg[:6])
	}
	tiff := seg[6:]
	if string(tiff[:4]) != "II*\x00" || binary.LittleEndian.Uint32(tiff[4:]) != 8 {
		t.Fatalf("TIFF header % x", tiff[:8])
	}
	if b[4+segLen] != 0xFF { // the JPEG's own segments follow
		t.Fatalf("no marker after APP1: % x", b[4+segLen:4+segLen+2])
	}
	typ, count, v := ifdValue(t, tiff, 8, 0x8769)
	if typ != tiffLong || count != 1 {
		t.Fatalf("ExifIFD pointer type %d count %d", typ, count)
	}
	exifOff := binary.LittleEndian.Uint32(v)
	typ, count, v = ifdValue(t, tiff, exifOff, 0x9003)
	if typ != tiffASCII || count != 20 || string(v) != "2016:06:09 09:30:05\x00" {
		t.Fatalf("DateTimeOriginal: type %d count %d %q", typ, count, v)
	}
	if _, _, v := ifdValue(t, tiff, exifOff, 0x9011); string(v) != "+08:00\x00" {
		t.Fatalf("OffsetTimeOriginal %q", v)
	}
	_, _, v = ifdValue(t, tiff, 8, 0x8825)
	gpsOff := binary.LittleEndian.Uint32(v)
	if _, _, ref := ifdValue(t, tiff, gpsOff, 1); string(ref) != "N\x00" {
		t.Fatalf("GPSLatitudeRef %q", ref)
	}

	f := media.Inspect(bytes.NewReader(b), int64(len(b)))
	if f.TakenAt != "2016-06-09T09:30:05" || f.Width != photoW || f.Height != photoH || f.GPS == nil ||
		math.Abs(f.GPS.Lat-19.8345) > 1e-5 || math.Abs(f.GPS.Lon-110.4321) > 1e-5 {
		t.Fatalf("media.Inspect: %+v %+v", f, f.GPS)
	}
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil || img.Bounds().Dx() != photoW {
		t.Fatalf("decode: %v", err)
	}
	if ct := http.DetectContentType(b); ct != "image/jpeg" {
		t.Fatalf("sniffed as %s", ct)
	}

	// Without GPS there is no GPS IFD.
	p.GPS = nil
	b, _ = p.JPEG()
	if f := media.Inspect(bytes.NewReader(b), int64(len(b))); f.TakenAt != "2016-06-09T09:30:05" || f.GPS != nil {
		t.Fatalf("no GPS: %+v", f)
	}
}

// TestDemoPDF checks the hand-written PDF's structure: header, every xref
// offset pointing at its object, startxref at the xref table.
func TestDemoPDF(t *testing.T) {
	b := docSpec{PDF: true, Title: "東坡村集中學習記錄", Lines: []string{"時間：2016年3月8日", strings.Repeat("學習", 40)},
		Date: time.Date(2016, 3, 8, 9, 0, 0, 0, zone)}.Bytes()
	if !bytes.HasPrefix(b, []byte("%PDF-1.4\n")) || !bytes.HasSuffix(b, []byte("%%EOF\n")) {
		t.Fatalf("not a PDF: %q … %q", b[:10], b[len(b)-8:])
	}
	if ct := http.DetectContentType(b); ct != "application/pdf" {
		t.Fatalf("sniffed as %s", ct)
	}
	m := regexp.MustCompile(`startxref\n(\d+)\n%%EOF\n$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no startxref")
	}
	xref, _ := strconv.Atoi(string(m[1]))
	if !bytes.HasPrefix(b[xref:], []byte("xref\n0 9\n0000000000 65535 f \n")) {
		t.Fatalf("startxref %d points at %q", xref, b[xref:min(len(b), xref+20)])
	}
	for i := 1; i <= 8; i++ {
		entry := b[xref+len("xref\n0 9\n")+20*i:][:20]
		off, err := strconv.Atoi(string(entry[:10]))
		if err != nil || string(entry[10:]) != " 00000 n \n" {
			t.Fatalf("xref entry %d: %q", i, entry)
		}
		if want := fmt.Sprintf("%d 0 obj\n", i); !bytes.HasPrefix(b[off:], []byte(want)) {
			t.Fatalf("object %d at %d: %q", i, off, b[off:off+10])
		}
	}
	// The text is UCS-2 hex for the CNS1 font: 東 is U+6771.
	if !bytes.Contains(b, []byte("<6771")) || !bytes.Contains(b, []byte("/UniCNS-UCS2-H")) {
		t.Fatal("title not encoded")
	}
	txt := docSpec{Title: "學習記錄", Lines: []string{"時間：2016年3月8日"}}.Bytes()
	if !utf8.Valid(txt) || http.DetectContentType(txt) != "text/plain; charset=utf-8" {
		t.Fatalf("text document: %q", txt)
	}
}

func seedPlans(t *testing.T) []*plan.Plan {
	t.Helper()
	names, err := fs.Glob(plans.FS, "*.yaml")
	if err != nil || len(names) != 3 {
		t.Fatalf("embedded plans: %v %v", names, err)
	}
	var out []*plan.Plan
	for _, n := range names {
		b, _ := fs.ReadFile(plans.FS, n)
		p, err := plan.Parse(n, b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// fingerprint describes an op; with bytes, of its attachments too.
func fingerprint(t *testing.T, o *op, withBytes bool) string {
	s := fmt.Sprintf("%d|%s|%s|%s|%d|%s|%v", o.Kind, o.Unit, o.Sim.Format(time.RFC3339), o.Target, o.Version, o.Reason, o.Changes)
	if it := o.Item; it != nil {
		s += fmt.Sprintf("|%s|%s|%s|%s|%s|%v|%v|%v|%s", it.ID, it.Kind, it.Title, it.Body, it.Occurred.Format(time.RFC3339), it.Reqs, it.Tags, it.Figures, it.Finding)
		for _, p := range it.Photos {
			s += "|" + p.Name
			if withBytes {
				b, err := p.JPEG()
				if err != nil {
					t.Fatal(err)
				}
				s += fmt.Sprintf(":%x", sha256.Sum256(b))
			}
		}
		for _, d := range it.Docs {
			s += fmt.Sprintf("|%s:%x", d.Name, sha256.Sum256(d.Bytes()))
		}
	}
	if f := o.Finding; f != nil {
		s += fmt.Sprintf("|%s|%s|%s|%s", f.ID, f.Description, f.Due, f.Photo.Taken)
	}
	return s
}

// TestDemoScript: the script is the same every time (ids, texts, bytes), every
// item is valid evidence, and the stories are there.
func TestDemoScript(t *testing.T) {
	a, err := buildScript(seedPlans(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := buildScript(seedPlans(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.ops) != len(b.ops) {
		t.Fatalf("%d ops, then %d", len(a.ops), len(b.ops))
	}
	for i := range a.ops {
		withBytes := i%7 == 0
		if fa, fb := fingerprint(t, a.ops[i], withBytes), fingerprint(t, b.ops[i], withBytes); fa != fb {
			t.Fatalf("op %d differs:\n%s\n%s", i, fa, fb)
		}
	}

	if len(a.units) < 25 || len(a.units) > 35 {
		t.Errorf("%d units", len(a.units))
	}
	seen := map[string]bool{}
	items, perUnit := 0, map[string]int{}
	for _, o := range a.ops {
		if o.Kind != opSubmit {
			continue
		}
		it := o.Item
		items++
		perUnit[it.Unit]++
		if seen[it.ID.String()] {
			t.Fatalf("id %s twice (%s)", it.ID, it.Key)
		}
		seen[it.ID.String()] = true
		ev := events.Evidence{Kind: events.Kind(it.Kind), Title: it.Title, Body: it.Body, Requirements: it.Reqs, Tags: it.Tags, Figures: it.Figures}
		if it.Kind == "rectification" {
			ev.Finding = it.Finding.String()
		}
		if err := ev.Validate(); err != nil {
			t.Fatalf("%s: %v", it.Key, err)
		}
		if n := len(it.Photos) + len(it.Docs); n < 1 || n > 3 {
			t.Errorf("%s has %d attachments", it.Key, n)
		}
		if it.Occurred.Year() < 2016 || it.Occurred.Year() > 2017 {
			t.Errorf("%s occurred %s", it.Key, it.Occurred)
		}
	}
	if items < 1200 || items > 1800 {
		t.Errorf("%d evidence items", items)
	}
	for _, u := range a.units {
		if u.Type != "district" && perUnit[u.ID] < 15 {
			t.Errorf("unit %s has %d items", u.ID, perUnit[u.ID])
		}
	}
	names := map[string]bool{}
	for _, s := range a.stories {
		names[s.Name] = true
	}
	for _, n := range []string{"amended", "retracted", "reused-photo", "resized-copy", "backfill-burst", "finding-resolved", "finding-refused", "closure-overridden", "finding-rejected", "finding-overdue"} {
		if !names[n] {
			t.Errorf("story %s missing", n)
		}
	}
}

// TestDemoPhotosDistinct: the perceptual hash tells the demo's photos
// apart (no two pictures of different items within the near-duplicate
// distance), except for the resized copy the story plants, which stays
// within a few bits of its original.
func TestDemoPhotosDistinct(t *testing.T) {
	if testing.Short() {
		t.Skip("renders every photo of the demo")
	}
	sc, err := buildScript(seedPlans(t))
	if err != nil {
		t.Fatal(err)
	}
	type pic struct {
		hash uint64
		key  string
	}
	var pics []pic
	seen := map[[32]byte]bool{} // the same bytes twice is exact reuse, not a near-duplicate
	var copyOf, copyIs string
	for _, s := range sc.stories {
		if s.Name == "resized-copy" {
			copyOf, copyIs, _ = strings.Cut(s.Evidence, ",")
		}
	}
	if copyOf == "" {
		t.Fatal("no resized-copy story")
	}
	for _, o := range sc.ops {
		if o.Item == nil {
			continue
		}
		for k, p := range o.Item.Photos {
			b, err := p.JPEG()
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256(b); !seen[sum] {
				seen[sum] = true
				f := media.Inspect(bytes.NewReader(b), int64(len(b)))
				if f.PHash == 0 {
					t.Fatalf("%s: no perceptual hash", o.Item.Key)
				}
				pics = append(pics, pic{f.PHash, fmt.Sprintf("%s#%d", o.Item.ID, k)})
			}
		}
	}
	near := 0
	for i := range pics {
		for j := i + 1; j < len(pics); j++ {
			if d := media.Distance(pics[i].hash, pics[j].hash); d <= 12 {
				a, b := pics[i].key, pics[j].key
				if (strings.HasPrefix(a, copyOf) && strings.HasPrefix(b, copyIs) || strings.HasPrefix(a, copyIs) && strings.HasPrefix(b, copyOf)) && d <= 4 {
					near++
					continue
				}
				t.Errorf("%s and %s are %d bits apart", a, b, d)
			}
		}
	}
	if near != 1 {
		t.Errorf("the resized copy was found %d times, want once", near)
	}
}

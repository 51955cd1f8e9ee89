package importer

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"go.yaml.in/yaml/v3"

	"taizhang/internal/demo"
)

func TestParseManifest(t *testing.T) {
	m, err := ParseManifest([]byte("kind: activity\ntitle: 端午節\noccurred: 2016-06-09\nrequirement: festival-duanwu\n" +
		"requirements: [a, festival-duanwu]\ntags: 宣傳欄\nfigures: {volunteers: 130}\nfiles: [b.jpg, a.jpg]\nbody: |\n  兩行\n  文字\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != "activity" || m.Title != "端午節" || m.Occurred != "2016-06-09" || m.Body != "兩行\n文字\n" ||
		strings.Join(m.AllRequirements(), ",") != "festival-duanwu,a" || strings.Join(m.Tags, ",") != "宣傳欄" ||
		m.Figures["volunteers"] != 130 || strings.Join(m.Files, ",") != "b.jpg,a.jpg" {
		t.Fatalf("parsed %+v", m)
	}
	for in, want := range map[string]string{
		"":                              "empty",
		"kind: photo\ntitel: x\n":       "titel",
		"- kind: photo\n":               "not a YAML mapping",
		"kind: photo\n---\nkind: x\n":   "more than one",
		"a: &x [1]\nb: *x\n":            "aliases",
		"kind: [photo]\n":               "kind",
		"tags: [[x]]\n":                 "want a string",
		"kind: photo\ntitle: 'x\n":      "manifest",
		"figures: {volunteers: many}\n": "line 1: figures: cannot unmarshal !!str `many` into float64",
	} {
		if _, err := ParseManifest([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want it to mention %q", in, err, want)
		}
	}
}

// FuzzParseManifest: no input makes the parser panic or hang, and what it
// accepts reads back the same once written out again.
func FuzzParseManifest(f *testing.F) {
	for _, s := range []string{
		"kind: activity\ntitle: 端午節\noccurred: 2016-06-09\nrequirement: festival-duanwu\n",
		"requirements: [a, b]\ntags: [x]\nfigures: {n: 1.5}\nfiles: [a.jpg]\nbody: |\n  x\n",
		"a: &x [1]\nb: *x\n", "kind: photo\n---\n", "{kind: photo, title: \"\\u0000\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			return
		}
		for _, s := range []string{m.Kind, m.Title, m.Occurred, m.Unit, m.Body, m.ID, m.Finding} {
			if !utf8.ValidString(s) {
				return
			}
		}
		out, err := yaml.Marshal(m)
		if err != nil {
			t.Fatalf("marshal %+v: %v", m, err)
		}
		m2, err := ParseManifest(out)
		if err != nil {
			t.Fatalf("written out, the manifest no longer parses: %v\n%s", err, out)
		}
		if m2.Kind != m.Kind || m2.Title != m.Title || m2.Occurred != m.Occurred || m2.Body != m.Body ||
			strings.Join(m2.AllRequirements(), "\x00") != strings.Join(m.AllRequirements(), "\x00") {
			t.Fatalf("round trip changed it: %+v -> %+v", m, m2)
		}
	})
}

func TestItemID(t *testing.T) {
	a := ItemID("xicun", "01-學習")
	if a != ItemID("xicun", "01-學習") || a.Version() != 5 {
		t.Fatalf("not a stable UUIDv5: %s", a)
	}
	if a == ItemID("dongcun", "01-學習") || a == ItemID("xicun", "02-學習") || ItemID("a", "b\x00c") == ItemID("a\x00b", "c") {
		t.Fatal("ids collide")
	}
}

func write(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func pngOf(t *testing.T, seed uint8) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 16, 12))
	img.Set(1, 1, color.RGBA{seed, 0, 0, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegAt(t *testing.T, taken time.Time) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewRGBA(image.Rect(0, 0, 16, 12)), nil); err != nil {
		t.Fatal(err)
	}
	j, err := demo.WithEXIF(b.Bytes(), taken, nil)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// TestPlanProblems: every problem is found, with the path it is about, and
// a folder with any problem is refused whole.
func TestPlanProblems(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	pinned := uuid.New().String()
	write(t, filepath.Join(dir, "loose.jpg"), pngOf(t, 1))
	write(t, filepath.Join(dir, ".DS_Store"), []byte("x"))
	write(t, filepath.Join(dir, "good", ManifestName), []byte("kind: photo\ntitle: 好\noccurred: 2016-06-09\nrequirement: column\n"))
	write(t, filepath.Join(dir, "good", "a.png"), pngOf(t, 2))
	write(t, filepath.Join(dir, "good", "Thumbs.db"), []byte("junk"))
	write(t, filepath.Join(dir, "nested", "sub", "a.png"), pngOf(t, 3))
	os.MkdirAll(filepath.Join(dir, "empty"), 0o755)
	write(t, filepath.Join(dir, "badmeta", ManifestName), []byte("kind: rectification\ntitle: x\noccurred: 2027-01-01\nrequirement: nope\nunit: other\n"))
	write(t, filepath.Join(dir, "files", ManifestName), []byte("kind: photo\ntitle: x\noccurred: 2016-01-01\nfiles: [a.png, gone.png, ../x]\n"))
	write(t, filepath.Join(dir, "files", "a.png"), pngOf(t, 4))
	write(t, filepath.Join(dir, "files", "extra.png"), pngOf(t, 5))
	write(t, filepath.Join(dir, "types", ManifestName), []byte("kind: document\ntitle: x\noccurred: 2016-01-01\n"))
	write(t, filepath.Join(dir, "types", "photo.jpg"), []byte("this is text, not a photo\n"))
	write(t, filepath.Join(dir, "types", "run.exe"), append([]byte("MZ\x90\x00\x03\x00\x00\x00"), make([]byte, 64)...))
	write(t, filepath.Join(dir, "types", "big.png"), append(pngOf(t, 6), make([]byte, 2048)...))
	write(t, filepath.Join(dir, "types", "zero.txt"), nil)
	write(t, filepath.Join(dir, "pin1", ManifestName), []byte("id: "+pinned+"\nkind: photo\ntitle: x\noccurred: 2016-01-01\n"))
	write(t, filepath.Join(dir, "pin2", ManifestName), []byte("id: "+pinned+"\nkind: photo\ntitle: y\noccurred: 2016-01-01\n"))
	write(t, filepath.Join(dir, "yaml", ManifestName), []byte("kind: photo\ntitel: x\n"))

	b, err := Plan(dir, Options{Unit: "xicun", Now: func() time.Time { return now }, Requirements: map[string]bool{"column": true},
		Limits: Limits{MaxFileSize: 1024}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range b.Problems {
		got = append(got, p.String())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		"loose.jpg: not in an evidence folder",
		"nested/sub: a folder inside an evidence folder",
		"empty: empty",
		"badmeta/evidence.yaml: a rectification must name the finding",
		"badmeta/evidence.yaml: occurred 2027-01-01 is in the future",
		`badmeta/evidence.yaml: requirement "nope" is in no published plan`,
		"badmeta/evidence.yaml: unit: other, but --unit xicun",
		`files/evidence.yaml: files: "gone.png" is not in the folder`,
		`files/evidence.yaml: files: "../x" is not a file name`,
		"files/extra.png: not listed under files:",
		"types/photo.jpg: plain text under a name that claims another type",
		"types/run.exe: application/octet-stream is not accepted",
		"types/big.png: 2",
		"types/zero.txt: empty file",
		"pin2: evidence id " + pinned + " is also pin1's",
		"yaml/evidence.yaml: manifest: line 2: field titel not found",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no problem %q in:\n%s", want, all)
		}
	}
	if strings.Contains(all, "DS_Store") || strings.Contains(all, "Thumbs") {
		t.Errorf("hidden or system files reported:\n%s", all)
	}
	if len(b.Items) != 2 || b.Items[0].Folder != "good" || b.Items[1].Folder != "pin1" {
		t.Fatalf("items %+v", b.Items)
	}
	g := b.Items[0]
	if g.Unit != "xicun" || g.ID != ItemID("xicun", "good") || len(g.Files) != 1 || g.Files[0].MediaType != "image/png" ||
		g.Meta.Requirements[0] != "column" || g.Meta.ID != g.ID.String() {
		t.Fatalf("good item %+v", g)
	}
	if strings.Join(b.Refused, ",") != "badmeta,empty,files,nested,pin2,types,yaml" {
		t.Fatalf("refused %v", b.Refused)
	}
	// Run reports the refused folders with their problems, sends only the
	// good ones.
	sub := &fakeSubmitter{}
	sum := Run(context.Background(), b, sub, RunOptions{})
	if sum.Count(Submitted) != 2 || sum.Count(Refused) != 7 || len(sub.sent) != 2 || sum.OK() {
		t.Fatalf("summary %+v", sum)
	}
	var buf bytes.Buffer
	WriteSummary(&buf, sum)
	if !strings.Contains(buf.String(), "REFUSED        types\n      types/big.png: 2139 bytes") {
		t.Fatalf("summary:\n%s", buf.String())
	}
}

// TestPlanFilesOnly: a folder of photos takes its title from its name, its
// date from the earliest EXIF time, and is a photo; without EXIF, the
// earliest modification time; with a document, a document.
func TestPlanFilesOnly(t *testing.T) {
	dir := t.TempDir()
	z := time.FixedZone("UTC+8", 8*3600)
	write(t, filepath.Join(dir, "宣傳欄照片", "b.jpg"), jpegAt(t, time.Date(2017, 5, 3, 9, 30, 0, 0, z)))
	write(t, filepath.Join(dir, "宣傳欄照片", "a.jpg"), jpegAt(t, time.Date(2017, 5, 4, 9, 30, 0, 0, z)))
	write(t, filepath.Join(dir, "會議", "紀要.txt"), []byte("會議紀要\n"))
	write(t, filepath.Join(dir, "會議", "x.png"), pngOf(t, 1))
	old := time.Date(2017, 6, 1, 8, 0, 0, 0, time.UTC)
	os.Chtimes(filepath.Join(dir, "會議", "x.png"), old, old)
	b, err := Plan(dir, Options{Unit: "xicun"})
	if err != nil || len(b.Problems) != 0 || len(b.Items) != 2 {
		t.Fatalf("%v %+v", err, b)
	}
	p, d := b.Items[0], b.Items[1]
	if p.Folder != "宣傳欄照片" || p.Meta.Title != "宣傳欄照片" || p.Meta.Kind != "photo" || p.Meta.OccurredAt != "2017-05-03T09:30:00+08:00" ||
		p.Files[0].Name != "a.jpg" || p.Manifest {
		t.Fatalf("photos %+v", p.Meta)
	}
	if d.Meta.Kind != "document" || d.Meta.OccurredAt != old.Format(time.RFC3339) {
		t.Fatalf("document %+v", d.Meta)
	}
	if b2, _ := Plan(dir, Options{Unit: "xicun", Kind: "activity"}); b2.Items[1].Meta.Kind != "activity" {
		t.Fatalf("--kind ignored: %+v", b2.Items[0].Meta)
	}
}

type fakeSubmitter struct {
	sent []Item
	fail int // fail the first n tries with a network error
}

func (f *fakeSubmitter) Submit(_ context.Context, it Item) (Receipt, bool, error) {
	if f.fail > 0 {
		f.fail--
		return Receipt{}, false, errors.New("connection refused")
	}
	f.sent = append(f.sent, it)
	return Receipt{Sequence: uint64(len(f.sent))}, true, nil
}

// TestRunRetriesAndStops: a network failure is retried with the same item;
// one that outlives the retries stops the run, the rest not sent.
func TestRunRetriesAndStops(t *testing.T) {
	b := &Batch{Items: []Item{{Folder: "a", ID: ItemID("u", "a")}, {Folder: "b", ID: ItemID("u", "b")}}}
	sub := &fakeSubmitter{fail: 2}
	sum := Run(context.Background(), b, sub, RunOptions{Retries: 2, Backoff: time.Millisecond})
	if !sum.OK() || len(sub.sent) != 2 {
		t.Fatalf("%+v", sum)
	}
	sub = &fakeSubmitter{fail: 2}
	sum = Run(context.Background(), b, sub, RunOptions{Retries: 1, Backoff: time.Millisecond})
	if sum.OK() || sum.Err == nil || !strings.Contains(sum.Err.Error(), "stopped at a after 2 attempt(s)") || sum.Count(NotSent) != 2 {
		t.Fatalf("%+v", sum)
	}
}

package importer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"taizhang/projections/plan"
)

func TestParseSheet(t *testing.T) {
	sheet := "\xef\xbb\xbfFolder,kind,title,occurred,requirements,tags,figures,body,files\r\n" +
		"02-課堂,activity,家庭美德課堂,2016-05-14,monthly-courses,家庭美德實踐類、家庭美德課堂,participants=32; volunteers = 5,\"兩行\r\n文字\",b.jpg;a.jpg\r\n" +
		",,,,,,,,\r\n" + // a blank row, as a spreadsheet leaves
		"03-劇,photo,\"兒童劇, 進社區\",2016-06-01,,,,,\r\n"
	rows, err := ParseSheet([]byte(sheet))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("rows %+v", rows)
	}
	m := rows[0].Manifest
	if rows[0].Folder != "02-課堂" || rows[0].Line != 2 || m.Kind != "activity" || m.Title != "家庭美德課堂" || m.Occurred != "2016-05-14" ||
		strings.Join(m.Requirements, ",") != "monthly-courses" || strings.Join(m.Tags, ",") != "家庭美德實踐類,家庭美德課堂" ||
		m.Figures["participants"] != 32 || m.Figures["volunteers"] != 5 || m.Body != "兩行\n文字" || strings.Join(m.Files, ",") != "b.jpg,a.jpg" {
		t.Errorf("row 1: %+v %+v", rows[0], m)
	}
	if rows[1].Line != 5 || rows[1].Manifest.Title != "兒童劇, 進社區" || rows[1].Manifest.Figures != nil || rows[1].Manifest.Tags != nil {
		t.Errorf("row 2: %+v %+v", rows[1], rows[1].Manifest)
	}
	for in, want := range map[string]string{
		"":                                    "empty",
		"folder,titel\nx,y\n":                 `line 1: unknown column "titel"`,
		"title,kind\nx,photo\n":               "no folder column",
		"folder,folder\n":                     `column "folder" twice`,
		"folder,title\na,x\na,y\n":            `line 3: folder "a" is also on line 2`,
		"folder,title\n../a,x\n":              `line 2: folder "../a" is not the name`,
		"folder,title\na/b,x\n":               "not the name of a sub-folder",
		"folder,title\n,x\n":                  "line 2: no folder",
		"folder,figures\na,n=many\n":          `line 2: figures: n: "many" is not a number`,
		"folder,figures\na,n\n":               `"n" is not name=number`,
		"folder,figures\na,n=1;n=2\n":         "n given twice",
		"folder,title\na,\"x\n":               "line 2",
		"folder,title\na,x,extra\n":           "line 2: wrong number of fields",
		"folder,title\n01,\xb6\xf9\xcd\xaf\n": "not UTF-8 text: save it as \"CSV UTF-8\"", // 兒童 in GBK
	} {
		if _, err := ParseSheet([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want it to mention %q", in, err, want)
		}
	}
}

// FuzzParseSheet: no input makes the sheet parser panic, and what it
// accepts names plain, distinct sub-folders with UTF-8 fields.
func FuzzParseSheet(f *testing.F) {
	for _, s := range []string{
		"folder,kind,title,occurred\na,photo,x,2016-01-01\n",
		"\xef\xbb\xbffolder,figures,tags\r\nb,n=1;m=2,x、y\r\n",
		"folder,body\nc,\"multi\nline\"\n", "folder\n\n\n", "x\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rows, err := ParseSheet(b)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, r := range rows {
			if r.Folder == "" || strings.ContainsAny(r.Folder, `/\`) || r.Folder == ".." || seen[r.Folder] || r.Line < 2 {
				t.Fatalf("accepted row %+v", r)
			}
			seen[r.Folder] = true
			for _, s := range append([]string{r.Manifest.Title, r.Manifest.Body, r.Manifest.Kind}, r.Manifest.Tags...) {
				if !utf8.ValidString(s) {
					t.Fatalf("a field is not UTF-8: %q", s)
				}
			}
		}
	})
}

// TestPlanSheet: an evidence.csv describes the folders it lists; a folder
// it does not list needs its own evidence.yaml (a folder of files only is
// refused, since it is most likely a row's misspelt folder); a folder in
// both places, or a row for a folder that is not there, is a problem; a
// sheet that does not parse refuses every folder.
func TestPlanSheet(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	write(t, filepath.Join(dir, SheetName), []byte("folder,kind,title,occurred,requirements,files\n"+
		"a,photo,甲,2016-06-09,column,2.png;1.png\n"+
		"both,photo,乙,2016-06-09,,\n"+
		"bad,photo,丙,2099-01-01,nope,\n"+
		"gone,photo,丁,2016-06-09,,\n"))
	write(t, filepath.Join(dir, "a", "1.png"), pngOf(t, 1))
	write(t, filepath.Join(dir, "a", "2.png"), pngOf(t, 2))
	write(t, filepath.Join(dir, "both", ManifestName), []byte("kind: photo\ntitle: x\noccurred: 2016-01-01\n"))
	write(t, filepath.Join(dir, "both", "1.png"), pngOf(t, 3))
	write(t, filepath.Join(dir, "bad", "1.png"), pngOf(t, 4))
	write(t, filepath.Join(dir, "own", ManifestName), []byte("kind: photo\ntitle: 自己的\noccurred: 2016-01-01\n"))
	write(t, filepath.Join(dir, "own", "1.png"), pngOf(t, 5))
	write(t, filepath.Join(dir, "typo", "1.png"), pngOf(t, 6))
	opts := Options{Unit: "xicun", Now: func() time.Time { return now }, Requirements: map[string]bool{"column": true}}
	b, err := Plan(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range b.Problems {
		got = append(got, p.String())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		`evidence.csv: line 5: folder "gone" is not in`,
		"both/evidence.yaml: this folder is also on line 3 of evidence.csv",
		"evidence.csv:4: occurred 2099-01-01 is in the future",
		`evidence.csv:4: requirement "nope" is in no published plan`,
		"typo: not in evidence.csv and no evidence.yaml of its own",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no problem %q in:\n%s", want, all)
		}
	}
	if strings.Join(b.Refused, ",") != "bad,both,typo" || len(b.Items) != 2 {
		t.Fatalf("refused %v, items %+v", b.Refused, b.Items)
	}
	a, own := b.Items[0], b.Items[1]
	if a.Folder != "a" || a.Meta.Title != "甲" || a.Meta.Kind != "photo" || a.ID != ItemID("xicun", "a") || len(a.Files) != 2 || a.Files[0].Name != "2.png" || !a.Manifest {
		t.Errorf("item a: %+v", a)
	}
	if a.Source != "evidence.csv:2" || own.Source != "evidence.yaml" {
		t.Errorf("sources %q and %q, want evidence.csv:2 and evidence.yaml", a.Source, own.Source)
	}
	var dry strings.Builder
	if err := WritePlan(&dry, b); err != nil || !strings.Contains(dry.String(), `"甲"  id `+a.ID.String()+`  (evidence.csv:2)`) {
		t.Errorf("the dry run does not name the row: %v\n%s", err, dry.String())
	}
	if own.Folder != "own" || own.Meta.Title != "自己的" {
		t.Errorf("item own: %+v", own)
	}

	// A sheet that does not parse: every folder refused, nothing planned.
	write(t, filepath.Join(dir, SheetName), []byte("folder,titel\na,x\n"))
	b, err = Plan(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Items) != 0 || len(b.Refused) != 5 || !strings.Contains(b.Problems[0].String(), `evidence.csv: line 1: unknown column "titel"`) {
		t.Fatalf("a broken sheet: items %d, refused %v, problems %v", len(b.Items), b.Refused, b.Problems)
	}
}

// TestSheetSample: the shipped sheet sample plans cleanly against the plan
// it is written for, every folder described by its row.
func TestSheetSample(t *testing.T) {
	raw, err := os.ReadFile("../deploy/plans/shequ-jiating-2016.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Parse("shequ-jiating-2016.yaml", raw)
	if err != nil {
		t.Fatal(err)
	}
	reqs := map[string]bool{}
	for _, r := range p.Requirements {
		reqs[r.ID] = true
	}
	b, err := Plan("../docs/import-sample-sheet", Options{Requirements: reqs, Now: func() time.Time { return time.Date(2016, 12, 1, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Problems) != 0 || len(b.Items) != 2 {
		t.Fatalf("problems %v, items %d", b.Problems, len(b.Items))
	}
	lecture := b.Items[0]
	if lecture.Unit != "hongshan-shequ-02" || lecture.Meta.Kind != "activity" || len(lecture.Files) != 2 || lecture.Files[0].MediaType != "image/jpeg" ||
		lecture.Meta.Figures["participants"] != 26 || len(lecture.Meta.Tags) != 2 || !strings.Contains(lecture.Meta.Body, "專題。\n26位") {
		t.Errorf("the lecture: %+v", lecture)
	}
	if rooms := b.Items[1]; rooms.Meta.Kind != "photo" || len(rooms.Files) != 2 || rooms.Meta.Requirements[0] != "facilities" {
		t.Errorf("the rooms: %+v", rooms)
	}
}

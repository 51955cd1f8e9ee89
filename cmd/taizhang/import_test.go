package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"taizhang/client"
	"taizhang/events"
	"taizhang/importer"
)

// copyTree copies the folder src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// ledgerLast is the ledger's last sequence, from /api/v1/status.
func ledgerLast(t *testing.T, s *server) uint64 {
	t.Helper()
	var st struct {
		LedgerLastSeq uint64 `json:"ledger_last_seq"`
	}
	r := s.get(t, s.Admin, "/api/v1/status")
	if r.Status != 200 {
		t.Fatalf("status: %d %s", r.Status, r.Body)
	}
	r.decode(t, &st)
	if st.LedgerLastSeq == 0 {
		t.Fatalf("status without a ledger sequence: %s", r.Body)
	}
	return st.LedgerLastSeq
}

// evidenceOnce checks the unit's history holds each of ids exactly once as
// a submission, nothing else submitted, and that its chain verifies.
func evidenceOnce(t *testing.T, s *server, unit string, ids []string) {
	t.Helper()
	h := s.history(t, s.Admin, unit, "")
	seen := map[string]int{}
	for _, e := range h {
		if e.Type == events.TypeEvidenceSubmitted {
			seen[e.ID.String()]++
		}
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("evidence %s submitted %d times", id, seen[id])
		}
	}
	if len(seen) != len(ids) {
		t.Errorf("%d evidence items in the ledger, want %d: %v", len(seen), len(ids), seen)
	}
	if err := verifyChain(h); err != nil {
		t.Errorf("chain: %v", err)
	}
}

// TestImport drives `taizhang import` over the shipped sample and a bad
// folder: the dry run reports every problem with its path and sends
// nothing; the run submits the good folders and refuses the bad one with
// its reasons; a second run appends nothing and says "already there"; a
// folder whose files changed after the import is reported, not appended.
func TestImport(t *testing.T) {
	s := startServer(t, "")
	const unit = "hongshan-shequ-01"
	if code, out, errs := cli(t, s, s.Admin, "unit", "add", "--id", unit, "--name", "洪山區某社區", "--type", "community"); code != 0 {
		t.Fatalf("unit add: %d %s %s", code, out, errs)
	}
	if code, out, errs := cli(t, s, s.Admin, "plan", "publish", "../../deploy/plans/shequ-jiating-2016.yaml"); code != 0 {
		t.Fatalf("plan publish: %d %s %s", code, out, errs)
	}
	dir := t.TempDir()
	copyTree(t, "../../docs/import-sample", dir)
	bad := filepath.Join(dir, "05-待補")
	os.MkdirAll(bad, 0o755)
	os.WriteFile(filepath.Join(bad, "evidence.yaml"), []byte("kind: foto\ntitle: 宣傳欄\noccurred: 2016-13-01\nrequirement: no-such-requirement\n"), 0o644)
	os.WriteFile(filepath.Join(bad, "宣傳欄.jpg"), []byte("#!/bin/sh\nrm -rf /\n"), 0o644)
	os.WriteFile(filepath.Join(bad, "說明.jpg"), []byte("只是文字，不是照片\n"), 0o644)

	before := ledgerLast(t, s)
	code, out, errs := cli(t, s, s.Admin, "import", "--dry-run", "--unit", unit, dir)
	if code != 1 || !strings.Contains(out, "5 folder(s): 4 to submit, 1 with problems; nothing was sent") {
		t.Fatalf("dry run: %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{
		`05-待補/evidence.yaml: unknown kind "foto"`,
		`05-待補/evidence.yaml: occurred "2016-13-01" is not a YYYY-MM-DD date`,
		`05-待補/evidence.yaml: requirement "no-such-requirement" is in no published plan`,
		"05-待補/宣傳欄.jpg: text/x-script is not accepted",
		"05-待補/說明.jpg: plain text under a name that claims another type",
		"04-功能室照片  unit hongshan-shequ-01  2016-06-20T11:02:00+08:00  photo",
		"      課堂現場1.jpg",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run does not say %q:\n%s", want, out)
		}
	}
	if after := ledgerLast(t, s); after != before {
		t.Fatalf("the dry run appended: sequence %d -> %d", before, after)
	}

	code, out, errs = cli(t, s, s.Admin, "import", "--unit", unit, dir)
	if code != 1 || !strings.HasPrefix(out, "submitted 4, already there 0, refused 1\n") ||
		!strings.Contains(out, "REFUSED        05-待補\n") || !strings.Contains(out, "\n      05-待補/evidence.yaml: unknown kind") {
		t.Fatalf("import: %d\n%s\n%s", code, out, errs)
	}
	b, err := importer.Plan(dir, importer.Options{Unit: unit})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, it := range b.Items {
		ids = append(ids, it.ID.String())
	}
	evidenceOnce(t, s, unit, ids)
	// What the sample says arrived as it says.
	var arch struct {
		Items []struct {
			ID           string   `json:"id"`
			Title        string   `json:"title"`
			Requirements []string `json:"requirements"`
			Attachments  []struct {
				Name string `json:"name"`
			} `json:"attachments"`
		} `json:"items"`
	}
	s.get(t, s.Admin, "/api/v1/units/"+unit+"/archive").decode(t, &arch)
	found := false
	for _, it := range arch.Items {
		if it.ID == importer.ItemID(unit, "02-家庭美德課堂").String() {
			found = it.Title == "家庭美德課堂：好家風進萬家" && len(it.Requirements) == 1 && it.Requirements[0] == "monthly-courses" &&
				len(it.Attachments) == 3 && it.Attachments[2].Name == "簽到表.txt"
		}
	}
	if !found {
		t.Fatalf("02-家庭美德課堂 not in the archive as its manifest says: %+v", arch)
	}

	// The second run, once the bad folder is gone: nothing new.
	os.RemoveAll(bad)
	seq := ledgerLast(t, s)
	code, out, errs = cli(t, s, s.Admin, "import", "--unit", unit, dir)
	if code != 0 || !strings.HasPrefix(out, "submitted 0, already there 4, refused 0\n") || strings.Count(out, "\n  already there  ") != 4 {
		t.Fatalf("second import: %d\n%s\n%s", code, out, errs)
	}
	if after := ledgerLast(t, s); after != seq {
		t.Fatalf("the second run appended: sequence %d -> %d", seq, after)
	}

	// A photo replaced after the import: reported, never appended twice.
	os.WriteFile(filepath.Join(dir, "04-功能室照片", "心理咨詢室.jpg"), jpegPhoto(t, 99), 0o644)
	code, out, errs = cli(t, s, s.Admin, "import", "--unit", unit, dir)
	if code != 1 || !strings.Contains(out, "CHANGED        04-功能室照片") || !strings.Contains(out, "taizhang amend --unit "+unit) {
		t.Fatalf("import of a changed folder: %d\n%s\n%s", code, out, errs)
	}
	if after := ledgerLast(t, s); after != seq {
		t.Fatalf("the changed folder was appended: sequence %d -> %d", seq, after)
	}
	evidenceOnce(t, s, unit, ids)
}

// lossySubmitter passes items to the server but, for the item numbered
// lose, drops the answer (as a crash after the server recorded it and
// before the client heard), and calls after(n) once n items were sent.
type lossySubmitter struct {
	next  importer.Submitter
	n     int
	lose  int
	after func(n int)
}

func (l *lossySubmitter) Submit(ctx context.Context, it importer.Item) (importer.Receipt, bool, error) {
	r, created, err := l.next.Submit(ctx, it)
	l.n++
	if l.after != nil {
		l.after(l.n)
	}
	if err == nil && l.n == l.lose {
		return importer.Receipt{}, false, errors.New("connection reset by peer (the answer was lost)")
	}
	return r, created, err
}

// TestImportResume: a run interrupted at each kind of point (the answer of
// a recorded item lost; the server stopped mid-run; the run cancelled),
// then run again, leaves every item in the ledger exactly once.
func TestImportResume(t *testing.T) {
	s := startServer(t, "")
	const unit = "xicun"
	if code, out, errs := cli(t, s, s.Admin, "unit", "add", "--id", unit, "--name", "西村", "--type", "village"); code != 0 {
		t.Fatalf("unit add: %d %s %s", code, out, errs)
	}
	dir := t.TempDir()
	const n = 7
	for i := range n {
		f := filepath.Join(dir, fmt.Sprintf("%02d-活動", i))
		os.MkdirAll(f, 0o755)
		os.WriteFile(filepath.Join(f, "photo.jpg"), jpegPhoto(t, uint8(i)), 0o644)
		if i%2 == 0 {
			os.WriteFile(filepath.Join(f, "evidence.yaml"), fmt.Appendf(nil, "kind: activity\ntitle: 第%d次活動\noccurred: 2016-06-%02d\n", i, i+1), 0o644)
		}
	}
	b, err := importer.Plan(dir, importer.Options{Unit: unit})
	if err != nil || len(b.Items) != n {
		t.Fatalf("plan: %v %+v", err, b)
	}
	var ids []string
	for _, it := range b.Items {
		ids = append(ids, it.ID.String())
	}
	run := func(sub importer.Submitter, ctx context.Context) *importer.Summary {
		return importer.Run(ctx, b, sub, importer.RunOptions{})
	}
	apiOf := func() *client.Client {
		c, err := client.New(s.URL, s.Admin)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	// 1. The second item is recorded but its answer lost: the run stops.
	sum := run(&lossySubmitter{next: apiSubmitter{a: apiOf()}, lose: 2}, context.Background())
	if sum.Err == nil || sum.Count(importer.Submitted) != 1 || sum.Count(importer.NotSent) != n-1 {
		t.Fatalf("lost answer: %+v", sum)
	}
	// 2. The server stops after the fourth item was sent.
	sum = run(&lossySubmitter{next: apiSubmitter{a: apiOf()}, after: func(k int) {
		if k == 4 {
			s.stop(t)
		}
	}}, context.Background())
	if sum.Err == nil || sum.Count(importer.Already) != 2 || sum.Count(importer.Submitted) != 2 || sum.Count(importer.NotSent) != n-4 {
		t.Fatalf("server stopped: %+v", sum)
	}
	s.start(t)
	// 3. Cancelled after the fifth item.
	ctx, cancel := context.WithCancel(context.Background())
	sum = run(&lossySubmitter{next: apiSubmitter{a: apiOf()}, after: func(k int) {
		if k == 5 {
			cancel()
		}
	}}, ctx)
	cancel()
	if !errors.Is(sum.Err, context.Canceled) {
		t.Fatalf("cancelled: %+v", sum)
	}
	// 4. The rerun, through the command, completes.
	code, out, errs := cli(t, s, s.Admin, "import", "--unit", unit, dir)
	if code != 0 || !strings.HasPrefix(out, "submitted ") || strings.Contains(out, "refused 1") {
		t.Fatalf("rerun: %d\n%s\n%s", code, out, errs)
	}
	evidenceOnce(t, s, unit, ids)
	code, out, _ = cli(t, s, s.Admin, "import", "--unit", unit, dir)
	if code != 0 || !strings.HasPrefix(out, fmt.Sprintf("submitted 0, already there %d, refused 0\n", n)) {
		t.Fatalf("last run: %d\n%s", code, out)
	}
	evidenceOnce(t, s, unit, ids)
}

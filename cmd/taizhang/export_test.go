package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"taizhang/events"
)

// zipEntry is one file of a zip read whole (test bags are small).
type zipEntry struct {
	name string
	data []byte
}

func readZip(t *testing.T, path string) []zipEntry {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var out []zipEntry
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, zipEntry{f.Name, b})
	}
	return out
}

func writeZip(t *testing.T, path string, es []zipEntry) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range es {
		w, err := zw.Create(e.name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// entry returns the index of the bag file ending in suffix.
func entry(t *testing.T, es []zipEntry, suffix string) int {
	t.Helper()
	for i, e := range es {
		if strings.HasSuffix(e.name, "/"+suffix) {
			return i
		}
	}
	t.Fatalf("no %s in bag", suffix)
	return -1
}

// remanifest recomputes manifest-sha256.txt, Payload-Oxum and
// Taizhang-Events in bag-info.txt and tagmanifest-sha256.txt, as a forger
// would after editing the payload.
func remanifest(t *testing.T, es []zipEntry, nEvents int) {
	t.Helper()
	var man, tag []string
	var octets int64
	files := 0
	sum := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
	for _, e := range es {
		_, rel, _ := strings.Cut(e.name, "/")
		if strings.HasPrefix(rel, "data/") {
			man = append(man, sum(e.data)+"  "+rel)
			octets += int64(len(e.data))
			files++
		}
	}
	es[entry(t, es, "manifest-sha256.txt")].data = []byte(strings.Join(man, "\n") + "\n")
	bi := entry(t, es, "bag-info.txt")
	info := regexp.MustCompile(`Payload-Oxum: \S+`).ReplaceAllString(string(es[bi].data), fmt.Sprintf("Payload-Oxum: %d.%d", octets, files))
	info = regexp.MustCompile(`Taizhang-Events: \S+`).ReplaceAllString(info, fmt.Sprintf("Taizhang-Events: %d", nEvents))
	es[bi].data = []byte(info)
	for _, e := range es {
		_, rel, _ := strings.Cut(e.name, "/")
		if !strings.HasPrefix(rel, "data/") && rel != "tagmanifest-sha256.txt" {
			tag = append(tag, sum(e.data)+"  "+rel)
		}
	}
	es[entry(t, es, "tagmanifest-sha256.txt")].data = []byte(strings.Join(tag, "\n") + "\n")
}

func TestExportRoundTrip(t *testing.T) {
	s := startServer(t, "", "--checkpoint-interval", "0")
	s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": "cun", "name": "東村", "type": "village"})
	for i := range 3 {
		r := s.submit(t, s.Admin, "cun", map[string]any{"kind": "photo", "title": fmt.Sprintf("學習 %d", i), "occurred_at": "2016-07-01"},
			file{fmt.Sprintf("p%d.jpg", i), jpegPhoto(t, uint8(i))}, file{"note.txt", []byte(fmt.Sprintf("notes %d\n", i))})
		if r.Status != 201 {
			t.Fatalf("submit: %d %s", r.Status, r.Body)
		}
	}
	r := s.submit(t, s.Admin, "cun", map[string]any{"kind": "summary", "title": "總結", "body": "no files", "occurred_at": "2016-07-02"})
	if r.Status != 201 {
		t.Fatalf("submit: %d %s", r.Status, r.Body)
	}
	dir := t.TempDir()
	bag := filepath.Join(dir, "bag.zip")
	code, out, errs := cli(t, s, s.Admin, "export", "--unit", "cun", "-o", bag)
	if code != 0 {
		t.Fatalf("export: %d %s %s\n%s", code, out, errs, s.log.String())
	}
	t.Log(out)
	code, out, errs = cli(t, s, s.Admin, "verify-bag", bag)
	if code != 0 || !strings.Contains(out, "OK: unit cun") || !strings.Contains(out, "5 events, 6 attachments") {
		t.Fatalf("verify-bag: %d\n%s%s", code, out, errs)
	}
	// Pinning the right key passes, another key fails.
	key := s.get(t, s.Admin, "/api/v1/checkpoints/key")
	var k struct{ Key string }
	key.decode(t, &k)
	if code, out, _ := cli(t, s, s.Admin, "verify-bag", "--pubkey", k.Key, bag); code != 0 {
		t.Fatalf("pinned key: %s", out)
	}
	other := "taizhang/TAIZHANG_LEDGER+0badc0de+AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghij"
	if code, out, _ := cli(t, s, s.Admin, "verify-bag", "--pubkey", other, bag); code != 1 || !strings.Contains(out, "not the expected key") {
		t.Fatalf("other key: %d %s", code, out)
	}

	// The export is recorded in the unit's chain.
	h := s.history(t, s.Admin, "cun", "")
	last := h[len(h)-1]
	if last.Type != events.TypeUnitExported || last.Actor.Role != events.RoleAdmin {
		t.Fatalf("last event: %+v", last)
	}
	var x events.UnitExported
	json.Unmarshal(last.Data, &x)
	zb, _ := os.ReadFile(bag)
	if sum := sha256.Sum256(zb); x.BagSHA256 != hex.EncodeToString(sum[:]) || x.Events != 5 {
		t.Fatalf("recorded export %+v, bag sha256 %x", x, sum)
	}
	// And the supervisor's per-actor view counts it, once the projection has
	// the event: an export's answer (the bag, streamed before the event is
	// recorded) cannot carry its X-Taizhang-Seq, so the read asks for the
	// sequence the unit's history shows.
	var acts struct {
		Actors []struct {
			Actor    string
			Exported int
		}
	}
	s.get(t, s.Admin, fmt.Sprintf("/api/v1/audit/actors?unit=cun&min_seq=%d", last.Seq)).decode(t, &acts)
	if len(acts.Actors) != 1 || acts.Actors[0].Actor != "admin" || acts.Actors[0].Exported != 1 {
		t.Fatalf("audit actors after an export: %+v", acts)
	}

	// sha256sum -c on the extracted payload manifest.
	es := readZip(t, bag)
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Log("sha256sum not on PATH: skipping that check")
	} else {
		ex := t.TempDir()
		for _, e := range es {
			p := filepath.Join(ex, e.name)
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, e.data, 0o644)
		}
		bagDir := filepath.Join(ex, strings.Split(es[0].name, "/")[0])
		cmd := exec.Command("sha256sum", "-c", "manifest-sha256.txt")
		cmd.Dir = bagDir
		if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), "data/index.html: OK") {
			t.Fatalf("sha256sum -c: %v\n%s", err, b)
		}
		idx, _ := os.ReadFile(filepath.Join(bagDir, "data/index.html"))
		if !strings.Contains(string(idx), `<img src="attachments/`) || !strings.Contains(string(idx), "學習 1") {
			t.Fatalf("index.html:\n%s", idx)
		}
		if _, err := os.Stat(filepath.Join(bagDir, "data/compliance.json")); err != nil {
			t.Fatal(err)
		}
	}

	fails := func(name string, es []zipEntry, want ...string) {
		t.Helper()
		p := filepath.Join(dir, name+".zip")
		writeZip(t, p, es)
		code, out, _ := cli(t, s, s.Admin, "verify-bag", p)
		if code != 1 {
			t.Fatalf("%s: verify-bag exit %d:\n%s", name, code, out)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output does not name %q:\n%s", name, w, out)
			}
		}
		t.Logf("%s:\n%s", name, out)
	}
	clone := func() []zipEntry {
		c := make([]zipEntry, len(es))
		for i, e := range es {
			c[i] = zipEntry{e.name, bytes.Clone(e.data)}
		}
		return c
	}
	// One byte of one attachment.
	c := clone()
	for i, e := range c {
		if strings.Contains(e.name, "/data/attachments/") && strings.HasSuffix(e.name, ".jpg") {
			c[i].data[len(e.data)/2] ^= 1
			_, rel, _ := strings.Cut(e.name, "/")
			fails("attachment-byte", c, rel+": SHA-256 is")
			break
		}
	}
	// One byte of one event (a title).
	c = clone()
	ei := entry(t, c, "data/events.jsonl")
	lines := strings.SplitAfter(string(c[ei].data), "\n")
	var second struct{ ID string }
	json.Unmarshal([]byte(lines[1]), &second)
	c[ei].data = bytes.Replace(c[ei].data, []byte("學習 0"), []byte("學習 9"), 1)
	fails("event-byte", c, "data/events.jsonl: SHA-256 is", "event "+second.ID+": line 2, seq", "content hashes to")
	// One byte of a tag file.
	c = clone()
	bi := entry(t, c, "bag-info.txt")
	c[bi].data = bytes.Replace(c[bi].data, []byte("Taizhang-Unit: cun"), []byte("Taizhang-Unit: cum"), 1)
	fails("bag-info-byte", c, "bag-info.txt: SHA-256 is")
	// One event line dropped (the manifest not recomputed).
	c = clone()
	var third struct{ ID string }
	json.Unmarshal([]byte(lines[2]), &third)
	c[ei].data = []byte(lines[0] + lines[2] + lines[3] + lines[4])
	fails("dropped-line", c, "data/events.jsonl: SHA-256 is", "event "+third.ID+": line 2, seq", "chain broken")
	// The unit's last event removed, manifests recomputed: only the
	// completeness check can tell.
	c = clone()
	c[ei].data = []byte(strings.Join(lines[:4], ""))
	remanifest(t, c, 4)
	fails("removed-event", c, "incomplete: the checkpoint proves unit cun has 5 events")

	// As of an earlier time: the later events travel as a tag file and the
	// bag still proves completeness.
	var fourth struct {
		RecordedAt time.Time `json:"recorded_at"`
	}
	json.Unmarshal([]byte(lines[3]), &fourth)
	early := filepath.Join(dir, "early.zip")
	if code, out, errs := cli(t, s, s.Admin, "export", "--unit", "cun", "--as-of", fourth.RecordedAt.Format(time.RFC3339Nano), "-o", early); code != 0 {
		t.Fatalf("export as of: %s %s", out, errs)
	}
	if code, out, _ := cli(t, s, s.Admin, "verify-bag", early); code != 0 || !strings.Contains(out, "4 events") {
		t.Fatalf("verify early bag: %s", out)
	}

	// A submitter of another unit may not export this one; unknown unit 404.
	if r := s.get(t, s.Admin, "/api/v1/units/nope/export"); r.Status != 404 {
		t.Fatalf("unknown unit: %d %s", r.Status, r.Body)
	}
	r = s.get(t, s.Admin, "/api/v1/units/cun/export")
	if r.Status != 200 || r.Header.Get("Content-Type") != "application/zip" || !strings.HasPrefix(r.Header.Get("Content-Disposition"), "attachment;") {
		t.Fatalf("GET export: %d %v", r.Status, r.Header)
	}
}

// uploadStream submits one evidence item with an attachment of size
// pattern bytes, streamed.
func uploadStream(t testing.TB, s *server, unit string, size int64, seed uint64) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		meta, _ := json.Marshal(map[string]any{"kind": "document", "title": "scan", "occurred_at": "2016-07-01"})
		w, _ := mw.CreateFormField("evidence")
		w.Write(meta)
		fw, _ := mw.CreateFormFile("attachment", "scan.pdf")
		_, err := io.CopyBuffer(fw, pdfLike(size, seed), make([]byte, 32<<10))
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, _ := http.NewRequest("POST", s.URL+"/api/v1/units/"+unit+"/evidence", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+s.Admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
}

// TestExportMemoryBounded exports a unit of 2,000 events and 1 GiB of
// attachments (1 GiB; TAIZHANG_EXPORT_MIB=256 for less) through io.Discard and
// measures the peak heap growth of the process (server and client).
func TestExportMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("exports hundreds of MiB")
	}
	mib := int64(1024)
	if v, err := strconv.ParseInt(os.Getenv("TAIZHANG_EXPORT_MIB"), 10, 64); err == nil && v > 0 {
		mib = v
	}
	s := startServer(t, "", "--checkpoint-interval", "0")
	s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": "cun", "name": "村", "type": "village"})
	const chunk = 32 << 20
	for i := int64(0); i < mib<<20/chunk; i++ {
		uploadStream(t, s, "cun", chunk, 88172645463325252+uint64(i))
	}
	var wg sync.WaitGroup
	var failed atomic.Int32
	per := 1999 - int(mib<<20/chunk)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < per; i += 8 {
				meta, _ := json.Marshal(map[string]any{"kind": "activity", "title": fmt.Sprintf("活動 %d", i), "body": strings.Repeat("內容", 100), "occurred_at": "2016-07-01"})
				ct, body := multipartOf(t, "evidence", meta)
				req, _ := http.NewRequest("POST", s.URL+"/api/v1/units/cun/evidence", body)
				req.Header.Set("Content-Type", ct)
				req.Header.Set("Authorization", "Bearer "+s.Admin)
				resp, err := http.DefaultClient.Do(req)
				if err != nil || resp.StatusCode != 201 {
					failed.Add(1)
				}
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d submissions failed", failed.Load())
	}

	start := time.Now()
	var n int64
	growth := peakHeapGrowth(func() {
		req, _ := http.NewRequest("GET", s.URL+"/api/v1/units/cun/export", nil)
		req.Header.Set("Authorization", "Bearer "+s.Admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		n, err = io.CopyBuffer(io.Discard, resp.Body, make([]byte, 64<<10))
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("export: %d %v", resp.StatusCode, err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	if n < mib<<20 {
		t.Fatalf("bag of %d bytes", n)
	}
	t.Logf("export of 2,000 events and %d MiB of attachments: %.0f MiB bag in %v, peak heap growth %.1f MiB",
		mib, float64(n)/(1<<20), time.Since(start).Round(time.Millisecond), float64(growth)/(1<<20))
	if growth >= 32<<20 {
		t.Fatalf("peak heap grew by %.1f MiB, want < 32 MiB", float64(growth)/(1<<20))
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"taizhang/backup"
	"taizhang/internal/testenv"
)

// runCmd runs one taizhang command in-process and returns its exit status
// and output.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, nil, &out, &errb)
	return code, out.String(), errb.String()
}

// volatile are the parts of these pages that differ between two
// renderings by the same process: the fresh evidence id of a submit form
// (so that a form sent twice makes one item), and the dossier's "as of now"
// and "printed at" minutes, from the clock (in either date format).
var volatile = regexp.MustCompile(`(name="id" value=")[0-9a-f-]{36}|((?:截至|生成于) )(?:\d{4}-\d\d-\d\d|\d{4}年\d{1,2}月\d{1,2}日) \d\d:\d\d`)

// unitPages fetches every page of the units that shows their archive, in
// HTML and JSON, with token, with the volatile parts masked.
func unitPages(t *testing.T, s *server, token string, units []string) map[string]string {
	t.Helper()
	pages := map[string]string{}
	for _, u := range units {
		for _, p := range []string{"/units/" + u, "/units/" + u + "/timeline", "/units/" + u + "/dossier",
			"/api/v1/units/" + u + "/archive", "/api/v1/units/" + u, "/api/v1/units/" + u + "/history"} {
			r := s.get(t, token, p)
			if r.Status != 200 {
				t.Fatalf("GET %s: %d %s", p, r.Status, r.Body)
			}
			pages[p] = volatile.ReplaceAllString(string(r.Body), "$1$2…")
		}
	}
	return pages
}

// fillForBackup makes the data of a backup drill through s: two units, a
// clerk's token, evidence with photos, an amendment with another photo, a
// finding with a photo, a checkpoint. It returns the units and the clerk's
// token.
func fillForBackup(t *testing.T, s *server) (units []string, clerk string) {
	t.Helper()
	units = []string{"dongcun", "xicun"}
	for _, u := range units {
		if r := s.postJSON(t, s.Admin, "/api/v1/units", map[string]any{"id": u, "name": u + "村委會", "type": "village", "headcount": 800}); r.Status != 201 {
			t.Fatalf("register %s: %d %s", u, r.Status, r.Body)
		}
	}
	var tok struct{ Token string }
	s.postJSON(t, s.Admin, "/api/v1/tokens", map[string]any{"role": "submitter", "unit": "dongcun", "user": "clerk-wang"}).decode(t, &tok)
	clerk = tok.Token
	evID := uuid.NewString()
	if r := s.submit(t, clerk, "dongcun", map[string]any{"id": evID, "kind": "activity", "title": "端午節", "body": "包粽子", "occurred_at": "2016-06-09"},
		file{"粽子.png", pngPhoto(t, 1)}, file{"合影.jpg", jpegPhoto(t, 2)}); r.Status != 201 {
		t.Fatalf("submit: %d %s", r.Status, r.Body)
	}
	ct, body := multipartOf(t, "amend", []byte(`{"title":"端午節包粽子活動","reason":"標題不準確","expected_version":1}`), file{"補充.png", pngPhoto(t, 3)})
	if r := s.do(t, clerk, "POST", "/api/v1/units/dongcun/evidence/"+evID+"/amend", ct, body); r.Status != 200 {
		t.Fatalf("amend: %d %s", r.Status, r.Body)
	}
	if r := s.submit(t, s.Admin, "xicun", map[string]any{"kind": "photo", "title": "宣傳欄", "occurred_at": "2016-07-01"}, file{"欄.jpg", jpegPhoto(t, 4)}); r.Status != 201 {
		t.Fatalf("submit xicun: %d %s", r.Status, r.Body)
	}
	ct, body = multipartOf(t, "finding", []byte(`{"description":"宣傳欄破損","severity":"low","due":"2016-09-30"}`), file{"破損.png", pngPhoto(t, 5)})
	if r := s.do(t, s.Admin, "POST", "/api/v1/units/xicun/findings", ct, body); r.Status != 201 {
		t.Fatalf("finding: %d %s", r.Status, r.Body)
	}
	if r := s.postJSON(t, s.Admin, "/api/v1/checkpoints", nil); r.Status != 201 && r.Status != 200 {
		t.Fatalf("checkpoint: %d %s", r.Status, r.Body)
	}
	return units, clerk
}

// TestBackupRestore is the backup and restore drill: a serve on a NATS
// server and MinIO with units, evidence with photos, an amendment, a
// finding and a checkpoint is backed up while it runs; the backup checks
// (and a damaged copy does not); it is restored into a fresh NATS server
// and a fresh bucket; verify passes there, a second restore is refused,
// and serve on the restored stores answers every unit's archive pages,
// HTML and JSON, the same as the original, to the original's tokens.
func TestBackupRestore(t *testing.T) {
	natsA := testenv.StartNATS(t)
	m := testenv.MinIO(t)
	s3 := func(bucket string) []string {
		return []string{"--s3-endpoint", m.Endpoint, "--s3-bucket", bucket, "--s3-access-key", m.AccessKey, "--s3-secret-key", m.SecretKey}
	}
	srcFlags := append([]string{"--nats", natsA.URL, "--replicas", "1"}, s3("evidence")...)
	s := startServer(t, "", append([]string{"--checkpoint-interval", "1h"}, srcFlags...)...)
	keyFile := filepath.Join(s.Data, "checkpoint.key")

	units, clerk := fillForBackup(t, s)
	before := unitPages(t, s, s.Admin, units)
	if a := before["/api/v1/units/dongcun/archive"]; !strings.Contains(a, "端午節包粽子活動") || strings.Count(a, `"sha256"`) < 3 {
		t.Fatalf("the archive before the backup lacks the amended item: %s", a)
	}

	// Backed up while serve runs.
	dir := filepath.Join(t.TempDir(), "backup")
	code, out, errs := runCmd(t, append([]string{"backup", "--to", dir}, srcFlags...)...)
	if code != 0 {
		t.Fatalf("backup: %d\n%s\n%s", code, out, errs)
	}
	t.Logf("backup:\n%s", out)
	var man backup.Manifest
	if b, err := os.ReadFile(filepath.Join(dir, "manifest.json")); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(b, &man); err != nil {
		t.Fatal(err)
	}
	streams := map[string]backup.ManifestStream{}
	for _, st := range man.Streams {
		streams[st.Name] = st
	}
	for _, want := range []string{"TAIZHANG_LEDGER", "TAIZHANG_CHECKPOINTS", "TAIZHANG_ACCESS", "KV_TAIZHANG_TOKENS", "KV_TAIZHANG_PASSWORDS"} {
		if _, ok := streams[want]; !ok {
			t.Errorf("backup has no stream %s: %+v", want, man.Streams)
		}
	}
	if man.Streams[len(man.Streams)-1].Name != "TAIZHANG_LEDGER" || man.Ledger.Events == 0 || man.Ledger.LastSeq != streams["TAIZHANG_LEDGER"].LastSeq {
		t.Errorf("manifest ledger: %+v, streams %+v", man.Ledger, man.Streams)
	}
	if man.Blobs.Count != 5 || streams["TAIZHANG_CHECKPOINTS"].Messages == 0 || streams["KV_TAIZHANG_TOKENS"].Messages < 2 {
		t.Errorf("manifest: %d blobs (want 5), checkpoints %+v, tokens %+v", man.Blobs.Count, streams["TAIZHANG_CHECKPOINTS"], streams["KV_TAIZHANG_TOKENS"])
	}
	if code, out, errs := runCmd(t, "backup", "check", dir); code != 0 || !strings.Contains(out, "no problems found") {
		t.Fatalf("backup check: %d\n%s\n%s", code, out, errs)
	}
	// A second backup into the same directory is refused.
	if code, _, errs := runCmd(t, append([]string{"backup", "--to", dir}, srcFlags...)...); code == 0 || !strings.Contains(errs, "not empty") {
		t.Fatalf("backup into a used directory: %d %s", code, errs)
	}

	// Damage is found by the check, and such a backup is not restored.
	blob := backup.BlobPath(dir, man.Blobs.List[0].SHA256)
	orig, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	damaged := bytes.Clone(orig)
	damaged[len(damaged)/2] ^= 0x01
	os.WriteFile(blob, damaged, 0o600)
	if code, out, _ := runCmd(t, "backup", "check", dir); code != 1 || !strings.Contains(out, man.Blobs.List[0].SHA256) {
		t.Fatalf("check of a damaged backup: %d\n%s", code, out)
	}
	natsB := testenv.StartNATS(t)
	dstFlags := append([]string{"--nats", natsB.URL, "--replicas", "1"}, s3("restored")...)
	if code, _, errs := runCmd(t, append([]string{"restore", "--from", dir}, dstFlags...)...); code != 1 || !strings.Contains(errs, "fails its check") {
		t.Fatalf("restore of a damaged backup: %d %s", code, errs)
	}
	os.WriteFile(blob, orig, 0o600)
	snap := filepath.Join(dir, "streams", "TAIZHANG_LEDGER", "backup.json")
	meta, _ := os.ReadFile(snap)
	os.WriteFile(snap, append(meta, ' '), 0o600)
	if code, out, _ := runCmd(t, "backup", "check", dir); code != 1 || !strings.Contains(out, "streams/TAIZHANG_LEDGER/backup.json") {
		t.Fatalf("check of a changed snapshot file: %d\n%s", code, out)
	}
	os.WriteFile(snap, meta, 0o600)

	// A target with one of the backup's streams but no ledger (an
	// interrupted restore) is refused too, naming the stream.
	nc := natsB.Connect(t)
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "TAIZHANG_ACCESS", Subjects: []string{"tz.access"}}); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCmd(t, append([]string{"restore", "--from", dir}, dstFlags...)...); code != 1 || !strings.Contains(errs, "already has stream(s) TAIZHANG_ACCESS") {
		t.Fatalf("restore onto a leftover stream: %d %s", code, errs)
	}
	if err := js.DeleteStream(context.Background(), "TAIZHANG_ACCESS"); err != nil {
		t.Fatal(err)
	}

	// Restored into the fresh NATS server and a fresh bucket.
	code, out, errs = runCmd(t, append([]string{"restore", "--from", dir}, dstFlags...)...)
	if code != 0 {
		t.Fatalf("restore: %d\n%s\n%s", code, out, errs)
	}
	t.Logf("restore: %s", out)
	if code, _, errs := runCmd(t, append([]string{"restore", "--from", dir}, dstFlags...)...); code != 1 || !strings.Contains(errs, "already holds a ledger") {
		t.Fatalf("second restore: %d %s", code, errs)
	}
	code, out, errs = runCmd(t, append([]string{"verify", "--checkpoint-key", keyFile}, dstFlags...)...)
	if code != 0 || !strings.Contains(out, "no problems found") || !strings.Contains(out, "5 re-read") {
		t.Fatalf("verify of the restored stores: %d\n%s\n%s", code, out, errs)
	}

	// serve on the restored stores, with the original's checkpoint key:
	// the original's tokens work, and every page is the same.
	s.stop(t)
	r := startServer(t, "", append([]string{"--checkpoint-interval", "1h", "--checkpoint-key", keyFile}, dstFlags...)...)
	after := unitPages(t, r, s.Admin, units)
	for p, want := range before {
		if after[p] != want {
			t.Errorf("%s differs after restore:\n%s\nwas\n%s", p, after[p], want)
		}
	}
	if g := r.get(t, clerk, "/api/v1/units/dongcun"); g.Status != 200 {
		t.Errorf("the clerk's token after restore: %d %s", g.Status, g.Body)
	}
	if g := r.get(t, clerk, "/api/v1/units/dongcun/archive"); g.Status != 200 {
		t.Errorf("archive for the clerk after restore: %d", g.Status)
	}
}

// TestBackupRestoreToCluster restores the other way round: a backup of the
// embedded default (one process, blobs in its directory; taken with serve
// stopped, as the data directory is locked while it runs) goes into a fresh
// three-node JetStream cluster with three replicas of every stream, and a
// bucket on versitygw, the second S3 server. verify passes, and serve on
// the cluster answers the same pages.
func TestBackupRestoreToCluster(t *testing.T) {
	gw := testenv.VersityGW(t)
	s := startServer(t, "", "--checkpoint-interval", "1h")
	units, clerk := fillForBackup(t, s)
	before := unitPages(t, s, s.Admin, units)
	keyFile := filepath.Join(s.Data, "checkpoint.key")

	// While serve runs, its embedded store is locked.
	dir := filepath.Join(t.TempDir(), "backup")
	if code, _, errs := runCmd(t, "backup", "--to", dir, "--data", s.Data); code != 1 || !strings.Contains(errs, "in use") {
		t.Fatalf("backup of a running embedded serve: %d %s", code, errs)
	}
	s.stop(t)
	if code, out, errs := runCmd(t, "backup", "--to", dir, "--data", s.Data); code != 0 {
		t.Fatalf("backup: %d\n%s\n%s", code, out, errs)
	}

	c := testenv.StartCluster(t, 3)
	dst := []string{"--nats", c.URLs, "--replicas", "3", "--s3-endpoint", gw.Endpoint, "--s3-bucket", "restored",
		"--s3-access-key", gw.AccessKey, "--s3-secret-key", gw.SecretKey}
	if code, out, errs := runCmd(t, append([]string{"restore", "--from", dir}, dst...)...); code != 0 {
		t.Fatalf("restore into the cluster: %d\n%s\n%s", code, out, errs)
	}
	nc, err := nats.Connect(c.URLs)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	for _, name := range []string{"TAIZHANG_LEDGER", "TAIZHANG_CHECKPOINTS", "KV_TAIZHANG_TOKENS"} {
		st, err := js.Stream(context.Background(), name)
		if err != nil {
			t.Fatalf("stream %s on the cluster: %v", name, err)
		}
		if cfg := st.CachedInfo().Config; cfg.Replicas != 3 {
			t.Errorf("stream %s restored with %d replicas, want 3", name, cfg.Replicas)
		}
	}
	code, out, errs := runCmd(t, append([]string{"verify", "--checkpoint-key", keyFile}, dst...)...)
	if code != 0 || !strings.Contains(out, "no problems found") || !strings.Contains(out, "5 re-read") {
		t.Fatalf("verify on the cluster: %d\n%s\n%s", code, out, errs)
	}
	r := startServer(t, "", append([]string{"--checkpoint-interval", "1h", "--checkpoint-key", keyFile}, dst...)...)
	after := unitPages(t, r, s.Admin, units)
	for p, want := range before {
		if after[p] != want {
			t.Errorf("%s differs after restore:\n%s\nwas\n%s", p, after[p], want)
		}
	}
	if g := r.get(t, clerk, "/api/v1/units/dongcun/archive"); g.Status != 200 {
		t.Errorf("the clerk's token on the cluster: %d %s", g.Status, g.Body)
	}
}

package export_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"taizhang/blobstore"
	"taizhang/blobstore/dir"
	"taizhang/events"
	"taizhang/events/checkpoint"
	tzjs "taizhang/events/jetstream"
	"taizhang/export"
	"taizhang/internal/testenv"
)

// clock is a settable clock for the ledger's recorded_at.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// fixture is a real ledger on embedded NATS with a checkpointer and a
// directory blob store, holding unit cun-1: a registration and a
// submission with two photos (one of them twice) recorded on 1 July, and
// an amendment recorded on 3 July; unit cun-2 has one event.
type fixture struct {
	ledger *tzjs.Ledger
	blobs  blobstore.Store
	cps    *tzjs.Checkpointer
	vkey   string
	photos [][]byte
}

var (
	july1 = time.Date(2016, 7, 1, 8, 0, 0, 0, time.UTC)
	july2 = time.Date(2016, 7, 2, 0, 0, 0, 0, time.UTC)
	july3 = time.Date(2016, 7, 3, 8, 0, 0, 0, time.UTC)
	admin = events.Actor{ID: "root", Role: events.RoleAdmin}
	clerk = events.Actor{ID: "clerk", Role: events.RoleSubmitter}
)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	clk := &clock{t: july1}
	ns := testenv.StartNATS(t)
	l, err := tzjs.Open(ctx, ns.Connect(t), tzjs.Config{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	blobs, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	skey, vkey, err := checkpoint.GenerateKey(checkpoint.Origin(tzjs.DefaultStream))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := checkpoint.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	cps, err := tzjs.StartCheckpointer(ctx, l, tzjs.CheckpointConfig{Signer: signer, VerifierKey: vkey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cps.Close)
	f := &fixture{ledger: l, blobs: blobs, cps: cps, vkey: vkey, photos: [][]byte{[]byte("\xff\xd8\xff photo one"), []byte("\x89PNG\r\n\x1a\n photo two")}}
	for _, u := range []string{"cun-1", "cun-2"} {
		if _, err := l.RegisterUnit(ctx, u, events.UnitRegistered{Name: "村委會 " + u, UnitType: "village"}, admin, events.ClientAPI); err != nil {
			t.Fatal(err)
		}
	}
	var atts []events.Attachment
	for i, p := range f.photos {
		rec, err := blobstore.Receive(ctx, blobs, bytes.NewReader(p), blobstore.ReceiveOptions{TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		mt := []string{"image/jpeg", "image/png"}[i]
		atts = append(atts, events.Attachment{SHA256: rec.Ref.String(), Size: rec.Size, MediaType: mt, Name: "相片.jpg"})
	}
	atts = append(atts, atts[0]) // the same photo twice: stored once in the bag
	id := uuid.New()
	sub, _, err := l.SubmitEvidence(ctx, events.Submission{ID: id, Unit: "cun-1", Evidence: events.Evidence{Kind: events.KindActivity, Title: "端午節主題活動"},
		OccurredAt: july1, Attachments: atts, Actor: clerk, Client: events.ClientCLI})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.SubmitEvidence(ctx, events.Submission{Unit: "cun-2", Evidence: events.Evidence{Kind: events.KindActivity, Title: "學習"},
		OccurredAt: july1, Actor: clerk, Client: events.ClientCLI}); err != nil {
		t.Fatal(err)
	}
	clk.Set(july3)
	title := "端午節主題活動（更正）"
	if _, err := l.AmendEvidence(ctx, events.Correction{Unit: "cun-1", Evidence: id, ExpectedVersion: 1, Reason: "typo",
		Changes: events.Changes{Title: &title}, Actor: clerk, Client: events.ClientCLI}); err != nil {
		t.Fatalf("amend %s (seq %d): %v", id, sub.Seq, err)
	}
	return f
}

// bag exports cun-1 as of asOf into a zip.
func (f *fixture) bag(t *testing.T, asOf time.Time) ([]byte, export.Result) {
	t.Helper()
	ctx := context.Background()
	b, err := export.Prepare(ctx, f.ledger, f.blobs, f.cps, export.Options{Unit: "cun-1", AsOf: asOf, Exporter: "root (admin)",
		Compliance: map[string]any{"score": 1}, Now: func() time.Time { return july3.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	res, err := b.WriteTo(ctx, &buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), res
}

func verify(t *testing.T, zipped []byte, opt export.VerifyOptions) *export.Report {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(zipped), int64(len(zipped)))
	if err != nil {
		t.Fatal(err)
	}
	return export.Verify(zr, opt)
}

// TestBagRoundTrip: a bag as of a time between the submission and the
// amendment holds the two events of then (the amendment goes in
// later-events.jsonl), each attachment once, and verifies with its own key
// and with the expected one; the result's digests are the bytes written.
func TestBagRoundTrip(t *testing.T) {
	f := newFixture(t)
	zipped, res := f.bag(t, july2)
	if res.Unit != "cun-1" || res.Events != 2 || res.Attachments != 2 || res.Bytes != int64(len(zipped)) {
		t.Errorf("result %+v (%d bytes written)", res, len(zipped))
	}
	if sum := sha256.Sum256(zipped); hex.EncodeToString(sum[:]) != res.BagSHA256 {
		t.Error("BagSHA256 is not the digest of the bytes written")
	}
	rep := verify(t, zipped, export.VerifyOptions{PublicKey: f.vkey})
	if !rep.OK() {
		t.Fatalf("problems: %v", rep.Problems)
	}
	if rep.Unit != "cun-1" || rep.Events != 2 || rep.Attachments != 2 || rep.TreeSize != res.TreeSize || rep.RootHash != res.RootHash || !rep.AsOf.Equal(july2) {
		t.Errorf("report %+v, result %+v", rep, res)
	}
	files := entries(t, zipped)
	for _, p := range f.photos {
		found := false
		for name, b := range files {
			if strings.Contains(name, "/"+export.AttachmentsDir) && bytes.Equal(b, p) {
				found = true
			}
		}
		if !found {
			t.Errorf("photo %q not in the bag", p[:6])
		}
	}
	later := files[bagDir(files)+export.LaterEventsJSON]
	if !bytes.Contains(later, []byte(`"evidence.amended"`)) {
		t.Errorf("later-events.jsonl does not hold the amendment: %s", later)
	}
	// As of now the amendment is in the payload and nothing is later.
	zipped, res = f.bag(t, time.Time{})
	if rep := verify(t, zipped, export.VerifyOptions{}); !rep.OK() || rep.Events != 3 || res.Events != 3 {
		t.Errorf("bag as of now: %d events, problems %v", rep.Events, rep.Problems)
	}
}

// TestVerifyFindsTampering: each kind of change to a bag is reported, in
// the file it is in.
func TestVerifyFindsTampering(t *testing.T) {
	f := newFixture(t)
	zipped, _ := f.bag(t, july2)
	files := entries(t, zipped)
	d := bagDir(files)
	var photo string
	for name := range files {
		if strings.HasPrefix(name, d+export.AttachmentsDir) {
			photo = strings.TrimPrefix(name, d)
			break
		}
	}
	otherKey := func() string {
		_, vkey, err := checkpoint.GenerateKey(checkpoint.Origin(tzjs.DefaultStream))
		if err != nil {
			t.Fatal(err)
		}
		return vkey
	}()
	dropLine := func(n int) func([]byte) []byte {
		return func(b []byte) []byte {
			lines := bytes.SplitAfter(b, []byte("\n"))
			return bytes.Join(append(lines[:n:n], lines[n+1:]...), nil)
		}
	}
	for _, c := range []struct {
		name   string
		change map[string]func([]byte) []byte // by path inside the bag; a nil result deletes
		opt    export.VerifyOptions
		file   string // the file a problem must name
		msg    string
	}{
		{"attachment altered", map[string]func([]byte) []byte{photo: func(b []byte) []byte { return append(b, '!') }}, export.VerifyOptions{}, photo, "sha256"},
		{"attachment removed", map[string]func([]byte) []byte{photo: func([]byte) []byte { return nil }}, export.VerifyOptions{}, photo, "missing"},
		{"extra attachment", map[string]func([]byte) []byte{export.AttachmentsDir + "extra.jpg": func([]byte) []byte { return []byte("x") }}, export.VerifyOptions{}, export.AttachmentsDir + "extra.jpg", "not named by any event"},
		{"first event dropped", map[string]func([]byte) []byte{export.EventsJSONL: dropLine(0)}, export.VerifyOptions{}, export.EventsJSONL, "chain broken"},
		{"later event dropped", map[string]func([]byte) []byte{export.LaterEventsJSON: func([]byte) []byte { return []byte{} }}, export.VerifyOptions{}, export.EventsJSONL, "incomplete"},
		{"event edited", map[string]func([]byte) []byte{export.EventsJSONL: func(b []byte) []byte { return bytes.Replace(b, []byte("端午節"), []byte("中秋節"), 1) }}, export.VerifyOptions{}, export.EventsJSONL, "hash"},
		{"another key expected", nil, export.VerifyOptions{PublicKey: otherKey}, export.BagInfoTxt, "not the expected key"},
		{"bag-info edited", map[string]func([]byte) []byte{export.BagInfoTxt: func(b []byte) []byte {
			return bytes.Replace(b, []byte("Taizhang-Unit: cun-1"), []byte("Taizhang-Unit: cun-2"), 1)
		}}, export.VerifyOptions{}, export.BagInfoTxt, export.TagManifestTxt + " says"},
		{"inclusion proofs removed", map[string]func([]byte) []byte{export.InclusionJSONL: func([]byte) []byte { return []byte{} }}, export.VerifyOptions{}, export.InclusionJSONL, "no inclusion proof"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep := verify(t, rezip(t, files, d, c.change), c.opt)
			if rep.OK() {
				t.Fatal("verified")
			}
			for _, p := range rep.Problems {
				if p.File == c.file && strings.Contains(p.Msg, c.msg) {
					return
				}
			}
			t.Errorf("no problem in %s saying %q: %v", c.file, c.msg, rep.Problems)
		})
	}
}

// entries reads a zip into memory: path -> bytes.
func entries(t *testing.T, zipped []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(zipped), int64(len(zipped)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
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
		out[f.Name] = b
	}
	return out
}

// bagDir is the bag's directory, with its slash.
func bagDir(files map[string][]byte) string {
	for name := range files {
		if strings.HasSuffix(name, "/"+export.BagitTxt) {
			return strings.TrimSuffix(name, export.BagitTxt)
		}
	}
	return ""
}

// rezip writes files again with change applied (paths inside dir).
func rezip(t *testing.T, files map[string][]byte, dir string, change map[string]func([]byte) []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	write := func(name string, b []byte) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range files {
		if fn, ok := change[strings.TrimPrefix(name, dir)]; ok {
			if b = fn(b); b == nil {
				continue
			}
		}
		write(name, b)
	}
	for p, fn := range change {
		if _, ok := files[dir+p]; !ok {
			write(dir+p, fn(nil))
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

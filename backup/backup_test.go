package backup_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"taizhang/auth"
	"taizhang/auth/natskv"
	"taizhang/backup"
	"taizhang/blobstore"
	"taizhang/blobstore/dir"
	"taizhang/events"
	tzjs "taizhang/events/jetstream"
	"taizhang/internal/testenv"

	"github.com/nats-io/nats.go/jetstream"
)

func stores(t *testing.T, ns *testenv.NATS, blobs blobstore.Store) backup.Stores {
	t.Helper()
	return backup.Stores{NC: ns.Connect(t), Replicas: 1, NATSName: "test nats", BlobsName: "test dir",
		Blobs: func(context.Context) (blobstore.Store, error) { return blobs, nil }}
}

// TestWriteCheckRestore: a backup of a ledger with an attachment and a
// token checks clean, names what it holds, reports a changed blob and a
// changed stream file, restores into a fresh server and directory with
// the same chain and blob, and is refused onto a server that has a
// ledger; Write refuses a directory that is not empty and a server
// without a ledger.
func TestWriteCheckRestore(t *testing.T) {
	ctx := context.Background()
	src := testenv.StartNATS(t)
	srcBlobs, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l, err := tzjs.Open(ctx, src.Connect(t), tzjs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	admin := events.Actor{ID: "root", Role: events.RoleAdmin}
	if _, err := l.RegisterUnit(ctx, "cun-1", events.UnitRegistered{Name: "東村", UnitType: "village"}, admin, events.ClientAPI); err != nil {
		t.Fatal(err)
	}
	photo := []byte("\xff\xd8\xff a photo")
	rec, err := blobstore.Receive(ctx, srcBlobs, bytes.NewReader(photo), blobstore.ReceiveOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.SubmitEvidence(ctx, events.Submission{Unit: "cun-1", Evidence: events.Evidence{Kind: events.KindActivity, Title: "端午"},
		OccurredAt: time.Date(2016, 6, 9, 9, 0, 0, 0, time.UTC), Actor: admin, Client: events.ClientCLI,
		Attachments: []events.Attachment{{SHA256: rec.Ref.String(), Size: rec.Size, MediaType: "image/jpeg", Name: "a.jpg"}}}); err != nil {
		t.Fatal(err)
	}
	creds, err := natskv.Open(ctx, l.JetStream(), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := creds.Put(ctx, auth.HashToken("tz_x"), auth.TokenRecord{ID: "t1", User: "root"}); err != nil {
		t.Fatal(err)
	}
	want, err := l.History(ctx, "cun-1", time.Time{})
	if err != nil {
		t.Fatal(err)
	}

	bdir := t.TempDir()
	m, err := backup.Write(ctx, stores(t, src, srcBlobs), bdir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Ledger.Chains < 1 || m.Ledger.Events < 2 || m.Blobs.Count != 1 || m.Source.NATS != "test nats" {
		t.Errorf("manifest: %+v", m)
	}
	checked, problems, err := backup.Check(bdir)
	if err != nil || len(problems) > 0 || checked.Ledger != m.Ledger {
		t.Fatalf("Check: %v %v", problems, err)
	}
	var sum strings.Builder
	m.Summary(&sum, bdir)
	for _, w := range []string{"the ledger", "KV_" + natskv.TokensBucket, "blobs: 1"} {
		if !strings.Contains(sum.String(), w) {
			t.Errorf("summary has no %q:\n%s", w, sum.String())
		}
	}

	// A changed blob and a changed stream file are problems.
	bp := backup.BlobPath(bdir, rec.Ref.String())
	if err := os.WriteFile(bp, []byte("other bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	streamFile := bdir + "/" + m.Streams[len(m.Streams)-1].Files[0].Path
	orig, err := os.ReadFile(streamFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(streamFile, append(orig, 'x'), 0o600); err != nil {
		t.Fatal(err)
	}
	_, problems, err = backup.Check(bdir)
	all := strings.Join(problems, "\n")
	if err != nil || !strings.Contains(all, "blob "+rec.Ref.String()+": its bytes hash to") || !strings.Contains(all, m.Streams[len(m.Streams)-1].Files[0].Path+": ") {
		t.Errorf("Check of a changed blob and stream file: %v %v", problems, err)
	}
	if err := os.WriteFile(bp, photo, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(streamFile, orig, 0o600); err != nil {
		t.Fatal(err)
	}

	// Restore into a fresh server and directory.
	dst := testenv.StartNATS(t)
	dstBlobs, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := backup.Restore(ctx, stores(t, dst, dstBlobs), bdir, m); err != nil {
		t.Fatal(err)
	}
	l2, err := tzjs.Open(ctx, dst.Connect(t), tzjs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	got, err := l2.History(ctx, "cun-1", time.Time{})
	if err != nil || len(got) != len(want) || got[len(got)-1].Event.Hash != want[len(want)-1].Event.Hash {
		t.Fatalf("restored chain: %d events, %v; want %d", len(got), err, len(want))
	}
	if _, err := blobstore.Verify(ctx, dstBlobs, rec.Ref); err != nil {
		t.Errorf("restored blob: %v", err)
	}
	js, _ := jetstream.New(dst.Connect(t))
	if _, err := js.KeyValue(ctx, natskv.TokensBucket); err != nil {
		t.Errorf("restored token bucket: %v", err)
	}
	if err := backup.Restore(ctx, stores(t, dst, dstBlobs), bdir, m); !errors.Is(err, backup.ErrTargetHasLedger) {
		t.Errorf("restore onto a ledger: %v, want ErrTargetHasLedger", err)
	}

	if _, err := backup.Write(ctx, stores(t, src, srcBlobs), bdir); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("backup into a non-empty directory: %v", err)
	}
	if _, err := backup.Write(ctx, stores(t, testenv.StartNATS(t), srcBlobs), t.TempDir()); err == nil || !strings.Contains(err.Error(), "no ledger") {
		t.Errorf("backup of a server without a ledger: %v", err)
	}
}

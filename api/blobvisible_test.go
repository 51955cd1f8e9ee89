package api

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"taizhang/auth"
	"taizhang/blobstore"
	"taizhang/blobstore/dir"
	"taizhang/events"
	tzjs "taizhang/events/jetstream"
	"taizhang/internal/testenv"
	"taizhang/projections"
)

// TestBlobVisibleWaitsForTheProjection: a scoped user's blob, attached by
// an event the archive projection has not applied yet (appended a moment
// ago, here or on another replica), is not answered "not found": the check
// waits for the projection to apply the ledger's last event and looks
// again. The projection is held still (not run) so that the order is
// certain: while it is behind, the answer is that it is behind (503),
// never a 404; once it runs, the blob is the clerk's.
func TestBlobVisibleWaitsForTheProjection(t *testing.T) {
	ctx := context.Background()
	l, err := tzjs.Open(ctx, testenv.StartNATS(t).Connect(t), tzjs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	blobs, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	admin := events.Actor{ID: "admin", Role: events.RoleAdmin}
	if _, err := l.RegisterUnit(ctx, "cun-1", events.UnitRegistered{Name: "東村", UnitType: "village"}, admin, events.ClientAPI); err != nil {
		t.Fatal(err)
	}
	photo := []byte("the bytes of a photo")
	rec, err := blobstore.Receive(ctx, blobs, bytes.NewReader(photo), blobstore.ReceiveOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	digest := rec.Ref.String()
	clerk := auth.Principal{User: "clerk", Role: events.RoleSubmitter, Unit: "cun-1"}
	live := projections.NewLive(l, nil) // not running yet: it applies nothing
	s := New(Deps{Ledger: l, Blobs: blobs, Archive: live}, Config{TempDir: t.TempDir(), WaitProjection: 100 * time.Millisecond})

	if _, _, err := l.SubmitEvidence(ctx, events.Submission{Unit: "cun-1", Evidence: events.Evidence{Kind: events.KindPhoto, Title: "宣傳欄"},
		OccurredAt: time.Now(), Attachments: []events.Attachment{{SHA256: digest, Size: int64(len(photo)), MediaType: "image/jpeg", Name: "p.jpg"}},
		Actor: events.Actor{ID: "clerk", Role: events.RoleSubmitter}, Client: events.ClientAPI}); err != nil {
		t.Fatal(err)
	}
	err = s.blobVisible(ctx, clerk, digest, "")
	if errors.Is(err, events.ErrNotFound) || !errors.Is(err, projections.ErrBehind) {
		t.Fatalf("the projection behind the submission that attached it: %v, want ErrBehind, not not-found", err)
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); live.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	s.cfg.WaitProjection = time.Minute // a bound, not a timing: it answers as soon as the projection applies
	if err := s.blobVisible(ctx, clerk, digest, ""); err != nil {
		t.Fatalf("once the projection runs: %v", err)
	}
	other := auth.Principal{User: "clerk2", Role: events.RoleSubmitter, Unit: "cun-2"}
	if err := s.blobVisible(ctx, other, digest, ""); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("another unit's clerk: %v, want not found", err)
	}
}

package minio_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mc "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"taizhang/blobstore"
	"taizhang/blobstore/minio"
	"taizhang/blobstore/storagetest"
	"taizhang/internal/testenv"
)

var bucketSeq atomic.Int64

// newBucketName returns a bucket name not used before in this process.
func newBucketName() string {
	return fmt.Sprintf("tz-test-%d-%d", time.Now().UnixNano()%1e9, bucketSeq.Add(1))
}

func config(srv testenv.S3Server, bucket string) minio.Config {
	c := srv.S3()
	return minio.Config{Endpoint: c.Endpoint, Bucket: bucket, AccessKey: c.AccessKey, SecretKey: c.SecretKey}
}

func newStore(t testing.TB, srv testenv.S3Server, bucket string) *minio.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := minio.New(ctx, config(srv, bucket))
	if err != nil {
		t.Fatalf("minio.New: %v", err)
	}
	return s
}

// rawClient is a plain minio-go client for the server, to look and tamper
// behind the store's back.
func rawClient(t testing.TB, srv testenv.S3Server) *mc.Client {
	t.Helper()
	s := srv.S3()
	c, err := mc.New(s.Endpoint, &mc.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestConformance runs the blob store conformance suite against each S3
// server: MinIO, and versitygw (an independently written S3 server, with
// its posix backend), so that the store does not depend on one server's
// quirks.
func TestConformance(t *testing.T) {
	t.Run("MinIO", func(t *testing.T) { conformance(t, testenv.MinIO(t)) })
	t.Run("VersityGW", func(t *testing.T) { conformance(t, testenv.VersityGW(t)) })
}

func conformance(t *testing.T, srv testenv.S3Server) {
	raw := rawClient(t, srv)
	storagetest.Run(t, func(t *testing.T) storagetest.Harness {
		// Each subtest gets its own, empty bucket on the shared server.
		bucket := newBucketName()
		s := newStore(t, srv, bucket)
		return storagetest.Harness{Store: s, Corrupt: func(ref blobstore.Ref) error {
			return corrupt(raw, bucket, ref)
		}}
	})
}

// corrupt replaces the object by other bytes: the same length with one
// byte flipped for even sizes, one byte longer for odd sizes, so that both
// kinds of damage are exercised.
func corrupt(raw *mc.Client, bucket string, ref blobstore.Ref) error {
	ctx := context.Background()
	obj, err := raw.GetObject(ctx, bucket, minio.Key(ref), mc.GetObjectOptions{})
	if err != nil {
		return err
	}
	b, err := io.ReadAll(obj)
	obj.Close()
	if err != nil {
		return err
	}
	if len(b)%2 == 1 {
		b = append(b, 'x')
	} else {
		b[len(b)/2] ^= 0x01
	}
	_, err = raw.PutObject(ctx, bucket, minio.Key(ref), bytes.NewReader(b), int64(len(b)), mc.PutObjectOptions{})
	return err
}

func TestNewCreatesBucket(t *testing.T) {
	srv := testenv.MinIO(t)
	raw := rawClient(t, srv)
	ctx := context.Background()
	bucket := newBucketName()
	if ok, err := raw.BucketExists(ctx, bucket); err != nil || ok {
		t.Fatalf("BucketExists before New = %v, %v", ok, err)
	}
	s := newStore(t, srv, bucket)
	if ok, err := raw.BucketExists(ctx, bucket); err != nil || !ok {
		t.Fatalf("BucketExists after New = %v, %v", ok, err)
	}
	if s.Bucket() != bucket {
		t.Errorf("Bucket() = %q, want %q", s.Bucket(), bucket)
	}
	// Opening an existing bucket is fine, and sees what is stored.
	rec, err := blobstore.Receive(ctx, s, strings.NewReader("kept"), blobstore.ReceiveOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s2 := newStore(t, srv, bucket)
	if info, err := s2.Stat(ctx, rec.Ref); err != nil || info.Size != 4 {
		t.Errorf("Stat through a second store = %+v, %v", info, err)
	}
	// The object is where the layout says, typed as opaque bytes.
	oi, err := raw.StatObject(ctx, bucket, "sha256/"+rec.Ref.String(), mc.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if oi.ContentType != "application/octet-stream" {
		t.Errorf("ContentType = %q", oi.ContentType)
	}
}

func TestNewRejects(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range []minio.Config{
		{Bucket: "b"},
		{Endpoint: "127.0.0.1:9000"},
		{Endpoint: "ftp://127.0.0.1:9000", Bucket: "b"},
		{Endpoint: "http://127.0.0.1:9000/path", Bucket: "b"},
	} {
		if _, err := minio.New(ctx, cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestBadCredentials(t *testing.T) {
	srv := testenv.MinIO(t)
	cfg := config(srv, newBucketName())
	cfg.SecretKey = "wrong-secret-key"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := minio.New(ctx, cfg)
	if err == nil {
		t.Fatal("New with a wrong secret key succeeded")
	}
	if errors.Is(err, blobstore.ErrUnavailable) {
		t.Errorf("wrong credentials reported as unavailable: %v", err)
	}
}

// TestUnavailable stops the server under a working store: every operation
// fails with ErrUnavailable, promptly, and works again once the server is
// back; on MinIO and on versitygw.
func TestUnavailable(t *testing.T) {
	t.Run("MinIO", func(t *testing.T) { unavailable(t, testenv.MinIO(t)) })
	t.Run("VersityGW", func(t *testing.T) { unavailable(t, testenv.VersityGW(t)) })
}

func unavailable(t *testing.T, srv testenv.S3Server) {
	s := newStore(t, srv, newBucketName())
	ctx := context.Background()
	stored, err := blobstore.Receive(ctx, s, strings.NewReader("stored before the outage"), blobstore.ReceiveOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	fresh := []byte("uploaded during the outage")
	freshRef := blobstore.RefOf(fresh)

	srv.Stop()

	// The guard only keeps a hang from stalling the test; the store must
	// answer by itself, with ErrUnavailable rather than a deadline.
	check := func(op string, f func(ctx context.Context) error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		start := time.Now()
		err := f(ctx)
		t.Logf("%s with the server down: %v after %v", op, err, time.Since(start).Round(time.Millisecond))
		if !errors.Is(err, blobstore.ErrUnavailable) {
			t.Errorf("%s with the server down: %v, want ErrUnavailable", op, err)
		}
		if ctx.Err() != nil {
			t.Errorf("%s with the server down took the whole guard timeout", op)
		}
	}
	check("Put", func(ctx context.Context) error {
		return s.Put(ctx, freshRef, int64(len(fresh)), bytes.NewReader(fresh))
	})
	check("Get", func(ctx context.Context) error {
		rc, _, err := s.Get(ctx, stored.Ref)
		if err == nil {
			rc.Close()
		}
		return err
	})
	check("Stat", func(ctx context.Context) error {
		_, err := s.Stat(ctx, stored.Ref)
		return err
	})
	check("Receive", func(ctx context.Context) error {
		_, err := blobstore.Receive(ctx, s, bytes.NewReader(fresh), blobstore.ReceiveOptions{TempDir: t.TempDir()})
		return err
	})
	check("Open", func(ctx context.Context) error {
		rc, _, err := blobstore.Open(ctx, s, stored.Ref)
		if err == nil {
			rc.Close()
		}
		return err
	})
	check("Ping", func(ctx context.Context) error { return s.Ping(ctx) })
	check("New", func(ctx context.Context) error {
		_, err := minio.New(ctx, config(srv, newBucketName()))
		return err
	})

	srv.Start(t)

	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after restart: %v", err)
	}
	if _, err := blobstore.Verify(ctx, s, stored.Ref); err != nil {
		t.Errorf("Verify of the blob stored before the outage: %v", err)
	}
	rec, err := blobstore.Receive(ctx, s, bytes.NewReader(fresh), blobstore.ReceiveOptions{TempDir: t.TempDir()})
	if err != nil || rec.Ref != freshRef {
		t.Fatalf("Receive after restart = %s, %v", rec.Ref, err)
	}
	if _, err := blobstore.Verify(ctx, s, freshRef); err != nil {
		t.Errorf("Verify after restart: %v", err)
	}
}

// TestServerDiesMidDownload kills the server while a download is streaming:
// the reader fails with ErrUnavailable, never with a clean end.
func TestServerDiesMidDownload(t *testing.T) {
	srv := testenv.MinIO(t)
	s := newStore(t, srv, newBucketName())
	ctx := context.Background()
	content := bytes.Repeat([]byte("0123456789abcdef"), 4<<20) // 64 MiB
	rec, err := blobstore.Receive(ctx, s, bytes.NewReader(content), blobstore.ReceiveOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := blobstore.Open(ctx, s, rec.Ref)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	_, err = io.Copy(io.Discard, rc)
	if err == nil {
		t.Fatal("download completed although the server died")
	}
	// Depending on how much the kernel had buffered, the stream either
	// breaks (unavailable) or ends early (corrupt); both are refusals.
	if !errors.Is(err, blobstore.ErrUnavailable) && !errors.Is(err, blobstore.ErrCorrupt) {
		t.Errorf("download cut by a dead server: %v, want ErrUnavailable", err)
	}
	t.Logf("download cut by a dead server: %v", err)
}

// TestWORM: a bucket that New creates has object lock with a default
// retention, so MinIO itself refuses to delete a stored attachment, and an
// overwrite cannot replace the original: it stays, locked, as its own
// version (and the store reports the new bytes as corrupt).
func TestWORM(t *testing.T) {
	srv := testenv.MinIO(t)
	bucket := newBucketName()
	s := newStore(t, srv, bucket)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	content := []byte("整改前照片 — locked")
	rec, err := blobstore.Receive(ctx, s, bytes.NewReader(content), blobstore.ReceiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw := rawClient(t, srv)
	key := minio.Key(rec.Ref)
	mode, validity, unit, err := func() (string, uint, string, error) {
		_, m, v, u, err := raw.GetObjectLockConfig(ctx, bucket)
		if err != nil || m == nil || v == nil || u == nil {
			return "", 0, "", fmt.Errorf("no default retention: %v", err)
		}
		return string(*m), *v, string(*u), nil
	}()
	if err != nil || mode != "GOVERNANCE" || validity != 3650 || unit != "DAYS" {
		t.Fatalf("object lock config: %s %d %s %v", mode, validity, unit, err)
	}
	st, err := raw.StatObject(ctx, bucket, key, mc.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.RemoveObject(ctx, bucket, key, mc.RemoveObjectOptions{VersionID: st.VersionID}); err == nil {
		t.Fatal("MinIO deleted a locked attachment version")
	}
	// An overwrite makes a new version; the locked original is still there, intact.
	if _, err := raw.PutObject(ctx, bucket, key, bytes.NewReader([]byte("forged")), 6, mc.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	orig, err := raw.GetObject(ctx, bucket, key, mc.GetObjectOptions{VersionID: st.VersionID})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(orig)
	if err != nil || !bytes.Equal(b, content) {
		t.Fatalf("original version after an overwrite: %q %v", b, err)
	}
	if err := raw.RemoveObject(ctx, bucket, key, mc.RemoveObjectOptions{VersionID: st.VersionID}); err == nil {
		t.Fatal("MinIO deleted the locked original after an overwrite")
	}
	if _, err := blobstore.Verify(ctx, s, rec.Ref); !errors.Is(err, blobstore.ErrCorrupt) {
		t.Fatalf("overwritten attachment: %v, want ErrCorrupt", err)
	}
}

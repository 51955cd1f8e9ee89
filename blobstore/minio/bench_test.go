package minio_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strconv"
	"testing"

	mc "github.com/minio/minio-go/v7"

	"taizhang/blobstore"
	"taizhang/internal/testenv"
)

// The two benchmarks store fresh random 64 KiB blobs, one through
// blobstore.Receive into the MinIO store (spool, hash, stat, put) and one with
// a bare minio-go PutObject, so that their ratio is the cost of the store's
// guarantees. Run them together: go test -run ^$ -bench 64KiB ./blobstore/minio/

const benchSize = 64 << 10

func benchContent(r *rand.ChaCha8, b []byte) {
	r.Read(b)
}

func BenchmarkReceive64KiB(b *testing.B) {
	srv := testenv.MinIO(b)
	s := newStore(b, srv, newBucketName())
	ctx := context.Background()
	spool := b.TempDir()
	rng := rand.NewChaCha8([32]byte{1})
	buf := make([]byte, benchSize)
	b.SetBytes(benchSize)
	for b.Loop() {
		benchContent(rng, buf)
		if _, err := blobstore.Receive(ctx, s, bytes.NewReader(buf), blobstore.ReceiveOptions{TempDir: spool}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRawPutObject64KiB(b *testing.B) {
	srv := testenv.MinIO(b)
	bucket := newBucketName()
	newStore(b, srv, bucket) // creates the bucket
	raw := rawClient(b, srv)
	ctx := context.Background()
	rng := rand.NewChaCha8([32]byte{2})
	buf := make([]byte, benchSize)
	b.SetBytes(benchSize)
	n := 0
	for b.Loop() {
		benchContent(rng, buf)
		n++
		key := "raw/" + strconv.Itoa(n)
		if _, err := raw.PutObject(ctx, bucket, key, bytes.NewReader(buf), benchSize,
			mc.PutObjectOptions{ContentType: "application/octet-stream"}); err != nil {
			b.Fatal(err)
		}
	}
}

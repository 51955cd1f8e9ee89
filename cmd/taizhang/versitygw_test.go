package main

import (
	"testing"

	"taizhang/internal/testenv"
)

// TestEndToEndVersityGW runs the whole flow with versitygw, the second S3
// server, as the blob store: serve needs nothing of MinIO's own.
func TestEndToEndVersityGW(t *testing.T) {
	gw := testenv.VersityGW(t)
	s := startServer(t, "", "--s3-endpoint", gw.Endpoint, "--s3-bucket", "evidence", "--s3-access-key", gw.AccessKey, "--s3-secret-key", gw.SecretKey)
	ledgerFlow(t, s)
}

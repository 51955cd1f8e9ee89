package gate

import (
	"context"
	"errors"
	"net/http"
	"syscall"

	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"taizhang/blobstore"
)

// Outage messages: what a client (a clerk at a phone, a script) reads in a
// 503 when a store behind the server is down or full. They say what
// happened to the request and what to do, never the store's own error text
// (which goes to the log with the request id).
const (
	// MsgBlobsUnavailable answers a request that needed the photo store
	// (MinIO, S3) while it did not answer.
	MsgBlobsUnavailable = "the photo store is not reachable; your evidence was not recorded; try again in a few minutes"
	// MsgStorageFull answers a request whose files did not fit on the
	// server's disk.
	MsgStorageFull = "the server's storage is full; your evidence was not recorded; tell your administrator, then try again"
	// MsgLedgerWrite answers a write the ledger did not confirm in time:
	// it may or may not have been recorded, and sending the same
	// submission again (the same evidence id) never records it twice.
	MsgLedgerWrite = "the ledger did not confirm your submission in time; send the same submission again in a few minutes (it is never recorded twice)"
	// MsgLedgerRead answers a read while the ledger did not answer.
	MsgLedgerRead = "the ledger is not reachable right now; try again in a few minutes"
)

// outageRetryAfter is the Retry-After (seconds) of an outage 503.
const outageRetryAfter = "5"

// outageMessage reports whether err is an outage of a store behind the
// server (the ledger or its key-value buckets not answering, the photo
// store not reachable, a disk full) and, if so, the message a client reads
// for it; write says whether the request was one that records something.
func outageMessage(err error, write bool) (string, bool) {
	switch {
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT):
		return MsgStorageFull, true
	case errors.Is(err, blobstore.ErrUnavailable):
		return MsgBlobsUnavailable, true
	case isTransport(err):
		if write {
			return MsgLedgerWrite, true
		}
		return MsgLedgerRead, true
	}
	return "", false
}

// isTransport reports whether err is NATS or JetStream not answering (a
// timeout, no responders, a lost connection, a stream without a leader or
// quorum), as opposed to an answer.
func isTransport(err error) bool {
	if err == nil {
		return false
	}
	for _, e := range []error{context.DeadlineExceeded, nats.ErrTimeout, nats.ErrNoResponders, nats.ErrConnectionClosed,
		nats.ErrDisconnected, nats.ErrConnectionDraining, nats.ErrNoServers, nats.ErrConnectionReconnecting,
		js.ErrNoStreamResponse, js.ErrNoHeartbeat, js.ErrJetStreamNotEnabled} {
		if errors.Is(err, e) {
			return true
		}
	}
	var apiErr *js.APIError
	if errors.As(err, &apiErr) && apiErr.Code == http.StatusServiceUnavailable {
		return true // e.g. 10008 "JetStream system temporarily unavailable"
	}
	return false
}

// isWrite reports whether r is a request that records something.
func isWrite(r *http.Request) bool {
	return r.Method != http.MethodGet && r.Method != http.MethodHead
}

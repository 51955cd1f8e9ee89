package main

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	js "github.com/nats-io/nats.go/jetstream"
)

// TestWhilePlacing: serve's start waits out a cluster that cannot place a
// replicated asset yet (a peer offline), and only that: any other error,
// or the end of the context, returns at once.
func TestWhilePlacing(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	noPeers := &js.APIError{Code: 400, ErrorCode: errCodeNoPeers, Description: "no suitable peers for placement, peer offline"}
	tries := 0
	v, err := whilePlacing(context.Background(), log, "a bucket", func() (int, error) {
		if tries++; tries < 3 {
			return 0, noPeers
		}
		return 7, nil
	})
	if err != nil || v != 7 || tries != 3 {
		t.Fatalf("placed on try %d: %d, %v; want 7 on the third", tries, v, err)
	}
	other := &js.APIError{Code: 400, ErrorCode: errCodeReplicasNotSupported, Description: "replicas > 1 not supported in non-clustered mode"}
	tries = 0
	if _, err := whilePlacing(context.Background(), log, "a bucket", func() (int, error) { tries++; return 0, other }); !errors.Is(err, other) || tries != 1 {
		t.Fatalf("another refusal: %v after %d tries, want it at once", err, tries)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tries = 0
	_, err = whilePlacing(ctx, log, "a bucket", func() (int, error) { tries++; cancel(); return 0, noPeers })
	if !errors.Is(err, context.Canceled) || tries != 1 {
		t.Fatalf("cancelled while waiting: %v after %d tries", err, tries)
	}
}

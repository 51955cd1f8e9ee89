package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	js "github.com/nats-io/nats.go/jetstream"
)

// errCodeReplicasNotSupported is JetStream's "replicas > 1 not supported in
// non-clustered mode" (JSStreamReplicasNotSupportedErr).
const errCodeReplicasNotSupported js.ErrorCode = 10074

// explainReplicas turns JetStream's refusal of a replicated stream by a
// server that is not in a cluster into an error that says what to do:
// --replicas 1 on that server, or a cluster. Other errors pass unchanged.
func explainReplicas(err error, c serveConfig, replicas int) error {
	var apiErr *js.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != errCodeReplicasNotSupported {
		return err
	}
	how := fmt.Sprintf("--replicas %d", replicas)
	if c.replicas == 0 {
		how = fmt.Sprintf("--replicas %d (the default with --nats)", replicas)
	}
	return fmt.Errorf("%s: the NATS server at %s is not part of a cluster, so JetStream keeps one copy of each stream "+
		"and refuses %d (%s). Run with --replicas 1 against this single server (one copy, on its disk), "+
		"or point --nats at a JetStream cluster of at least %d servers (deploy/ has one)",
		how, redactURL(c.natsURL), replicas, apiErr.Description, max(3, replicas))
}

// errCodeNoPeers is JetStream's "no suitable peers for placement": the
// cluster has not (yet, or for the moment) the peers online that the
// replicas of a stream or bucket need.
const errCodeNoPeers js.ErrorCode = 10005

// placementWait bounds how long serve waits at its start for the cluster
// to place what it creates.
const placementWait = time.Minute

// whilePlacing runs open until it succeeds or fails otherwise. A cluster
// that is starting, or settling after a node came back, briefly reports a
// peer offline, and JetStream then refuses to place a new replicated
// stream or bucket: serve waits for it (retrying for up to placementWait,
// saying so in the log) rather than exit on a passing state. It returns
// open's last error, or ctx's.
func whilePlacing[T any](ctx context.Context, log *slog.Logger, what string, open func() (T, error)) (T, error) {
	deadline := time.Now().Add(placementWait)
	pause := 250 * time.Millisecond
	for {
		v, err := open()
		var apiErr *js.APIError
		if err == nil || !errors.As(err, &apiErr) || apiErr.ErrorCode != errCodeNoPeers || time.Now().After(deadline) {
			return v, err
		}
		log.Warn("waiting for the NATS cluster to place "+what, "err", err)
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, 2*time.Second)
	}
}

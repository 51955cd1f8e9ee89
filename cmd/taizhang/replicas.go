package main

import (
	"errors"
	"fmt"

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

package jetstream

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedConfig configures an in-process nats-server.
type EmbeddedConfig struct {
	// StoreDir is where JetStream keeps its files. Required: an empty one
	// would fall back to a shared temporary directory.
	StoreDir string
	// Host and Port to listen on; Port -1 picks a free port, 0 the default
	// 4222. Host defaults to 127.0.0.1.
	Host string
	Port int
	// NoListen accepts no network clients: only in-process connections
	// (nats.InProcessServer).
	NoListen bool
	// NoSync turns off fsync before acknowledging. Only benchmarks that
	// measure the cost of syncing set it; the service never does.
	NoSync bool
}

// StartEmbedded starts an in-process nats-server with JetStream that syncs
// every write to disk before acknowledging it (SyncAlways), and waits until
// it accepts connections. The caller shuts it down with Shutdown and
// WaitForShutdown.
func StartEmbedded(cfg EmbeddedConfig) (*server.Server, error) {
	if cfg.StoreDir == "" {
		return nil, fmt.Errorf("start embedded nats: a store directory is required")
	}
	host := cfg.Host
	if host == "" {
		host = "127.0.0.1"
	}
	opts := &server.Options{
		ServerName:         "taizhang-embedded",
		Host:               host,
		Port:               cfg.Port,
		JetStream:          true,
		StoreDir:           cfg.StoreDir,
		SyncAlways:         !cfg.NoSync,
		NoSigs:             true,
		DontListen:         cfg.NoListen,
		NoLog:              true,
		MaxPayload:         4 << 20,
		JetStreamMaxMemory: 256 << 20,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("start embedded nats: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("start embedded nats in %s: not ready after 30s", cfg.StoreDir)
	}
	return ns, nil
}

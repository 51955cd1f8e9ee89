package jetstream

import (
	"context"
	"time"

	js "github.com/nats-io/nats.go/jetstream"
)

// InjectGetMsgForTest makes l's reads of single messages go through get
// (which wraps l.Stream().GetMsg to inject faults) and wait at most patience
// for a message its index has seen. Call it before using l.
func InjectGetMsgForTest(l *Ledger, get func(ctx context.Context, seq uint64) (*js.RawStreamMsg, error), patience time.Duration) {
	l.msgs = getFunc(get)
	l.loadPatience = patience
}

type getFunc func(ctx context.Context, seq uint64) (*js.RawStreamMsg, error)

func (f getFunc) GetMsg(ctx context.Context, seq uint64, _ ...js.GetMsgOpt) (*js.RawStreamMsg, error) {
	return f(ctx, seq)
}

// HistoryCacheHitsForTest returns how many reads l's history cache
// served.
func HistoryCacheHitsForTest(l *Ledger) int64 {
	if l.hist == nil {
		return 0
	}
	return l.hist.hits.Load()
}

// HistoryCopyReplayedForTest returns how many messages l's Follows read
// from the history copy kept by the last run.
func HistoryCopyReplayedForTest(l *Ledger) int64 {
	if l.hist == nil {
		return 0
	}
	return l.hist.replayed.Load()
}

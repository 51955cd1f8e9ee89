package jetstream

import (
	"context"
)

// Scan hands every message of the ledger stream from sequence from (1 for
// the first) up to and including end to fn, in order, undecoded: its
// stream sequence and bytes (fn may keep data). It stops early when fn
// returns an error, which it returns. It is for tools that read the whole
// stream as stored (backup). Errors: fn's; ctx's; an error wrapping
// events.ErrUnavailable when the stream cannot be read.
func (l *Ledger) Scan(ctx context.Context, from, end uint64, fn func(seq uint64, data []byte) error) error {
	if end < max(from, 1) {
		return nil
	}
	return l.scan(ctx, l.cfg.Prefix+".>", from, end, func(seq uint64, data []byte) (bool, error) {
		return true, fn(seq, data)
	})
}

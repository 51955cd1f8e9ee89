package checkpoint

import (
	"fmt"
	"testing"

	"taizhang/events"
)

// BenchmarkLogAppend: appending one event hash to the ledger tree (1,000
// units), the per-event cost of building checkpoints.
func BenchmarkLogAppend(b *testing.B) {
	units := make([]string, 1000)
	for i := range units {
		units[i] = fmt.Sprintf("unit-%04d", i)
	}
	var h events.Hash
	l := NewLog()
	for i := 0; b.Loop(); i++ {
		h[0], h[1], h[2] = byte(i), byte(i>>8), byte(i>>16)
		l.Append(units[i%len(units)], h)
	}
}

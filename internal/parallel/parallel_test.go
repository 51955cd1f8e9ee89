package parallel

import (
	"sync/atomic"
	"testing"
)

// TestChunks: every index is visited exactly once, for sizes around the
// chunk boundaries.
func TestChunks(t *testing.T) {
	for _, n := range []int{0, 1, 255, 256, 257, 511, 512, 1000, 4099} {
		seen := make([]atomic.Int32, n)
		Chunks(n, 256, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				seen[i].Add(1)
			}
		})
		for i := range seen {
			if v := seen[i].Load(); v != 1 {
				t.Fatalf("n=%d: index %d visited %d times", n, i, v)
			}
		}
	}
}

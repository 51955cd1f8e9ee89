// Package parallel splits a loop over a slice into contiguous chunks run
// concurrently, one per core. It holds no state: each call starts and waits
// for its own goroutines. Used by the ledger reader (decoding) and verify
// (hash checks), the two CPU-bound passes over a whole chain.
package parallel

import (
	"runtime"
	"sync"
)

// Chunks splits [0, n) into at most GOMAXPROCS contiguous chunks of at
// least minChunk items (one chunk if n is smaller) and calls fn on each
// concurrently; it returns when all have returned.
func Chunks(n, minChunk int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), max(1, n/max(1, minChunk)))
	if workers <= 1 {
		fn(0, n)
		return
	}
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += chunk {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, min(lo+chunk, n))
		}()
	}
	wg.Wait()
}

package demo

import (
	"sync"
	"time"
)

// Clock is the time a demo server records events at. Unset, it is the real
// time. While the demo tells its story, Run sets it to each step's time in
// the story (2016 for the seed plans), so that "as the ledger stood on
// 2016-09-15" means something in the demo: recorded_at is the story's, and
// the backfill burst before the inspection is visible as such. Only
// `serve --demo` wires it in, and Run refuses to use it on a ledger that
// has units other than the demo's.
type Clock struct {
	mu  sync.Mutex
	sim time.Time // the story's time, or zero
	at  time.Time // when sim was set, in real time
}

// NewClock returns a clock that shows the real time until Set.
func NewClock() *Clock { return &Clock{} }

// Now returns the story's time (advancing with real time since it was set),
// or the real time when no story time is set.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sim.IsZero() {
		return time.Now()
	}
	return c.sim.Add(time.Since(c.at))
}

// Set sets the story's time; the zero time returns the clock to real time.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sim, c.at = t, time.Now()
}

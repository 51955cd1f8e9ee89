package natsaccess

import "time"

// SetCloseWait sets how long Close waits, and returns a function restoring it.
func SetCloseWait(d time.Duration) func() {
	old := closeWait
	closeWait = d
	return func() { closeWait = old }
}

package httpserver

import (
	"time"

	"taizhang/events"
	"taizhang/projections"
)

// userLookup returns the authenticator's view of the users: a user as the
// users chain says now, from the archive, by a point lookup that never
// waits behind a long read (it runs on every request).
func userLookup(archive *projections.Live) func(id string) (u events.User, disabled, ok bool) {
	return func(id string) (events.User, bool, bool) {
		var v projections.UserVersion
		var ok bool
		_ = archive.Lookup(func(a *projections.Archive) error {
			v, ok = a.User(id, time.Time{})
			return nil
		})
		return v.User, v.Disabled, ok
	}
}

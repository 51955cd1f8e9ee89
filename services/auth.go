package services

import (
	"time"

	"taizhang/events"
	"taizhang/projections"
)

// lookupUser returns a user as the users chain says now, for the
// authenticator: from the archive, by a point lookup that never waits
// behind a long read (it runs on every request).
func (s *Server) lookupUser(id string) (u events.User, disabled, ok bool) {
	var v projections.UserVersion
	_ = s.archive.Lookup(func(a *projections.Archive) error {
		v, ok = a.User(id, time.Time{})
		return nil
	})
	return v.User, v.Disabled, ok
}

package services

import (
	"time"

	"taizhang/auth"
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

// authorize is auth.Decide with the unit tree of the archive projection.
// It must not be called while holding the archive's read lock (use
// auth.Decide with a.Within there).
func (s *Server) authorize(p auth.Principal, act auth.Action, unit string) error {
	if unit == "" || p.Role == events.RoleAdmin || p.Unit == "" || !p.Subtree {
		return auth.Decide(p, act, unit, nil)
	}
	var err error
	_ = s.archive.Lookup(func(a *projections.Archive) error { // on every request: never behind a long read
		err = auth.Decide(p, act, unit, a.Within)
		return nil
	})
	return err
}

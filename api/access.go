package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"taizhang/auth"
	"taizhang/blobstore"
	"taizhang/events"
	"taizhang/gate"
	"taizhang/param"
	"taizhang/projections"
)

// AccessLog answers GET /api/v1/audit/access: the access log, newest last,
// filtered by actor, unit, action, outcome, from/to (YYYY-MM-DD, inclusive,
// in the server's zone) and limit. A scoped supervisor sees only entries
// about units in its scope and entries made by actors whose scope is rooted
// in it (what a clerk of its town tried on another town's unit, say).
func (s *Service) AccessLog(w http.ResponseWriter, r *http.Request) {
	rd, ok := s.gate.AccessLog().(auth.AccessReader)
	if !ok {
		s.fail(w, r, fmt.Errorf("%w: this server keeps no access log", events.ErrUnavailable))
		return
	}
	q := r.URL.Query()
	f := auth.AccessFilter{Actor: q.Get("actor"), Unit: q.Get("unit"), Outcome: q.Get("outcome"), Action: auth.Action(q.Get("action")), Limit: 1000}
	if f.Unit != "" {
		if err := events.ValidUnitID(f.Unit); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if len(f.Actor) > 100 || len(f.Action) > 50 {
		s.fail(w, r, fmt.Errorf("%w: actor or action too long", param.ErrBadRequest))
		return
	}
	switch f.Outcome {
	case "", auth.OutcomeAllowed, auth.OutcomeDenied, auth.OutcomeFailed:
	default:
		s.fail(w, r, fmt.Errorf("%w: outcome must be allowed, denied or failed", param.ErrBadRequest))
		return
	}
	for _, d := range []struct {
		name string
		t    *time.Time
		add  int
	}{{"from", &f.Since, 0}, {"to", &f.Until, 1}} {
		v := q.Get(d.name)
		if v == "" {
			continue
		}
		t, err := time.ParseInLocation(time.DateOnly, v, s.cfg.Zone)
		if err != nil {
			s.fail(w, r, fmt.Errorf("%w: %s %q is not a YYYY-MM-DD date", param.ErrBadRequest, d.name, v))
			return
		}
		*d.t = t.AddDate(0, 0, d.add)
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100000 {
			s.fail(w, r, fmt.Errorf("%w: limit must be 1-100000", param.ErrBadRequest))
			return
		}
		f.Limit = n
	}
	p := gate.Principal(r)
	if err := s.gate.Authorize(p, auth.ActAccessLog, f.Unit); err != nil {
		s.fail(w, r, err)
		return
	}
	s.ScopeAccess(p, &f)
	entries, err := rd.ListAccess(r.Context(), f)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: %v", events.ErrUnavailable, err)
		}
		s.fail(w, r, err)
		return
	}
	if entries == nil {
		entries = []auth.AccessEntry{}
	}
	gate.WriteJSON(w, http.StatusOK, map[string]any{"entries": entries})
}

// ScopeAccess narrows f to what p may read of the access log: everything
// for an admin or an unscoped principal; for a scoped one the entries
// about units in its scope and those made by people whose scope is rooted
// in it.
func (s *Service) ScopeAccess(p auth.Principal, f *auth.AccessFilter) {
	if p.Role == events.RoleAdmin || p.Unit == "" {
		return
	}
	mu := map[string]bool{}
	_ = s.archive.Read(func(a *projections.Archive) error {
		for _, u := range a.Units() {
			mu[u.ID] = p.Sees(u.ID, a.Within)
		}
		f.ActorUnits = map[string]string{}
		for _, u := range a.Users(time.Time{}) {
			f.ActorUnits[u.ID] = u.Scope
		}
		return nil
	})
	f.Scope = func(unit string) bool { return mu[unit] }
}

// blobVisible says whether p may read the blob with this digest: a
// principal without a unit scope may read any; a scoped one only a blob
// attached to an event of a unit in its scope (unit, when given, says
// where to look first). A blob out of scope answers 404, as if it did not
// exist, so that digests cannot be probed. The answer is the ledger's as
// of this request: a blob the archive projection does not show yet (its
// event appended a moment ago, on this replica or another) is looked for
// again once the projection has applied the ledger's last event, so that
// a client may use a blob at once after the submission that attached it.
func (s *Service) blobVisible(ctx context.Context, p auth.Principal, digest, unit string) error {
	if p.Role == events.RoleAdmin || p.Unit == "" {
		return nil
	}
	if unit != "" {
		if err := events.ValidUnitID(unit); err != nil {
			return err
		}
	}
	if s.blobSeen(p, digest, unit) {
		return nil
	}
	last, err := s.ledger.LastSeq(ctx)
	if err != nil {
		return err
	}
	if err := s.waitApplied(ctx, last); err != nil { // at once if it has (it may have, since the first look)
		return err
	}
	if s.blobSeen(p, digest, unit) {
		return nil
	}
	return fmt.Errorf("blob %s: %w", digest, events.ErrNotFound)
}

// blobSeen is blobVisible's look in the archive as the projection has it.
func (s *Service) blobSeen(p auth.Principal, digest, unit string) bool {
	found := false
	_ = s.archive.Read(func(a *projections.Archive) error {
		look := func(id string) bool {
			ua := a.Unit(id)
			return ua != nil && p.Sees(id, a.Within) && ua.References(digest)
		}
		if unit != "" {
			found = look(unit)
			return nil
		}
		if found = look(p.Unit); found || !p.Subtree {
			return nil
		}
		for _, u := range a.Units() {
			if u.ID != p.Unit && look(u.ID) {
				found = true
				return nil
			}
		}
		return nil
	})
	return found
}

// visibleRef parses the blob digest the path names ({sha256}) and checks
// that the request's principal may read it (blobVisible; ?unit= says where
// to look).
func (s *Service) visibleRef(r *http.Request) (blobstore.Ref, error) {
	ref, err := blobstore.ParseRef(r.PathValue("sha256"))
	if err != nil {
		return ref, err
	}
	return ref, s.blobVisible(r.Context(), gate.Principal(r), ref.String(), r.URL.Query().Get("unit"))
}

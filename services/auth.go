package services

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"taizhang/auth"
	"taizhang/events"
	"taizhang/projections"
)

// authenticate resolves the request's bearer token or, without one, its
// session cookie, to the token's or session's user as the users chain says
// now: a disabled user, an unknown, revoked or expired token, or an expired
// session is refused at once.
func (s *Server) authenticate(r *http.Request) (auth.Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		if c, err := r.Cookie(sessionCookie); err == nil {
			return s.sessionPrincipal(r, c.Value)
		}
		return auth.Principal{}, fmt.Errorf("%w: send Authorization: Bearer <token>, or sign in", auth.ErrUnauthenticated)
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || len(token) > 200 {
		return auth.Principal{}, fmt.Errorf("%w: malformed Authorization header", auth.ErrUnauthenticated)
	}
	return s.tokenPrincipal(r.Context(), strings.TrimSpace(token))
}

// tokenPrincipal resolves an API token.
func (s *Server) tokenPrincipal(ctx context.Context, token string) (auth.Principal, error) {
	rec, err := s.creds.Get(ctx, auth.HashToken(token))
	if errors.Is(err, auth.ErrUnknownToken) {
		return auth.Principal{}, fmt.Errorf("%w: unknown token", auth.ErrUnauthenticated)
	}
	if err != nil {
		return auth.Principal{}, fmt.Errorf("check token: %w", err)
	}
	if !rec.Revoked.IsZero() {
		return auth.Principal{}, fmt.Errorf("%w: token revoked", auth.ErrUnauthenticated)
	}
	if !rec.Expires.IsZero() && s.now().After(rec.Expires) {
		return auth.Principal{}, fmt.Errorf("%w: token expired", auth.ErrUnauthenticated)
	}
	p, err := s.userPrincipal(rec.User)
	if err != nil {
		return auth.Principal{}, err
	}
	p.TokenID, p.Via, p.Created, p.Expires = rec.ID, "token", rec.Created, rec.Expires
	return p, nil
}

// userPrincipal returns the principal for a user as the users chain says
// now, or ErrUnauthenticated if the user is unknown or disabled.
func (s *Server) userPrincipal(id string) (auth.Principal, error) {
	var u projections.UserVersion
	var ok bool
	_ = s.archive.Lookup(func(a *projections.Archive) error { // on every request: never behind a long read
		u, ok = a.User(id, time.Time{})
		return nil
	})
	if !ok {
		return auth.Principal{}, fmt.Errorf("%w: user %s does not exist", auth.ErrUnauthenticated, id)
	}
	if u.Disabled {
		return auth.Principal{}, fmt.Errorf("%w: user %s is disabled", auth.ErrUnauthenticated, id)
	}
	return auth.PrincipalOf(u.User), nil
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

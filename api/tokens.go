package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"taizhang/auth"
	"taizhang/events"
	"taizhang/gate"
	"taizhang/param"
	"taizhang/projections"
)

type tokenInput struct {
	User      string      `json:"user"`
	Role      events.Role `json:"role"`       // only to create the user on the way
	Unit      string      `json:"unit"`       // likewise: the new user's scope
	ExpiresIn string      `json:"expires_in"` // a Go duration, e.g. "720h"
	Label     string      `json:"label"`
}

// TokenAnswer is the answer to a token creation: the token is shown once.
type TokenAnswer struct {
	Token string `json:"token"`
	auth.Principal
}

// CreateToken answers POST /api/v1/tokens: a new API token for a user. A
// user that does not exist yet is created on the way (a user.created event)
// from role and unit; for an existing user, role and unit, if given, must be
// the user's.
func (s *Service) CreateToken(w http.ResponseWriter, r *http.Request) {
	var in tokenInput
	if err := gate.DecodeJSON(r, w, &in, 16<<10); err != nil {
		s.fail(w, r, err)
		return
	}
	p, tok, err := s.issueToken(r.Context(), in, gate.Principal(r).Actor(), clientOf(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	gate.WriteJSON(w, http.StatusCreated, TokenAnswer{Token: tok, Principal: p})
}

func (s *Service) issueToken(ctx context.Context, in tokenInput, by events.Actor, client events.Client) (auth.Principal, string, error) {
	if in.User == "" {
		if !in.Role.Valid() || in.Role == events.RoleSystem {
			return auth.Principal{}, "", fmt.Errorf("%w: give a user, or a role for a new one", events.ErrInvalid)
		}
		in.User = string(in.Role) + "-" + uuid.NewString()[:8]
	}
	in.User = strings.ToLower(in.User)
	if err := events.ValidUserID(in.User); err != nil {
		return auth.Principal{}, "", err
	}
	if utf8.RuneCountInString(in.Label) > 100 {
		return auth.Principal{}, "", fmt.Errorf("%w: label too long", events.ErrInvalid)
	}
	rec := auth.TokenRecord{ID: uuid.NewString(), User: in.User, Label: in.Label, Created: s.now().UTC()}
	if in.ExpiresIn != "" {
		d, err := time.ParseDuration(in.ExpiresIn)
		if err != nil || d <= 0 {
			return auth.Principal{}, "", fmt.Errorf("%w: expires_in %q is not a positive duration", events.ErrInvalid, in.ExpiresIn)
		}
		rec.Expires = rec.Created.Add(d)
	}
	u, ok := s.currentUser(in.User)
	switch {
	case !ok:
		if !in.Role.Valid() || in.Role == events.RoleSystem {
			return auth.Principal{}, "", fmt.Errorf("%w: user %s does not exist; give its role to create it", events.ErrNotFound, in.User)
		}
		nu := events.User{ID: in.User, Name: in.User, Role: in.Role, Scope: in.Unit}
		if err := s.createUser(ctx, &nu, by, client); err != nil {
			return auth.Principal{}, "", err
		}
		u = nu
	case in.Role != "" && in.Role != u.Role, in.Unit != "" && in.Unit != u.Scope:
		return auth.Principal{}, "", fmt.Errorf("%w: user %s is a %s of %q; change the user first", events.ErrConflict, u.ID, u.Role, u.Scope)
	case u.Disabled:
		return auth.Principal{}, "", fmt.Errorf("%w: user %s is disabled", events.ErrConflict, u.ID)
	}
	tok, err := auth.NewToken()
	if err != nil {
		return auth.Principal{}, "", err
	}
	if err := s.creds.Put(ctx, auth.HashToken(tok), rec); err != nil {
		return auth.Principal{}, "", err
	}
	p := auth.PrincipalOf(u)
	p.TokenID, p.Via, p.Created, p.Expires = rec.ID, "token", rec.Created, rec.Expires
	return p, tok, nil
}

// IssueToken creates a token directly (used at first start for the admin
// token, before anyone can call the API), creating the user if need be.
func (s *Service) IssueToken(ctx context.Context, role events.Role, unit, user string) (string, error) {
	_, tok, err := s.issueToken(ctx, tokenInput{Role: role, Unit: unit, User: user},
		events.Actor{ID: "taizhang", Role: events.RoleSystem}, events.ClientCLI)
	return tok, err
}

// TokenInfo is a token as listed: never the token or its hash.
type TokenInfo struct {
	auth.TokenRecord
	Status string `json:"status"` // active, expired or revoked
}

// ListTokens answers GET /api/v1/tokens[?user=]: every token's record,
// oldest first.
func (s *Service) ListTokens(w http.ResponseWriter, r *http.Request) {
	user := r.URL.Query().Get("user")
	if user != "" {
		if err := events.ValidUserID(user); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	all, err := s.creds.List(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := []TokenInfo{}
	now := s.now()
	for _, rec := range all {
		if user != "" && rec.User != user {
			continue
		}
		st := "active"
		switch {
		case !rec.Revoked.IsZero():
			st = "revoked"
		case !rec.Expires.IsZero() && now.After(rec.Expires):
			st = "expired"
		}
		out = append(out, TokenInfo{TokenRecord: rec, Status: st})
	}
	slices.SortFunc(out, func(a, b TokenInfo) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	gate.WriteJSON(w, http.StatusOK, map[string]any{"tokens": out})
}

// RevokeToken answers POST /api/v1/tokens/{id}/revoke: the token stops
// working at once. Revoking a revoked token is harmless.
func (s *Service) RevokeToken(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil {
		s.fail(w, r, fmt.Errorf("%w: token id %q is not a UUID", param.ErrBadRequest, id))
		return
	}
	all, err := s.creds.List(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for h, rec := range all {
		if rec.ID != id {
			continue
		}
		if rec.Revoked.IsZero() {
			rec.Revoked, rec.RevokedBy = s.now().UTC(), gate.Principal(r).User
			if err := s.creds.Put(r.Context(), h, rec); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		gate.WriteJSON(w, http.StatusOK, TokenInfo{TokenRecord: rec, Status: "revoked"})
		return
	}
	s.fail(w, r, fmt.Errorf("token %s: %w", id, events.ErrNotFound))
}

// currentUser returns a user's current state.
func (s *Service) currentUser(id string) (events.User, bool) {
	var u events.User
	var ok bool
	_ = s.archive.Lookup(func(a *projections.Archive) error {
		var v projections.UserVersion
		v, ok = a.User(id, time.Time{})
		u = v.User
		return nil
	})
	return u, ok
}

// EnsureUser creates u (as the system) unless a user with its id exists;
// serve uses it at start for the first admin. The projection must have
// caught up with the ledger.
func (s *Service) EnsureUser(ctx context.Context, u events.User) error {
	if _, ok := s.currentUser(u.ID); ok {
		return nil
	}
	return s.createUser(ctx, &u, events.Actor{ID: "taizhang", Role: events.RoleSystem}, events.ClientCLI)
}

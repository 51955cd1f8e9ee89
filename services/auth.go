package services

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"taizhang/events"
)

// Principal is who a request acts as: the token's user, role and unit scope.
type Principal struct {
	TokenID string      `json:"token_id"`
	User    string      `json:"user"`
	Role    events.Role `json:"role"`
	Unit    string      `json:"unit,omitempty"` // submitters only
	Created time.Time   `json:"created"`
	Expires time.Time   `json:"expires,omitzero"`
}

// Actor returns the ledger actor for p.
func (p Principal) Actor() events.Actor { return events.Actor{ID: p.User, Role: p.Role} }

// TokenHash is the SHA-256 of an API token; only hashes are stored.
type TokenHash [32]byte

// String returns the hex form.
func (h TokenHash) String() string { return hex.EncodeToString(h[:]) }

// HashToken returns the hash under which a token is stored.
func HashToken(token string) TokenHash { return sha256.Sum256([]byte(token)) }

// NewToken returns a fresh random API token: "tz_" and 43 base64url
// characters (256 bits).
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new token: %w", err)
	}
	return "tz_" + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// ErrUnknownToken is returned by a TokenStore for a token it does not hold.
var ErrUnknownToken = errors.New("unknown token")

// TokenStore holds API tokens by hash. Tokens never enter the ledger.
type TokenStore interface {
	// Put stores p under h.
	Put(ctx context.Context, h TokenHash, p Principal) error
	// Get returns the principal stored under h, or ErrUnknownToken.
	Get(ctx context.Context, h TokenHash) (Principal, error)
}

// Errors of authentication and authorisation.
var (
	ErrUnauthenticated = errors.New("authentication required")
	ErrForbidden       = errors.New("forbidden")
)

// authenticate resolves the request's bearer token.
func (s *Server) authenticate(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if h == "" {
		return Principal{}, fmt.Errorf("%w: send Authorization: Bearer <token>", ErrUnauthenticated)
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || len(token) > 200 {
		return Principal{}, fmt.Errorf("%w: malformed Authorization header", ErrUnauthenticated)
	}
	p, err := s.tokens.Get(r.Context(), HashToken(strings.TrimSpace(token)))
	if errors.Is(err, ErrUnknownToken) {
		return Principal{}, fmt.Errorf("%w: unknown or revoked token", ErrUnauthenticated)
	}
	if err != nil {
		return Principal{}, fmt.Errorf("check token: %w", err)
	}
	if !p.Expires.IsZero() && s.now().After(p.Expires) {
		return Principal{}, fmt.Errorf("%w: token expired", ErrUnauthenticated)
	}
	return p, nil
}

// Action is what a route does, for authorisation.
type Action string

// Actions, one per kind of route.
const (
	ActHealth        Action = "health"         // anyone, no token
	ActPublic        Action = "public"         // anyone, no token: the login page, static assets
	ActHome          Action = "home"           // any signed-in role: the web app's pages that show no unit
	ActUnitCreate    Action = "unit.create"    // admin
	ActUnitList      Action = "unit.list"      // any role; submitters see their own unit
	ActUnitRead      Action = "unit.read"      // unit-scoped read
	ActEvidenceWrite Action = "evidence.write" // admin, or the unit's submitter
	ActBlobRead      Action = "blob.read"      // any role
	ActTokenCreate   Action = "token.create"   // admin
	ActPlanPublish   Action = "plan.publish"   // admin
	ActPlanRead      Action = "plan.read"      // any role
	ActFindingWrite  Action = "finding.write"  // admin, inspector
	ActVerify        Action = "verify"         // any role; the unit is authorised as a unit read
	ActAudit         Action = "audit"          // admin, supervisor
)

// authorize is the one decision point every route passes through. unit is
// the unit the route names, or "". An action it does not know is refused:
// a new route without a rule fails closed.
func authorize(p Principal, act Action, unit string) error {
	deny := func(why string) error { return fmt.Errorf("%w: %s", ErrForbidden, why) }
	switch act {
	case ActFindingWrite:
		if p.Role == events.RoleAdmin || p.Role == events.RoleInspector {
			return nil
		}
		return deny("only an inspector records, resolves or reopens findings")
	case ActAudit:
		if p.Role == events.RoleAdmin || p.Role == events.RoleSupervisor {
			return nil
		}
		return deny("only a supervisor or an admin reads the audit views")
	case ActUnitCreate, ActTokenCreate, ActPlanPublish:
		if p.Role == events.RoleAdmin {
			return nil
		}
		return deny("only an admin may do this")
	case ActUnitList, ActBlobRead, ActPlanRead, ActVerify, ActHome:
		if p.Role.Valid() {
			return nil
		}
	case ActCheckpointRead: // checkpoints and proofs: any role
		if p.Role.Valid() {
			return nil
		}
	case ActCheckpointCreate:
		if p.Role == events.RoleAdmin {
			return nil
		}
		return deny("only an admin makes a checkpoint on demand")
	case ActUnitRead:
		switch p.Role {
		case events.RoleAdmin, events.RoleInspector, events.RoleSupervisor:
			return nil
		case events.RoleSubmitter:
			if unit == p.Unit {
				return nil
			}
			return deny("a submitter may only read its own unit")
		}
	case ActEvidenceWrite:
		switch p.Role {
		case events.RoleAdmin:
			return nil
		case events.RoleSubmitter:
			if unit == p.Unit {
				return nil
			}
			return deny(fmt.Sprintf("this token may only write to unit %s", p.Unit))
		default:
			return deny(fmt.Sprintf("a %s may not submit evidence", p.Role))
		}
	}
	return deny(fmt.Sprintf("no rule allows %s for role %s", act, p.Role))
}

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
	"taizhang/projections"
)

// Principal is who a request acts as: a user of the users chain (its role
// and scope as the ledger says now) and how it signed in.
type Principal struct {
	User    string      `json:"user"`
	Name    string      `json:"name,omitempty"`
	Role    events.Role `json:"role"`
	Unit    string      `json:"unit,omitempty"`    // the scope: a submitter's unit, an inspector's or supervisor's subtree root
	Subtree bool        `json:"subtree,omitempty"` // the scope includes the unit's sub-units
	TokenID string      `json:"token_id,omitempty"`
	Via     string      `json:"via,omitempty"` // "token" or "session"
	Created time.Time   `json:"created,omitzero"`
	Expires time.Time   `json:"expires,omitzero"`

	csrf string // the session's CSRF token (sessions only)
}

// principalOf returns the principal for a user's current state.
func principalOf(u events.User) Principal {
	return Principal{User: u.ID, Name: u.Name, Role: u.Role, Unit: u.Scope, Subtree: u.Subtree}
}

// Actor returns the ledger actor for p.
func (p Principal) Actor() events.Actor { return events.Actor{ID: p.User, Role: p.Role} }

// sees reports whether unit is within p's scope; within(root, unit) says
// whether unit is root or below it (nil: only root itself).
func (p Principal) sees(unit string, within func(root, unit string) bool) bool {
	switch {
	case p.Role == events.RoleAdmin:
		return true
	case p.Unit == "":
		return p.Role == events.RoleInspector || p.Role == events.RoleSupervisor // ledger-wide
	case unit == p.Unit:
		return true
	case p.Subtree && within != nil:
		return within(p.Unit, unit)
	}
	return false
}

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

// TokenRecord is what the credential store keeps of an API token, under the
// token's hash. The token itself is shown once and kept nowhere.
type TokenRecord struct {
	ID        string    `json:"token_id"`
	User      string    `json:"user"`
	Label     string    `json:"label,omitempty"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires,omitzero"`
	Revoked   time.Time `json:"revoked,omitzero"`
	RevokedBy string    `json:"revoked_by,omitempty"`
}

// TokenStore holds API tokens by hash. Tokens never enter the ledger.
type TokenStore interface {
	// Put stores rec under h, replacing what was there.
	Put(ctx context.Context, h TokenHash, rec TokenRecord) error
	// Get returns the record stored under h, or ErrUnknownToken.
	Get(ctx context.Context, h TokenHash) (TokenRecord, error)
	// List returns every token record with its hash.
	List(ctx context.Context) (map[TokenHash]TokenRecord, error)
}

// PasswordStore keeps users' password hashes (bcrypt), apart from the ledger.
type PasswordStore interface {
	// SetPassword stores hash as user's password hash.
	SetPassword(ctx context.Context, user string, hash []byte) error
	// PasswordHash returns user's password hash, or ErrUnknownToken if the
	// user has no password.
	PasswordHash(ctx context.Context, user string) ([]byte, error)
}

// Session is a signed-in browser session, stored under the hash of its
// cookie value.
type Session struct {
	User     string    `json:"user"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen"`
	Via      string    `json:"via"` // "password" or "token"
}

// SessionStore keeps web sessions by the hash of their cookie value.
type SessionStore interface {
	PutSession(ctx context.Context, h TokenHash, s Session) error
	// GetSession returns the session under h, or ErrUnknownToken.
	GetSession(ctx context.Context, h TokenHash) (Session, error)
	DeleteSession(ctx context.Context, h TokenHash) error
}

// Credentials is the credential store the server needs: tokens, passwords
// and sessions, all kept by hash, none of it in the ledger.
type Credentials interface {
	TokenStore
	PasswordStore
	SessionStore
}

// Errors of authentication and authorisation.
var (
	ErrUnauthenticated = errors.New("authentication required")
	ErrForbidden       = errors.New("forbidden")
	ErrTooManyAttempts = errors.New("too many failed sign-ins")
)

// authenticate resolves the request's bearer token or, without one, its
// session cookie, to the token's or session's user as the users chain says
// now: a disabled user, an unknown, revoked or expired token, or an expired
// session is refused at once.
func (s *Server) authenticate(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		if c, err := r.Cookie(sessionCookie); err == nil {
			return s.sessionPrincipal(r, c.Value)
		}
		return Principal{}, fmt.Errorf("%w: send Authorization: Bearer <token>, or sign in", ErrUnauthenticated)
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || len(token) > 200 {
		return Principal{}, fmt.Errorf("%w: malformed Authorization header", ErrUnauthenticated)
	}
	return s.tokenPrincipal(r.Context(), strings.TrimSpace(token))
}

// tokenPrincipal resolves an API token.
func (s *Server) tokenPrincipal(ctx context.Context, token string) (Principal, error) {
	rec, err := s.creds.Get(ctx, HashToken(token))
	if errors.Is(err, ErrUnknownToken) {
		return Principal{}, fmt.Errorf("%w: unknown token", ErrUnauthenticated)
	}
	if err != nil {
		return Principal{}, fmt.Errorf("check token: %w", err)
	}
	if !rec.Revoked.IsZero() {
		return Principal{}, fmt.Errorf("%w: token revoked", ErrUnauthenticated)
	}
	if !rec.Expires.IsZero() && s.now().After(rec.Expires) {
		return Principal{}, fmt.Errorf("%w: token expired", ErrUnauthenticated)
	}
	p, err := s.userPrincipal(rec.User)
	if err != nil {
		return Principal{}, err
	}
	p.TokenID, p.Via, p.Created, p.Expires = rec.ID, "token", rec.Created, rec.Expires
	return p, nil
}

// userPrincipal returns the principal for a user as the users chain says
// now, or ErrUnauthenticated if the user is unknown or disabled.
func (s *Server) userPrincipal(id string) (Principal, error) {
	var u projections.UserVersion
	var ok bool
	_ = s.archive.Lookup(func(a *projections.Archive) error { // on every request: never behind a long read
		u, ok = a.User(id, time.Time{})
		return nil
	})
	if !ok {
		return Principal{}, fmt.Errorf("%w: user %s does not exist", ErrUnauthenticated, id)
	}
	if u.Disabled {
		return Principal{}, fmt.Errorf("%w: user %s is disabled", ErrUnauthenticated, id)
	}
	return principalOf(u.User), nil
}

// Action is what a route does, for authorisation.
type Action string

// Actions, one per kind of route.
const (
	ActHealth        Action = "health"         // anyone, no token
	ActPublic        Action = "public"         // anyone, no token: the login page, static assets
	ActHome          Action = "home"           // any signed-in role: the web app's pages that show no unit
	ActUnitCreate    Action = "unit.create"    // admin
	ActUnitList      Action = "unit.list"      // any role; each sees the units in its scope
	ActUnitRead      Action = "unit.read"      // unit-scoped read
	ActEvidenceWrite Action = "evidence.write" // admin, or the unit's submitter
	ActBlobRead      Action = "blob.read"      // any role; the blob must belong to a unit in scope
	ActTokenCreate   Action = "token.create"   // admin
	ActTokenAdmin    Action = "token.admin"    // admin: list and revoke tokens
	ActUserWrite     Action = "user.write"     // admin: create, change, disable, enable users, set passwords
	ActUserRead      Action = "user.read"      // admin, supervisor: users and who could do what when
	ActPlanPublish   Action = "plan.publish"   // admin
	ActPlanRead      Action = "plan.read"      // any role
	ActFindingWrite  Action = "finding.write"  // admin, inspector in scope
	ActVerify        Action = "verify"         // any role; the unit is authorised as a unit read
	ActAudit         Action = "audit"          // admin, supervisor (scoped views)
	ActAccessLog     Action = "audit.access"   // admin, supervisor (scoped): the access log
	ActSession       Action = "session"        // any signed-in user: who am I, sign out
)

// reach is how far a role may use an action.
type reach uint8

const (
	never      reach = iota // refused
	everywhere              // any unit (or the route names none)
	inScope                 // only units within the principal's scope
)

func (r reach) String() string {
	return [...]string{"-", "all units", "own scope"}[r]
}

// rule is one row of the authorisation table: what each role may do.
type rule struct {
	admin, submitter, inspector, supervisor reach
	why                                     string // said to whoever is refused
}

func (r rule) of(role events.Role) reach {
	switch role {
	case events.RoleAdmin:
		return r.admin
	case events.RoleSubmitter:
		return r.submitter
	case events.RoleInspector:
		return r.inspector
	case events.RoleSupervisor:
		return r.supervisor
	}
	return never
}

// rules is the route x role x scope table: every route's action must have
// a row (an action without one is refused for everybody: fail closed). The
// README's table is rendered from it (TestAuthzTableInREADME). Nobody may
// delete anything: there is no delete action.
var rules = map[Action]rule{
	ActHome:             {everywhere, everywhere, everywhere, everywhere, ""},
	ActSession:          {everywhere, everywhere, everywhere, everywhere, ""},
	ActStatus:           {everywhere, everywhere, everywhere, everywhere, ""},
	ActUnitList:         {everywhere, inScope, inScope, inScope, ""},
	ActPlanRead:         {everywhere, everywhere, everywhere, everywhere, ""},
	ActCheckpointRead:   {everywhere, everywhere, everywhere, everywhere, ""},
	ActVerify:           {everywhere, inScope, inScope, inScope, ""},
	ActBlobRead:         {everywhere, inScope, inScope, inScope, ""},
	ActUnitRead:         {everywhere, inScope, inScope, inScope, "this unit is outside your scope"},
	ActEvidenceWrite:    {everywhere, inScope, never, never, "only the unit's submitter (or an admin) writes its evidence"},
	ActFindingWrite:     {everywhere, never, inScope, never, "only an inspector of the unit records, resolves or reopens findings"},
	ActAudit:            {everywhere, never, never, inScope, "only a supervisor or an admin reads the audit views"},
	ActAccessLog:        {everywhere, never, never, inScope, "only a supervisor or an admin reads the access log"},
	ActUserRead:         {everywhere, never, never, everywhere, "only a supervisor or an admin reads the users"},
	ActUnitCreate:       {everywhere, never, never, never, "only an admin registers units"},
	ActTokenCreate:      {everywhere, never, never, never, "only an admin creates tokens"},
	ActTokenAdmin:       {everywhere, never, never, never, "only an admin lists or revokes tokens"},
	ActUserWrite:        {everywhere, never, never, never, "only an admin manages users"},
	ActPlanPublish:      {everywhere, never, never, never, "only an admin publishes plans"},
	ActCheckpointCreate: {everywhere, never, never, never, "only an admin makes a checkpoint on demand"},
	ActCosign:           {everywhere, never, never, everywhere, "only a supervisor (or an admin) posts witness cosignatures"},
}

// decide is the one authorisation decision every route passes through. unit
// is the unit the route names, or "" (then an in-scope rule allows, and the
// handler shows only what is in scope). within(root, unit) says whether unit
// is in root's subtree. An action without a rule is refused.
func decide(p Principal, act Action, unit string, within func(root, unit string) bool) error {
	r, ok := rules[act]
	if !ok {
		return fmt.Errorf("%w: no rule allows %s for role %s", ErrForbidden, act, p.Role)
	}
	switch r.of(p.Role) {
	case everywhere:
		return nil
	case inScope:
		if unit == "" || p.sees(unit, within) {
			return nil
		}
		return fmt.Errorf("%w: unit %s is outside your scope", ErrForbidden, unit)
	}
	why := r.why
	if why == "" {
		why = fmt.Sprintf("a %s may not do this", p.Role)
	}
	return fmt.Errorf("%w: %s", ErrForbidden, why)
}

// authorize is decide with the unit tree of the archive projection. It
// must not be called while holding the archive's read lock (use decide
// with a.Within there).
func (s *Server) authorize(p Principal, act Action, unit string) error {
	if unit == "" || p.Role == events.RoleAdmin || p.Unit == "" || !p.Subtree {
		return decide(p, act, unit, nil)
	}
	var err error
	_ = s.archive.Lookup(func(a *projections.Archive) error { // on every request: never behind a long read
		err = decide(p, act, unit, a.Within)
		return nil
	})
	return err
}

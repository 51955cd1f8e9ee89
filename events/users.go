package events

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// UsersChain is the chain (the "unit" field) of user events: who may do what
// is recorded in the ledger like everything else, so that "who could do what
// on date T" replays. Credentials (password and token hashes) never appear
// in these events; they live in their own store.
const UsersChain = "_users"

// User event types.
const (
	TypeUserCreated  Type = "user.created"
	TypeUserChanged  Type = "user.changed"
	TypeUserDisabled Type = "user.disabled"
	TypeUserEnabled  Type = "user.enabled"
)

// IsUserType reports whether t is a user event type.
func IsUserType(t Type) bool {
	switch t {
	case TypeUserCreated, TypeUserChanged, TypeUserDisabled, TypeUserEnabled:
		return true
	}
	return false
}

// User is the payload of every user event: the user's whole state after it.
//
// Scope is the unit the user acts for: a submitter's own unit (required), an
// inspector's or supervisor's subtree root (empty: the whole ledger); an
// admin has no scope. Subtree extends a submitter's scope to the unit's
// sub-units; inspectors and supervisors always have the subtree.
type User struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Role     Role   `json:"role"`
	Scope    string `json:"scope,omitempty"`
	Subtree  bool   `json:"subtree,omitempty"`
	Disabled bool   `json:"disabled,omitempty"`
}

var userRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$`)

// ValidUserID returns an error wrapping ErrInvalid unless id is 1-64
// characters of a-z, 0-9 and inner '.', '_' or '-'.
func ValidUserID(id string) error {
	if !userRE.MatchString(id) {
		return fmt.Errorf("%w: user id %q must be 1-64 characters of a-z, 0-9 and inner '.', '_' or '-'", ErrInvalid, id)
	}
	return nil
}

// Normalize fills what the role implies: inspectors and supervisors always
// see their scope's subtree; an admin has no scope.
func (u *User) Normalize() {
	switch u.Role {
	case RoleInspector, RoleSupervisor:
		u.Subtree = true
	case RoleAdmin:
		u.Scope, u.Subtree = "", false
	}
	u.Name = strings.TrimSpace(u.Name)
	if u.Name == "" {
		u.Name = u.ID
	}
}

// Validate returns an error wrapping ErrInvalid naming the first problem.
func (u User) Validate() error {
	if err := ValidUserID(u.ID); err != nil {
		return err
	}
	if !utf8.ValidString(u.Name) || utf8.RuneCountInString(u.Name) > MaxNameLen {
		return fmt.Errorf("%w: user name must be at most %d characters of UTF-8", ErrInvalid, MaxNameLen)
	}
	switch u.Role {
	case RoleAdmin:
		if u.Scope != "" {
			return fmt.Errorf("%w: an admin has no unit scope", ErrInvalid)
		}
	case RoleSubmitter:
		if u.Scope == "" {
			return fmt.Errorf("%w: a submitter needs a unit (scope)", ErrInvalid)
		}
	case RoleInspector, RoleSupervisor:
	default:
		return fmt.Errorf("%w: role must be admin, submitter, inspector or supervisor, not %q", ErrInvalid, u.Role)
	}
	if u.Scope != "" {
		if err := ValidUnitID(u.Scope); err != nil {
			return fmt.Errorf("scope: %w", err)
		}
	}
	return nil
}

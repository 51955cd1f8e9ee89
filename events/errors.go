package events

import "errors"

// Domain errors returned by ledgers. Callers test with errors.Is; an HTTP
// layer maps each to one status.
var (
	// ErrNotFound: the unit or evidence does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: the unit is already registered, or an id is already used
	// elsewhere.
	ErrExists = errors.New("already exists")
	// ErrConflict: the change does not apply to the current state: a stale
	// expected version, or a correction of a retracted item.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: the ledger's store cannot be reached.
	ErrUnavailable = errors.New("ledger unavailable")
)

// Package param checks what a request names — query parameters and path
// values — before it reaches a NATS subject, a KV key or a projection. Each
// parser takes the parameter's name and its raw value and returns the value
// or an error wrapping ErrBadRequest (events.ErrInvalid for ids) whose
// message names the parameter. They are pure functions: see param_test.go
// for their tables and fuzz targets.
package param

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"taizhang/events"
)

// ErrBadRequest marks a malformed request that is not a domain error: a
// bad parameter, form or body (the gate answers it 400 bad_request).
var ErrBadRequest = errors.New("bad request")

// MaxLen bounds every query parameter value, in bytes.
const MaxLen = 256

// Values is a request's query string, parsed strictly.
type Values struct{ v url.Values }

// Query parses r's query string: a malformed one (a bad %-escape, a ';')
// is refused rather than silently dropped, as r.URL.Query() would.
func Query(r *http.Request) (Values, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return Values{}, fmt.Errorf("%w: malformed query string: %v", ErrBadRequest, err)
	}
	return Values{v}, nil
}

// Get returns the parameter's value ("" if absent): given at most once, at
// most MaxLen bytes of valid UTF-8 without control characters.
func (q Values) Get(name string) (string, error) {
	vs := q.v[name]
	switch {
	case len(vs) == 0:
		return "", nil
	case len(vs) > 1:
		return "", fmt.Errorf("%w: %s given %d times; give it once", ErrBadRequest, name, len(vs))
	}
	return Clean(name, vs[0])
}

// Clean refuses overlong values, invalid UTF-8 and control characters.
func Clean(name, v string) (string, error) {
	if len(v) > MaxLen {
		return "", fmt.Errorf("%w: %s is longer than %d bytes", ErrBadRequest, name, MaxLen)
	}
	if !utf8.ValidString(v) {
		return "", fmt.Errorf("%w: %s is not valid UTF-8", ErrBadRequest, name)
	}
	if strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return "", fmt.Errorf("%w: %s contains control characters", ErrBadRequest, name)
	}
	return v, nil
}

// Get reads one query parameter of r (see Values.Get).
func Get(r *http.Request, name string) (string, error) {
	q, err := Query(r)
	if err != nil {
		return "", err
	}
	return q.Get(name)
}

// MinYear and MaxYear bound every date a parameter may name.
const MinYear, MaxYear = 1970, 9999

// AsOf parses an as_of value: RFC 3339, or a YYYY-MM-DD date meaning
// the end of that day in zone. "" is the zero time (now).
func AsOf(name, v string, zone *time.Location) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	bad := fmt.Errorf("%w: %s %q is not an RFC 3339 time or a YYYY-MM-DD date", ErrBadRequest, name, v)
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		d, derr := time.ParseInLocation(time.DateOnly, v, zone)
		if derr != nil {
			return time.Time{}, bad
		}
		t = d.AddDate(0, 0, 1).Add(-time.Microsecond)
	}
	if y := t.UTC().Year(); y < MinYear || y > MaxYear {
		return time.Time{}, fmt.Errorf("%w: %s %q is not between %d and %d", ErrBadRequest, name, v, MinYear, MaxYear)
	}
	return t, nil
}

// Date parses an optional YYYY-MM-DD date (midnight in zone).
func Date(name, v string, zone *time.Location) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	d, err := time.ParseInLocation(time.DateOnly, v, zone)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s %q is not a YYYY-MM-DD date", ErrBadRequest, name, v)
	}
	if d.Year() < MinYear {
		return time.Time{}, fmt.Errorf("%w: %s %q is before %d", ErrBadRequest, name, v, MinYear)
	}
	return d, nil
}

// Month parses a required YYYY-MM month (its first day, UTC).
func Month(name, v string) (time.Time, error) {
	m, err := time.Parse("2006-01", v)
	if err != nil || len(v) != 7 {
		return time.Time{}, fmt.Errorf("%w: %s %q must be YYYY-MM", ErrBadRequest, name, v)
	}
	if m.Year() < MinYear {
		return time.Time{}, fmt.Errorf("%w: %s %q is before %d", ErrBadRequest, name, v, MinYear)
	}
	return m, nil
}

// Uint parses an optional non-negative decimal integer of at most max
// (def if absent).
func Uint(name, v string, def, max uint64) (uint64, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > max || v[0] == '+' {
		return 0, fmt.Errorf("%w: %s must be a whole number from 0 to %d, got %q", ErrBadRequest, name, max, v)
	}
	return n, nil
}

// IntRange parses an optional decimal integer from lo to hi (0 if
// absent).
func IntRange(name, v string, lo, hi int) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi || v[0] == '+' {
		return 0, fmt.Errorf("%w: %s %q must be a whole number from %d to %d", ErrBadRequest, name, v, lo, hi)
	}
	return n, nil
}

// Bool parses an optional true/false (1/0).
func Bool(name, v string) (bool, error) {
	switch v {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	}
	return false, fmt.Errorf("%w: %s %q must be true or false", ErrBadRequest, name, v)
}

// Enum checks an optional value against its allowed values.
func Enum(name, v string, allowed ...string) (string, error) {
	if v == "" {
		return "", nil
	}
	for _, a := range allowed {
		if v == a {
			return v, nil
		}
	}
	return "", fmt.Errorf("%w: %s %q must be one of %s", ErrBadRequest, name, v, strings.Join(allowed, ", "))
}

// Unit checks an optional unit id given as a parameter: the
// slug events.ValidUnitID accepts, so it can never put a NATS wildcard
// ('*', '>') or token separator ('.') into a subject.
func Unit(name, v string) (string, error) {
	if v == "" {
		return "", nil
	}
	if err := events.ValidUnitID(v); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return v, nil
}

// slugRE is a plan id: what projections/plan accepts.
var slugRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$`)

// PlanID checks an optional plan id (a slug, like a unit id).
func PlanID(name, v string) (string, error) {
	if v == "" || slugRE.MatchString(v) {
		return v, nil
	}
	return "", fmt.Errorf("%w: %s %q is not a plan id (a-z, 0-9 and inner '-', at most 64)", events.ErrInvalid, name, Truncate(v))
}

// ID parses a required evidence or finding id: a UUID in its
// canonical 36-character form, not the nil UUID.
func ID(name, v string) (uuid.UUID, error) {
	id, err := uuid.Parse(v)
	if err != nil || len(v) != 36 || id == uuid.Nil {
		return uuid.Nil, fmt.Errorf("%w: %s %q is not a UUID", events.ErrInvalid, name, Truncate(v))
	}
	return id, nil
}

// File reads an optional file name given as a parameter (a
// label in messages): its last path element, at most 255 characters.
func File(name, v, def string) (string, error) {
	if v == "" {
		return def, nil
	}
	f := path.Base(strings.ReplaceAll(v, `\`, "/"))
	if f == "." || f == "/" || f == ".." {
		return def, nil
	}
	if utf8.RuneCountInString(f) > events.MaxAttachmentName {
		return "", fmt.Errorf("%w: %s is longer than %d characters", ErrBadRequest, name, events.MaxAttachmentName)
	}
	return f, nil
}

// Truncate shortens a bad value for an error message.
func Truncate(v string) string {
	if len(v) <= 80 {
		return v
	}
	cut := 80
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:cut] + "…"
}

package auth

import (
	"fmt"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"taizhang/events"
)

// Password limits: at least MinPasswordLen characters, at most
// MaxPasswordLen bytes (bcrypt's limit).
const (
	MinPasswordLen = 10
	MaxPasswordLen = 72
)

// CheckPassword refuses passwords too short or too long for bcrypt
// (events.ErrInvalid).
func CheckPassword(pw string) error {
	if utf8.RuneCountInString(pw) < MinPasswordLen || len(pw) > MaxPasswordLen {
		return fmt.Errorf("%w: a password has %d to %d bytes", events.ErrInvalid, MinPasswordLen, MaxPasswordLen)
	}
	return nil
}

// DummyHash is compared against when the user does not exist, so that an
// unknown user takes as long as a wrong password. It is made on first use,
// not when the package loads: every CLI command links this package.
var DummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("taizhang-no-such-user"), bcrypt.DefaultCost)
	return h
})

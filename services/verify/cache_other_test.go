//go:build !linux

package verify_test

import "errors"

func dropCache([]string) error { return errors.New("only on Linux") }

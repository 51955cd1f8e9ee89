//go:build !linux

package verify_test

import (
	"errors"
	"time"
)

func dropCache([]string) error { return errors.New("only on Linux") }

func cpuTime() time.Duration { return 0 }

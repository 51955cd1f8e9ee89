package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"strings"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/dustin/go-humanize"
)

// minMemoryLimit is the least --memory-limit serve accepts: below it the
// collector would run without pause on any real ledger.
const minMemoryLimit = 64 << 20

// parseMemoryLimit reads serve's --memory-limit: "" (auto), "off", or a
// size such as 1000MiB, 1GiB, 900MB or a number of bytes. It returns 0
// for auto, -1 for off and the bytes otherwise; an error for anything
// else, or a size under 64 MiB.
func parseMemoryLimit(s string) (int64, error) {
	switch s = strings.TrimSpace(s); strings.ToLower(s) {
	case "":
		return 0, nil
	case "off":
		return -1, nil
	}
	n, err := humanize.ParseBytes(s)
	if err != nil {
		return 0, fmt.Errorf("--memory-limit %q: not a size (e.g. 1000MiB, 1GiB) or \"off\"", s)
	}
	if n < minMemoryLimit || n > math.MaxInt64 {
		return 0, fmt.Errorf("--memory-limit %q: must be at least 64MiB", s)
	}
	return int64(n), nil
}

// applyMemoryLimit sets the Go runtime's soft memory limit for serve (the
// collector works harder as the heap nears it, so that the process stays
// under it instead of doubling its live heap): limit bytes if given; none
// for off; for auto, GOMEMLIMIT if the environment sets it, else 90% of
// the container's (cgroup's) memory limit if there is one, else none. It
// logs the limit it leaves in force.
func applyMemoryLimit(limit int64, log *slog.Logger) {
	source := "--memory-limit"
	switch {
	case limit > 0:
		debug.SetMemoryLimit(limit)
	case limit < 0:
		debug.SetMemoryLimit(math.MaxInt64)
		source = "none (--memory-limit off)"
	case os.Getenv("GOMEMLIMIT") != "":
		source = "GOMEMLIMIT"
	default:
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		_, err := memlimit.Set(memlimit.WithRatio(0.9), memlimit.WithProvider(memlimit.FromCgroup), memlimit.WithLogger(quiet))
		switch {
		case err == nil: // a limit, or none (Set reports no limit as success)
		case errors.Is(err, memlimit.ErrNoCgroup), errors.Is(err, memlimit.ErrCgroupsNotSupported):
			log.Debug("no cgroup to take a memory limit from", "err", err)
		default:
			log.Warn("cannot read the container's memory limit; running without one", "err", err)
		}
		source = "90% of the container's memory limit"
	}
	set := debug.SetMemoryLimit(-1)
	if set == math.MaxInt64 {
		log.Info("memory limit: none (the heap may grow to twice what it holds; set --memory-limit to bound it)")
		return
	}
	log.Info("memory limit", "bytes", set, "size", humanize.IBytes(uint64(set)), "from", source)
}

package main

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"testing"
)

func TestParseMemoryLimit(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{"", 0, false},
		{"off", -1, false},
		{" OFF ", -1, false},
		{"1000MiB", 1000 << 20, false},
		{"1GiB", 1 << 30, false},
		{"900MB", 900_000_000, false},
		{"67108864", 64 << 20, false},
		{"63MiB", 0, true},
		{"0", 0, true},
		{"-1GiB", 0, true},
		{"lots", 0, true},
		{"1 TiB of it", 0, true},
		{"99999999999999999999999", 0, true},
	} {
		got, err := parseMemoryLimit(c.in)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("parseMemoryLimit(%q) = %d, %v; want %d, bad %v", c.in, got, err, c.want, c.bad)
		}
		if err != nil && !strings.Contains(err.Error(), "--memory-limit") {
			t.Errorf("parseMemoryLimit(%q): the error %q does not name the flag", c.in, err)
		}
	}
}

func FuzzParseMemoryLimit(f *testing.F) {
	for _, s := range []string{"", "off", "1000MiB", "1GiB", "900 MB", "64mib", "1e3MB", "lots"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseMemoryLimit(s)
		if err == nil && n != 0 && n != -1 && n < minMemoryLimit {
			t.Fatalf("parseMemoryLimit(%q) = %d, under the minimum", s, n)
		}
	})
}

// TestMemoryLimitFlag: a bad --memory-limit stops serve with a usage
// error naming the flag, before anything is opened.
func TestMemoryLimitFlag(t *testing.T) {
	for _, v := range []string{"lots", "10MiB"} {
		var out, errb bytes.Buffer
		code := Run(context.Background(), []string{"serve", "--data", t.TempDir(), "--memory-limit", v}, nil, &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), "--memory-limit") {
			t.Errorf("--memory-limit %s: exit %d, %q", v, code, errb.String())
		}
	}
}

// TestApplyMemoryLimit: a size sets the runtime's limit, off clears it,
// and auto leaves GOMEMLIMIT's in force; each is logged.
func TestApplyMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))

	applyMemoryLimit(900<<20, log)
	if got := debug.SetMemoryLimit(-1); got != 900<<20 {
		t.Fatalf("limit %d after --memory-limit 900MiB", got)
	}
	if !strings.Contains(logs.String(), "900 MiB") || !strings.Contains(logs.String(), "from=--memory-limit") {
		t.Fatalf("log: %s", logs.String())
	}

	t.Setenv("GOMEMLIMIT", "900MiB") // the runtime read it at start; auto keeps what is in force
	logs.Reset()
	applyMemoryLimit(0, log)
	if got := debug.SetMemoryLimit(-1); got != 900<<20 || !strings.Contains(logs.String(), "from=GOMEMLIMIT") {
		t.Fatalf("auto with GOMEMLIMIT: limit %d, log %s", got, logs.String())
	}

	logs.Reset()
	applyMemoryLimit(-1, log)
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 || !strings.Contains(logs.String(), "memory limit: none") {
		t.Fatalf("off: limit %d, log %s", got, logs.String())
	}
}

// TestServeMemoryLimit: serve --memory-limit puts the limit in force for
// the process and says so in its log.
func TestServeMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	s := startServer(t, "", "--memory-limit", "900MiB")
	if got := debug.SetMemoryLimit(-1); got != 900<<20 {
		t.Errorf("serve --memory-limit 900MiB: the runtime's limit is %d", got)
	}
	if log := s.log.String(); !strings.Contains(log, `msg="memory limit"`) || !strings.Contains(log, `size="900 MiB"`) {
		t.Errorf("serve's log does not give the limit:\n%s", log)
	}
}

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCompletion: each shell's script names every command of the usage
// text and the flags of a command; bash's parses and completes
// subcommands, flags and flag values when sourced; zsh's and fish's parse
// where those shells are installed.
func TestCompletion(t *testing.T) {
	cmds := commandTree()
	if len(cmds) < 20 {
		t.Fatalf("only %d commands read from the usage text", len(cmds))
	}
	dir := t.TempDir()
	scripts := map[string]string{}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		var out, errb bytes.Buffer
		if code := Run(context.Background(), []string{"completion", sh}, nil, &out, &errb); code != 0 {
			t.Fatalf("completion %s: %d %s", sh, code, errb.String())
		}
		s := out.String()
		scripts[sh] = s
		for _, c := range cmds {
			if !regexp.MustCompile(`[\s"'(]` + regexp.QuoteMeta(c.Name) + `[\s"')]`).MatchString(s) {
				t.Errorf("%s script does not mention %q", sh, c.Name)
			}
		}
		for _, w := range []string{"dry-run", "max-file-mib", "photo-times", "study_note", "verify-bag"} {
			if !strings.Contains(s, w) {
				t.Errorf("%s script does not mention %q", sh, w)
			}
		}
		p := filepath.Join(dir, "taizhang."+sh)
		if err := os.WriteFile(p, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		bin, err := exec.LookPath(sh)
		if err != nil {
			if os.Getenv("CI") == "true" { // scripts/test installs them under CI
				t.Errorf("%s is not installed: its script cannot be parsed", sh)
			}
			t.Logf("%s is not installed: its script is not parsed", sh)
			continue
		}
		if b, err := exec.Command(bin, "-n", p).CombinedOutput(); err != nil {
			t.Errorf("%s -n: %v\n%s", sh, err, b)
		}
	}
	// Every command of the usage text is a command Run knows.
	for _, c := range cmds {
		var errb bytes.Buffer
		Run(context.Background(), []string{c.Name, "-h"}, nil, &bytes.Buffer{}, &errb)
		if strings.Contains(errb.String(), "unknown command") {
			t.Errorf("%s: %s", c.Name, errb.String())
		}
	}
	if _, err := exec.LookPath("fish"); err == nil {
		b, err := exec.Command("fish", "-c", "source "+filepath.Join(dir, "taizhang.fish")+`; complete -C "taizhang import --d"; complete -C "taizhang audit photo"`).CombinedOutput()
		if err != nil || !strings.Contains(string(b), "--dry-run") || !strings.Contains(string(b), "photo-times") {
			t.Errorf("fish completes: %v %q", err, b)
		}
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	complete := func(words ...string) string {
		t.Helper()
		script := "source " + filepath.Join(dir, "taizhang.bash") + "\nCOMP_WORDS=(" + strings.Join(quoteAll(words), " ") + ")\n" +
			"COMP_CWORD=" + string(rune('0'+len(words)-1)) + "\n_taizhang\necho \"${COMPREPLY[*]}\"\n"
		b, err := exec.Command("bash", "-c", script).CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, b)
		}
		return strings.TrimSpace(string(b))
	}
	for _, tc := range []struct {
		words []string
		want  string
	}{
		{[]string{"taizhang", "im"}, "import"},
		{[]string{"taizhang", "unit", ""}, "add list"},
		{[]string{"taizhang", "import", "--dr"}, "--dry-run"},
		{[]string{"taizhang", "device", ""}, "init register list revoke"},
		{[]string{"taizhang", "unit", "add", "--h"}, "--headcount"},
		{[]string{"taizhang", "submit", "--kind", "rect"}, "rectification"},
		{[]string{"taizhang", "audit", "photo"}, "photo-times"},
		{[]string{"taizhang", "completion", "f"}, "fish"},
	} {
		if got := complete(tc.words...); got != tc.want {
			t.Errorf("complete %q: %q, want %q", tc.words, got, tc.want)
		}
	}
}

func quoteAll(ws []string) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = "'" + w + "'"
	}
	return out
}

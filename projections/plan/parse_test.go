package plan_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"taizhang/projections/plan"
)

// The plan files shipped with taizhang, and broken ones with the problems
// the checker must report.
const plansDir = "../../deploy/plans"

func TestSeedPlansParse(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(plansDir, "*.yaml"))
	if len(files) < 3 {
		t.Fatalf("want the three seed plans in %s, found %v", plansDir, files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p, err := plan.Parse(f, b)
		if err != nil {
			t.Errorf("%s:\n%v", f, err)
			continue
		}
		for _, r := range p.Requirements {
			if r.Ref == "" || r.Title == "" {
				t.Errorf("%s: requirement %s does not cite the seed", f, r.ID)
			}
		}
	}
}

// TestBrokenPlans checks every file in testdata/broken against its .want
// file: each line "LINE: text" must be reported at that line.
func TestBrokenPlans(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(plansDir, "testdata", "broken", "*.yaml"))
	if len(files) < 10 {
		t.Fatalf("want broken plan fixtures, found %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, _ := os.ReadFile(f)
			_, err := plan.Parse(f, b)
			var probs plan.Problems
			if !errors.As(err, &probs) {
				t.Fatalf("accepted (err %v)", err)
			}
			want, err := os.ReadFile(strings.TrimSuffix(f, ".yaml") + ".want")
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(bytes.NewReader(want))
			for sc.Scan() {
				lineStr, text, ok := strings.Cut(sc.Text(), ": ")
				if !ok {
					continue
				}
				line, _ := strconv.Atoi(lineStr)
				found := false
				for _, p := range probs {
					if p.Line == line && strings.Contains(p.Msg, text) {
						found = true
					}
				}
				if !found {
					t.Errorf("want %d: %q; got:\n%v", line, text, probs)
				}
			}
		})
	}
}

func TestParseRejectsGarbage(t *testing.T) {
	for _, in := range []string{"", "[]", "id: [", "id: x\n", "\t- bad"} {
		if _, err := plan.Parse("x.yaml", []byte(in)); err == nil {
			t.Errorf("accepted %q", in)
		}
	}
}

// FuzzParse: the plan parser never panics, and every problem names a line.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(plansDir, "*.yaml"))
	for _, name := range files {
		b, _ := os.ReadFile(name)
		f.Add(b)
	}
	f.Add([]byte("id: x\nrule: {kind: count}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := plan.Parse("f.yaml", b)
		var probs plan.Problems
		if err != nil && !errors.As(err, &probs) {
			t.Fatalf("error of the wrong kind: %v", err)
		}
		if err == nil && (p == nil || len(p.Requirements) == 0) {
			t.Fatal(fmt.Sprint("accepted a plan without requirements: ", p))
		}
	})
}

package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"go.yaml.in/yaml/v3"
)

// deployDir is the repository's deploy/ directory, seen from this package.
const deployDir = "../../deploy"

// TestDeployFilesParse: every YAML document under deploy/ decodes, every
// NATS config is accepted by nats-server's own option processing, every
// systemd unit has only known sections and key=value lines, and the
// Caddyfile adapts (when caddy is installed).
func TestDeployFilesParse(t *testing.T) {
	t.Setenv("TAIZHANG_NATS_PASSWORD", "x")
	t.Setenv("TAIZHANG_OPERATOR_PASSWORD", "y")
	t.Setenv("POD_NAME", "nats-0")
	var yamls, confs, units int
	err := filepath.WalkDir(deployDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(path, "/testdata/") {
			return err
		}
		switch {
		case strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml"):
			yamls++
			if n := len(yamlDocs(t, path)); n == 0 {
				t.Errorf("%s: no YAML document", path)
			}
		case strings.HasSuffix(path, ".conf"):
			confs++
			if _, err := natsserver.ProcessConfigFile(path); err != nil {
				t.Errorf("%s: nats-server refuses it: %v", path, err)
			}
		case strings.HasSuffix(path, ".service"):
			units++
			checkUnit(t, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if yamls < 6 || confs < 2 || units < 2 {
		t.Fatalf("found %d YAML files, %d NATS configs, %d systemd units; want at least 6, 2, 2", yamls, confs, units)
	}
	if caddy, err := exec.LookPath("caddy"); err == nil {
		out, err := exec.Command(caddy, "adapt", "--config", filepath.Join(deployDir, "compose/Caddyfile")).CombinedOutput()
		if err != nil {
			t.Errorf("caddy adapt: %v\n%s", err, out)
		}
	} else {
		t.Log("caddy is not installed: the Caddyfile is not checked")
	}
}

// TestDeployFlagsExist: every taizhang command line in the deploy files
// (compose commands, Kubernetes args, systemd ExecStart) parses with the
// real flag set of its command, and every TAIZHANG_ variable an env file
// sets is one the code reads.
func TestDeployFlagsExist(t *testing.T) {
	var lines [][]string
	compose := yamlDocs(t, filepath.Join(deployDir, "compose/compose.yaml"))[0]
	services, _ := compose["services"].(map[string]any)
	for name, s := range services {
		svc, _ := s.(map[string]any)
		if img, _ := svc["image"].(string); img == "taizhang:local" {
			lines = append(lines, append([]string{"compose " + name}, strs(t, svc["command"])...))
		}
	}
	for _, doc := range yamlDocs(t, filepath.Join(deployDir, "k8s/taizhang.yaml")) {
		if doc["kind"] != "Deployment" {
			continue
		}
		spec := dig(doc, "spec", "template", "spec").(map[string]any)
		for _, c := range spec["containers"].([]any) {
			c := c.(map[string]any)
			lines = append(lines, append([]string{"k8s " + c["name"].(string)}, strs(t, c["args"])...))
		}
	}
	unit, err := os.ReadFile(filepath.Join(deployDir, "systemd/taizhang.service"))
	if err != nil {
		t.Fatal(err)
	}
	exec := regexp.MustCompile(`(?m)^ExecStart=/usr/local/bin/taizhang ((?:.*\\\n)*.*)$`).FindSubmatch(unit)
	if exec == nil {
		t.Fatal("systemd/taizhang.service: no ExecStart of /usr/local/bin/taizhang")
	}
	lines = append(lines, append([]string{"systemd"}, strings.Fields(strings.ReplaceAll(string(exec[1]), "\\\n", " "))...))
	if len(lines) < 4 {
		t.Fatalf("found %d taizhang command lines, want the 2 compose replicas, k8s and systemd", len(lines))
	}
	for _, l := range lines {
		if msg := flagProblem(l[1:]); msg != "" {
			t.Errorf("%s: %s", l[0], msg)
		}
	}
	// The check itself can fail.
	if flagProblem([]string{"serve", "--no-such-flag=1"}) == "" {
		t.Error("an unknown serve flag passed the check")
	}

	src := readSources(t)
	for _, f := range []string{"systemd/taizhang.env.example"} {
		b, err := os.ReadFile(filepath.Join(deployDir, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`(?m)^(TAIZHANG_[A-Z0-9_]+)=`).FindAllSubmatch(b, -1) {
			if !strings.Contains(src, `"`+string(m[1])+`"`) {
				t.Errorf("%s sets %s, which taizhang does not read", f, m[1])
			}
		}
	}
}

// flagProblem runs the command line through Run with -h appended: the
// flags before it are parsed (and their values checked) by the command's
// real flag set, and then help stops it. It returns what went wrong, or "".
func flagProblem(args []string) string {
	var out bytes.Buffer
	code := Run(context.Background(), append(append([]string{}, args...), "-h"), strings.NewReader(""), io.Discard, &out)
	s := out.String()
	if strings.Contains(s, "not defined") || strings.Contains(s, "invalid") || (code != 0 && !strings.Contains(s, "Usage")) {
		first, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
		return first
	}
	return ""
}

func readSources(t *testing.T) string {
	var b strings.Builder
	for _, dir := range []string{".", "../../httpserver", "../../api", "../../pages", "../../gate", "../../internal/metrics"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			s, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			b.Write(s)
		}
	}
	return b.String()
}

func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var docs []map[string]any
	dec := yaml.NewDecoder(f)
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if m != nil {
			docs = append(docs, m)
		}
	}
}

func dig(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		v = v.(map[string]any)[k]
	}
	return v
}

func strs(t *testing.T, v any) []string {
	l, ok := v.([]any)
	if !ok || len(l) == 0 {
		t.Fatalf("not a list of strings: %v", v)
	}
	var out []string
	for _, x := range l {
		out = append(out, x.(string))
	}
	return out
}

// checkUnit checks a systemd unit file: known sections, key=value lines
// (with backslash continuations), and an ExecStart in [Service].
func checkUnit(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{"[Unit]": true, "[Service]": true, "[Install]": true}
	section, cont, execStart := "", false, false
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case cont:
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			if !known[line] {
				t.Errorf("%s:%d: unknown section %s", path, i+1, line)
			}
			section = line
		case section == "":
			t.Errorf("%s:%d: a setting before any section", path, i+1)
		case !regexp.MustCompile(`^[A-Z][A-Za-z0-9]*=`).MatchString(line):
			t.Errorf("%s:%d: not a Key=value line: %q", path, i+1, line)
		default:
			execStart = execStart || (section == "[Service]" && strings.HasPrefix(line, "ExecStart="))
		}
		cont = strings.HasSuffix(line, "\\")
	}
	if !execStart {
		t.Errorf("%s: no ExecStart in [Service]", path)
	}
}

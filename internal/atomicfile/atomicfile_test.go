package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWrite: the file is replaced whole with the mode asked for, no
// temporary file is left behind, and a write that cannot be made names
// the file, leaves what was there and leaves no temporary file.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	for _, data := range []string{"first", "second, longer than the first", ""} {
		if err := Write(dir, "state.json", []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, "state.json"))
		if err != nil || string(got) != data {
			t.Fatalf("after writing %q: %q, %v", data, got, err)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "state.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("the directory holds %v (%v), want only state.json", entries, err)
	}

	// A write that cannot be made (the name is a directory, which a
	// rename cannot replace, even as root).
	if err := os.MkdirAll(filepath.Join(dir, "kept", "inside"), 0o700); err != nil {
		t.Fatal(err)
	}
	err = Write(dir, "kept", []byte("new"), 0o600)
	if err == nil || !strings.Contains(err.Error(), "kept") {
		t.Fatalf("a write that cannot be made: %v, want an error naming the file", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "kept", "inside")); err != nil || !fi.IsDir() {
		t.Fatalf("after a failed write, what was there is gone: %v", err)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 2 {
		t.Fatalf("after a failed write the directory holds %v (%v), want state.json and kept", entries, err)
	}
}

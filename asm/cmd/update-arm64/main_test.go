package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCheckedInOutputIsCurrent regenerates both files and compares them
// with the ones in package kernels, which go generate must reproduce.
func TestCheckedInOutputIsCurrent(t *testing.T) {
	dir := t.TempDir()
	out, stubs := filepath.Join(dir, "update_arm64.s"), filepath.Join(dir, "update_arm64.go")
	if err := run(out, stubs); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{out, stubs} {
		got, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("..", "..", "..", "kernels", filepath.Base(f)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("kernels/%s is stale: run go generate ./... from the repository root", filepath.Base(f))
		}
	}
}

package main

import (
	"path/filepath"
	"testing"

	"github.com/simdoptim/optim/asm/internal/gentest"
)

// TestCheckedInOutputIsCurrent regenerates both files and compares them
// with the ones in package kernels.
func TestCheckedInOutputIsCurrent(t *testing.T) {
	dir := t.TempDir()
	out, stubs := filepath.Join(dir, "lowp_arm64.s"), filepath.Join(dir, "lowp_arm64.go")
	if err := run(out, stubs); err != nil {
		t.Fatal(err)
	}
	gentest.Current(t, out, stubs)
}

package main

import (
	"path/filepath"
	"testing"

	"github.com/simdoptim/optim/asm/internal/gentest"
)

// TestCheckedInOutputIsCurrent regenerates the file and compares it with
// the one in package kernels.
func TestCheckedInOutputIsCurrent(t *testing.T) {
	out := filepath.Join(t.TempDir(), "update_programs.go")
	if err := run(out); err != nil {
		t.Fatal(err)
	}
	gentest.Current(t, out)
}

package main

import (
	"path/filepath"
	"testing"

	"github.com/simdoptim/optim/asm/internal/gentest"
)

// TestCheckedInOutputIsCurrent regenerates the files and compares them
// with the ones in package kernels.
func TestCheckedInOutputIsCurrent(t *testing.T) {
	dir := t.TempDir()
	out, rules := filepath.Join(dir, "update_programs.go"), filepath.Join(dir, "update_rules.go")
	if err := run(out, rules); err != nil {
		t.Fatal(err)
	}
	gentest.Current(t, out, rules, rulesTest(rules))
}

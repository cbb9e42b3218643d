// Package gentest serves the tests of the generator commands: it checks
// that what a command generates is what the repository holds, which
// go generate must reproduce.
package gentest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// kernelsDir is package kernels' directory, seen from a command's
// directory (asm/cmd/<command>), where its test runs.
var kernelsDir = filepath.Join("..", "..", "..", "kernels")

// Current reports an error on t for each generated file in paths that
// differs from the committed file of the same name in package kernels, and
// returns the generated files' contents, in the order of paths.
func Current(t testing.TB, paths ...string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, path := range paths {
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(path)
		want, err := os.ReadFile(filepath.Join(kernelsDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("kernels/%s is stale: run go generate ./... from the repository root", name)
		}
		out = append(out, got)
	}
	return out
}

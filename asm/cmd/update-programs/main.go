// Command update-programs generates the Go files of package kernels that
// are the same on every architecture, from the rules' descriptions in
// package generic.
//
// The -out file documents every program of the assembly kernels once, for
// every instruction set and element type: the operations each program
// performs, stated by the rules' descriptions and the gradient programs of
// internal/ir. The update-<arch> commands' files refer to it.
//
// The -rules file holds each rule's part of the package's API: the
// re-exported Kind constants and the validated function of every rule
// (kernels.SGD, kernels.Adam, ...); beside it, the test file of the same
// name with _test appended calls those functions by Kind. A new rule thus
// needs no hand-written line in package kernels.
//
//	go run ./cmd/update-programs -out ../kernels/update_programs.go -rules ../kernels/update_rules.go
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/simdoptim/optim/asm/internal/kernelgen"
)

// generator names this command in the generated files' headers; it does
// not depend on how the command was invoked, so output is reproducible.
const generator = "asm/cmd/update-programs"

func main() {
	out := flag.String("out", "", "Go output `file` of the programs")
	rules := flag.String("rules", "", "Go output `file` of the rules' functions")
	flag.Parse()
	if *out == "" || *rules == "" {
		fmt.Fprintln(os.Stderr, "usage: update-programs -out file.go -rules file.go")
		os.Exit(2)
	}
	if err := run(*out, *rules); err != nil {
		fmt.Fprintln(os.Stderr, "update-programs:", err)
		os.Exit(1)
	}
}

func run(out, rules string) error {
	for _, f := range []struct {
		path string
		gen  func(generator string) ([]byte, error)
	}{{out, kernelgen.ProgramsFile}, {rules, kernelgen.RulesFile}, {rulesTest(rules), kernelgen.RulesTestFile}} {
		src, err := f.gen(generator)
		if err != nil {
			return err
		}
		if err := os.WriteFile(f.path, src, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// rulesTest is the path of the test file that goes with the -rules file.
func rulesTest(rules string) string { return strings.TrimSuffix(rules, ".go") + "_test.go" }

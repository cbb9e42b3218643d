// Command update-programs generates the Go file of package kernels that
// documents every program of the assembly kernels once, for every
// instruction set and element type: the operations each program performs,
// stated by the rules' descriptions in package generic and the gradient
// programs of internal/ir. The update-<arch> commands' files refer to it.
//
//	go run ./cmd/update-programs -out ../kernels/update_programs.go
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/simdoptim/optim/asm/internal/kernelgen"
)

// generator names this command in the generated file's header; it does
// not depend on how the command was invoked, so output is reproducible.
const generator = "asm/cmd/update-programs"

func main() {
	out := flag.String("out", "", "Go output `file`")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "usage: update-programs -out file.go")
		os.Exit(2)
	}
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "update-programs:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	src, err := kernelgen.ProgramsFile(generator)
	if err != nil {
		return err
	}
	return os.WriteFile(out, src, 0o644)
}

// Command update-amd64 generates the AVX2 and AVX-512 update kernels of
// package kernels from the rules' descriptions in package generic: the assembly
// (-out) and the Go declarations, dispatch glue and kernel sets (-stubs).
//
//	go run ./cmd/update-amd64 -out ../kernels/update_amd64.s -stubs ../kernels/update_amd64.go
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/simdoptim/optim/asm/internal/kernelgen"
	"github.com/simdoptim/optim/asm/internal/x86"
)

// generator names this command in the generated files' headers; it does
// not depend on how the command was invoked, so output is reproducible.
const generator = "asm/cmd/update-amd64"

func main() {
	// avo's build package registers its own flags on flag.CommandLine.
	fs := flag.NewFlagSet("update-amd64", flag.ExitOnError)
	out := fs.String("out", "", "assembly output `file`")
	stubs := fs.String("stubs", "", "Go declarations output `file`")
	fs.Parse(os.Args[1:])
	if *out == "" || *stubs == "" {
		fmt.Fprintln(os.Stderr, "update-amd64: -out and -stubs are required")
		os.Exit(2)
	}
	if err := run(*out, *stubs); err != nil {
		fmt.Fprintln(os.Stderr, "update-amd64:", err)
		os.Exit(1)
	}
}

func run(out, stubs string) error {
	return kernelgen.WriteFiles(x86.NewBackend(), generator, out, stubs)
}

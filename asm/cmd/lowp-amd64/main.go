// Command lowp-amd64 generates the AVX2 and AVX-512 conversion kernels
// between float32 and bfloat16 or float16 of package kernels from their
// descriptions (internal/ir/conv.go): the assembly (-out) and the Go
// declarations and table of forms (-stubs).
//
//	go run ./cmd/lowp-amd64 -out ../kernels/lowp_amd64.s -stubs ../kernels/lowp_amd64.go
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/simdoptim/optim/asm/internal/kernelgen"
	"github.com/simdoptim/optim/asm/internal/x86"
)

// generator names this command in the generated files' headers.
const generator = "asm/cmd/lowp-amd64"

func main() {
	// avo's build package registers its own flags on flag.CommandLine.
	fs := flag.NewFlagSet("lowp-amd64", flag.ExitOnError)
	out := fs.String("out", "", "assembly output `file`")
	stubs := fs.String("stubs", "", "Go declarations output `file`")
	fs.Parse(os.Args[1:])
	if *out == "" || *stubs == "" {
		fmt.Fprintln(os.Stderr, "lowp-amd64: -out and -stubs are required")
		os.Exit(2)
	}
	if err := run(*out, *stubs); err != nil {
		fmt.Fprintln(os.Stderr, "lowp-amd64:", err)
		os.Exit(1)
	}
}

func run(out, stubs string) error {
	return kernelgen.WriteConvFiles(x86.NewBackend(), generator, out, stubs)
}

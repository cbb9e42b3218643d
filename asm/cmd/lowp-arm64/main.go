// Command lowp-arm64 generates the NEON conversion kernels between float32
// and bfloat16 or float16 of package kernels from their descriptions
// (internal/ir/conv.go): the assembly (-out) and the Go declarations and
// table of forms (-stubs).
//
//	go run ./cmd/lowp-arm64 -out ../kernels/lowp_arm64.s -stubs ../kernels/lowp_arm64.go
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/simdoptim/optim/asm/internal/arm64"
	"github.com/simdoptim/optim/asm/internal/kernelgen"
)

// generator names this command in the generated files' headers.
const generator = "asm/cmd/lowp-arm64"

func main() {
	out := flag.String("out", "", "assembly output `file`")
	stubs := flag.String("stubs", "", "Go declarations output `file`")
	flag.Parse()
	if *out == "" || *stubs == "" {
		fmt.Fprintln(os.Stderr, "lowp-arm64: -out and -stubs are required")
		os.Exit(2)
	}
	if err := run(*out, *stubs); err != nil {
		fmt.Fprintln(os.Stderr, "lowp-arm64:", err)
		os.Exit(1)
	}
}

func run(out, stubs string) error {
	return kernelgen.WriteConvFiles(&arm64.Backend{}, generator, out, stubs)
}

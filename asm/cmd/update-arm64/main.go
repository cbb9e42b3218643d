// Command update-arm64 generates the NEON kernels of package kernels from
// the rules' descriptions in package generic: the assembly file and the Go
// declarations and dispatch glue that go with it.
//
//	go run ./cmd/update-arm64 -out ../kernels/update_arm64.s -stubs ../kernels/update_arm64.go
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/simdoptim/optim/asm/internal/arm64"
	"github.com/simdoptim/optim/asm/internal/kernelgen"
)

// command is named in the generated files' headers. It is fixed rather than
// taken from os.Args so the output does not depend on how it was invoked.
const command = "command: go run ./cmd/update-arm64 -out ../kernels/update_arm64.s -stubs ../kernels/update_arm64.go"

func main() {
	out := flag.String("out", "", "assembly file to write")
	stubs := flag.String("stubs", "", "Go declarations file to write")
	flag.Parse()
	if *out == "" || *stubs == "" {
		fmt.Fprintln(os.Stderr, "usage: update-arm64 -out file.s -stubs file.go")
		os.Exit(2)
	}
	if err := run(*out, *stubs); err != nil {
		fmt.Fprintln(os.Stderr, "update-arm64:", err)
		os.Exit(1)
	}
}

func run(out, stubs string) error {
	return kernelgen.WriteFiles(&arm64.Backend{}, command, out, stubs)
}

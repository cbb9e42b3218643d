// Command update-amd64 generates the AVX2 and AVX-512 update kernels of
// package kernels from the rules' descriptions in package generic: the assembly
// (-out) and the Go declarations, dispatch glue and kernel sets (-stubs).
//
//	go run ./cmd/update-amd64 -out ../kernels/update_amd64.s -stubs ../kernels/update_amd64.go
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/pass"
	"github.com/mmcloughlin/avo/printer"

	"github.com/simdoptim/optim/asm/internal/kernelgen"
	"github.com/simdoptim/optim/asm/internal/x86"
	"github.com/simdoptim/optim/internal/ir"
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
	ctx := build.NewContext()
	ctx.ConstraintExpr("!noasm")
	for _, isa := range x86.ISAs {
		for _, d := range x86.DTypes {
			for _, k := range kernelgen.Programs() {
				if err := x86.Compile(ctx, k, isa, d); err != nil {
					return err
				}
			}
			for _, g := range ir.GradPrograms() {
				if err := x86.CompileGrad(ctx, g, isa, d); err != nil {
					return err
				}
			}
		}
	}
	file, err := ctx.Result()
	if err != nil {
		return err
	}
	if err := pass.Compile.Execute(file); err != nil {
		return err
	}
	var asm bytes.Buffer
	cfg := printer.Config{Name: generator, Pkg: "kernels"}
	if err := (&pass.Output{Writer: nopCloser{&asm}, Printer: printer.NewGoAsm(cfg)}).Execute(file); err != nil {
		return err
	}
	goSrc, err := x86.GoFile(generator, x86.ISAs)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, asm.Bytes(), 0o644); err != nil {
		return err
	}
	return os.WriteFile(stubs, goSrc, 0o644)
}

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

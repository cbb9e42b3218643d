package x86

import (
	"bytes"
	"fmt"
	"go/types"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/pass"
	"github.com/mmcloughlin/avo/printer"

	"github.com/simdoptim/optim/asm/internal/kernelgen"
	"github.com/simdoptim/optim/internal/ir"
)

// Backend is the kernelgen.Backend of the amd64 kernel sets, one per ISA of
// ISAs. It adds every kernel to one avo build context, which Assembly
// compiles and prints.
type Backend struct {
	ctx *build.Context
	// tables are the word tables the kernels load (interleaveTable,
	// highWordsTable) by name, each added to the file before the first
	// kernel that loads it.
	tables map[string]operand.Mem
}

// NewBackend returns a Backend with no kernels yet.
func NewBackend() *Backend {
	ctx := build.NewContext()
	ctx.ConstraintExpr("!noasm")
	return &Backend{ctx: ctx, tables: map[string]operand.Mem{}}
}

// Sets are the kernel sets of ISAs.
func (b *Backend) Sets() []kernelgen.Set {
	var out []kernelgen.Set
	for _, isa := range ISAs {
		out = append(out, isa.Set)
	}
	return out
}

// Update adds the kernel of program p for set s (an ISA's) and element e.
func (b *Backend) Update(s kernelgen.Set, p ir.Program, e kernelgen.Elem) error {
	isa, err := isaOf(s)
	if err != nil {
		return err
	}
	return compile(b.ctx, p, isa, e, false, b.table)
}

// UpdateExt adds the AVX512_BF16 form (ext "bf16") of bfloat16 update
// program p for set s, the form pairCvt describes (pairCvtInOrder for a
// master program).
func (b *Backend) UpdateExt(s kernelgen.Set, ext string, p ir.Program) error {
	isa, err := isaOf(s)
	if err != nil {
		return err
	}
	if ext != "bf16" {
		return fmt.Errorf("x86: no extension %q of %s", ext, isa.Name)
	}
	return compile(b.ctx, p, isa, kernelgen.F32, true, b.table)
}

// table returns the memory of the 32 words named name, which it adds to
// the file the first time, between two functions.
func (b *Backend) table(name string, words [32]uint16) operand.Mem {
	if m, ok := b.tables[name]; ok {
		return m
	}
	m := b.ctx.StaticGlobal(name)
	b.ctx.DataAttributes(attr.RODATA | attr.NOPTR)
	for i, w := range words {
		b.ctx.AddDatum(2*i, operand.U16(w))
	}
	b.tables[name] = m
	return m
}

// Grad adds the gradient kernel of program p for set s and element e.
func (b *Backend) Grad(s kernelgen.Set, p ir.GradProgram, e kernelgen.Elem) error {
	isa, err := isaOf(s)
	if err != nil {
		return err
	}
	return compileGrad(b.ctx, p, isa, e)
}

// Assembly compiles the kernels added (register allocation and the other
// avo passes) and prints them.
func (b *Backend) Assembly(generator string) ([]byte, error) {
	file, err := b.ctx.Result()
	if err != nil {
		return nil, err
	}
	if err := pass.Compile.Execute(file); err != nil {
		return nil, err
	}
	var asm bytes.Buffer
	cfg := printer.Config{Name: generator, Pkg: "kernels"}
	if err := (&pass.Output{Writer: nopCloser{&asm}, Printer: printer.NewGoAsm(cfg)}).Execute(file); err != nil {
		return nil, err
	}
	return asm.Bytes(), nil
}

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

// isaOf returns the ISA whose kernel set s is.
func isaOf(s kernelgen.Set) (ISA, error) {
	for _, isa := range ISAs {
		if isa.Set.Name == s.Name {
			return isa, nil
		}
	}
	return ISA{}, fmt.Errorf("x86: %q is not the kernel set of an ISA", s.Name)
}

// goType is element e's Go type.
func goType(e kernelgen.Elem) types.Type { return types.Universe.Lookup(e.Go).Type() }

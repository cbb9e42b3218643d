package x86

import "github.com/simdoptim/optim/asm/internal/kernelgen"

// GoFile returns the Go file that goes with the assembly of isas: the
// declarations, the dispatch glue and one kernels.Set per ISA.
func GoFile(generator string, isas []ISA) ([]byte, error) {
	var sets []kernelgen.Set
	for _, isa := range isas {
		sets = append(sets, kernelgen.Set{Name: isa.Name, Title: isa.Title, Doc: isa.Doc, Grad: true})
	}
	return kernelgen.GoFile(generator, sets)
}

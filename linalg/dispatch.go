package linalg

import "github.com/simdoptim/optim/internal/cpufeat"

// The kernel set in use is the one internal/cpufeat chooses once, at
// initialization, for the whole module from the CPU and OPTIM_ISA, so
// OPTIM_ISA=avx512 means the same thing here and in package optim. The
// variables are the set's kernels; tests swap them.
var (
	chosen     = kernelsFor(cpufeat.Chosen().ISA)
	kernel     = chosen.fn
	kernel2    = chosen.fn2
	leafKernel = chosen.leaf
	potrfPanel = chosen.base
	kernelName = chosen.name
)

// Kernel returns the name of the kernel set the factorization uses:
// "avx512", "avx2", "neon" or "generic".
func Kernel() string { return kernelName }

// namedKernel is one instruction set's kernels.
type namedKernel struct {
	name string
	fn   microKernel
	leaf trsmKernel
	base panelKernel
	fn2  microKernel2 // optional double-width GEMM kernel
	g32  gemmSet[float32]
	g64  gemmSet[float64]
}

var genericKernels = namedKernel{"generic", kernelGeneric, trsmGeneric, potrfGeneric, nil, gemmGeneric32, gemmGeneric64}

// kernelsFor returns this package's kernels for the set isa. Every set
// cpufeat can choose has them (TestKernelsForEverySet); generic is the
// answer for any other.
func kernelsFor(isa cpufeat.ISA) namedKernel {
	for _, k := range archKernels() {
		if k.name == isa.String() {
			return k
		}
	}
	return genericKernels
}

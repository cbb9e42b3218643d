package linalg

import "os"

// The kernel set in use is chosen once, at initialization, from the CPU and
// OPTIM_ISA, consistently with package optim's kernel sets: "generic" forces
// the portable kernels, the name of a supported set selects it, and anything
// else (unset, a set this CPU lacks) picks the fastest set this CPU
// supports. The variables are the set's kernels; tests swap them.
var (
	chosen     = chooseKernel(os.Getenv("OPTIM_ISA"))
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
}

var genericKernels = namedKernel{"generic", kernelGeneric, trsmGeneric, potrfGeneric, nil}

func chooseKernel(env string) namedKernel {
	supported := append(archKernels(), genericKernels)
	for _, k := range supported {
		if k.name == env {
			return k
		}
	}
	return supported[0]
}

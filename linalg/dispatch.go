package linalg

import "os"

// kernel is the micro-kernel in use and kernelName its name. The choice is
// made once, at initialization, from the CPU and OPTIM_ISA, consistently with
// package optim's kernel sets: "generic" forces the portable kernel, the name
// of a supported kernel selects it, and anything else (unset, a set such as
// avx512 that has no linalg kernel of its own, a set this CPU lacks) picks
// the fastest kernel this CPU supports.
var kernel, leafKernel, kernelName = chooseKernel(os.Getenv("OPTIM_ISA"))

// Kernel returns the name of the micro-kernel the factorization uses:
// "avx2" or "generic".
func Kernel() string { return kernelName }

// namedKernel is one instruction set's pair of kernels.
type namedKernel struct {
	name string
	fn   microKernel
	leaf trsmKernel
}

var genericKernels = namedKernel{"generic", kernelGeneric, trsmGeneric}

func chooseKernel(env string) (microKernel, trsmKernel, string) {
	supported := append(archKernels(), genericKernels)
	for _, k := range supported {
		if k.name == env {
			return k.fn, k.leaf, k.name
		}
	}
	return supported[0].fn, supported[0].leaf, supported[0].name
}

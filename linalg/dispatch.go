package linalg

import "os"

// kernel is the micro-kernel in use and kernelName its name. The choice is
// made once, at initialization, from the CPU and OPTIM_ISA, consistently with
// package optim's kernel sets: "generic" forces the portable kernel, the name
// of a supported kernel set selects it, and anything else (unset, a set this
// CPU lacks) picks the fastest set this CPU supports.
var kernel, leafKernel, potrfPanel, kernelName = chooseKernel(os.Getenv("OPTIM_ISA"))

// kernel2 is the selected set's double-width GEMM kernel, or nil.
var kernel2 = doubleKernel(kernelName)

func doubleKernel(name string) microKernel2 {
	for _, k := range archKernels() {
		if k.name == name {
			return k.fn2
		}
	}
	return nil
}

// Kernel returns the name of the kernel set the factorization uses:
// "avx512", "avx2", "neon" or "generic".
func Kernel() string { return kernelName }

// namedKernel is one instruction set's pair of kernels.
type namedKernel struct {
	name string
	fn   microKernel
	leaf trsmKernel
	base panelKernel
	fn2  microKernel2 // optional double-width GEMM kernel
}

var genericKernels = namedKernel{"generic", kernelGeneric, trsmGeneric, potrfGeneric, nil}

func chooseKernel(env string) (microKernel, trsmKernel, panelKernel, string) {
	supported := append(archKernels(), genericKernels)
	k := supported[0]
	for _, s := range supported {
		if s.name == env {
			k = s
		}
	}
	return k.fn, k.leaf, k.base, k.name
}

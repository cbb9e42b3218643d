//go:build noasm || !(amd64 || arm64)

package linalg

// archKernels returns the assembly micro-kernels this CPU supports, fastest
// first: none without amd64 assembly.
func archKernels() []namedKernel { return nil }

//go:build noasm || !(amd64 || arm64)

package kernels

// archSets returns the SIMD sets compiled for this architecture: none in a
// noasm build or on an architecture without assembly kernels.
func archSets() []*Set { return nil }

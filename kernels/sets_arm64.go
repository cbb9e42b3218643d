//go:build !noasm

package kernels

// archSets returns the SIMD sets compiled for arm64, fastest first. NEON is
// part of every ARMv8-A CPU, so it is the only one.
func archSets() []*Set { return []*Set{&neonSet} }

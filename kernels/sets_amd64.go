//go:build !noasm

package kernels

// archSets returns the SIMD sets compiled for amd64, fastest first.
func archSets() []*Set { return nil }

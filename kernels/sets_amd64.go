//go:build !noasm

package kernels

// archSets returns the SIMD sets compiled for amd64, fastest first. Both
// are generated (update_amd64.go); whether this CPU runs them is
// Set.Supported's question (package internal/cpufeat).
func archSets() []*Set { return []*Set{&avx512Set, &avx2Set} }

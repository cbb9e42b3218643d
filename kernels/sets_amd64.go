//go:build !noasm

package kernels

// archSets returns the SIMD sets compiled for amd64, fastest first. Both
// are generated (update_amd64.go); whether the CPU runs them is decided by
// the dispatcher (optim's dispatch_amd64.go).
func archSets() []*Set { return []*Set{&avx512Set, &avx2Set} }

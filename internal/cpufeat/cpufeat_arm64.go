package cpufeat

import "github.com/klauspost/cpuid/v2"

// Supports reports whether this CPU can run the named set. Advanced SIMD
// (NEON) is mandatory in ARMv8-A, and some operating systems give cpuid no
// way to detect it, so it is assumed rather than detected.
func Supports(isa string) bool {
	return isa == "generic" || isa == "neon"
}

// Describe names the CPU and the features that matter to the kernel sets.
func Describe() string {
	name := cpuid.CPU.BrandName
	if name == "" {
		name = "arm64 CPU"
	}
	return name + " with NEON (baseline on arm64)"
}

package optim

import "github.com/klauspost/cpuid/v2"

// cpuSupports reports whether this CPU can run the named set. Advanced SIMD
// (NEON) is mandatory in ARMv8-A, and some operating systems give cpuid no
// way to detect it, so it is assumed rather than detected.
func cpuSupports(isa string) bool {
	return isa == "generic" || isa == "neon"
}

func cpuDescription() string {
	name := cpuid.CPU.BrandName
	if name == "" {
		name = "arm64 CPU"
	}
	return name + " with NEON (baseline on arm64)"
}

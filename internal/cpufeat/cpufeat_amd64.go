package cpufeat

import (
	"strings"

	"github.com/klauspost/cpuid/v2"
)

// Supports reports whether this CPU and OS can run the named set.
// cpuid checks XCR0, so a feature the OS does not save counts as absent.
func Supports(isa string) bool {
	switch isa {
	case "generic":
		return true
	case "avx2":
		// The kernels use no FMA (that would change the rounding), but
		// FMA3 is part of the documented AVX2 level.
		return cpuid.CPU.Supports(cpuid.AVX, cpuid.AVX2, cpuid.FMA3)
	case "avx512":
		// BMI2: the tail mask is built with BZHI. AVX2 and FMA3 come with
		// every AVX-512 CPU; naming them keeps avx512 a strict superset of
		// avx2 rather than relying on that.
		return cpuid.CPU.Supports(cpuid.AVX, cpuid.AVX2, cpuid.FMA3,
			cpuid.AVX512F, cpuid.AVX512VL, cpuid.AVX512DQ, cpuid.AVX512BW, cpuid.BMI2)
	}
	return false
}

// Describe names the CPU and the features that matter to the kernel sets.
func Describe() string {
	var feats []string
	for _, f := range []cpuid.FeatureID{cpuid.AVX2, cpuid.FMA3, cpuid.BMI2, cpuid.AVX512F, cpuid.AVX512VL, cpuid.AVX512DQ, cpuid.AVX512BW} {
		if cpuid.CPU.Supports(f) {
			feats = append(feats, f.String())
		}
	}
	return cpuid.CPU.BrandName + " with " + strings.Join(feats, ", ")
}

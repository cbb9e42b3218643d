package cpufeat

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/klauspost/cpuid/v2"
)

// ISA names a kernel set: an instruction set the module has kernels for.
type ISA uint8

const (
	Generic ISA = iota // portable Go, the specification; runs everywhere
	AVX2               // amd64, 256-bit
	AVX512             // amd64, 512-bit
	NEON               // arm64, 128-bit
	isaCount
)

// spec is what the module knows about one ISA.
type spec struct {
	name string
	// arch is the GOARCH whose assembly implements the set; "" for any.
	arch string
	// features are what the CPU and OS must support. cpuid checks XCR0, so
	// a register file the OS does not save counts as absent.
	features []cpuid.FeatureID
}

// specs is the one statement of every set's requirements.
var specs = [isaCount]spec{
	Generic: {name: "generic"},
	// The kernels use no FMA (that would change the rounding), but FMA3 is
	// part of the documented AVX2 level.
	// F16C (the float16 conversions) is part of x86-64-v3, as AVX2 and FMA3
	// are, and every AVX2 CPU has it.
	AVX2: {name: "avx2", arch: "amd64", features: []cpuid.FeatureID{cpuid.AVX, cpuid.AVX2, cpuid.FMA3, cpuid.F16C}},
	// BMI2: the tail mask is built with BZHI. AVX2 and FMA3 come with every
	// AVX-512 CPU; naming them keeps avx512 a strict superset of avx2 rather
	// than relying on that.
	AVX512: {name: "avx512", arch: "amd64", features: []cpuid.FeatureID{cpuid.AVX, cpuid.AVX2, cpuid.FMA3, cpuid.F16C,
		cpuid.AVX512F, cpuid.AVX512VL, cpuid.AVX512DQ, cpuid.AVX512BW, cpuid.BMI2}},
	// Advanced SIMD is mandatory in ARMv8-A, and some operating systems give
	// cpuid no way to detect it, so it is assumed rather than detected.
	NEON: {name: "neon", arch: "arm64"},
}

// All returns every ISA, including those this binary or CPU cannot run.
func All() []ISA { return []ISA{Generic, AVX2, AVX512, NEON} }

// String returns the set's name: "generic", "avx2", "avx512" or "neon",
// the spelling OPTIM_ISA takes.
func (i ISA) String() string {
	if i >= isaCount {
		return fmt.Sprintf("ISA(%d)", uint8(i))
	}
	return specs[i].name
}

// ParseISA returns the ISA with the given name, spelled exactly as String
// spells it.
func ParseISA(name string) (ISA, error) {
	for _, i := range All() {
		if specs[i].name == name {
			return i, nil
		}
	}
	return 0, fmt.Errorf("cpufeat: %q is not a kernel set (want %s)", name, names())
}

// names lists the names of every ISA for messages: "generic, avx2, avx512
// or neon".
func names() string {
	var s []string
	for _, i := range All() {
		s = append(s, i.String())
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// Arch returns the GOARCH the set's assembly is written for, or "" for
// generic, which runs on any.
func (i ISA) Arch() string { return specs[i%isaCount].arch }

// Features returns the CPU features the set requires, beyond running on
// its Arch. NEON's is empty: Advanced SIMD is architectural on arm64.
func (i ISA) Features() []cpuid.FeatureID {
	return append([]cpuid.FeatureID(nil), specs[i%isaCount].features...)
}

// Supported reports whether this CPU and OS can run the set. Whether the
// set is compiled in is a separate question: see Compiled.
func (i ISA) Supported() bool {
	if i >= isaCount {
		return false
	}
	s := specs[i]
	return (s.arch == "" || s.arch == runtime.GOARCH) && cpuid.CPU.Supports(s.features...)
}

// Supports reports whether this CPU and OS can run the set with the given
// name; false for a name that is not a set.
func Supports(name string) bool {
	i, err := ParseISA(name)
	return err == nil && i.Supported()
}

// Describe names the CPU and the features that matter to the kernel sets
// of this architecture, those it has.
func Describe() string {
	name := cpuid.CPU.BrandName
	if name == "" {
		name = runtime.GOARCH + " CPU"
	}
	if runtime.GOARCH == "arm64" {
		return name + " with NEON (baseline on arm64)"
	}
	var have []string
	seen := map[cpuid.FeatureID]bool{}
	var lists [][]cpuid.FeatureID
	for _, i := range All() {
		if specs[i].arch == runtime.GOARCH {
			lists = append(lists, specs[i].features)
		}
	}
	for _, e := range Exts() {
		if e.Set().Arch() == runtime.GOARCH {
			lists = append(lists, extSpecs[e].features)
		}
	}
	for _, list := range lists {
		for _, f := range list {
			if !seen[f] && cpuid.CPU.Supports(f) {
				have = append(have, f.String())
			}
			seen[f] = true
		}
	}
	if len(have) == 0 {
		return name
	}
	return name + " with " + strings.Join(have, ", ")
}

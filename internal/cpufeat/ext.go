package cpufeat

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/klauspost/cpuid/v2"
)

// Ext is an optional instruction-set extension: some kernels of a set have
// a second form that uses it where the CPU has it, with the same bits as
// the form without it, which runs elsewhere. OPTIM_ISA can switch an
// extension off (the term "no" + its name, as in OPTIM_ISA=nobf16 or
// OPTIM_ISA=avx512,nobf16), so that the fallback runs on a CPU that has it.
type Ext uint8

const (
	// BF16 is AVX512_BF16 (VCVTNEPS2BF16), which the avx512 set's narrowing
	// to bfloat16 uses. (arm64's FEAT_BF16 is not used: see
	// docs/semantics.md.)
	BF16 Ext = iota
	extCount
)

// ExtSet is a set of extensions, bit e for Ext e.
type ExtSet uint8

// Has reports whether e is in the set.
func (s ExtSet) Has(e Ext) bool { return s&(1<<e) != 0 }

// extSpecs is the one statement of every extension's requirements.
var extSpecs = [extCount]struct {
	name     string
	set      ISA // the kernel set whose kernels use it
	features []cpuid.FeatureID
}{
	BF16: {name: "bf16", set: AVX512, features: []cpuid.FeatureID{cpuid.AVX512BF16}},
}

// Exts returns every extension.
func Exts() []Ext { return []Ext{BF16} }

// String is the extension's name, as OPTIM_ISA spells it after "no".
func (e Ext) String() string {
	if e >= extCount {
		return fmt.Sprintf("Ext(%d)", uint8(e))
	}
	return extSpecs[e].name
}

// Set is the kernel set whose kernels use the extension.
func (e Ext) Set() ISA { return extSpecs[e%extCount].set }

// Features returns the CPU features the extension requires beyond its
// set's.
func (e Ext) Features() []cpuid.FeatureID {
	return append([]cpuid.FeatureID(nil), extSpecs[e%extCount].features...)
}

// Supported reports whether this CPU and OS can run the extension's
// instructions in its set: the set's requirements and the extension's.
func (e Ext) Supported() bool {
	if e >= extCount {
		return false
	}
	s := extSpecs[e]
	return s.set.Supported() && runtime.GOARCH == s.set.Arch() && cpuid.CPU.Supports(s.features...)
}

// Enabled reports whether the kernels use the extension: the CPU supports
// it and OPTIM_ISA does not switch it off.
func (e Ext) Enabled() bool { return e.Supported() && !chosen.Off.Has(e) }

// parseExtOff returns the extension that term ("nobf16") switches off.
func parseExtOff(term string) (Ext, bool) {
	name, ok := strings.CutPrefix(term, "no")
	if !ok {
		return 0, false
	}
	for _, e := range Exts() {
		if e.String() == name {
			return e, true
		}
	}
	return 0, false
}

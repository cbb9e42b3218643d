// Package kernels holds the kernel sets that the optim package dispatches
// between (generic Go, AVX2, AVX-512, NEON) and a stateless per-slice layer
// for frameworks that keep their own optimizer state. It also converts
// between float32 and the 16-bit storage formats bfloat16 and float16
// (NarrowBF16, WidenBF16, NarrowF16, WidenF16; lowp.go).
//
// # Low-precision steps
//
// Every rule, under every variant, also steps parameters stored as bfloat16
// or float16 (Format: BFloat16, Float16; a value's bits in a uint16),
// computing in float32 (lowpstep.go, specified by generic.StepLowp and
// generic.StepMaster):
//
//   - LowpStep[S](set, kind, format) returns the raw kernel
//     func(v, c *Coeffs[float32], p, g []uint16, s0, s1, s2 []S) for
//     parameters and gradients in format and state stored as S: uint16 in
//     the same format (torch's fused optimizers: state like the parameter,
//     rounded after every step) or float32. Per element it widens p, g and
//     the state exactly, runs the rule's float32 arithmetic, and rounds each
//     stored 16-bit value to nearest even (every NaN to the canonical NaN).
//   - MasterStep[G](set, kind, format) returns the raw kernel
//     func(v, c *Coeffs[float32], p []float32, g []G, s0, s1, s2 []float32, copy []uint16)
//     for float32 master parameters and state: the float32 step, bit for
//     bit, that also writes the parameters' 16-bit copy (DeepSpeed's
//     step_plus_copy), from float32 gradients (G = float32) or 16-bit ones
//     in format (G = uint16), widened in the kernel.
//   - LowpStepSR[S](set, kind, format) is LowpStep's kernel with the new
//     parameters rounded stochastically (opt-in; generic.Format.NarrowSR),
//     from random bits that are a pure function of the key SR (seed,
//     parameter, step, element index), so that any split of a parameter
//     between calls, any set and any architecture give the same bits.
//   - StepLowp, StepLowpSR and StepMaster validate the arguments first
//     (set, kind, format, variant, coefficients, lengths, overlap in
//     memory; nothing is written on error) and then run the same kernels.
//
// Every set gives the reference's bits. AVX2, AVX-512 and NEON have fused
// kernels for every rule and variant with every stream 16-bit (the rule's
// operation list with OpExpand after each load and OpNarrow before each
// store, ir.Lowp), which LowpStep[uint16] runs in one pass. AVX2 and
// AVX-512 also have fused kernels with float32 state (ir.LowpState32),
// which LowpStep[float32] runs, and fused master kernels (the float32
// operation list with OpNarrow and a store of the copy after the
// parameters' store, ir.Master), which MasterStep[float32] runs. The other storage choices, stochastic
// rounding, and every choice on NEON or generic that has no fused kernel,
// are composed block by block from the set's float32 kernel and
// conversion kernels, whose buffers stay in the L1 cache.
//
// Every set computes exactly the bits of package generic, the specification.
// A set is compiled in when its architecture matches and the noasm build tag
// is absent; whether the running CPU supports it, and which set runs, are
// internal/cpufeat's questions.
package kernels

import (
	"fmt"
	"unsafe"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/cpufeat"
)

// Float is the element type: exactly float32 or float64. A named float
// type is refused at compile time: the sets hold kernels for these two
// types only. (The reference in package generic takes any ~float32 or
// ~float64.)
type Float interface{ float32 | float64 }

// Coeffs are the per-step scalars of one update; see generic.Coeffs. It
// keeps generic's constraint so that code over ~float types can name it
// (optim.Coefficients); the functions that run kernels take Float.
type Coeffs[T generic.Float] = generic.Coeffs[T]

// Variant selects the operations of one update; see generic.Variant.
type Variant = generic.Variant

// Kind names an update rule; see generic.Kind. Everything about a rule is
// in its description, generic.Rules()[kind].
type Kind = generic.Kind

// kindCount is the number of rules. Each rule's Kind constant and
// validated function (SGD, Adam, ...) are generated from its description
// into update_rules.go.
const kindCount = generic.KindCount

// rules holds one kernel per Kind for one element type.
type rules[T Float] [kindCount]generic.Kernel[T]

// Set is one implementation of every kernel for both element types.
type Set struct {
	name string
	f32  rules[float32]
	f64  rules[float64]
	// The gradient kernels (grad.go); nil for a set that has none of its
	// own, which then runs the references.
	gf32 *generic.GradKernels[float32]
	gf64 *generic.GradKernels[float64]
	// The fused low-precision kernels (lowpstep.go), by format and Kind,
	// with every stream 16-bit; nil where the set has none, and then
	// LowpStep composes them.
	lowp [generic.FormatCount]lowpRules
	// The fused low-precision kernels with float32 state (lowpstep.go):
	// parameters and gradients 16-bit; nil where the set has none.
	lowp32 [generic.FormatCount]lowp32Rules
	// The fused master kernels (lowpstep.go), by the copy's format and
	// Kind: float32 gradients, parameters and state, and the copy written
	// in the same pass; nil where the set has none, and then MasterStep
	// composes them.
	master [generic.FormatCount]masterRules
}

// lowpRules holds one fused low-precision kernel per Kind for one format.
type lowpRules [kindCount]func(v Variant, c *Coeffs[float32], p, g, s0, s1, s2 []uint16)

// lowp32Rules holds one fused low-precision kernel with float32 state per
// Kind for one format.
type lowp32Rules [kindCount]func(v Variant, c *Coeffs[float32], p, g []uint16, s0, s1, s2 []float32)

// masterRules holds one fused master kernel per Kind for one format.
type masterRules [kindCount]func(v Variant, c *Coeffs[float32], p, g, s0, s1, s2 []float32, copy []uint16)

// Name is the set's name: "generic", "avx2", "avx512" or "neon".
func (s *Set) Name() string { return s.name }

// Supported reports whether this CPU and OS can run the set. A compiled set
// may not be: running it would fault with an illegal instruction, so the
// validated functions (SGD, Adam, ... in update_rules.go) refuse it.
func (s *Set) Supported() bool { return cpufeat.Supports(s.name) }

var genericSet = Set{name: "generic", f32: references[float32](), f64: references[float64]()}

// references returns every rule's reference kernel.
func references[T Float]() rules[T] {
	var out rules[T]
	for k := range out {
		out[k] = generic.Reference[T](Kind(k))
	}
	return out
}

// Generic returns the portable set, the specification itself.
func Generic() *Set { return &genericSet }

// Compiled returns the sets compiled into this binary, fastest first; the
// last is always Generic(). Some may not run on this CPU: see Supported.
func Compiled() []*Set { return append(archSets(), &genericSet) }

// Lookup returns the compiled set with the given name, supported by this
// CPU or not (see Supported).
func Lookup(name string) (*Set, bool) {
	for _, s := range Compiled() {
		if s.name == name {
			return s, true
		}
	}
	return nil, false
}

// Kernel returns the set's raw kernel for kind. It does no validation: the
// caller guarantees that the set is Supported, equal lengths, no overlap
// between written and read slices, and the state slices that the variant
// uses (see Uses).
//
// Under the race detector the assembly kernels come wrapped so that the
// detector sees what they read and write (race.go); otherwise they come as
// they are.
func Kernel[T Float](s *Set, kind Kind) generic.Kernel[T] {
	var k generic.Kernel[T]
	var zero T
	if unsafe.Sizeof(zero) == 4 {
		k = any(s.f32[kind]).(generic.Kernel[T])
	} else {
		k = any(s.f64[kind]).(generic.Kernel[T])
	}
	return raceAnnotated(s, kind, k)
}

// Uses reports which of the state slices s0, s1, s2 kind reads and writes
// under variant v; all false for an unknown kind.
func Uses(kind Kind, v Variant) (s0, s1, s2 bool) {
	if kind < 0 || kind >= kindCount {
		return false, false, false
	}
	u := descs[kind].Uses(v)
	return u[0], u[1], u[2]
}

// StateKeys returns the names, in torch's state dict, of kind's state
// slices s0, s1, s2 ("exp_avg", ...); "" for a slot the rule does not have.
func StateKeys(kind Kind) [3]string {
	var out [3]string
	if kind < 0 || kind >= kindCount {
		return out
	}
	for i, s := range descs[kind].Slots {
		out[i] = s.Key
	}
	return out
}

// descs are the rules' descriptions, indexed by Kind.
var descs = generic.Rules()

// apply validates, then runs the kernel. Nothing is written on error.
func apply[T Float](s *Set, kind Kind, v Variant, c *Coeffs[T], p, g, s0, s1, s2 []T) error {
	if err := validate(s, kind, v, c, p, g, s0, s1, s2); err != nil {
		return err
	}
	if len(p) == 0 {
		return nil
	}
	Kernel[T](s, kind)(v, c, p, g, s0, s1, s2)
	return nil
}

// validate checks everything apply needs before its first write.
func validate[T Float](s *Set, kind Kind, v Variant, c *Coeffs[T], p, g, s0, s1, s2 []T) error {
	if s == nil {
		return fmt.Errorf("kernels: %v: nil kernel set", kind)
	}
	if !s.Supported() {
		return fmt.Errorf("kernels: %v: kernel set %s is not supported by this CPU", kind, s.name)
	}
	if c == nil {
		return fmt.Errorf("kernels: %v: nil coefficients", kind)
	}
	if v >= generic.VarCount {
		return fmt.Errorf("kernels: %v: invalid variant %#x", kind, uint32(v))
	}
	if err := checkCoeffs(kind, c); err != nil {
		return err
	}
	u0, u1, u2 := Uses(kind, v)
	names := [5]string{"p", "g", "state 0", "state 1", "state 2"}
	slices := [5][]T{p, g, s0, s1, s2}
	used := [5]bool{true, true, u0, u1, u2}
	for i := 1; i < 5; i++ {
		if used[i] && len(slices[i]) != len(p) {
			return fmt.Errorf("kernels: %v: len(%s) = %d, want len(p) = %d", kind, names[i], len(slices[i]), len(p))
		}
	}
	for i := 0; i < 5; i++ {
		for j := i + 1; j < 5; j++ {
			if used[i] && used[j] && Overlap(slices[i], slices[j]) {
				return fmt.Errorf("kernels: %v: %s and %s overlap in memory", kind, names[i], names[j])
			}
		}
	}
	return nil
}

// Overlap reports whether a and b share any element in memory.
func Overlap[T Float](a, b []T) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	size := unsafe.Sizeof(a[0])
	a0 := uintptr(unsafe.Pointer(unsafe.SliceData(a)))
	b0 := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return a0 < b0+uintptr(len(b))*size && b0 < a0+uintptr(len(a))*size
}

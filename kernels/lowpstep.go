package kernels

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/ir"
)

// The update rules on low-precision storage (generic/lowpstep.go): every
// rule and variant on parameters and gradients held as bfloat16 or float16
// bits, with state in the same format or in float32 (LowpStep), and the
// float32 step that also writes a 16-bit copy of the parameters
// (MasterStep).
//
// With every stream 16-bit (LowpStep[uint16]), a set with fused kernels
// (AVX2, AVX-512, NEON: Set.lowp, generated from ir.Lowp) runs the rule's
// operation list with a widening after each load and a rounding before each
// store, in one pass. So do, on AVX2 and AVX-512, LowpStep[float32]
// (Set.lowp32, from ir.LowpState32: the parameters and gradients 16-bit,
// the state float32) and MasterStep[float32] (Set.master, from ir.Master:
// the float32 operation list, with the stored parameters also rounded and
// stored to the copy). Every other choice (master weights from 16-bit
// gradients, those on NEON, stochastic rounding, the generic set) is
// composed blockwise: lowpBlock
// elements at a time are widened into float32 buffers with the set's
// conversion kernels, run through the set's float32 kernel of the rule, and
// narrowed back. The buffers stay in the L1 cache, so memory sees each
// stream once, at its stored width. Every piece gives the reference's bits
// (the conversions and the float32 kernels are tested for that), and the
// rule is elementwise, so the composition gives generic.StepLowp's and
// generic.StepMaster's bits by construction; the tests check both forms
// anyway, on every set and conversion path.

// Format is a 16-bit storage format: BFloat16 or Float16.
type Format = generic.Format

// The storage formats.
const (
	BFloat16 = generic.FormatBF16
	Float16  = generic.FormatF16
)

// LowpState is the storage of a low-precision step's state: uint16 (the
// parameters' format) or float32.
type LowpState = generic.LowpState

// LowpKernel is one step of a rule on parameters p and gradients g stored
// as Format bits, with state slices s0..s2 stored as S (see
// generic.StepLowp): the raw kernel that LowpStep returns. Slices the
// variant does not use may be nil; the others have len(p) elements, and no
// two slices overlap.
type LowpKernel[S LowpState] func(v Variant, c *Coeffs[float32], p, g []uint16, s0, s1, s2 []S)

// MasterKernel is one float32 step of a rule on master parameters p and
// state s0..s2, from gradients g (float32, or Format bits widened in the
// kernel), that also writes copy[i] = the new p[i] narrowed to Format (see
// generic.StepMaster): the raw kernel that MasterStep returns.
type MasterKernel[G LowpState] func(v Variant, c *Coeffs[float32], p []float32, g []G, s0, s1, s2 []float32, copy []uint16)

// LowpStep returns set s's raw kernel of rule kind on parameters and
// gradients stored in format f, with state stored as S: uint16 in format f
// (torch's fused optimizers' choice: state like the parameter, rounded
// after every step) or float32. Like Kernel it validates nothing: the
// caller guarantees a Supported set, a valid kind and format, equal
// lengths, no overlap, and the state slices the variant uses (Uses). Every
// set gives generic.StepLowp's bits.
func LowpStep[S LowpState](s *Set, kind Kind, f Format) LowpKernel[S] {
	if k := fusedLowp[S](s, kind, f); k.ok() {
		return func(v Variant, c *Coeffs[float32], p, g []uint16, s0, s1, s2 []S) {
			runFused(k, kind, v, c, p, g, [3][]S{s0, s1, s2})
		}
	}
	path := convFor(s)
	return func(v Variant, c *Coeffs[float32], p, g []uint16, s0, s1, s2 []S) {
		runLowp(s, path, kind, f, v, c, p, g, [3][]S{s0, s1, s2})
	}
}

// fusedKernel is a set's fused kernel of one rule and format for one
// storage of the state: k16 with the state in the format, k32 with it in
// float32; neither where the set has none.
type fusedKernel struct {
	k16 func(v Variant, c *Coeffs[float32], p, g, s0, s1, s2 []uint16)
	k32 func(v Variant, c *Coeffs[float32], p, g []uint16, s0, s1, s2 []float32)
}

// ok reports whether there is a kernel.
func (k fusedKernel) ok() bool { return k.k16 != nil || k.k32 != nil }

// fusedLowp returns set s's fused kernel of rule kind in format f with
// state S, which may have none.
func fusedLowp[S LowpState](s *Set, kind Kind, f Format) fusedKernel {
	if kind < 0 || kind >= kindCount || f < 0 || f >= generic.FormatCount {
		return fusedKernel{}
	}
	if _, ok := as16([]S(nil)); ok {
		return fusedKernel{k16: s.lowp[f][kind]}
	}
	return fusedKernel{k32: s.lowp32[f][kind]}
}

// runFused runs fused kernel k, whose state is S, declaring its memory
// accesses to the race detector first (the assembly is invisible to it).
func runFused[S LowpState](k fusedKernel, kind Kind, v Variant, c *Coeffs[float32], p, g []uint16, st [3][]S) {
	var zero S
	size := int(unsafe.Sizeof(zero))
	if len(p) > 0 { // raceBytes does nothing without the race detector
		raceBytes(unsafe.Pointer(c), int(unsafe.Sizeof(*c)), false)
		raceBytes(unsafe.Pointer(&g[0]), 2*len(p), false)
		raceBytes(unsafe.Pointer(&p[0]), 2*len(p), true)
		for j, used := range descsUses(kind, v) {
			if used {
				raceBytes(unsafe.Pointer(&st[j][0]), size*len(p), true)
			}
		}
	}
	if k.k16 != nil {
		var s16 [3][]uint16
		for j := range st {
			s16[j], _ = as16(st[j])
		}
		k.k16(v, c, p, g, s16[0], s16[1], s16[2])
		return
	}
	var s32 [3][]float32
	for j := range st {
		s32[j], _ = as32(st[j])
	}
	k.k32(v, c, p, g, s32[0], s32[1], s32[2])
}

// MasterStep returns set s's raw kernel of rule kind on float32 master
// parameters and state that also writes the parameters' format-f copy,
// from gradients of type G: float32, or uint16 holding format-f bits. It
// validates nothing (see LowpStep). Every set gives generic.StepMaster's
// bits: the float32 trajectory is the float32 kernel's, and the copy is
// the narrowing of the new master parameters.
func MasterStep[G LowpState](s *Set, kind Kind, f Format) MasterKernel[G] {
	if k := fusedMaster[G](s, kind, f); k != nil {
		return func(v Variant, c *Coeffs[float32], p []float32, g []G, s0, s1, s2 []float32, copy []uint16) {
			runFusedMaster(k, kind, v, c, p, g, [3][]float32{s0, s1, s2}, copy)
		}
	}
	path := convFor(s)
	return func(v Variant, c *Coeffs[float32], p []float32, g []G, s0, s1, s2 []float32, copy []uint16) {
		runMaster(s, path, kind, f, v, c, p, g, [3][]float32{s0, s1, s2}, copy)
	}
}

// fusedMaster returns set s's fused master kernel of rule kind with a
// format-f copy, which takes float32 gradients, when G is float32 and the
// set has one; else nil, and MasterStep composes the step (runMaster).
func fusedMaster[G LowpState](s *Set, kind Kind, f Format) func(v Variant, c *Coeffs[float32], p, g, s0, s1, s2 []float32, copy []uint16) {
	if _, ok := as32([]G(nil)); !ok || kind < 0 || kind >= kindCount || f < 0 || f >= generic.FormatCount {
		return nil
	}
	return s.master[f][kind]
}

// runFusedMaster runs fused master kernel k, whose gradients G are float32,
// declaring its memory accesses to the race detector first (the assembly
// is invisible to it).
func runFusedMaster[G LowpState](k func(v Variant, c *Coeffs[float32], p, g, s0, s1, s2 []float32, copy []uint16), kind Kind, v Variant, c *Coeffs[float32], p []float32, g []G, st [3][]float32, copy []uint16) {
	g32, _ := as32(g)
	if len(p) > 0 { // raceBytes does nothing without the race detector
		raceBytes(unsafe.Pointer(c), int(unsafe.Sizeof(*c)), false)
		raceBytes(unsafe.Pointer(&g32[0]), 4*len(p), false)
		raceBytes(unsafe.Pointer(&p[0]), 4*len(p), true)
		raceBytes(unsafe.Pointer(&copy[0]), 2*len(p), true)
		for j, used := range descsUses(kind, v) {
			if used {
				raceBytes(unsafe.Pointer(&st[j][0]), 4*len(p), true)
			}
		}
	}
	k(v, c, p, g32, st[0], st[1], st[2], copy)
}

// StepLowp validates, then applies one step of rule kind with set s to
// parameters p and gradients g stored in format f and state s0..s2 stored
// as S (see LowpStep and generic.StepLowp). On error nothing is written.
func StepLowp[S LowpState](s *Set, kind Kind, f Format, v Variant, c *Coeffs[float32], p, g []uint16, s0, s1, s2 []S) error {
	st := [3][]S{s0, s1, s2}
	if err := validateLowpStep(s, kind, f, v, c, p, g, st); err != nil {
		return err
	}
	switch k := fusedLowp[S](s, kind, f); {
	case len(p) == 0:
	case k.ok():
		runFused(k, kind, v, c, p, g, st)
	default:
		runLowp(s, convFor(s), kind, f, v, c, p, g, st)
	}
	return nil
}

// validateLowpStep is StepLowp's and StepLowpSR's validation: the set,
// kind, format, variant and coefficients, and p, g and the state slices
// the variant uses, by length and overlap.
func validateLowpStep[S LowpState](s *Set, kind Kind, f Format, v Variant, c *Coeffs[float32], p, g []uint16, st [3][]S) error {
	u := descsUses(kind, v)
	spans := [...]span{spanOf("p", p, true), spanOf("g", g, true),
		spanOf("state 0", st[0], u[0]), spanOf("state 1", st[1], u[1]), spanOf("state 2", st[2], u[2])}
	return validateLowp(s, kind, f, v, c, len(p), spans[:])
}

// SR is the key of stochastic rounding's random bits: seed, parameter,
// step, and the offset of the slices' first element in the parameter (see
// generic.SR).
type SR = generic.SR

// LowpStepSR returns set s's raw kernel of rule kind on parameters and
// gradients in format f with state stored as S, as LowpStep's, except that
// the new parameters are rounded stochastically (generic.Format.NarrowSR)
// with the random bits of sr.Bits(i) for element i: opt-in, and the same
// bits for any split of a parameter between calls (with sr.Offset set to
// each part's start), any set and any architecture. It gives
// generic.StepLowpSR's bits; the state is rounded to nearest even. It runs
// composed on every set: the rounding is Go code, shared by all.
func LowpStepSR[S LowpState](s *Set, kind Kind, f Format) func(v Variant, c *Coeffs[float32], sr SR, p, g []uint16, s0, s1, s2 []S) {
	path := convFor(s)
	return func(v Variant, c *Coeffs[float32], sr SR, p, g []uint16, s0, s1, s2 []S) {
		runLowpSR(s, path, kind, f, v, c, &sr, p, g, [3][]S{s0, s1, s2})
	}
}

// StepLowpSR validates as StepLowp does, then runs LowpStepSR's kernel. On
// error nothing is written.
func StepLowpSR[S LowpState](s *Set, kind Kind, f Format, v Variant, c *Coeffs[float32], sr SR, p, g []uint16, s0, s1, s2 []S) error {
	st := [3][]S{s0, s1, s2}
	if err := validateLowpStep(s, kind, f, v, c, p, g, st); err != nil {
		return err
	}
	if len(p) > 0 {
		runLowpSR(s, convFor(s), kind, f, v, c, &sr, p, g, st)
	}
	return nil
}

// StepMaster validates, then applies one float32 step of rule kind with set
// s to master parameters p and state s0..s2 from gradients g (float32, or
// format-f bits), writing the format-f copy of the new parameters to copy
// (see MasterStep and generic.StepMaster). On error nothing is written.
func StepMaster[G LowpState](s *Set, kind Kind, f Format, v Variant, c *Coeffs[float32], p []float32, g []G, s0, s1, s2 []float32, copy []uint16) error {
	st := [3][]float32{s0, s1, s2}
	u := descsUses(kind, v)
	spans := [...]span{spanOf("p", p, true), spanOf("g", g, true),
		spanOf("state 0", st[0], u[0]), spanOf("state 1", st[1], u[1]), spanOf("state 2", st[2], u[2]), spanOf("copy", copy, true)}
	if err := validateLowp(s, kind, f, v, c, len(p), spans[:]); err != nil {
		return err
	}
	if len(p) > 0 {
		if k := fusedMaster[G](s, kind, f); k != nil {
			runFusedMaster(k, kind, v, c, p, g, st, copy)
		} else {
			runMaster(s, convFor(s), kind, f, v, c, p, g, st, copy)
		}
	}
	return nil
}

// span is one slice argument as validation sees it.
type span struct {
	name  string
	used  bool
	n     int
	addr  unsafe.Pointer
	bytes int
}

func spanOf[E uint16 | float32](name string, x []E, used bool) span {
	var zero E
	return span{name: name, used: used, n: len(x), addr: unsafe.Pointer(unsafe.SliceData(x)), bytes: len(x) * int(unsafe.Sizeof(zero))}
}

// descsUses is Uses as an array; all false for an unknown kind.
func descsUses(kind Kind, v Variant) [3]bool {
	u0, u1, u2 := Uses(kind, v)
	return [3]bool{u0, u1, u2}
}

// validateLowp checks everything a low-precision step needs before its
// first write: the set, kind, format, variant and coefficients as the
// float32 kernels' validation does, every used slice n elements long, and
// no two used slices overlapping in memory.
func validateLowp(s *Set, kind Kind, f Format, v Variant, c *Coeffs[float32], n int, spans []span) error {
	switch {
	case kind < 0 || kind >= kindCount:
		return fmt.Errorf("kernels: low-precision step: unknown rule %v", kind)
	case s == nil:
		return fmt.Errorf("kernels: %v: nil kernel set", kind)
	case !s.Supported():
		return fmt.Errorf("kernels: %v: kernel set %s is not supported by this CPU", kind, s.name)
	case f < 0 || f >= generic.FormatCount:
		return fmt.Errorf("kernels: %v: unknown storage format %v", kind, f)
	case c == nil:
		return fmt.Errorf("kernels: %v: nil coefficients", kind)
	case v >= generic.VarCount:
		return fmt.Errorf("kernels: %v: invalid variant %#x", kind, uint32(v))
	}
	if err := checkCoeffs(kind, c); err != nil {
		return err
	}
	for _, x := range spans {
		if x.used && x.n != n {
			return fmt.Errorf("kernels: %v: len(%s) = %d, want len(p) = %d", kind, x.name, x.n, n)
		}
	}
	for i, a := range spans {
		for _, b := range spans[i+1:] {
			if a.used && b.used && a.bytes > 0 && b.bytes > 0 && overlapBytes(a.addr, a.bytes, b.addr, b.bytes) {
				return fmt.Errorf("kernels: %v: %s and %s overlap in memory", kind, a.name, b.name)
			}
		}
	}
	return nil
}

// lowpBlock is how many elements a low-precision step converts and steps at
// a time: its five float32 buffers (20 KiB) and the 16-bit blocks they come
// from stay in the L1 data cache, and a block is long enough that the calls
// per block cost little beside its work.
const lowpBlock = 1024

// lowpBufs are the float32 buffers of one call: p, g and s0..s2.
type lowpBufs [5][lowpBlock]float32

// lowpPool recycles the buffers, so that a step allocates nothing once the
// pool holds a buffer for each concurrent caller.
var lowpPool = sync.Pool{New: func() any { return new(lowpBufs) }}

// convKinds returns format f's narrowing and widening conversions.
func convKinds(f Format) (narrow, widen ir.ConvKind) {
	if f == Float16 {
		return ir.ConvNarrowF16, ir.ConvWidenF16
	}
	return ir.ConvNarrowBF16, ir.ConvWidenBF16
}

// runLowp is LowpStep's kernel with conversion path cp.
func runLowp[S LowpState](s *Set, cp *convPath, kind Kind, f Format, v Variant, c *Coeffs[float32], p, g []uint16, st [3][]S) {
	runLowpSR(s, cp, kind, f, v, c, nil, p, g, st)
}

// runLowpSR is runLowp, with the parameters rounded stochastically with sr
// unless it is nil.
func runLowpSR[S LowpState](s *Set, cp *convPath, kind Kind, f Format, v Variant, c *Coeffs[float32], sr *SR, p, g []uint16, st [3][]S) {
	k := Kernel[float32](s, kind)
	uses := descsUses(kind, v)
	nk, wk := convKinds(f)
	var s16 [3][]uint16
	var s32 [3][]float32
	narrowState := false
	for j := range st {
		s16[j], narrowState = as16(st[j])
		s32[j], _ = as32(st[j])
	}
	buf := lowpPool.Get().(*lowpBufs)
	defer lowpPool.Put(buf)
	n := len(p)
	for lo := 0; lo < n; lo += lowpBlock {
		hi := min(lo+lowpBlock, n)
		m := hi - lo
		pb, gb := buf[0][:m:m], buf[1][:m:m]
		runWiden(cp, wk, pb, p[lo:hi])
		runWiden(cp, wk, gb, g[lo:hi])
		var sb [3][]float32
		for j, used := range uses {
			switch {
			case !used:
			case narrowState:
				sb[j] = buf[2+j][:m:m]
				runWiden(cp, wk, sb[j], s16[j][lo:hi])
			default:
				sb[j] = s32[j][lo:hi:hi]
			}
		}
		k(v, c, pb, gb, sb[0], sb[1], sb[2])
		if sr != nil {
			block := *sr
			block.Offset += uint64(lo)
			NarrowSR(f, p[lo:hi], pb, block)
		} else {
			runNarrow(cp, nk, p[lo:hi], pb)
		}
		for j, used := range uses {
			if used && narrowState {
				runNarrow(cp, nk, s16[j][lo:hi], sb[j])
			}
		}
	}
}

// runMaster is MasterStep's kernel with conversion path cp.
func runMaster[G LowpState](s *Set, cp *convPath, kind Kind, f Format, v Variant, c *Coeffs[float32], p []float32, g []G, st [3][]float32, copy []uint16) {
	k := Kernel[float32](s, kind)
	uses := descsUses(kind, v)
	nk, wk := convKinds(f)
	g16, widened := as16(g)
	g32, _ := as32(g)
	var buf *lowpBufs
	if widened {
		buf = lowpPool.Get().(*lowpBufs)
		defer lowpPool.Put(buf)
	}
	n := len(p)
	for lo := 0; lo < n; lo += lowpBlock {
		hi := min(lo+lowpBlock, n)
		m := hi - lo
		var gb []float32
		if widened {
			gb = buf[1][:m:m]
			runWiden(cp, wk, gb, g16[lo:hi])
		} else {
			gb = g32[lo:hi:hi]
		}
		var sb [3][]float32
		for j, used := range uses {
			if used {
				sb[j] = st[j][lo:hi:hi]
			}
		}
		k(v, c, p[lo:hi:hi], gb, sb[0], sb[1], sb[2])
		runNarrow(cp, nk, copy[lo:hi], p[lo:hi])
	}
}

// as16 is x as []uint16 when S is uint16 (a reinterpretation without a
// copy or an allocation, which converting the slice to an interface would
// make), else nil and false.
func as16[S LowpState](x []S) ([]uint16, bool) {
	var zero S
	if unsafe.Sizeof(zero) != 2 {
		return nil, false
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(x))), len(x)), true
}

// as32 is x as []float32 when S is float32, else nil and false.
func as32[S LowpState](x []S) ([]float32, bool) {
	var zero S
	if unsafe.Sizeof(zero) != 4 {
		return nil, false
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(x))), len(x)), true
}

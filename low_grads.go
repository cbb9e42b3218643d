package optim

import (
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// Gradient norms, clipping, the non-finite check and GradScaler's
// unscaling for 16-bit gradients. The values are widened exactly to
// float32, generic.ReduceBlock elements at a time, and reduced or updated
// by the float32 kernels: a norm therefore has the bits of GradNorm over
// the widened gradients, on every CPU, and a gradient that is changed is
// rounded back to its format to nearest even, as torch computes reduced
// precision in float32 and rounds the result. These run on the caller's
// goroutine.

// reduce identifies a blocked reduction of reduceBlocks.
type reduce int

const (
	reduceSquares reduce = iota
	reduceSquaresScaled
	reduceAbs
	reducePow
)

// reducer returns the reductions of generic.NormOf for this format.
func (o *LowOptimizer[H]) reducer() generic.Reducer[uint16] {
	return generic.Reducer[uint16]{
		SumSquares:       func(x []uint16) float64 { return o.reduceBlocks(x, reduceSquares, 0, 0) },
		SumSquaresScaled: func(x []uint16, s float64) float64 { return o.reduceBlocks(x, reduceSquaresScaled, s, 0) },
		SumAbs:           func(x []uint16) float64 { return o.reduceBlocks(x, reduceAbs, 0, 0) },
		SumPow:           func(x []uint16, p, m float64) float64 { return o.reduceBlocks(x, reducePow, p, m) },
		MaxAbs:           o.maxAbs,
		Single:           true, // every value is a float32
	}
}

// reduceBlocks is the blocked reduction op of x's widened values: each
// block's partial from the float32 kernel, added by a SumTree, as the
// float32 reduction of the whole widened slice adds them.
func (o *LowOptimizer[H]) reduceBlocks(x []uint16, op reduce, a, b float64) float64 {
	k := gradKernels[float32]()
	var t generic.SumTree
	for len(x) > 0 {
		n := min(len(x), generic.ReduceBlock)
		buf := o.widen(x[:n])
		switch op {
		case reduceSquares:
			t.Push(k.SumSquares(buf))
		case reduceSquaresScaled:
			t.Push(k.SumSquaresScaled(buf, a))
		case reduceAbs:
			t.Push(k.SumAbs(buf))
		case reducePow:
			t.Push(k.SumPow(buf, a, b))
		}
		x = x[n:]
	}
	return t.Sum()
}

// maxAbs is the largest |x[i]|, NaN if any is NaN.
func (o *LowOptimizer[H]) maxAbs(x []uint16) float64 {
	k := gradKernels[float32]()
	m := 0.0
	for len(x) > 0 {
		n := min(len(x), generic.ReduceBlock)
		m = generic.MaxNaN(m, k.MaxAbs(o.widen(x[:n])))
		x = x[n:]
	}
	return m
}

// widen returns x (at most a block) widened into the optimizer's buffer.
func (o *LowOptimizer[H]) widen(x []uint16) []float32 {
	buf := o.buf[:len(x)]
	if o.format == kernels.BFloat16 {
		_ = kernels.WidenBF16(Kernels(), buf, x) // cannot fail: equal lengths, disjoint
	} else {
		_ = kernels.WidenF16(Kernels(), buf, x)
	}
	return buf
}

// narrow rounds the buffer's first len(x) values into x, to nearest even.
func (o *LowOptimizer[H]) narrow(x []uint16) {
	buf := o.buf[:len(x)]
	if o.format == kernels.BFloat16 {
		_ = kernels.NarrowBF16(Kernels(), x, buf)
	} else {
		_ = kernels.NarrowF16(Kernels(), x, buf)
	}
}

// GradNorm is GradNorm for 16-bit gradients: the normType-norm of all
// grads as one vector, with the bits GradNorm gives for their values
// widened to float32. A nil grad is no gradient, left out.
func (o *LowOptimizer[H]) GradNorm(normType float64, grads ...[]H) (float64, error) {
	if err := checkNormType("GradNorm", normType); err != nil {
		return 0, err
	}
	var scratch [][]uint16
	return generic.NormOf(&o.red, normType, withoutNil(&scratch, asBits(grads))), nil
}

// ClipGradNorm is ClipGradNorm for 16-bit gradients: the norm as GradNorm
// computes it, then every element multiplied in float32 by the
// coefficient min(1, maxNorm/(total + 1e-6)), rounded once to float32, and
// rounded back to the format to nearest even. It returns the norm from
// before clipping; errorIfNonfinite and the errors are ClipGradNorm's
// (nothing is written on error).
func (o *LowOptimizer[H]) ClipGradNorm(maxNorm, normType float64, errorIfNonfinite bool, grads ...[]H) (float64, error) {
	const fn = "ClipGradNorm"
	g := asBits(grads)
	if !(maxNorm >= 0) {
		return 0, argErr(fn, "maxNorm", maxNorm, ">= 0")
	}
	if err := checkNormType(fn, normType); err != nil {
		return 0, err
	}
	if err := checkDisjoint(fn, g); err != nil {
		return 0, err
	}
	var scratch [][]uint16
	total := generic.NormOf(&o.red, normType, withoutNil(&scratch, g))
	if errorIfNonfinite && (math.IsInf(total, 0) || total != total) {
		return total, &NonFiniteNormError{normType, total}
	}
	o.scaleAll(g, float32(generic.ClipCoef(maxNorm, total)))
	return total, nil
}

// scaleAll multiplies every element of grads by c in float32 and rounds it
// back.
func (o *LowOptimizer[H]) scaleAll(grads [][]uint16, c float32) {
	k := gradKernels[float32]()
	o.updateBlocks(grads, func(b []float32) { k.Scale(b, c) })
}

// updateBlocks applies f to every block of grads widened to float32, and
// rounds the results back.
func (o *LowOptimizer[H]) updateBlocks(grads [][]uint16, f func(b []float32)) {
	for _, x := range grads {
		for len(x) > 0 {
			n := min(len(x), generic.ReduceBlock)
			f(o.widen(x[:n]))
			o.narrow(x[:n])
			x = x[n:]
		}
	}
}

// ClipGradValue is ClipGradValue for 16-bit gradients: every element
// clamped to [-clip, clip] in float32 (clip rounded to float32) and
// rounded back to the format, so an element beyond the bound becomes the
// bound rounded to the format; NaNs stay NaN. Errors (nothing is written):
// clip negative or NaN, grads that overlap each other.
func (o *LowOptimizer[H]) ClipGradValue(clip float64, grads ...[]H) error {
	const fn = "ClipGradValue"
	g := asBits(grads)
	if !(clip >= 0) {
		return argErr(fn, "clip", clip, ">= 0")
	}
	if err := checkDisjoint(fn, g); err != nil {
		return err
	}
	k := gradKernels[float32]()
	c := float32(clip)
	o.updateBlocks(g, func(b []float32) { k.Clamp(b, c) })
	return nil
}

// NonFinite reports whether any element of grads is infinite or NaN.
func (o *LowOptimizer[H]) NonFinite(grads ...[]H) bool {
	for _, g := range asBits(grads) {
		if o.nonFinite(g) {
			return true
		}
	}
	return false
}

// nonFinite reports whether x holds an infinity or a NaN: a value whose
// exponent bits are all set. Four values are tested at once in each
// 64-bit word: a lane whose exponent is all ones becomes zero under
// (w & e) ^ e, and the classic zero-lane test finds it (exactly: no lane
// of (w & e) ^ e has its top bit set).
func (o *LowOptimizer[H]) nonFinite(x []uint16) bool {
	e := uint16(0x7F80)
	if o.format == kernels.Float16 {
		e = 0x7C00
	}
	const ones, tops = 0x0001_0001_0001_0001, 0x8000_8000_8000_8000
	e4 := uint64(e) * ones
	// The bytes of x, read 8 at a time (one load each on amd64 and arm64,
	// which allow it unaligned); the lane order does not matter.
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), 2*len(x))
	words := len(x) / 4
	for j := 0; j < 8*words; j += 8 {
		w := binary.LittleEndian.Uint64(b[j:])
		v := (w & e4) ^ e4
		if (v-ones)&^v&tops != 0 {
			return true
		}
	}
	for _, h := range x[words*4:] {
		if h&e == e {
			return true
		}
	}
	return false
}

// StepIfFinite is Optimizer.StepIfFinite: it steps only if no element of
// grads is infinite or NaN, and otherwise changes nothing and reports the
// skip. The grads are validated as Step validates them, before anything
// else.
func (o *LowOptimizer[H]) StepIfFinite(grads ...[]H) (skipped bool, err error) {
	g := asBits(grads)
	if err := checkHeld(&o.groupSet, "StepIfFinite", g, len(o.params)); err != nil {
		return false, err
	}
	if err := o.checkGrads("StepIfFinite", g); err != nil {
		return false, err
	}
	if o.NonFinite(grads...) {
		return true, nil
	}
	o.apply(g)
	return false, nil
}

// UnscaleLow is Unscale for a LowOptimizer: torch's scaler.unscale_ of
// 16-bit gradients, which records an infinite or NaN gradient element and
// multiplies every element by the float32 inverse scale in float32,
// rounding the product back to the format to nearest even (not when the
// inverse is 1), as torch's _amp_foreach_non_finite_check_and_unscale_
// does. The errors and stages are Unscale's; nothing is written on error.
func UnscaleLow[H BFloat16 | Float16](s *GradScaler, o *LowOptimizer[H], grads ...[]H) (foundInf bool, err error) {
	const fn = "Unscale"
	if s.cfg.Disabled {
		return false, nil
	}
	g := asBits(grads)
	inv, err := prepareLow(s, fn, o, g)
	if err != nil {
		return false, err
	}
	return s.unscaleStage(fn, o, func() bool { return o.unscaleAll(g, inv) })
}

// ScaledStepLow is ScaledStep for a LowOptimizer: unless UnscaleLow ran
// since the last Update, it unscales the grads as UnscaleLow does; then it
// steps if every element was finite, and otherwise skips, changing
// nothing. Call Update after the iteration's steps.
func ScaledStepLow[H BFloat16 | Float16](s *GradScaler, o *LowOptimizer[H], grads ...[]H) (skipped bool, err error) {
	const fn = "ScaledStep"
	g := asBits(grads)
	if err := checkHeld(&o.groupSet, fn, g, len(o.params)); err != nil {
		return false, err
	}
	if s.cfg.Disabled {
		return false, o.Step(grads...)
	}
	inv, err := prepareLow(s, fn, o, g)
	if err != nil {
		return false, err
	}
	return s.stepStage(fn, o, func() bool { return o.unscaleAll(g, inv) }, func() error { o.apply(g); return nil })
}

// prepareLow validates what UnscaleLow and ScaledStepLow check before
// their first write, and returns the inverse scale.
func prepareLow[H BFloat16 | Float16](s *GradScaler, fn string, o *LowOptimizer[H], grads [][]uint16) (float32, error) {
	if err := o.checkGrads(fn, grads); err != nil {
		return 0, err
	}
	if err := checkDisjoint(fn, grads); err != nil {
		return 0, err
	}
	return s.inverse(fn)
}

// unscaleAll checks every grad for non-finite elements and multiplies it
// by inv; every grad is unscaled even after one is found, as torch does.
func (o *LowOptimizer[H]) unscaleAll(grads [][]uint16, inv float32) bool {
	found := false
	for _, g := range grads {
		if o.nonFinite(g) {
			found = true
		}
	}
	if inv != 1 {
		o.scaleAll(grads, inv)
	}
	return found
}

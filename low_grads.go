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
// the widened gradients, on every CPU and for any number of workers, and a
// gradient that is changed is rounded back to its format to nearest even,
// as torch computes reduced precision in float32 and rounds the result.
// Large gradients are split between the workers as Optimizer splits its
// reductions (pargrad.go): sums into aligned runs of 2^k blocks, whose
// subtree sums added with SumTree.PushNode give the single-threaded bits.

// lowOp is a pass of lowGradTask over 16-bit gradients.
type lowOp int

const (
	lowSquares lowOp = iota
	lowSquaresScaled
	lowAbs
	lowPow
	lowMaxAbs
	lowScale
	lowClamp
	lowNonFinite
	lowAccumulate
)

// lowGradTask runs a pass over one gradient, on the caller or split
// between the workers, each with a buffer of its own.
type lowGradTask struct {
	format  kernels.Format
	op      lowOp
	x       []uint16
	y       []uint16 // lowAccumulate's added gradient, as long as x
	a, b    float64  // the sums' arguments: the scale, or p and m
	c       float32  // the updates' argument
	pieces  []gradPiece
	bounds  []int     // worker w runs pieces[bounds[w]:bounds[w+1]]
	results []float64 // per piece: its sum or max; for flags, 0 or 1
	bufs    []*[generic.ReduceBlock]float32
}

func (t *lowGradTask) run(w int) {
	for i := t.bounds[w]; i < t.bounds[w+1]; i++ {
		lo, hi := t.pieces[i].lo, t.pieces[i].hi
		t.results[i] = t.piece(t.bufs[w], t.x[lo:hi], part(t.y, lo, hi))
	}
}

// piece runs the pass over x, block by block through buf: for a sum, the
// SumTree of the blocks' partials (a complete subtree of the whole slice's
// tree when x is an aligned run of 2^k blocks); for the maximum, the
// largest |x|; for the check, 1 if x holds an infinity or NaN; for the
// updates, 0 after rounding the results back into x. y is lowAccumulate's
// gradient, the part of t.y that matches x (nil for the other passes).
func (t *lowGradTask) piece(buf *[generic.ReduceBlock]float32, x, y []uint16) float64 {
	switch t.op {
	case lowAccumulate:
		t.accumulate(buf, x, y)
		return 0
	case lowNonFinite:
		if nonFinite(t.format, x) {
			return 1
		}
		return 0
	}
	k := gradKernels[float32]()
	var tree generic.SumTree
	m := 0.0
	for len(x) > 0 {
		n := min(len(x), generic.ReduceBlock)
		b := buf[:n]
		t.widen(b, x[:n])
		switch t.op {
		case lowSquares:
			tree.Push(k.SumSquares(b))
		case lowSquaresScaled:
			tree.Push(k.SumSquaresScaled(b, t.a))
		case lowAbs:
			tree.Push(k.SumAbs(b))
		case lowPow:
			tree.Push(k.SumPow(b, t.a, t.b))
		case lowMaxAbs:
			m = generic.MaxNaN(m, k.MaxAbs(b))
		case lowScale, lowClamp:
			if t.op == lowScale {
				k.Scale(b, t.c)
			} else {
				k.Clamp(b, t.c)
			}
			t.narrow(x[:n], b)
		}
		x = x[n:]
	}
	if t.op == lowMaxAbs {
		return m
	}
	return tree.Sum()
}

// accumulate is lowAccumulate's pass: x[j] = round(widen(x[j]) +
// widen(round(c·widen(y[j])))), each operation in float32 and each round
// to the format, to nearest even, as torch's x += c * y on 16-bit tensors
// (two operations, each rounded to the tensors' dtype). It runs block by
// block through the two halves of buf, reading a block of x and of y
// before writing that block of x, so y may be x itself.
func (t *lowGradTask) accumulate(buf *[generic.ReduceBlock]float32, x, y []uint16) {
	k := gradKernels[float32]()
	const half = generic.ReduceBlock / 2
	for len(x) > 0 {
		n := min(len(x), half)
		sum, prod := buf[:n], buf[half:half+n]
		t.widen(sum, x[:n])
		t.widen(prod, y[:n])
		k.Scale(prod, t.c)
		// The product rounded to the format: through x's block, which sum
		// holds, and back.
		t.narrow(x[:n], prod)
		t.widen(prod, x[:n])
		k.Accumulate(sum, prod, 1) // sum + float32(1·prod): the exact product
		t.narrow(x[:n], sum)
		x, y = x[n:], y[n:]
	}
}

// widen sets dst to the values of the bits src, of the task's format, with
// the kernel set in use (dst and src have the same length, disjoint).
func (t *lowGradTask) widen(dst []float32, src []uint16) { widenFormat(t.format, dst, src) }

// narrow sets dst to src rounded to the task's format, to nearest even.
func (t *lowGradTask) narrow(dst []uint16, src []float32) { narrowFormat(t.format, dst, src) }

// pass runs op over x with the task's arguments, split between the
// workers when x is large enough, and combines the pieces' results.
func (o *LowOptimizer[H]) pass(op lowOp, x []uint16) float64 {
	t := &o.gtask
	t.op = op
	workers := min(o.workerLimit(), len(x)/o.ParallelMin())
	if workers < 2 {
		return t.piece(o.buf, x, t.y)
	}
	t.x = x
	t.pieces = splitBlocks(t.pieces[:0], len(x), workers)
	if cap(t.results) < len(t.pieces) {
		t.results = make([]float64, len(t.pieces))
	}
	t.results = t.results[:len(t.pieces)]
	t.bounds = shareBounds(t.bounds[:0], t.pieces, workers)
	for len(t.bufs) < workers {
		t.bufs = append(t.bufs, new([generic.ReduceBlock]float32))
	}
	o.ensurePool(workers)
	failed := o.pool.do(t, workers, len(x)/workers)
	t.x = nil
	if failed != nil {
		// A kernel panicked on a valid slice: a partial result must not
		// pass for a whole one.
		panic(failed)
	}
	var tree generic.SumTree
	m := 0.0
	for i, r := range t.results {
		switch op {
		case lowSquares, lowSquaresScaled, lowAbs, lowPow:
			tree.PushNode(r, t.pieces[i].blocks)
		default: // the maximum, or the or of the flags
			m = generic.MaxNaN(m, r)
		}
	}
	if op == lowMaxAbs || op == lowNonFinite {
		return m
	}
	return tree.Sum()
}

// reducer returns the reductions of generic.NormOf for this format.
func (o *LowOptimizer[H]) reducer() generic.Reducer[uint16] {
	return generic.Reducer[uint16]{
		SumSquares: func(x []uint16) float64 { return o.pass(lowSquares, x) },
		SumSquaresScaled: func(x []uint16, s float64) float64 {
			o.gtask.a = s
			return o.pass(lowSquaresScaled, x)
		},
		SumAbs: func(x []uint16) float64 { return o.pass(lowAbs, x) },
		SumPow: func(x []uint16, p, m float64) float64 {
			o.gtask.a, o.gtask.b = p, m
			return o.pass(lowPow, x)
		},
		MaxAbs: func(x []uint16) float64 { return o.pass(lowMaxAbs, x) },
		Single: true, // every value is a float32
	}
}

// GradNorm is GradNorm for 16-bit gradients: the normType-norm of all
// grads as one vector, with the bits GradNorm gives for their values
// widened to float32. A nil grad is no gradient, left out. With no grads,
// it is the norm of the optimizer's gradient buffers that are set (see
// Grad), as torch's over the grads that are not None.
func (o *LowOptimizer[H]) GradNorm(normType float64, grads ...[]H) (float64, error) {
	if err := checkNormType("GradNorm", normType); err != nil {
		return 0, err
	}
	defer o.grads.clearPresent()
	return generic.NormOf(&o.red, normType, withoutNil(&o.grads.present, o.stepGrads(grads))), nil
}

// ClipGradNorm is ClipGradNorm for 16-bit gradients: the norm as GradNorm
// computes it, then every element multiplied in float32 by the
// coefficient min(1, maxNorm/(total + 1e-6)), rounded once to float32, and
// rounded back to the format to nearest even. It returns the norm from
// before clipping; errorIfNonfinite and the errors are ClipGradNorm's
// (nothing is written on error). With no grads, it clips the optimizer's
// gradient buffers that are set (see Grad).
func (o *LowOptimizer[H]) ClipGradNorm(maxNorm, normType float64, errorIfNonfinite bool, grads ...[]H) (float64, error) {
	const fn = "ClipGradNorm"
	g := o.stepGrads(grads)
	if !(maxNorm >= 0) {
		return 0, argErr(fn, "maxNorm", maxNorm, ">= 0")
	}
	if err := checkNormType(fn, normType); err != nil {
		return 0, err
	}
	if err := checkDisjoint(fn, g); err != nil {
		return 0, err
	}
	defer o.grads.clearPresent()
	total := generic.NormOf(&o.red, normType, withoutNil(&o.grads.present, g))
	if errorIfNonfinite && (math.IsInf(total, 0) || total != total) {
		return total, &NonFiniteNormError{normType, total}
	}
	o.scaleAll(g, float32(generic.ClipCoef(maxNorm, total)))
	return total, nil
}

// scaleAll multiplies every element of grads by c in float32 and rounds it
// back.
func (o *LowOptimizer[H]) scaleAll(grads [][]uint16, c float32) {
	o.gtask.c = c
	for _, x := range grads {
		o.pass(lowScale, x)
	}
}

// ClipGradValue is ClipGradValue for 16-bit gradients: every element
// clamped to [-clip, clip] in float32 (clip rounded to float32) and
// rounded back to the format, so an element beyond the bound becomes the
// bound rounded to the format; NaNs stay NaN. Errors (nothing is written):
// clip negative or NaN, grads that overlap each other. With no grads, it
// clips the optimizer's gradient buffers that are set (see Grad).
func (o *LowOptimizer[H]) ClipGradValue(clip float64, grads ...[]H) error {
	const fn = "ClipGradValue"
	g := o.stepGrads(grads)
	if !(clip >= 0) {
		return argErr(fn, "clip", clip, ">= 0")
	}
	if err := checkDisjoint(fn, g); err != nil {
		return err
	}
	o.gtask.c = float32(clip)
	for _, x := range g {
		o.pass(lowClamp, x)
	}
	return nil
}

// NonFinite reports whether any element of grads is infinite or NaN; nil
// grads are skipped. With no grads, they are the optimizer's gradient
// buffers that are set (see Grad).
func (o *LowOptimizer[H]) NonFinite(grads ...[]H) bool { return o.nonFiniteBits(o.stepGrads(grads)) }

func (o *LowOptimizer[H]) nonFiniteBits(grads [][]uint16) bool {
	for _, g := range grads {
		if o.pass(lowNonFinite, g) != 0 {
			return true
		}
	}
	return false
}

// nonFinite reports whether x, of format f, holds an infinity or a NaN: a value whose
// exponent bits are all set. Four values are tested at once in each
// 64-bit word: a lane whose exponent is all ones becomes zero under
// (w & e) ^ e, and the classic zero-lane test finds it (exactly: no lane
// of (w & e) ^ e has its top bit set).
func nonFinite(f kernels.Format, x []uint16) bool {
	e := uint16(0x7F80)
	if f == kernels.Float16 {
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
// else; no grads at all means the optimizer's own gradient buffers (see
// Grad).
func (o *LowOptimizer[H]) StepIfFinite(grads ...[]H) (skipped bool, err error) {
	g := o.stepGrads(grads)
	if err := checkHeld(&o.groupSet, "StepIfFinite", g, len(o.params)); err != nil {
		return false, err
	}
	if err := o.checkGrads("StepIfFinite", g); err != nil {
		return false, err
	}
	if o.nonFiniteBits(g) {
		return true, nil
	}
	return false, o.apply(g)
}

// UnscaleLow is Unscale for a LowOptimizer: torch's scaler.unscale_ of
// 16-bit gradients, which records an infinite or NaN gradient element and
// multiplies every element by the float32 inverse scale in float32,
// rounding the product back to the format to nearest even (not when the
// inverse is 1), as torch's _amp_foreach_non_finite_check_and_unscale_
// does. The errors and stages are Unscale's; nothing is written on error.
// As for Step, a nil grad is no gradient (skipped), and no grads at all
// means the optimizer's own gradient buffers that are set (see Grad).
func UnscaleLow[H BFloat16 | Float16](s *GradScaler, o *LowOptimizer[H], grads ...[]H) (foundInf bool, err error) {
	const fn = "Unscale"
	if s.cfg.Disabled {
		return false, nil
	}
	g := o.stepGrads(grads)
	inv, err := prepareLow(s, fn, o, g)
	if err != nil {
		return false, err
	}
	return s.unscaleStage(fn, o, func() bool { return o.unscaleAll(g, inv) })
}

// ScaledStepLow is ScaledStep for a LowOptimizer: unless UnscaleLow ran
// since the last Update, it unscales the grads as UnscaleLow does; then it
// steps if every element was finite, and otherwise skips, changing
// nothing. Call Update after the iteration's steps. Nil grads and no
// grads at all mean what they mean to Step and UnscaleLow.
func ScaledStepLow[H BFloat16 | Float16](s *GradScaler, o *LowOptimizer[H], grads ...[]H) (skipped bool, err error) {
	const fn = "ScaledStep"
	g := o.stepGrads(grads)
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
	return s.stepStage(fn, o, func() bool { return o.unscaleAll(g, inv) }, func() error { return o.apply(g) })
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
		if o.pass(lowNonFinite, g) != 0 {
			found = true
		}
	}
	if inv != 1 {
		o.scaleAll(grads, inv)
	}
	return found
}

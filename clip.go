package optim

import (
	"math"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// Gradient norms and clipping, as torch.nn.utils computes them, with the
// bits fixed by generic.Norm: the same on every CPU and for any split of the
// work, and accurate where torch overflows (see GradNorm).

// GradNorm is torch.nn.utils.get_total_norm: the normType-norm of all grads
// taken as one vector (torch: the norm of the per-tensor norms, the same
// thing mathematically), returned in float64 whatever T is. normType is
// p >= 1 (2 is the usual choice) or math.Inf(1) for the largest |g|. A NaN
// anywhere gives NaN; otherwise an infinite element gives +Inf. With no
// elements the norm is 0.
//
// Accuracy beyond torch: float32 gradients are accumulated in float64, so
// gradients around 1e19, whose float32 norm overflows in torch, get their
// true norm; float64 norms stay finite and accurate whenever the true norm
// is representable (a second, exactly scaled pass repairs an overflowed or
// underflowed sum of squares). The relative error is at most
// (D/2 + 2)·2^-53 for p = 2, with D = 133 + ceil(log2(blocks of 4096 in the
// longest slice)) + ceil(log2(number of slices)): 8.3e-15 for 10^7 elements
// in one slice. generic.Norm states the order of operations and the bounds
// for the other orders.
//
// The result depends on the data and on how it is split into slices, never
// on the CPU or the kernel set. A nil slice is no gradient (torch's None)
// and is left out, as torch leaves out the grads that are None: the norm
// has the bits it has without it.
func GradNorm[T float32 | float64](normType float64, grads ...[]T) (float64, error) {
	var scratch [][]T
	return gradNorm(gradKernels[T](), normType, withoutNil(&scratch, grads))
}

func gradNorm[T float32 | float64](k *generic.GradKernels[T], normType float64, grads [][]T) (float64, error) {
	if err := checkNormType("GradNorm", normType); err != nil {
		return 0, err
	}
	return generic.Norm(k, normType, grads), nil
}

// ClipGradNorm is torch.nn.utils.clip_grad_norm_ (torch 1.13): it computes
// the total norm as GradNorm does, then multiplies every grad by
// clip_coef = min(1, maxNorm/(total + 1e-6)), even when that is 1, and
// returns the total norm from before clipping. A NaN total makes every grad
// NaN and an infinite one makes every finite grad 0, as in torch, unless
// errorIfNonfinite is set: then the error is a *NonFiniteNormError and
// nothing changes.
//
// The coefficient is computed in float64 from the float64 norm and rounded
// once to T; torch computes it in the gradients' dtype, so float32 results
// may differ from torch's in the last bit (and float32 gradients whose norm
// overflows float32 are scaled correctly here, where torch zeroes them).
//
// A nil slice is no gradient: it is left out of the norm, as by GradNorm.
//
// Errors (nothing is written): maxNorm negative or NaN, normType below 1 or
// NaN (*HyperparameterError), grads that overlap each other (*OverlapError).
func ClipGradNorm[T float32 | float64](maxNorm, normType float64, errorIfNonfinite bool, grads ...[]T) (float64, error) {
	var scratch [][]T
	return clipGradNorm(gradKernels[T](), maxNorm, normType, errorIfNonfinite, grads, &scratch)
}

// clipGradNorm clips grads, whose nil entries it leaves out of the norm
// with the help of scratch.
func clipGradNorm[T float32 | float64](k *generic.GradKernels[T], maxNorm, normType float64, errorIfNonfinite bool, grads [][]T, scratch *[][]T) (float64, error) {
	const fn = "ClipGradNorm"
	if !(maxNorm >= 0) {
		return 0, argErr(fn, "maxNorm", maxNorm, ">= 0")
	}
	if err := checkNormType(fn, normType); err != nil {
		return 0, err
	}
	if err := checkDisjoint(fn, grads); err != nil {
		return 0, err
	}
	total := generic.Norm(k, normType, withoutNil(scratch, grads))
	if errorIfNonfinite && (math.IsInf(total, 0) || total != total) {
		return total, &NonFiniteNormError{normType, total}
	}
	c := T(generic.ClipCoef(maxNorm, total))
	for _, g := range grads {
		k.Scale(g, c)
	}
	return total, nil
}

// ClipGradValue is torch.nn.utils.clip_grad_value_: it clamps every element
// of every grad to [-clip, clip] (clip rounded to T, as torch converts it to
// the dtype); NaN elements stay NaN, and nil grads are skipped. Errors (nothing is written): clip
// negative or NaN (*HyperparameterError), grads that overlap each other
// (*OverlapError).
func ClipGradValue[T float32 | float64](clip float64, grads ...[]T) error {
	return clipGradValue(gradKernels[T](), clip, grads)
}

func clipGradValue[T float32 | float64](k *generic.GradKernels[T], clip float64, grads [][]T) error {
	const fn = "ClipGradValue"
	if !(clip >= 0) {
		return argErr(fn, "clip", clip, ">= 0")
	}
	if err := checkDisjoint(fn, grads); err != nil {
		return err
	}
	c := T(clip)
	for _, g := range grads {
		k.Clamp(g, c)
	}
	return nil
}

// StepIfFinite is optax's apply_if_finite: it checks every grad for an
// infinite or NaN element (one read of each) and, only if there is none,
// calls Step. When it skips, every param, every state and the step count
// are untouched. The grads are validated as Step validates them, before
// anything else; as for Step, a nil grad skips its param, and no grads at
// all means the optimizer's own gradient buffers (see Grad).
//
// It guards against non-finite gradients, not against every overflow: a
// finite gradient whose square exceeds the element type (a float32
// gradient of 1e30) is stepped, and makes Adam's exp_avg_sq +Inf, as it
// does in torch and optax. Clip such gradients first (ClipGradNorm,
// ClipGradValue).
func (o *Optimizer[T]) StepIfFinite(grads ...[]T) (skipped bool, err error) {
	grads = o.stepGrads(grads)
	if err := o.checkHeld("StepIfFinite", grads); err != nil {
		return false, err
	}
	if err := o.checkGrads("StepIfFinite", grads); err != nil {
		return false, err
	}
	if o.NonFinite(grads...) {
		return true, nil
	}
	return false, o.Step(grads...) // the owned buffers, if grads is empty
}

// GradNorm is the package's GradNorm, run by the optimizer's workers (see
// SetWorkers) on large gradients: the same bits for any worker count. With
// no grads, it is the norm of the optimizer's gradient buffers that are
// set (see Grad), as torch's over the grads that are not None.
func (o *Optimizer[T]) GradNorm(normType float64, grads ...[]T) (float64, error) {
	defer o.clearPresent()
	return gradNorm(o.workerGradKernels(), normType, o.presentGrads(o.stepGrads(grads)))
}

// ClipGradNorm is the package's ClipGradNorm, run by the optimizer's
// workers: the same bits for any worker count. With no grads, it clips the
// optimizer's gradient buffers that are set (see Grad).
func (o *Optimizer[T]) ClipGradNorm(maxNorm, normType float64, errorIfNonfinite bool, grads ...[]T) (float64, error) {
	defer o.clearPresent()
	return clipGradNorm(o.workerGradKernels(), maxNorm, normType, errorIfNonfinite, o.stepGrads(grads), &o.grads.present)
}

// ClipGradValue is the package's ClipGradValue, run by the optimizer's
// workers. With no grads, it clips the optimizer's gradient buffers that
// are set (see Grad).
func (o *Optimizer[T]) ClipGradValue(clip float64, grads ...[]T) error {
	return clipGradValue(o.workerGradKernels(), clip, o.stepGrads(grads))
}

// NonFinite reports whether any element of grads is infinite or NaN, read
// by the optimizer's workers; nil grads are skipped. The grads need not be
// the optimizer's; with none, they are its gradient buffers that are set
// (see Grad).
func (o *Optimizer[T]) NonFinite(grads ...[]T) bool {
	k := o.workerGradKernels()
	for _, g := range o.stepGrads(grads) {
		if k.NonFinite(g) {
			return true
		}
	}
	return false
}

func checkNormType(fn string, p float64) error {
	if !(p >= 1) {
		return argErr(fn, "normType", p, ">= 1 or +Inf")
	}
	return nil
}

// pairwiseLimit is the number of slices up to which checkDisjoint compares
// every pair (no allocation) instead of sorting by address.
const pairwiseLimit = 32

// checkDisjoint reports the first two grads that share memory, if any.
func checkDisjoint[T element](op string, grads [][]T) error {
	if len(grads) <= pairwiseLimit {
		for j := 1; j < len(grads); j++ {
			for i := range j {
				if overlaps(grads[i], grads[j]) {
					return &OverlapError{Op: op, A: Slot{Kind: "grad", Index: i}, B: Slot{Kind: "grad", Index: j}}
				}
			}
		}
		return nil
	}
	var r regions // allocates, for many grads only
	for i, g := range grads {
		if err := r.insert(op, region(g, Slot{Kind: "grad", Index: i})); err != nil {
			return err
		}
	}
	return nil
}

// gradKernels returns the gradient kernels of the kernel set in use
// (Kernels()): SIMD where the set has them, each the reference's bits.
func gradKernels[T float32 | float64]() *generic.GradKernels[T] {
	return kernels.Grad[T](Kernels())
}

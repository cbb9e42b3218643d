// Package generic is the specification of every optimizer update in this
// module: portable scalar kernels whose exact sequence of IEEE-754 operations
// defines the result bits that every SIMD kernel set must reproduce.
//
// Rules for this package:
//   - Every multiply whose product feeds an add is wrapped in an explicit
//     conversion (T(a*b)), which the Go specification defines to round and so
//     forbids the compiler from fusing it into an FMA (it otherwise does on
//     arm64 and on amd64 at GOAMD64=v3). No kernel here fuses anything, so no
//     SIMD kernel may either.
//   - Per-step scalars are computed once, in float64, from +, -, *, / and
//     sqrt only (all correctly rounded everywhere), then rounded once to the
//     element type. math.Pow and friends are avoided because their last bit
//     is allowed to differ between architectures.
//   - The order of operations follows torch.optim's single-tensor
//     (foreach=False) implementations.
//
// Each rule lives in one file (sgd.go, adagrad.go, rmsprop.go, adam.go):
// its reference kernel, its coefficient function and its RuleDesc, the
// description from which the generators, package kernels and the tests
// derive everything else (registry.go).
package generic

import "math"

// Float is the element type of parameters, gradients and state.
type Float interface{ ~float32 | ~float64 }

// Coeffs holds the per-step scalars of one update, already rounded to the
// element type. One layout serves every rule so that every kernel, portable or
// assembly, has the same signature; a rule ignores the fields it does not use.
//
// The field order is part of the assembly ABI: the generated kernels read
// field k at byte offset k*sizeof(T), which coeffNames (program.go) checks when
// the package initializes.
type Coeffs[T Float] struct {
	// Sign is -0 when maximizing and +0 otherwise. It is XORed into every
	// gradient, which is exactly torch's negation, done without a branch.
	Sign T
	// NegLR multiplies the final update: -lr (SGD, RMSProp, Adadelta,
	// Lion), -clr (Adagrad's decayed rate), -lr/(1-β1^t) (Adam's and
	// Adamax's bias-corrected step size), NAdam's step size of the gradient
	// or ASGD's -eta.
	NegLR T
	// WeightDecay is the coupled (L2) decay added to the gradient as wd*p.
	WeightDecay T
	// Decay multiplies p first: the decoupled decay 1 - lr*wd (AdamW,
	// NAdam, RAdam, Lion) or ASGD's 1 - lambd*eta.
	Decay T
	// Momentum is SGD's or RMSProp's momentum factor.
	Momentum T
	// Dampening is SGD's 1 - dampening, the weight of g in the buffer.
	Dampening T
	// Beta2 is the decay of a running average: RMSProp's alpha, Adam's,
	// NAdam's, RAdam's and Lion's β2, Adamax's β2 of the infinity norm,
	// Adadelta's rho.
	Beta2 T
	// OneMinusBeta2 is 1 - Beta2, rounded from float64 as torch rounds it.
	OneMinusBeta2 T
	// Lerp is the weight w of the lerp of a running mean toward g: 1-β1 for
	// Adam's first moment, 1-alpha for centered RMSProp's gradient average.
	Lerp T
	// LerpComp is T(1) - Lerp, computed in T as torch's lerp does; it is used
	// instead of Lerp when Lerp >= 0.5 (VarLerpHigh).
	LerpComp T
	// BC2Sqrt is Adam's and RAdam's sqrt(1 - β2^t).
	BC2Sqrt T
	// Eps is added to the denominator.
	Eps T
	// Beta1 and OneMinusBeta1 weigh Lion's interpolation β1*m + (1-β1)*g.
	Beta1         T
	OneMinusBeta1 T
	// NegLRAvg is NAdam's step size of the first moment,
	// -lr*μ_{t+1}/(1 - Πμ_{1..t+1}); NegLR is then that of the gradient.
	NegLRAvg T
	// BC1 is RAdam's 1 - β1^t, which divides the first moment.
	BC1 T
	// BC2 is NAdam's 1 - β2^t, which divides the second moment.
	BC2 T
	// LR is the learning rate itself: RAdam's multiplier, and Rprop's
	// initial step size (VarFirst).
	LR T
	// Rect is RAdam's variance rectification term (VarRectified).
	Rect T
	// EtaPlus and EtaMinus are Rprop's step-size factors when the
	// gradient keeps or flips its sign.
	EtaPlus  T
	EtaMinus T
	// StepSizeMin and StepSizeMax bound Rprop's step sizes.
	StepSizeMin T
	StepSizeMax T
	// Mu is ASGD's averaging weight (VarAverage).
	Mu T
}

// Variant selects the operations an update performs. Options that change
// which operations run (not just their operands) are variants, so that every
// kernel is straight-line code; options that only change operands live in
// Coeffs.
type Variant uint32

const (
	// VarWeightDecay adds coupled (L2) weight decay: g = g + wd*p. It is
	// absent when wd is 0, exactly as torch skips it (0*Inf would be NaN).
	VarWeightDecay Variant = 1 << iota
	// VarDecoupled is AdamW's decay p = p*(1 - lr*wd), absent when wd is 0.
	VarDecoupled
	// VarMomentum keeps a momentum buffer (SGD, RMSProp).
	VarMomentum
	// VarNesterov uses Nesterov momentum (SGD).
	VarNesterov
	// VarFirst marks SGD's first momentum step, where torch clones g into the
	// buffer instead of decaying it (dampening does not apply).
	VarFirst
	// VarCentered keeps RMSProp's gradient average.
	VarCentered
	// VarAMSGrad keeps Adam's running maximum of the second moment.
	VarAMSGrad
	// VarLerpHigh selects torch's second lerp form, end - (end-start)*(1-w),
	// which torch uses when the weight w is >= 0.5.
	VarLerpHigh
	// VarRectified is RAdam's rectified step, taken once the length of
	// the approximated simple moving average exceeds 5.
	VarRectified
	// VarAverage is ASGD's averaging ax += (p-ax)*mu, taken when mu is
	// not 1 (torch copies p into ax when it is).
	VarAverage

	// VarCount bounds every Variant value: v < VarCount.
	VarCount Variant = 1 << iota
)

// VariantNames are the names of Variant's bits, lowest first, as generated
// code spells them.
var VariantNames = [...]string{"VarWeightDecay", "VarDecoupled", "VarMomentum", "VarNesterov",
	"VarFirst", "VarCentered", "VarAMSGrad", "VarLerpHigh", "VarRectified", "VarAverage"}

// VariantNames names every bit: this index is out of range otherwise.
var _ = [1]struct{}{}[VarCount-1<<len(VariantNames)]

// Expr spells v as a Go expression over this package's constants, each
// prefixed with qualifier (e.g. "generic."); "0" for no bit.
func (v Variant) Expr(qualifier string) string {
	if v == 0 {
		return "0"
	}
	var s string
	for i, name := range VariantNames {
		if v&(1<<i) != 0 {
			if s != "" {
				s += " | "
			}
			s += qualifier + name
		}
	}
	return s
}

// PowInt returns x**n for n >= 0 by binary exponentiation: a fixed sequence
// of correctly rounded multiplications, so the same bits on every platform.
func PowInt(x float64, n int64) float64 {
	r := 1.0
	for n > 0 {
		if n&1 != 0 {
			r = float64(r * x)
		}
		x = float64(x * x)
		n >>= 1
	}
	return r
}

// lerpCoeffs returns the lerp weight w = 1-beta and T(1)-w, and whether the
// weight selects torch's high form.
func lerpCoeffs[T Float](beta float64) (w, comp T, high bool) {
	w = T(1 - beta)
	return w, T(1) - w, w >= 0.5
}

func sign[T Float](maximize bool) T {
	if maximize {
		return T(math.Copysign(0, -1))
	}
	return 0
}

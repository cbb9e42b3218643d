package optim

import (
	"math"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// ASGD is torch.optim.ASGD, averaged SGD; the average is State.AX.
type ASGD struct {
	LR, Lambd, Alpha, T0, WeightDecay float64
	Maximize                          bool
}

// DefaultASGD returns torch's ASGD defaults: lr 1e-2, lambd 1e-4, alpha
// 0.75, t0 1e6, no weight decay.
func DefaultASGD() ASGD { return ASGD{LR: 1e-2, Lambd: 1e-4, Alpha: 0.75, T0: 1e6} }

func (r ASGD) validate() error {
	return checks("ASGD", nonNegative("LR", r.LR), nonNegative("Lambd", r.Lambd), nonNegative("Alpha", r.Alpha),
		finiteValue("T0", r.T0), nonNegative("WeightDecay", r.WeightDecay))
}

func (ASGD) kind() kernels.Kind          { return generic.KindASGD }
func (r ASGD) lr() float64               { return r.LR }
func (r ASGD) withLR(lr float64) Rule    { r.LR = lr; return r }
func (ASGD) momentum() (float64, bool)   { return 0, false }
func (r ASGD) withMomentum(float64) Rule { return r }

func (r ASGD) coefficients32(in stepInput) stepCoeffs[float32] {
	return asgdCoefficients[float32](r, in)
}
func (r ASGD) coefficients64(in stepInput) stepCoeffs[float64] {
	return asgdCoefficients[float64](r, in)
}

// asgdCoefficients: the scalar state is eta and mu, which torch creates at
// the first step as that step's LR and 1.
func asgdCoefficients[T generic.Float](r ASGD, in stepInput) stepCoeffs[T] {
	if in.first {
		in.sc = generic.ASGDInit(r.LR)
	}
	return withScalars(generic.ASGDCoeffs[T](r.LR, r.Lambd, r.Alpha, r.T0, r.WeightDecay, r.Maximize, in.step, in.sc))
}

// scalarsBefore: eta and mu depend only on the previous step's number.
func (r ASGD) scalarsBefore(step int64, advance func(int64, bool, generic.Scalars) generic.Scalars) generic.Scalars {
	if step > 1 {
		return advance(step-1, true, generic.Scalars{})
	}
	return generic.Scalars{}
}

// checkCoefficients: eta is a float32 scalar whatever the element type is
// (torch's 0-dim tensor).
func (r ASGD) checkCoefficients(k *coeffChecker) {
	if eta := float32(r.LR); math.IsInf(float64(eta), 0) || !finite(k.c.NegLR) {
		k.fail("LR", r.LR, plainValue+" finite in float32 (ASGD's eta is a float32 scalar)")
	}
	k.finite(k.c.Decay, "Lambd", r.Lambd, "a value whose decay 1 - Lambd*LR is")
	k.weightDecay(r.WeightDecay)
}

var asgdTorch = newTorchForm[ASGD](torchForm{
	class: "ASGD",
	keys: []groupKey{
		hyper("lr", "LR"), hyper("lambd", "Lambd"), hyper("alpha", "Alpha"), hyper("t0", "T0"),
		hyper("weight_decay", "WeightDecay"), foreachKey, hyper("maximize", "Maximize"), differentiableKey,
		capturableKey,
	},
})

func (ASGD) torch() *torchForm { return &asgdTorch }

package optim

import (
	"fmt"
	"math"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// Rprop is torch.optim.Rprop: torch's etas are (EtaMinus, EtaPlus), its
// step_sizes (StepSizeMin, StepSizeMax).
type Rprop struct {
	LR, EtaMinus, EtaPlus, StepSizeMin, StepSizeMax float64
	Maximize                                        bool
}

// DefaultRprop returns torch's Rprop defaults: lr 1e-2, etas (0.5, 1.2),
// step sizes (1e-6, 50).
func DefaultRprop() Rprop {
	return Rprop{LR: 1e-2, EtaMinus: 0.5, EtaPlus: 1.2, StepSizeMin: 1e-6, StepSizeMax: 50}
}

// validate checks torch's ranges, 0 < η- < 1 < η+: the kernel tells a
// sign flip from the factor it chose, which needs η- and η+ apart from 1
// (checkCoefficients checks that they stay so in the element type).
func (r Rprop) validate() error {
	c := checks("Rprop", nonNegative("LR", r.LR), between("EtaMinus", r.EtaMinus, 0, 1, "in (0, 1)"),
		between("EtaPlus", r.EtaPlus, 1, math.Inf(1), "a finite value > 1"),
		nonNegative("StepSizeMin", r.StepSizeMin), nonNegative("StepSizeMax", r.StepSizeMax))
	if c == nil && r.StepSizeMin > r.StepSizeMax {
		return &HyperparameterError{Group: -1, Rule: "Rprop", Field: "StepSizeMin", Value: r.StepSizeMin,
			Want: fmt.Sprintf("<= StepSizeMax (%v)", r.StepSizeMax)}
	}
	return c
}

func (Rprop) kind() kernels.Kind          { return generic.KindRprop }
func (r Rprop) lr() float64               { return r.LR }
func (r Rprop) withLR(lr float64) Rule    { r.LR = lr; return r }
func (Rprop) momentum() (float64, bool)   { return 0, false }
func (r Rprop) withMomentum(float64) Rule { return r }

func (r Rprop) coefficients32(in stepInput) stepCoeffs[float32] {
	return rpropCoefficients[float32](r, in)
}
func (r Rprop) coefficients64(in stepInput) stepCoeffs[float64] {
	return rpropCoefficients[float64](r, in)
}

// rpropCoefficients: the first step starts from step sizes LR.
func rpropCoefficients[T generic.Float](r Rprop, in stepInput) stepCoeffs[T] {
	return noScalars(generic.RpropCoeffs[T](r.LR, r.EtaMinus, r.EtaPlus, r.StepSizeMin, r.StepSizeMax, r.Maximize, in.first))
}

// checkCoefficients also requires the factors to stay on their side of 1
// (and η- above 0) once rounded: the kernel tells a sign flip by them.
func (r Rprop) checkCoefficients(k *coeffChecker) {
	k.finite(k.c.LR, "LR", r.LR, plainValue)
	k.finite(k.c.EtaPlus, "EtaPlus", r.EtaPlus, plainValue)
	k.finite(k.c.StepSizeMin, "StepSizeMin", r.StepSizeMin, plainValue)
	k.finite(k.c.StepSizeMax, "StepSizeMax", r.StepSizeMax, plainValue)
	if !(k.c.EtaMinus > 0 && k.c.EtaMinus < 1) {
		k.fail("EtaMinus", r.EtaMinus, "a value in (0, 1) once rounded to "+k.typ)
	}
	if !(k.c.EtaPlus > 1) {
		k.fail("EtaPlus", r.EtaPlus, "a value above 1 once rounded to "+k.typ)
	}
}

var rpropTorch = newTorchForm[Rprop](torchForm{
	class: "Rprop",
	keys: []groupKey{
		hyper("lr", "LR"), hyper("etas", "EtaMinus", "EtaPlus"), hyper("step_sizes", "StepSizeMin", "StepSizeMax"),
		foreachKey, hyper("maximize", "Maximize"), differentiableKey, capturableKey,
	},
})

func (Rprop) torch() *torchForm { return &rpropTorch }

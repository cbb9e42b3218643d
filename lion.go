package optim

import (
	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// Lion is the Lion optimizer (Chen et al., 2023, "Symbolic Discovery of
// Optimization Algorithms"), which torch does not have: the update is the
// sign of an interpolation of the momentum and the gradient, and the
// weight decay is decoupled.
type Lion struct {
	LR, Beta1, Beta2, WeightDecay float64
	Maximize                      bool
}

// DefaultLion returns the defaults of lucidrains' lion-pytorch, the
// reference implementation: lr 1e-4, betas (0.9, 0.99), no weight decay.
func DefaultLion() Lion { return Lion{LR: 1e-4, Beta1: 0.9, Beta2: 0.99} }

func (r Lion) validate() error {
	return checks("Lion", nonNegative("LR", r.LR), closedUnit("Beta1", r.Beta1), closedUnit("Beta2", r.Beta2),
		nonNegative("WeightDecay", r.WeightDecay))
}

func (Lion) kind() kernels.Kind            { return generic.KindLion }
func (r Lion) lr() float64                 { return r.LR }
func (r Lion) withLR(lr float64) Rule      { r.LR = lr; return r }
func (r Lion) momentum() (float64, bool)   { return r.Beta1, true }
func (r Lion) withMomentum(m float64) Rule { r.Beta1 = m; return r }

func (r Lion) coefficients32(in stepInput) stepCoeffs[float32] {
	return lionCoefficients[float32](r, in)
}
func (r Lion) coefficients64(in stepInput) stepCoeffs[float64] {
	return lionCoefficients[float64](r, in)
}

func lionCoefficients[T generic.Float](r Lion, _ stepInput) stepCoeffs[T] {
	return noScalars(generic.LionCoeffs[T](r.LR, r.Beta1, r.Beta2, r.WeightDecay, r.Maximize))
}

func (r Lion) checkCoefficients(k *coeffChecker) {
	k.decay(r.WeightDecay)
	k.stepSize(r.LR, plainValue)
}

// lionTorch: torch has no Lion; these are lion-pytorch's Lion keywords,
// without its implementation choices.
var lionTorch = newTorchForm[Lion](torchForm{
	class: "Lion",
	keys: []groupKey{
		hyper("lr", "LR"), hyper("betas", "Beta1", "Beta2"), hyper("weight_decay", "WeightDecay"),
		hyper("maximize", "Maximize"),
	},
})

func (Lion) torch() *torchForm { return &lionTorch }

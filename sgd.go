package optim

import (
	"fmt"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// SGD is torch.optim.SGD: plain, with momentum and dampening, or Nesterov.
type SGD struct {
	LR, Momentum, Dampening, WeightDecay float64
	Nesterov, Maximize                   bool
}

// DefaultSGD returns torch's SGD defaults: lr 1e-3, no momentum.
func DefaultSGD() SGD { return SGD{LR: 1e-3} }

func (r SGD) validate() error {
	if err := checks("SGD",
		nonNegative("LR", r.LR), unitInterval("Momentum", r.Momentum),
		closedUnit("Dampening", r.Dampening), nonNegative("WeightDecay", r.WeightDecay)); err != nil {
		return err
	}
	if r.Nesterov && (r.Momentum <= 0 || r.Dampening != 0) {
		return &RuleError{Group: -1, Rule: "SGD", Reason: fmt.Sprintf(
			"SGD.Nesterov needs Momentum > 0 and Dampening 0, have Momentum %v and Dampening %v", r.Momentum, r.Dampening)}
	}
	return nil
}

func (SGD) kind() kernels.Kind            { return generic.KindSGD }
func (r SGD) lr() float64                 { return r.LR }
func (r SGD) withLR(lr float64) Rule      { r.LR = lr; return r }
func (r SGD) momentum() (float64, bool)   { return r.Momentum, true }
func (r SGD) withMomentum(m float64) Rule { r.Momentum = m; return r }

func (r SGD) coefficients32(in stepInput) stepCoeffs[float32] { return sgdCoefficients[float32](r, in) }
func (r SGD) coefficients64(in stepInput) stepCoeffs[float64] { return sgdCoefficients[float64](r, in) }

// sgdCoefficients: the first step with a momentum clones the gradient
// into the buffer.
func sgdCoefficients[T generic.Float](r SGD, in stepInput) stepCoeffs[T] {
	return noScalars(generic.SGDCoeffs[T](r.LR, r.Momentum, r.Dampening, r.WeightDecay, r.Nesterov, r.Maximize, in.first))
}

func (r SGD) checkCoefficients(k *coeffChecker) {
	k.stepSize(r.LR, plainValue)
	k.weightDecay(r.WeightDecay)
}

var sgdTorch = newTorchForm[SGD](torchForm{
	class:  "SGD",
	noStep: true, // torch.optim.SGD keeps momentum_buffer only
	keys: []groupKey{
		hyper("lr", "LR"), hyper("momentum", "Momentum"), hyper("dampening", "Dampening"),
		hyper("weight_decay", "WeightDecay"), hyper("nesterov", "Nesterov"), hyper("maximize", "Maximize"),
		foreachKey, differentiableKey,
	},
})

func (SGD) torch() *torchForm { return &sgdTorch }

package optim

import (
	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// RMSProp is torch.optim.RMSprop, optionally centered and with momentum.
type RMSProp struct {
	LR, Alpha, Eps, WeightDecay, Momentum float64
	Centered, Maximize                    bool
}

// DefaultRMSProp returns torch's RMSprop defaults: lr 1e-2, alpha 0.99,
// eps 1e-8.
func DefaultRMSProp() RMSProp { return RMSProp{LR: 1e-2, Alpha: 0.99, Eps: 1e-8} }

func (r RMSProp) validate() error {
	return checks("RMSProp", nonNegative("LR", r.LR), unitInterval("Alpha", r.Alpha), nonNegative("Eps", r.Eps),
		nonNegative("WeightDecay", r.WeightDecay), unitInterval("Momentum", r.Momentum), positiveEps("RMSProp", r.Eps))
}

func (RMSProp) kind() kernels.Kind            { return generic.KindRMSProp }
func (r RMSProp) lr() float64                 { return r.LR }
func (r RMSProp) withLR(lr float64) Rule      { r.LR = lr; return r }
func (r RMSProp) momentum() (float64, bool)   { return r.Momentum, true }
func (r RMSProp) withMomentum(m float64) Rule { r.Momentum = m; return r }

func (r RMSProp) coefficients32(in stepInput) stepCoeffs[float32] {
	return rmspropCoefficients[float32](r, in)
}
func (r RMSProp) coefficients64(in stepInput) stepCoeffs[float64] {
	return rmspropCoefficients[float64](r, in)
}

func rmspropCoefficients[T generic.Float](r RMSProp, _ stepInput) stepCoeffs[T] {
	return noScalars(generic.RMSPropCoeffs[T](r.LR, r.Alpha, r.Eps, r.WeightDecay, r.Momentum, r.Centered, r.Maximize))
}

func (r RMSProp) checkCoefficients(k *coeffChecker) {
	k.stepSize(r.LR, plainValue)
	k.weightDecay(r.WeightDecay)
	k.eps(r.Eps)
}

var rmspropTorch = newTorchForm[RMSProp](torchForm{
	class: "RMSprop",
	keys: []groupKey{
		hyper("lr", "LR"), hyper("momentum", "Momentum"), hyper("alpha", "Alpha"), hyper("eps", "Eps"),
		hyper("centered", "Centered"), hyper("weight_decay", "WeightDecay"), foreachKey,
		hyper("maximize", "Maximize"), differentiableKey,
	},
})

func (RMSProp) torch() *torchForm { return &rmspropTorch }

package optim

import (
	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// Adamax is torch.optim.Adamax, Adam with the infinity norm.
type Adamax struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	Maximize                           bool
}

// DefaultAdamax returns torch's Adamax defaults: lr 2e-3, betas (0.9,
// 0.999), eps 1e-8, no weight decay.
func DefaultAdamax() Adamax { return Adamax{LR: 2e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8} }

func (r Adamax) validate() error {
	return checks("Adamax", nonNegative("LR", r.LR), unitInterval("Beta1", r.Beta1), unitInterval("Beta2", r.Beta2),
		nonNegative("Eps", r.Eps), nonNegative("WeightDecay", r.WeightDecay), positiveEps("Adamax", r.Eps))
}

func (Adamax) kind() kernels.Kind            { return generic.KindAdamax }
func (r Adamax) lr() float64                 { return r.LR }
func (r Adamax) withLR(lr float64) Rule      { r.LR = lr; return r }
func (r Adamax) momentum() (float64, bool)   { return r.Beta1, true }
func (r Adamax) withMomentum(m float64) Rule { r.Beta1 = m; return r }

func (r Adamax) coefficients32(in stepInput) stepCoeffs[float32] {
	return adamaxCoefficients[float32](r, in)
}
func (r Adamax) coefficients64(in stepInput) stepCoeffs[float64] {
	return adamaxCoefficients[float64](r, in)
}

func adamaxCoefficients[T generic.Float](r Adamax, in stepInput) stepCoeffs[T] {
	return noScalars(generic.AdamaxCoeffs[T](r.LR, r.Beta1, r.Beta2, r.Eps, r.WeightDecay, r.Maximize, in.step))
}

func (r Adamax) checkCoefficients(k *coeffChecker) {
	k.stepSize(r.LR, "a value whose step size LR/(1-Beta1) is")
	k.weightDecay(r.WeightDecay)
	k.eps(r.Eps)
}

var adamaxTorch = newTorchForm[Adamax](torchForm{
	class: "Adamax",
	keys: []groupKey{
		hyper("lr", "LR"), hyper("betas", "Beta1", "Beta2"), hyper("eps", "Eps"),
		hyper("weight_decay", "WeightDecay"), foreachKey, hyper("maximize", "Maximize"), differentiableKey,
		capturableKey,
	},
})

func (Adamax) torch() *torchForm { return &adamaxTorch }

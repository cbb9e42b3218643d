package optim

import (
	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// RAdam is torch.optim.RAdam; with Decoupled, its weight decay multiplies
// the parameters (torch's decoupled_weight_decay, RAdamW).
type RAdam struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	Decoupled, Maximize                bool
}

// DefaultRAdam returns torch's RAdam defaults: lr 1e-3, betas (0.9,
// 0.999), eps 1e-8, no weight decay.
func DefaultRAdam() RAdam { return RAdam{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8} }

func (r RAdam) validate() error {
	return checks("RAdam", nonNegative("LR", r.LR), unitInterval("Beta1", r.Beta1), unitInterval("Beta2", r.Beta2),
		nonNegative("Eps", r.Eps), nonNegative("WeightDecay", r.WeightDecay), positiveEps("RAdam", r.Eps))
}

func (RAdam) kind() kernels.Kind            { return generic.KindRAdam }
func (r RAdam) lr() float64                 { return r.LR }
func (r RAdam) withLR(lr float64) Rule      { r.LR = lr; return r }
func (r RAdam) momentum() (float64, bool)   { return r.Beta1, true }
func (r RAdam) withMomentum(m float64) Rule { r.Beta1 = m; return r }

func (r RAdam) coefficients32(in stepInput) stepCoeffs[float32] {
	return radamCoefficients[float32](r, in)
}
func (r RAdam) coefficients64(in stepInput) stepCoeffs[float64] {
	return radamCoefficients[float64](r, in)
}

func radamCoefficients[T generic.Float](r RAdam, in stepInput) stepCoeffs[T] {
	return noScalars(generic.RAdamCoeffs[T](r.LR, r.Beta1, r.Beta2, r.Eps, r.WeightDecay, r.Decoupled, r.Maximize, in.step))
}

// checkCoefficients: RAdam multiplies by LR itself (Coeffs.LR).
func (r RAdam) checkCoefficients(k *coeffChecker) {
	k.decay(r.WeightDecay)
	k.finite(k.c.LR, "LR", r.LR, plainValue)
	k.weightDecay(r.WeightDecay)
	k.eps(r.Eps)
}

// radamTorch: torch 2.11's RAdam always carries decoupled_weight_decay.
var radamTorch = newTorchForm[RAdam](torchForm{
	class: "RAdam",
	keys: []groupKey{
		hyper("lr", "LR"), hyper("betas", "Beta1", "Beta2"), hyper("eps", "Eps"),
		hyper("weight_decay", "WeightDecay"), hyper("decoupled_weight_decay", "Decoupled"), foreachKey,
		hyper("maximize", "Maximize"), capturableKey, differentiableKey,
	},
})

func (RAdam) torch() *torchForm { return &radamTorch }

package optim

import (
	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// NAdam is torch.optim.NAdam; with Decoupled, its weight decay multiplies
// the parameters (torch's decoupled_weight_decay, NAdamW).
type NAdam struct {
	LR, Beta1, Beta2, Eps, WeightDecay, MomentumDecay float64
	Decoupled, Maximize                               bool
}

// DefaultNAdam returns torch's NAdam defaults: lr 2e-3, betas (0.9,
// 0.999), eps 1e-8, momentum_decay 4e-3, no weight decay.
func DefaultNAdam() NAdam {
	return NAdam{LR: 2e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, MomentumDecay: 4e-3}
}

func (r NAdam) validate() error {
	return checks("NAdam", nonNegative("LR", r.LR), unitInterval("Beta1", r.Beta1), unitInterval("Beta2", r.Beta2),
		nonNegative("Eps", r.Eps), nonNegative("WeightDecay", r.WeightDecay),
		nonNegative("MomentumDecay", r.MomentumDecay), positiveEps("NAdam", r.Eps))
}

func (NAdam) kind() kernels.Kind            { return generic.KindNAdam }
func (r NAdam) lr() float64                 { return r.LR }
func (r NAdam) withLR(lr float64) Rule      { r.LR = lr; return r }
func (r NAdam) momentum() (float64, bool)   { return r.Beta1, true }
func (r NAdam) withMomentum(m float64) Rule { r.Beta1 = m; return r }

func (r NAdam) coefficients32(in stepInput) stepCoeffs[float32] {
	return nadamCoefficients[float32](r, in)
}
func (r NAdam) coefficients64(in stepInput) stepCoeffs[float64] {
	return nadamCoefficients[float64](r, in)
}

// nadamCoefficients: the scalar state is mu_product, which torch creates
// as 1 at the first step.
func nadamCoefficients[T generic.Float](r NAdam, in stepInput) stepCoeffs[T] {
	if in.first {
		in.sc = generic.Scalars{1}
	}
	return withScalars(generic.NAdamCoeffs[T](r.LR, r.Beta1, r.Beta2, r.Eps, r.WeightDecay, r.MomentumDecay,
		r.Decoupled, r.Maximize, in.step, in.sc))
}

// scalarsBefore recomputes mu_product, the running product of every step's
// μ_t, from step 1; once it underflows to 0 it stays 0, and the loop stops.
func (r NAdam) scalarsBefore(step int64, advance func(int64, bool, generic.Scalars) generic.Scalars) (sc generic.Scalars) {
	for k := int64(1); k < step && (k == 1 || sc[0] != 0); k++ {
		sc = advance(k, k == 1, sc)
	}
	return sc
}

func (r NAdam) checkCoefficients(k *coeffChecker) {
	const what = "a value whose step sizes are"
	k.decay(r.WeightDecay)
	k.stepSize(r.LR, what)
	k.finite(k.c.NegLRAvg, "LR", r.LR, what)
	k.weightDecay(r.WeightDecay)
	k.eps(r.Eps)
}

// nadamTorch: torch 2.11's NAdam always carries decoupled_weight_decay.
var nadamTorch = newTorchForm[NAdam](torchForm{
	class: "NAdam",
	keys: []groupKey{
		hyper("lr", "LR"), hyper("betas", "Beta1", "Beta2"), hyper("eps", "Eps"),
		hyper("weight_decay", "WeightDecay"), hyper("momentum_decay", "MomentumDecay"),
		hyper("decoupled_weight_decay", "Decoupled"), foreachKey, hyper("maximize", "Maximize"), capturableKey,
		differentiableKey,
	},
})

func (NAdam) torch() *torchForm { return &nadamTorch }

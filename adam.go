package optim

import (
	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// Adam is torch.optim.Adam; with Decoupled it is torch.optim.AdamW, whose
// weight decay multiplies the parameters instead of joining the gradient.
type Adam struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	AMSGrad, Maximize, Decoupled       bool
}

// DefaultAdam returns torch's Adam defaults: lr 1e-3, betas (0.9, 0.999),
// eps 1e-8, no weight decay.
func DefaultAdam() Adam { return Adam{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8} }

// DefaultAdamW returns torch's AdamW defaults: Adam's, with decoupled weight
// decay 1e-2.
func DefaultAdamW() Adam {
	a := DefaultAdam()
	a.WeightDecay, a.Decoupled = 1e-2, true
	return a
}

func (r Adam) validate() error {
	name := errorName(r)
	return checks(name, nonNegative("LR", r.LR), unitInterval("Beta1", r.Beta1), unitInterval("Beta2", r.Beta2),
		nonNegative("Eps", r.Eps), nonNegative("WeightDecay", r.WeightDecay), positiveEps(name, r.Eps))
}

func (Adam) kind() kernels.Kind            { return generic.KindAdam }
func (r Adam) lr() float64                 { return r.LR }
func (r Adam) withLR(lr float64) Rule      { r.LR = lr; return r }
func (r Adam) momentum() (float64, bool)   { return r.Beta1, true }
func (r Adam) withMomentum(m float64) Rule { r.Beta1 = m; return r }

func (r Adam) coefficients32(in stepInput) stepCoeffs[float32] {
	return adamCoefficients[float32](r, in)
}
func (r Adam) coefficients64(in stepInput) stepCoeffs[float64] {
	return adamCoefficients[float64](r, in)
}

func adamCoefficients[T generic.Float](r Adam, in stepInput) stepCoeffs[T] {
	return noScalars(generic.AdamCoeffs[T](r.LR, r.Beta1, r.Beta2, r.Eps, r.WeightDecay, r.AMSGrad, r.Decoupled, r.Maximize, in.step))
}

func (r Adam) checkCoefficients(k *coeffChecker) {
	k.decay(r.WeightDecay)
	k.stepSize(r.LR, "a value whose step size LR/(1-Beta1) is")
	k.weightDecay(r.WeightDecay)
	k.eps(r.Eps)
}

// adamTorch: torch 2's Adam and AdamW may carry decoupled_weight_decay,
// which must agree with the class.
var adamTorch = newTorchForm[Adam](torchForm{
	class:   "Adam",
	flagged: &flaggedClass{class: "AdamW", field: "Decoupled", key: "decoupled_weight_decay"},
	keys: []groupKey{
		hyper("lr", "LR"), hyper("betas", "Beta1", "Beta2"), hyper("eps", "Eps"),
		hyper("weight_decay", "WeightDecay"), hyper("amsgrad", "AMSGrad"), hyper("maximize", "Maximize"),
		foreachKey, capturableKey, differentiableKey, fusedKey,
	},
})

func (Adam) torch() *torchForm { return &adamTorch }

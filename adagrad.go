package optim

import (
	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// Adagrad is torch.optim.Adagrad.
type Adagrad struct {
	LR, LRDecay, WeightDecay, InitialAccumulatorValue, Eps float64
	Maximize                                               bool
}

// DefaultAdagrad returns torch's Adagrad defaults: lr 1e-2, eps 1e-10.
func DefaultAdagrad() Adagrad { return Adagrad{LR: 1e-2, Eps: 1e-10} }

func (r Adagrad) validate() error {
	return checks("Adagrad", nonNegative("LR", r.LR), nonNegative("LRDecay", r.LRDecay),
		nonNegative("WeightDecay", r.WeightDecay), nonNegative("InitialAccumulatorValue", r.InitialAccumulatorValue),
		nonNegative("Eps", r.Eps), positiveEps("Adagrad", r.Eps))
}

func (Adagrad) kind() kernels.Kind          { return generic.KindAdagrad }
func (r Adagrad) lr() float64               { return r.LR }
func (r Adagrad) withLR(lr float64) Rule    { r.LR = lr; return r }
func (Adagrad) momentum() (float64, bool)   { return 0, false }
func (r Adagrad) withMomentum(float64) Rule { return r }

// initialState: torch fills Adagrad's sum with initial_accumulator_value.
func (r Adagrad) initialState() float64 { return r.InitialAccumulatorValue }

func (r Adagrad) coefficients32(in stepInput) stepCoeffs[float32] {
	return adagradCoefficients[float32](r, in)
}
func (r Adagrad) coefficients64(in stepInput) stepCoeffs[float64] {
	return adagradCoefficients[float64](r, in)
}

func adagradCoefficients[T generic.Float](r Adagrad, in stepInput) stepCoeffs[T] {
	return noScalars(generic.AdagradCoeffs[T](r.LR, r.LRDecay, r.WeightDecay, r.Eps, r.Maximize, in.step))
}

func (r Adagrad) checkCoefficients(k *coeffChecker) {
	k.stepSize(r.LR, plainValue)
	k.weightDecay(r.WeightDecay)
	k.eps(r.Eps)
}

var adagradTorch = newTorchForm[Adagrad](torchForm{
	class: "Adagrad",
	keys: []groupKey{
		hyper("lr", "LR"), hyper("lr_decay", "LRDecay"), hyper("eps", "Eps"), hyper("weight_decay", "WeightDecay"),
		hyper("initial_accumulator_value", "InitialAccumulatorValue"), foreachKey, hyper("maximize", "Maximize"),
		differentiableKey,
	},
})

func (Adagrad) torch() *torchForm { return &adagradTorch }

package optim

import (
	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// Adadelta is torch.optim.Adadelta.
type Adadelta struct {
	LR, Rho, Eps, WeightDecay float64
	Maximize                  bool
}

// DefaultAdadelta returns torch's Adadelta defaults: lr 1.0, rho 0.9,
// eps 1e-6, no weight decay.
func DefaultAdadelta() Adadelta { return Adadelta{LR: 1, Rho: 0.9, Eps: 1e-6} }

func (r Adadelta) validate() error {
	return checks("Adadelta", nonNegative("LR", r.LR), closedUnit("Rho", r.Rho), nonNegative("Eps", r.Eps),
		nonNegative("WeightDecay", r.WeightDecay), positiveEps("Adadelta", r.Eps))
}

func (Adadelta) kind() kernels.Kind          { return generic.KindAdadelta }
func (r Adadelta) lr() float64               { return r.LR }
func (r Adadelta) withLR(lr float64) Rule    { r.LR = lr; return r }
func (Adadelta) momentum() (float64, bool)   { return 0, false }
func (r Adadelta) withMomentum(float64) Rule { return r }

func (r Adadelta) coefficients32(in stepInput) stepCoeffs[float32] {
	return adadeltaCoefficients[float32](r, in)
}
func (r Adadelta) coefficients64(in stepInput) stepCoeffs[float64] {
	return adadeltaCoefficients[float64](r, in)
}

func adadeltaCoefficients[T generic.Float](r Adadelta, _ stepInput) stepCoeffs[T] {
	return noScalars(generic.AdadeltaCoeffs[T](r.LR, r.Rho, r.Eps, r.WeightDecay, r.Maximize))
}

func (r Adadelta) checkCoefficients(k *coeffChecker) {
	k.stepSize(r.LR, plainValue)
	k.weightDecay(r.WeightDecay)
	k.eps(r.Eps)
}

var adadeltaTorch = newTorchForm[Adadelta](torchForm{
	class: "Adadelta",
	keys: []groupKey{
		hyper("lr", "LR"), hyper("rho", "Rho"), hyper("eps", "Eps"), hyper("weight_decay", "WeightDecay"),
		foreachKey, capturableKey, hyper("maximize", "Maximize"), differentiableKey,
	},
})

func (Adadelta) torch() *torchForm { return &adadeltaTorch }

package optim

import (
	"sync"

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

// scalarsBefore replays mu_product, the float32 running product of every
// step's μ_t, over steps 1 to step-1 (nadamReplay).
func (r NAdam) scalarsBefore(step int64, advance func(int64, bool, generic.Scalars) generic.Scalars) generic.Scalars {
	sc, _ := r.replayProduct(step-1, advance)
	return sc
}

// replayProduct returns mu_product after steps 1 to n of a parameter, for
// Coefficients, which has no state to continue from, computing each step
// with advance.
//
// The product is replayed step by step, because its float32 roundings
// define its bits, but never further than it can change. μ_t = β1·(1 −
// ½·0.96^(tψ)) does not decrease as t grows (ψ >= 0, and every operation
// computing it, detmath.Pow included, rounds correctly and so
// monotonically), and it is at most β1 < 1. So once x·μ_t rounds back to
// x, x·μ_{t+1}, which lies between x·μ_t and x, rounds back to x too: the
// product never changes again. That happens at 0, or at a subnormal once
// μ_t > 0.5 (the smallest subnormal times such a μ rounds back to itself),
// after at most about ln(2^149)/ln(1/β1) ≈ 103/(1−β1) steps whatever n
// is, since every μ_t is at most β1. With torch's default momentum_decay,
// μ_t starts near β1/2, so the product halves at every early step and
// stops within about 150 steps for any β1.
//
// A caller that asks at increasing steps (a framework stepping the
// stateless kernels) continues the previous replay instead of starting
// over: the last replay is kept, per hyperparameters, so a run of calls at
// steps 1, 2, 3, ... costs O(1) each. replayed is the number of steps this
// call computed.
func (r NAdam) replayProduct(n int64, advance func(int64, bool, generic.Scalars) generic.Scalars) (sc generic.Scalars, replayed int64) {
	key := nadamReplayKey{beta1: r.Beta1, momentumDecay: r.MomentumDecay}
	lastNAdamReplay.Lock()
	last := lastNAdamReplay.nadamReplay
	lastNAdamReplay.Unlock()
	k, stuck := int64(0), false
	if last.key == key && last.steps <= n {
		k, sc, stuck = last.steps, last.sc, last.stuck
	}
	from := k
	for ; k < n && !stuck; k++ {
		next := advance(k+1, k == 0, sc)
		stuck = k > 0 && next == sc
		sc = next
	}
	lastNAdamReplay.Lock()
	lastNAdamReplay.nadamReplay = nadamReplay{key: key, steps: max(k, n), sc: sc, stuck: stuck}
	lastNAdamReplay.Unlock()
	return sc, k - from
}

// nadamReplayKey is what mu_product depends on: μ_t is a function of β1,
// ψ and t alone (not of the element type: the product is float32).
type nadamReplayKey struct{ beta1, momentumDecay float64 }

// nadamReplay is a replay of mu_product over steps 1 to steps; stuck
// reports that it stopped changing (and so its value holds for any later
// step count).
type nadamReplay struct {
	key   nadamReplayKey
	steps int64
	sc    generic.Scalars
	stuck bool
}

// lastNAdamReplay is the last replay, shared by every caller.
var lastNAdamReplay struct {
	sync.Mutex
	nadamReplay
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

package optim

import (
	"sync"

	"github.com/simdoptim/optim/generic"
)

// nadamProduct returns NAdam's scalar state after steps 1 to n of a
// parameter (mu_product, the float32 running product of μ_1 … μ_n, as torch
// keeps it), for Coefficients, which has no state to continue from.
//
// The product is replayed step by step, because its float32 roundings
// define its bits, but never further than it can change. μ_t = β1·(1 −
// ½·0.96^(tψ)) does not decrease as t grows (ψ >= 0, and every operation
// computing it, detmath.Pow included, rounds correctly and so monotonically),
// and it is at most β1 < 1. So once x·μ_t rounds back to x, x·μ_{t+1},
// which lies between x·μ_t and x, rounds back to x too: the product never
// changes again. That happens at 0, or at a subnormal once μ_t > 0.5 (the
// smallest subnormal times such a μ rounds back to itself), after at most
// about ln(2^149)/ln(1/β1) ≈ 103/(1−β1) steps whatever n is, since every μ_t
// is at most β1. With torch's default momentum_decay, μ_t starts near β1/2,
// so the product halves at every early step and stops within about 150
// steps for any β1.
//
// A caller that asks at increasing steps (a framework stepping the
// stateless kernels) continues the previous replay instead of starting
// over: the last replay is kept, per hyperparameters, so a run of calls at
// steps 1, 2, 3, ... costs O(1) each. replayed is the number of steps this
// call computed.
func nadamProduct[T generic.Float](r NAdam, n int64) (sc generic.Scalars, replayed int64) {
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
		_, _, next := coefficients[T](r, k+1, k == 0, sc)
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

var lastNAdamReplay struct {
	sync.Mutex
	nadamReplay
}

package generic

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Lion has no torch reference. These tests hold the reference kernel to two
// definitions written independently of it: the pseudo-code of the Lion
// paper (Chen et al., "Symbolic Discovery of Optimization Algorithms",
// 2023, Program 1), and optax's lion (scale_by_lion, then
// add_decayed_weights, then scale_by_learning_rate, then apply_updates).
// Both decay the weights as lr*(sign(c) + wd*p), which rounds differently
// from the kernel's p*(1 - lr*wd) - lr*sign(c): without weight decay they
// must agree bit for bit, with it to within a few units in the last place
// of the parameters.

// lionPaper is the paper's train step, transcribed line by line:
//
//	update = interp(grad, momentum, β1)   # β1*momentum + (1-β1)*grad
//	update = sign(update)
//	momentum = interp(grad, momentum, β2)
//	update = update + weight*wd
//	update = update * lr
//	weight = weight - update
func lionPaper(weight, grad, momentum []float64, lr, beta1, beta2, wd float64) {
	interp := func(g, m, beta float64) float64 { return float64(beta*m) + float64((1-beta)*g) }
	sign := func(x float64) float64 { // jnp.sign / torch.sign on a nonzero; ±0 and NaN pass
		if x > 0 {
			return 1
		}
		if x < 0 {
			return -1
		}
		return x
	}
	for i := range weight {
		update := sign(interp(grad[i], momentum[i], beta1))
		momentum[i] = interp(grad[i], momentum[i], beta2)
		if wd != 0 {
			update = update + float64(weight[i]*wd)
		}
		update = update * lr
		weight[i] = weight[i] - update
	}
}

// lionOptax is optax.lion(learning_rate=lr, b1, b2, weight_decay=wd) with
// optax.apply_updates: updates = sign((1-b1)*g + b1*mu); mu = (1-b2)*g +
// b2*mu; updates += wd*params; updates *= -lr; params += updates.
func lionOptax(params, grads, mu []float64, lr, b1, b2, wd float64) {
	for i := range params {
		u := float64((1-b1)*grads[i]) + float64(b1*mu[i])
		switch {
		case u > 0:
			u = 1
		case u < 0:
			u = -1
		}
		mu[i] = float64((1-b2)*grads[i]) + float64(b2*mu[i])
		if wd != 0 {
			u = u + float64(wd*params[i])
		}
		params[i] = params[i] + float64(-lr*u)
	}
}

func TestLionMatchesPaperAndOptax(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 13))
	const n, steps = 257, 40
	for _, wd := range []float64{0, 0.1} {
		for _, def := range []struct {
			name string
			step func(p, g, m []float64, lr, b1, b2, wd float64)
		}{{"paper", lionPaper}, {"optax", lionOptax}} {
			lr, b1, b2 := 3e-3, 0.9, 0.99
			p, m := make([]float64, n), make([]float64, n)
			wp, wm := make([]float64, n), make([]float64, n)
			for i := range p {
				p[i] = r.NormFloat64()
				wp[i] = p[i]
			}
			// Zeros of both signs and exact cancellations exercise sign(0).
			p[0], p[1] = 0, math.Copysign(0, -1)
			wp[0], wp[1] = p[0], p[1]
			g := make([]float64, n)
			c, v := LionCoeffs[float64](lr, b1, b2, wd, false)
			for s := 0; s < steps; s++ {
				for i := range g {
					g[i] = r.NormFloat64()
				}
				g[2] = 0
				Lion(v, &c, p, g, m, nil, nil)
				def.step(wp, g, wm, lr, b1, b2, wd)
			}
			for i := range p {
				if wd == 0 {
					if math.Float64bits(p[i]) != math.Float64bits(wp[i]) || math.Float64bits(m[i]) != math.Float64bits(wm[i]) {
						t.Fatalf("%s wd=0: element %d: kernel p=%v m=%v, %s p=%v m=%v", def.name, i, p[i], m[i], def.name, wp[i], wm[i])
					}
					continue
				}
				// Each step rounds the decay differently, by at most an
				// ulp or two of p; steps accumulate that.
				if d := math.Abs(p[i] - wp[i]); d > 4*steps*0x1p-52*math.Max(math.Abs(wp[i]), lr) {
					t.Fatalf("%s wd=%v: element %d: kernel %v, %s %v (difference %g)", def.name, wd, i, p[i], def.name, wp[i], d)
				}
				if m[i] != wm[i] {
					t.Fatalf("%s wd=%v: momentum %d: kernel %v, %s %v", def.name, wd, i, m[i], def.name, wm[i])
				}
			}
		}
	}
}

// TestLionSign checks the sign rule on the values where definitions part:
// sign(±0) keeps the zero, NaN propagates into the parameter, and ±Inf
// moves by the learning rate like any other nonzero value.
func TestLionSign(t *testing.T) {
	nan, negZero := math.NaN(), math.Copysign(0, -1)
	for _, tc := range []struct{ m, g, p, want float64 }{
		{0, 0, 1, 1},                            // c = +0: sign 0, p unchanged
		{negZero, negZero, 1, 1},                // c = -0
		{0, 0, negZero, negZero},                // -0 + (-lr*+0) = -0 + -0 = -0
		{negZero, negZero, negZero, 0},          // -0 + (-lr*-0) = -0 + +0 = +0
		{nan, 1, 1, nan},                        // NaN momentum
		{0, nan, 1, nan},                        // NaN gradient
		{0, math.Inf(1), 1, 1 - 0.5},            // c = +Inf: sign 1
		{math.Inf(-1), 0, 1, 1 + 0.5},           // c = -Inf: sign -1
		{0, 1e-300, 1, 1 - 0.5},                 // tiny c: sign 1
		{0, -math.SmallestNonzeroFloat64, 1, 1}, // c = +0 + (-0 from underflow) = +0
	} {
		c, v := LionCoeffs[float64](0.5, 0.5, 0.5, 0, false)
		p, g, m := []float64{tc.p}, []float64{tc.g}, []float64{tc.m}
		Lion(v, &c, p, g, m, nil, nil)
		if math.Float64bits(p[0]) != math.Float64bits(tc.want) && !(math.IsNaN(p[0]) && math.IsNaN(tc.want)) {
			t.Errorf("m=%v g=%v p=%v: got %v, want %v", tc.m, tc.g, tc.p, p[0], tc.want)
		}
	}
}

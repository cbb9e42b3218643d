package generic

import (
	"math"

	"github.com/simdoptim/optim/internal/ir"
)

// torch.optim has no Lion, so this file is its specification.

var lionRule = RuleDesc{
	Kind: KindLion, GoName: "Lion", Name: "lion",
	Summary:        "Lion, the EvoLved Sign Momentum optimizer (Chen et al., 2023), as optax and DeepSpeed define it",
	Slots:          []Slot{{Key: "exp_avg", Used: always}},
	Axes:           [][]Variant{{0, VarDecoupled}},
	TypicalVariant: 0,
	program:        lionProgram,
	Produced:       lionProduced,
	ref32:          Lion[float32], ref64: Lion[float64],
}

// Lion applies one step of Lion with the momentum m. Per element, in this
// order:
//
//	g = -g                        if maximizing
//	c = β1*m + (1-β1)*g
//	p = p*(1 - lr*wd)             VarDecoupled (wd != 0)
//	p = p + (-lr)*Sign(c)         Sign(±0) = ±0, NaN propagates
//	m = β2*m + (1-β2)*g
//
// Every product is rounded before the sum it feeds, as everywhere in this
// package; (-lr)*Sign(c) is exact.
func Lion[T Float](v Variant, c *Coeffs[T], p, g, m, _, _ []T) {
	n := len(p)
	g, m = g[:n], m[:n]
	neg := math.Signbit(float64(c.Sign))
	decoupled := v&VarDecoupled != 0
	for i := range p {
		pi, gi, mi := p[i], g[i], m[i]
		if neg {
			gi = -gi
		}
		u := T(c.Beta1*mi) + T(c.OneMinusBeta1*gi)
		if decoupled {
			pi = T(pi * c.Decay)
		}
		p[i] = pi + T(c.NegLR*Sign(u))
		m[i] = T(c.Beta2*mi) + T(c.OneMinusBeta2*gi)
	}
}

// LionCoeffs returns the scalars of Lion's steps.
func LionCoeffs[T Float](lr, beta1, beta2, weightDecay float64, maximize bool) (Coeffs[T], Variant) {
	c := Coeffs[T]{Sign: sign[T](maximize), NegLR: T(-lr), Beta1: T(beta1), OneMinusBeta1: T(1 - beta1),
		Beta2: T(beta2), OneMinusBeta2: T(1 - beta2)}
	var v Variant
	if weightDecay != 0 {
		v |= VarDecoupled
		c.Decay = T(1 - float64(lr*weightDecay))
	}
	return c, v
}

// lionProgram states Lion's loop body.
func lionProgram(b builder, v Variant) {
	p := b.Load(ir.StreamP)
	g := b.gradient()
	m := b.Load(ir.StreamS0)
	u := b.Add(b.Mul(b.Coeff("Beta1"), m), b.Mul(b.Coeff("OneMinusBeta1"), g))
	if v&VarDecoupled != 0 {
		p = b.Mul(p, b.Coeff("Decay"))
	}
	b.Store(ir.StreamP, b.Add(p, b.Mul(b.Coeff("NegLR"), b.Sign(u))))
	b.Store(ir.StreamS0, b.Add(b.Mul(b.Coeff("Beta2"), m), b.Mul(b.Coeff("OneMinusBeta2"), g)))
}

func lionProduced() []Variant {
	out := produced{}
	for _, wd := range []float64{0, 0.01} {
		_, v := LionCoeffs[float32](1e-4, 0.9, 0.99, wd, false)
		out[v] = true
	}
	return out.sorted()
}

package generic

import (
	"math"

	"github.com/simdoptim/optim/internal/detmath"
	"github.com/simdoptim/optim/internal/ir"
)

var asgdRule = RuleDesc{
	Kind: KindASGD, GoName: "ASGD", Name: "asgd",
	Summary:    "torch.optim.ASGD (torch 2.11), averaged SGD",
	Slots:      []Slot{{Key: "ax", Used: always}},
	ScalarKeys: []string{"eta", "mu"},
	Axes: [][]Variant{
		{0, VarWeightDecay},
		{0, VarAverage},
	},
	TypicalVariant: 0, // before t0 (1e6 steps), while torch copies p into ax
	program:        asgdProgram,
	Produced:       asgdProduced,
	ref32:          ASGD[float32], ref64: ASGD[float64],
}

// ASGD applies one step of torch.optim.ASGD with the average ax. Per
// element:
//
//	g = -g                        if maximizing
//	g = g + wd*p                  VarWeightDecay
//	p = p*(1 - λ*eta)
//	p = p + (-eta)*g
//	ax = ax + (p-ax)*mu           VarAverage; otherwise ax = p
func ASGD[T Float](v Variant, c *Coeffs[T], p, g, ax, _, _ []T) {
	n := len(p)
	g, ax = g[:n], ax[:n]
	neg := math.Signbit(float64(c.Sign))
	hasWD, average := v&VarWeightDecay != 0, v&VarAverage != 0
	for i := range p {
		pi, gi := p[i], g[i]
		if neg {
			gi = -gi
		}
		if hasWD {
			gi = gi + T(c.WeightDecay*pi)
		}
		pi = T(pi * c.Decay)
		pi = pi + T(c.NegLR*gi)
		p[i] = pi
		if average {
			ax[i] = ax[i] + T((pi-ax[i])*c.Mu)
		} else {
			ax[i] = pi
		}
	}
}

// ASGDInit is a parameter's ASGD scalar state before its first step, as
// torch creates it: eta = lr and mu = 1, in float32.
func ASGDInit(lr float64) Scalars { return Scalars{float32(lr), 1} }

// ASGDCoeffs returns the scalars of ASGD's step number step (1-based) from
// the parameter's eta and mu (sc[0], sc[1]: what the previous step left,
// ASGDInit before the first), and advances them as torch 2.11 does after
// the update:
//
//	eta = float32(lr / (1 + λ*lr*t)^α)
//	mu = float32(1 / max(1, t - t0))
func ASGDCoeffs[T Float](lr, lambd, alpha, t0, weightDecay float64, maximize bool, step int64, sc Scalars) (Coeffs[T], Variant, Scalars) {
	eta, mu := float64(sc[0]), sc[1]
	c := Coeffs[T]{Sign: sign[T](maximize), WeightDecay: T(weightDecay), Decay: T(1 - float64(lambd*eta)), NegLR: T(-eta), Mu: T(mu)}
	var v Variant
	if weightDecay != 0 {
		v |= VarWeightDecay
	}
	if mu != 1 {
		v |= VarAverage
	}
	t := float64(step)
	sc[0] = float32(lr / detmath.Pow(1+float64(float64(lambd*lr)*t), alpha))
	sc[1] = float32(1 / max(1, t-t0))
	return c, v, sc
}

// asgdProgram states ASGD's loop body.
func asgdProgram(b builder, v Variant) {
	p := b.Load(ir.StreamP)
	g := b.gradient()
	p, g = b.weightDecay(v, p, g)
	p = b.Mul(p, b.Coeff("Decay"))
	p = b.Add(p, b.Mul(b.Coeff("NegLR"), g))
	b.Store(ir.StreamP, p)
	ax := p
	if v&VarAverage != 0 {
		old := b.Load(ir.StreamS0)
		ax = b.Add(old, b.Mul(b.Sub(p, old), b.Coeff("Mu")))
	}
	b.Store(ir.StreamS0, ax)
}

func asgdProduced() []Variant {
	out := produced{}
	for _, wd := range []float64{0, 0.01} {
		for _, mu := range []float32{1, 0.5} {
			_, v, _ := ASGDCoeffs[float32](1e-2, 1e-4, 0.75, 1e6, wd, false, 5, Scalars{1e-2, mu})
			out[v] = true
		}
	}
	return out.sorted()
}

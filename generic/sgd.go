package generic

import (
	"math"

	"github.com/simdoptim/optim/internal/ir"
)

var sgdRule = RuleDesc{
	Kind: KindSGD, GoName: "SGD", Name: "sgd",
	Summary: "torch.optim.SGD, with momentum, dampening and Nesterov momentum",
	Slots:   []Slot{{Key: "momentum_buffer", Used: func(v Variant) bool { return v&VarMomentum != 0 }}},
	Axes: [][]Variant{
		{0, VarWeightDecay},
		{0, VarMomentum, VarMomentum | VarFirst, VarMomentum | VarNesterov, VarMomentum | VarNesterov | VarFirst},
	},
	TypicalVariant: VarMomentum, // past the first step (VarFirst)
	program:        sgdProgram,
	Produced:       sgdProduced,
	ref32:          SGD[float32], ref64: SGD[float64],
}

// SGD applies one step of torch.optim.SGD. buf is the momentum buffer
// (VarMomentum only). Per element, in this order:
//
//	g = -g                      if maximizing (Sign)
//	g = g + wd*p                VarWeightDecay
//	buf = g                     VarMomentum, VarFirst
//	buf = buf*mom + (1-damp)*g  VarMomentum, not VarFirst
//	g = g + mom*buf             VarNesterov
//	g = buf                     VarMomentum, not VarNesterov
//	p = p + (-lr)*g
func SGD[T Float](v Variant, c *Coeffs[T], p, g, buf, _, _ []T) {
	n := len(p)
	g = g[:n]
	neg := math.Signbit(float64(c.Sign))
	hasWD, hasMom := v&VarWeightDecay != 0, v&VarMomentum != 0
	first, nesterov := v&VarFirst != 0, v&VarNesterov != 0
	if !hasMom {
		buf = p // never touched; keeps the slice long enough for hoisted bounds
	}
	buf = buf[:n]
	wd, mom, damp, lr := c.WeightDecay, c.Momentum, c.Dampening, c.NegLR
	for i := range p {
		pi, gi := p[i], g[i]
		if neg {
			gi = -gi
		}
		if hasWD {
			gi = gi + T(wd*pi)
		}
		if hasMom {
			b := gi
			if !first {
				b = T(buf[i]*mom) + T(damp*gi)
			}
			buf[i] = b
			if nesterov {
				gi = gi + T(mom*b)
			} else {
				gi = b
			}
		}
		p[i] = pi + T(lr*gi)
	}
}

// SGDCoeffs returns the scalars of one SGD step. first reports whether the
// momentum buffer is still empty (the first step).
func SGDCoeffs[T Float](lr, momentum, dampening, weightDecay float64, nesterov, maximize, first bool) (Coeffs[T], Variant) {
	c := Coeffs[T]{Sign: sign[T](maximize), NegLR: T(-lr), WeightDecay: T(weightDecay),
		Momentum: T(momentum), Dampening: T(1 - dampening)}
	var v Variant
	if weightDecay != 0 {
		v |= VarWeightDecay
	}
	if momentum != 0 {
		v |= VarMomentum
		if nesterov {
			v |= VarNesterov
		}
		if first {
			v |= VarFirst
		}
	}
	return c, v
}

// sgdProgram states SGD's loop body.
func sgdProgram(b builder, v Variant) {
	p := b.Load(ir.StreamP)
	g := b.gradient()
	p, g = b.weightDecay(v, p, g)
	if v&VarMomentum != 0 {
		buf := g
		if v&VarFirst == 0 {
			buf = b.Add(b.Mul(b.Load(ir.StreamS0), b.Coeff("Momentum")), b.Mul(b.Coeff("Dampening"), g))
		}
		b.Store(ir.StreamS0, buf)
		if v&VarNesterov != 0 {
			g = b.Add(g, b.Mul(b.Coeff("Momentum"), buf))
		} else {
			g = buf
		}
	}
	b.Store(ir.StreamP, b.Add(p, b.Mul(b.Coeff("NegLR"), g)))
}

func sgdProduced() []Variant {
	out := produced{}
	for _, wd := range []float64{0, 0.01} {
		for _, mom := range []float64{0, 0.9} {
			for _, nesterov := range bools {
				for _, maximize := range bools {
					for _, first := range bools {
						_, v := SGDCoeffs[float32](0.1, mom, 0, wd, nesterov, maximize, first)
						out[v] = true
					}
				}
			}
		}
	}
	return out.sorted()
}

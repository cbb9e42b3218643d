package generic

import (
	"math"

	"github.com/simdoptim/optim/internal/ir"
)

var rmspropRule = RuleDesc{
	Kind: KindRMSProp, GoName: "RMSProp", Name: "rmsprop",
	Summary: "torch.optim.RMSprop, optionally centered and with momentum",
	Slots: []Slot{
		{Key: "square_avg", Used: always, NonNegative: true},
		{Key: "grad_avg", Used: func(v Variant) bool { return v&VarCentered != 0 }},
		{Key: "momentum_buffer", Used: func(v Variant) bool { return v&VarMomentum != 0 }},
	},
	Axes: [][]Variant{
		{0, VarWeightDecay},
		{0, VarCentered, VarCentered | VarLerpHigh},
		{0, VarMomentum},
	},
	TypicalVariant: 0,
	program:        rmspropProgram,
	Produced:       rmspropProduced,
	ref32:          RMSProp[float32], ref64: RMSProp[float64],
}

// RMSProp applies one step of torch.optim.RMSprop with the square average
// sq, the gradient average gavg (VarCentered) and the momentum buffer buf
// (VarMomentum). Per element:
//
//	g = -g                            if maximizing
//	g = g + wd*p                      VarWeightDecay
//	sq = sq*α + ((1-α)*g)*g
//	gavg = lerp(gavg, g, 1-α)         VarCentered
//	avg = sqrt(sq - gavg*gavg) + eps  VarCentered
//	avg = sqrt(sq) + eps              otherwise
//	buf = buf*mom + g/avg; p = p + (-lr)*buf   VarMomentum
//	p = p + ((-lr)*g)/avg                      otherwise
func RMSProp[T Float](v Variant, c *Coeffs[T], p, g, sq, gavg, buf []T) {
	n := len(p)
	g, sq = g[:n], sq[:n]
	neg := math.Signbit(float64(c.Sign))
	hasWD, hasMom, centered, high := v&VarWeightDecay != 0, v&VarMomentum != 0, v&VarCentered != 0, v&VarLerpHigh != 0
	if !centered {
		gavg = p // never touched
	}
	if !hasMom {
		buf = p // never touched
	}
	gavg, buf = gavg[:n], buf[:n]
	wd, alpha, oma, mom, lr, eps := c.WeightDecay, c.Beta2, c.OneMinusBeta2, c.Momentum, c.NegLR, c.Eps
	for i := range p {
		pi, gi := p[i], g[i]
		if neg {
			gi = -gi
		}
		if hasWD {
			gi = gi + T(wd*pi)
		}
		s := T(sq[i]*alpha) + T(T(oma*gi)*gi)
		sq[i] = s
		var avg T
		if centered {
			a := lerp(gavg[i], gi, c.Lerp, c.LerpComp, high)
			gavg[i] = a
			avg = sqrt(s - T(a*a))
		} else {
			avg = sqrt(s)
		}
		avg = avg + eps
		if hasMom {
			b := T(buf[i]*mom) + gi/avg
			buf[i] = b
			p[i] = pi + T(lr*b)
		} else {
			p[i] = pi + T(lr*gi)/avg
		}
	}
}

// RMSPropCoeffs returns the scalars of one RMSProp step.
func RMSPropCoeffs[T Float](lr, alpha, eps, weightDecay, momentum float64, centered, maximize bool) (Coeffs[T], Variant) {
	c := Coeffs[T]{Sign: sign[T](maximize), NegLR: T(-lr), WeightDecay: T(weightDecay),
		Momentum: T(momentum), Beta2: T(alpha), OneMinusBeta2: T(1 - alpha), Eps: T(eps)}
	var v Variant
	if weightDecay != 0 {
		v |= VarWeightDecay
	}
	if momentum > 0 {
		v |= VarMomentum
	}
	if centered {
		v |= VarCentered
		var high bool
		c.Lerp, c.LerpComp, high = lerpCoeffs[T](alpha)
		if high {
			v |= VarLerpHigh
		}
	}
	return c, v
}

// rmspropProgram states RMSProp's loop body.
func rmspropProgram(b builder, v Variant) {
	p := b.Load(ir.StreamP)
	g := b.gradient()
	p, g = b.weightDecay(v, p, g)
	s := b.Add(b.Mul(b.Load(ir.StreamS0), b.Coeff("Beta2")), b.Mul(b.Mul(b.Coeff("OneMinusBeta2"), g), g))
	b.Store(ir.StreamS0, s)
	var avg ir.Value
	if v&VarCentered != 0 {
		a := b.lerp(b.Load(ir.StreamS1), g, v&VarLerpHigh != 0)
		b.Store(ir.StreamS1, a)
		avg = b.Sqrt(b.Sub(s, b.Mul(a, a)))
	} else {
		avg = b.Sqrt(s)
	}
	avg = b.Add(avg, b.Coeff("Eps"))
	if v&VarMomentum != 0 {
		buf := b.Add(b.Mul(b.Load(ir.StreamS2), b.Coeff("Momentum")), b.Div(g, avg))
		b.Store(ir.StreamS2, buf)
		b.Store(ir.StreamP, b.Add(p, b.Mul(b.Coeff("NegLR"), buf)))
	} else {
		b.Store(ir.StreamP, b.Add(p, b.Div(b.Mul(b.Coeff("NegLR"), g), avg)))
	}
}

func rmspropProduced() []Variant {
	out := produced{}
	for _, wd := range []float64{0, 0.01} {
		for _, mom := range []float64{0, 0.9} {
			for _, centered := range bools {
				for _, alpha := range []float64{0.99, 0.3} { // lerp weight 1-alpha below and above 0.5
					for _, maximize := range bools {
						_, v := RMSPropCoeffs[float32](0.01, alpha, 1e-8, wd, mom, centered, maximize)
						out[v] = true
					}
				}
			}
		}
	}
	return out.sorted()
}

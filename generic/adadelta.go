package generic

import (
	"math"

	"github.com/simdoptim/optim/internal/ir"
)

var adadeltaRule = RuleDesc{
	Kind: KindAdadelta, GoName: "Adadelta", Name: "adadelta",
	Summary: "torch.optim.Adadelta (torch 2.11)",
	Slots: []Slot{
		{Key: "square_avg", Used: always, NonNegative: true},
		{Key: "acc_delta", Used: always, NonNegative: true},
	},
	Axes:           [][]Variant{{0, VarWeightDecay}},
	TypicalVariant: 0,
	program:        adadeltaProgram,
	Produced:       adadeltaProduced,
	ref32:          Adadelta[float32], ref64: Adadelta[float64],
}

// Adadelta applies one step of torch.optim.Adadelta with the square average
// sq and the accumulated update acc. Per element:
//
//	g = -g                        if maximizing
//	g = g + wd*p                  VarWeightDecay
//	sq = sq*ρ + ((1-ρ)*g)*g
//	d = (sqrt(acc+eps)/sqrt(sq+eps))*g
//	acc = acc*ρ + ((1-ρ)*d)*d
//	p = p + (-lr)*d
func Adadelta[T Float](v Variant, c *Coeffs[T], p, g, sq, acc, _ []T) {
	n := len(p)
	g, sq, acc = g[:n], sq[:n], acc[:n]
	neg := math.Signbit(float64(c.Sign))
	hasWD := v&VarWeightDecay != 0
	for i := range p {
		pi, gi := p[i], g[i]
		if neg {
			gi = -gi
		}
		if hasWD {
			gi = gi + T(c.WeightDecay*pi)
		}
		si := T(sq[i]*c.Beta2) + T(T(c.OneMinusBeta2*gi)*gi)
		sq[i] = si
		d := T(T(sqrt(acc[i]+c.Eps)/sqrt(si+c.Eps)) * gi)
		acc[i] = T(acc[i]*c.Beta2) + T(T(c.OneMinusBeta2*d)*d)
		p[i] = pi + T(c.NegLR*d)
	}
}

// AdadeltaCoeffs returns the scalars of Adadelta's steps.
func AdadeltaCoeffs[T Float](lr, rho, eps, weightDecay float64, maximize bool) (Coeffs[T], Variant) {
	c := Coeffs[T]{Sign: sign[T](maximize), NegLR: T(-lr), WeightDecay: T(weightDecay), Beta2: T(rho), OneMinusBeta2: T(1 - rho), Eps: T(eps)}
	var v Variant
	if weightDecay != 0 {
		v |= VarWeightDecay
	}
	return c, v
}

// adadeltaProgram states Adadelta's loop body.
func adadeltaProgram(b builder, v Variant) {
	p := b.Load(ir.StreamP)
	g := b.gradient()
	p, g = b.weightDecay(v, p, g)
	rho, omr, eps := b.Coeff("Beta2"), b.Coeff("OneMinusBeta2"), b.Coeff("Eps")
	sq := b.Add(b.Mul(b.Load(ir.StreamS0), rho), b.Mul(b.Mul(omr, g), g))
	b.Store(ir.StreamS0, sq)
	acc := b.Load(ir.StreamS1)
	d := b.Mul(b.Div(b.Sqrt(b.Add(acc, eps)), b.Sqrt(b.Add(sq, eps))), g)
	b.Store(ir.StreamS1, b.Add(b.Mul(acc, rho), b.Mul(b.Mul(omr, d), d)))
	b.Store(ir.StreamP, b.Add(p, b.Mul(b.Coeff("NegLR"), d)))
}

func adadeltaProduced() []Variant {
	out := produced{}
	for _, wd := range []float64{0, 0.01} {
		_, v := AdadeltaCoeffs[float32](1, 0.9, 1e-6, wd, false)
		out[v] = true
	}
	return out.sorted()
}

package generic

import (
	"math"

	"github.com/simdoptim/optim/internal/ir"
)

var adamaxRule = RuleDesc{
	Kind: KindAdamax, GoName: "Adamax", Name: "adamax",
	Summary: "torch.optim.Adamax (torch 2.11)",
	Slots: []Slot{
		{Key: "exp_avg", Used: always},
		{Key: "exp_inf", Used: always, NonNegative: true},
	},
	Axes: [][]Variant{
		{0, VarWeightDecay},
		{0, VarLerpHigh},
	},
	TypicalVariant: 0,
	program:        adamaxProgram,
	Produced:       adamaxProduced,
	ref32:          Adamax[float32], ref64: Adamax[float64],
}

// Adamax applies one step of torch.optim.Adamax with the first moment m and
// the infinity norm u. Per element:
//
//	g = -g                        if maximizing
//	g = g + wd*p                  VarWeightDecay
//	m = lerp(m, g, 1-β1)
//	u = MaxNaN(u*β2, |g|+eps)     torch.maximum: NaN wins
//	p = p + ((-lr/(1-β1^t))*m)/u
func Adamax[T Float](v Variant, c *Coeffs[T], p, g, m, u, _ []T) {
	n := len(p)
	g, m, u = g[:n], m[:n], u[:n]
	neg := math.Signbit(float64(c.Sign))
	hasWD, high := v&VarWeightDecay != 0, v&VarLerpHigh != 0
	for i := range p {
		pi, gi := p[i], g[i]
		if neg {
			gi = -gi
		}
		if hasWD {
			gi = gi + T(c.WeightDecay*pi)
		}
		mi := lerp(m[i], gi, c.Lerp, c.LerpComp, high)
		m[i] = mi
		ui := MaxNaN(T(u[i]*c.Beta2), abs(gi)+c.Eps)
		u[i] = ui
		p[i] = pi + T(c.NegLR*mi)/ui
	}
}

// AdamaxCoeffs returns the scalars of Adamax's step number step (1-based).
func AdamaxCoeffs[T Float](lr, beta1, beta2, eps, weightDecay float64, maximize bool, step int64) (Coeffs[T], Variant) {
	c := Coeffs[T]{Sign: sign[T](maximize), NegLR: T(-(lr / (1 - PowInt(beta1, step)))), WeightDecay: T(weightDecay),
		Beta2: T(beta2), Eps: T(eps)}
	var v Variant
	var high bool
	c.Lerp, c.LerpComp, high = lerpCoeffs[T](beta1)
	if high {
		v |= VarLerpHigh
	}
	if weightDecay != 0 {
		v |= VarWeightDecay
	}
	return c, v
}

// adamaxProgram states Adamax's loop body.
func adamaxProgram(b builder, v Variant) {
	p := b.Load(ir.StreamP)
	g := b.gradient()
	p, g = b.weightDecay(v, p, g)
	m := b.lerp(b.Load(ir.StreamS0), g, v&VarLerpHigh != 0)
	b.Store(ir.StreamS0, m)
	u := b.MaxNaN(b.Mul(b.Load(ir.StreamS1), b.Coeff("Beta2")), b.Add(b.Abs(g), b.Coeff("Eps")))
	b.Store(ir.StreamS1, u)
	b.Store(ir.StreamP, b.Add(p, b.Div(b.Mul(b.Coeff("NegLR"), m), u)))
}

func adamaxProduced() []Variant {
	out := produced{}
	for _, wd := range []float64{0, 0.01} {
		for _, beta1 := range []float64{0.9, 0.3} {
			_, v := AdamaxCoeffs[float32](2e-3, beta1, 0.999, 1e-8, wd, false, 5)
			out[v] = true
		}
	}
	return out.sorted()
}

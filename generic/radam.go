package generic

import (
	"math"

	"github.com/simdoptim/optim/internal/ir"
)

var radamRule = RuleDesc{
	Kind: KindRAdam, GoName: "RAdam", Name: "radam",
	Summary: "torch.optim.RAdam (torch 2.11), with coupled or decoupled weight decay",
	Slots: []Slot{
		{Key: "exp_avg", Used: always},
		{Key: "exp_avg_sq", Used: always, NonNegative: true},
	},
	Axes: [][]Variant{
		{0, VarWeightDecay, VarDecoupled},
		{0, VarLerpHigh},
		{0, VarRectified},
	},
	TypicalVariant: VarRectified, // from step 6 on with torch's betas
	program:        radamProgram,
	Produced:       radamProduced,
	ref32:          RAdam[float32], ref64: RAdam[float64],
}

// RAdam applies one step of torch.optim.RAdam with the first moment m and
// the second moment sq. Per element:
//
//	g = -g                        if maximizing
//	p = p*(1 - lr*wd)             VarDecoupled
//	g = g + wd*p                  VarWeightDecay
//	m = lerp(m, g, 1-β1)
//	sq = sq*β2 + ((1-β2)*g)*g
//	u = (m/(1-β1^t))*lr
//	u = (u*(sqrt(1-β2^t)/(sqrt(sq)+eps)))*rect    VarRectified
//	p = p - u
//
// The rectification is a variant because it switches on the step count
// alone (ρ_t > 5), the same for every element.
func RAdam[T Float](v Variant, c *Coeffs[T], p, g, m, sq, _ []T) {
	n := len(p)
	g, m, sq = g[:n], m[:n], sq[:n]
	neg := math.Signbit(float64(c.Sign))
	hasWD, decoupled, high, rect := v&VarWeightDecay != 0, v&VarDecoupled != 0, v&VarLerpHigh != 0, v&VarRectified != 0
	for i := range p {
		pi, gi := p[i], g[i]
		if neg {
			gi = -gi
		}
		pi, gi = decayed(c, decoupled, hasWD, pi, gi)
		mi, vi := moments(c, high, m[i], sq[i], gi)
		m[i], sq[i] = mi, vi
		u := T(T(mi/c.BC1) * c.LR)
		if rect {
			u = T(T(u*(c.BC2Sqrt/(sqrt(vi)+c.Eps))) * c.Rect)
		}
		p[i] = pi - u
	}
}

// RAdamCoeffs returns the scalars of RAdam's step number step (1-based):
// with ρ∞ = 2/(1-β2) - 1 and ρ_t = ρ∞ - 2t β2^t/(1-β2^t), the step is
// rectified when ρ_t > 5, by sqrt((ρ_t-4)(ρ_t-2)ρ∞/((ρ∞-4)(ρ∞-2)ρ_t)).
func RAdamCoeffs[T Float](lr, beta1, beta2, eps, weightDecay float64, decoupled, maximize bool, step int64) (Coeffs[T], Variant) {
	b2t := PowInt(beta2, step)
	bc2 := 1 - b2t
	c := Coeffs[T]{Sign: sign[T](maximize), WeightDecay: T(weightDecay), Beta2: T(beta2), OneMinusBeta2: T(1 - beta2),
		BC1: T(1 - PowInt(beta1, step)), LR: T(lr), Eps: T(eps)}
	var v Variant
	var high bool
	c.Lerp, c.LerpComp, high = lerpCoeffs[T](beta1)
	if high {
		v |= VarLerpHigh
	}
	v |= decay(&c, lr, weightDecay, decoupled)
	rhoInf := 2/(1-beta2) - 1
	rhoT := rhoInf - float64(2*float64(step)*b2t)/bc2
	if rhoT > 5 {
		v |= VarRectified
		c.Rect = T(math.Sqrt(float64((rhoT-4)*(rhoT-2)*rhoInf) / float64((rhoInf-4)*(rhoInf-2)*rhoT)))
		c.BC2Sqrt = T(math.Sqrt(bc2))
	}
	return c, v
}

// radamProgram states RAdam's loop body.
func radamProgram(b builder, v Variant) {
	p := b.Load(ir.StreamP)
	g := b.gradient()
	p, g = b.weightDecay(v, p, g)
	m, sq := b.moments(v, g)
	u := b.Mul(b.Div(m, b.Coeff("BC1")), b.Coeff("LR"))
	if v&VarRectified != 0 {
		adaptive := b.Div(b.Coeff("BC2Sqrt"), b.Add(b.Sqrt(sq), b.Coeff("Eps")))
		u = b.Mul(b.Mul(u, adaptive), b.Coeff("Rect"))
	}
	b.Store(ir.StreamP, b.Sub(p, u))
}

func radamProduced() []Variant {
	out := produced{}
	for _, wd := range []float64{0, 0.01} {
		for _, beta1 := range []float64{0.9, 0.3} {
			for _, decoupled := range bools {
				for _, step := range []int64{1, 10} {
					_, v := RAdamCoeffs[float32](1e-3, beta1, 0.999, 1e-8, wd, decoupled, false, step)
					out[v] = true
				}
			}
		}
	}
	return out.sorted()
}

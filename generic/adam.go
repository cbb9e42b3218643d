package generic

import (
	"math"

	"github.com/simdoptim/optim/internal/ir"
)

var adamRule = RuleDesc{
	Kind: KindAdam, GoName: "Adam", Name: "adam",
	Summary: "torch.optim.Adam, or AdamW with decoupled weight decay",
	Slots: []Slot{
		{Key: "exp_avg", Used: always},
		{Key: "exp_avg_sq", Used: always, NonNegative: true},
		{Key: "max_exp_avg_sq", Used: func(v Variant) bool { return v&VarAMSGrad != 0 }, NonNegative: true},
	},
	Axes: [][]Variant{
		{0, VarWeightDecay, VarDecoupled},
		{0, VarAMSGrad},
		{0, VarLerpHigh},
	},
	TypicalVariant: 0,
	program:        adamProgram,
	Produced:       adamProduced,
	ref32:          Adam[float32], ref64: Adam[float64],
}

// Adam applies one step of torch.optim.Adam, or AdamW with VarDecoupled,
// with the first moment m, the second moment sq and its running maximum
// maxSq (VarAMSGrad). Per element:
//
//	g = -g                           if maximizing
//	p = p*(1 - lr*wd)                VarDecoupled
//	g = g + wd*p                     VarWeightDecay
//	m = lerp(m, g, 1-β1)
//	sq = sq*β2 + ((1-β2)*g)*g
//	maxSq = maximum(maxSq, sq)       VarAMSGrad; NaN wins, as torch.maximum
//	p = p + ((-lr/(1-β1^t))*m) / (sqrt(maxSq or sq)/sqrt(1-β2^t) + eps)
func Adam[T Float](v Variant, c *Coeffs[T], p, g, m, sq, maxSq []T) {
	n := len(p)
	g, m, sq = g[:n], m[:n], sq[:n]
	neg := math.Signbit(float64(c.Sign))
	hasWD, decoupled, ams, high := v&VarWeightDecay != 0, v&VarDecoupled != 0, v&VarAMSGrad != 0, v&VarLerpHigh != 0
	if !ams {
		maxSq = p // never touched
	}
	maxSq = maxSq[:n]
	wd, decay, b2, omb2, bc2, lr, eps := c.WeightDecay, c.Decay, c.Beta2, c.OneMinusBeta2, c.BC2Sqrt, c.NegLR, c.Eps
	for i := range p {
		pi, gi := p[i], g[i]
		if neg {
			gi = -gi
		}
		if decoupled {
			pi = T(pi * decay)
		}
		if hasWD {
			gi = gi + T(wd*pi)
		}
		mi := lerp(m[i], gi, c.Lerp, c.LerpComp, high)
		m[i] = mi
		vi := T(sq[i]*b2) + T(T(omb2*gi)*gi)
		sq[i] = vi
		if ams {
			vi = MaxNaN(maxSq[i], vi)
			maxSq[i] = vi
		}
		denom := sqrt(vi)/bc2 + eps
		p[i] = pi + T(lr*mi)/denom
	}
}

// AdamCoeffs returns the scalars of Adam's (decoupled: AdamW's) step number
// step (1-based).
func AdamCoeffs[T Float](lr, beta1, beta2, eps, weightDecay float64, amsgrad, decoupled, maximize bool, step int64) (Coeffs[T], Variant) {
	bc1 := 1 - PowInt(beta1, step)
	bc2 := 1 - PowInt(beta2, step)
	c := Coeffs[T]{Sign: sign[T](maximize), NegLR: T(-(lr / bc1)), WeightDecay: T(weightDecay),
		Beta2: T(beta2), OneMinusBeta2: T(1 - beta2), BC2Sqrt: T(math.Sqrt(bc2)), Eps: T(eps)}
	var v Variant
	var high bool
	c.Lerp, c.LerpComp, high = lerpCoeffs[T](beta1)
	if high {
		v |= VarLerpHigh
	}
	v |= decay(&c, lr, weightDecay, decoupled)
	if amsgrad {
		v |= VarAMSGrad
	}
	return c, v
}

// adamProgram states Adam's loop body.
func adamProgram(b builder, v Variant) {
	p := b.Load(ir.StreamP)
	g := b.gradient()
	p, g = b.weightDecay(v, p, g)
	m, sq := b.moments(v, g)
	if v&VarAMSGrad != 0 {
		sq = b.MaxNaN(b.Load(ir.StreamS2), sq)
		b.Store(ir.StreamS2, sq)
	}
	denom := b.Add(b.Div(b.Sqrt(sq), b.Coeff("BC2Sqrt")), b.Coeff("Eps"))
	b.Store(ir.StreamP, b.Add(p, b.Div(b.Mul(b.Coeff("NegLR"), m), denom)))
}

func adamProduced() []Variant {
	out := produced{}
	for _, wd := range []float64{0, 0.01} {
		for _, beta1 := range []float64{0.9, 0.3} {
			for _, amsgrad := range bools {
				for _, decoupled := range bools {
					for _, maximize := range bools {
						_, v := AdamCoeffs[float32](1e-3, beta1, 0.999, 1e-8, wd, amsgrad, decoupled, maximize, 5)
						out[v] = true
					}
				}
			}
		}
	}
	return out.sorted()
}

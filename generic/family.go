package generic

import "github.com/simdoptim/optim/internal/ir"

// The pieces that Adam, NAdam and RAdam share, in their three forms: the
// per-element arithmetic of the reference kernels, the operation lists of
// the programs, and the coefficients. Adamax, Adadelta and ASGD use the
// coupled weight decay of the programs too.

// decay sets the weight decay of the rules that offer both forms (Adam,
// NAdam, RAdam): the decoupled multiplier 1 - lr*wd or the coupled wd, and
// returns its variant; none when wd is 0, as torch skips it.
func decay[T Float](c *Coeffs[T], lr, weightDecay float64, decoupled bool) Variant {
	switch {
	case weightDecay == 0:
		return 0
	case decoupled:
		c.Decay = T(1 - float64(lr*weightDecay))
		return VarDecoupled
	}
	return VarWeightDecay
}

// decayed applies the weight decay the kernel's variant selects to one
// element: p = p*Decay (decoupled), then g = g + wd*p (coupled).
func decayed[T Float](c *Coeffs[T], decoupled, coupled bool, p, g T) (T, T) {
	if decoupled {
		p = T(p * c.Decay)
	}
	if coupled {
		g = g + T(c.WeightDecay*p)
	}
	return p, g
}

// moments advances one element's first moment, m = lerp(m, g, 1-β1), and
// second moment, sq = sq*β2 + ((1-β2)*g)*g.
func moments[T Float](c *Coeffs[T], high bool, m, sq, g T) (T, T) {
	return lerp(m, g, c.Lerp, c.LerpComp, high), T(sq*c.Beta2) + T(T(c.OneMinusBeta2*g)*g)
}

// weightDecay states the decoupled (p*Decay) or coupled (g + wd*p) weight
// decay that v selects, if any, and returns the new p and g.
func (b builder) weightDecay(v Variant, p, g ir.Value) (ir.Value, ir.Value) {
	if v&VarDecoupled != 0 {
		p = b.Mul(p, b.Coeff("Decay"))
	}
	if v&VarWeightDecay != 0 {
		g = b.Add(g, b.Mul(b.Coeff("WeightDecay"), p))
	}
	return p, g
}

// moments states the moment updates of moments (s0: m, s1: sq), stores
// them, and returns the new m and sq.
func (b builder) moments(v Variant, g ir.Value) (m, sq ir.Value) {
	m = b.lerp(b.Load(ir.StreamS0), g, v&VarLerpHigh != 0)
	b.Store(ir.StreamS0, m)
	sq = b.Add(b.Mul(b.Load(ir.StreamS1), b.Coeff("Beta2")), b.Mul(b.Mul(b.Coeff("OneMinusBeta2"), g), g))
	b.Store(ir.StreamS1, sq)
	return m, sq
}

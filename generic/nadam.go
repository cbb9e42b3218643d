package generic

import (
	"math"

	"github.com/simdoptim/optim/internal/detmath"
	"github.com/simdoptim/optim/internal/ir"
)

var nadamRule = RuleDesc{
	Kind: KindNAdam, GoName: "NAdam", Name: "nadam",
	Summary: "torch.optim.NAdam (torch 2.11), with coupled or decoupled weight decay",
	Slots: []Slot{
		{Key: "exp_avg", Used: always},
		{Key: "exp_avg_sq", Used: always, NonNegative: true},
	},
	ScalarKeys: []string{"mu_product"},
	Axes: [][]Variant{
		{0, VarWeightDecay, VarDecoupled},
		{0, VarLerpHigh},
	},
	TypicalVariant: 0,
	program:        nadamProgram,
	Produced:       nadamProduced,
	ref32:          NAdam[float32], ref64: NAdam[float64],
}

// NAdam applies one step of torch.optim.NAdam with the first moment m and
// the second moment sq. Per element:
//
//	g = -g                        if maximizing
//	p = p*(1 - lr*wd)             VarDecoupled
//	g = g + wd*p                  VarWeightDecay
//	m = lerp(m, g, 1-β1)
//	sq = sq*β2 + ((1-β2)*g)*g
//	d = sqrt(sq/(1-β2^t)) + eps
//	p = p + (NegLR*g)/d
//	p = p + (NegLRAvg*m)/d
func NAdam[T Float](v Variant, c *Coeffs[T], p, g, m, sq, _ []T) {
	n := len(p)
	g, m, sq = g[:n], m[:n], sq[:n]
	neg := math.Signbit(float64(c.Sign))
	hasWD, decoupled, high := v&VarWeightDecay != 0, v&VarDecoupled != 0, v&VarLerpHigh != 0
	for i := range p {
		pi, gi := p[i], g[i]
		if neg {
			gi = -gi
		}
		pi, gi = decayed(c, decoupled, hasWD, pi, gi)
		mi, vi := moments(c, high, m[i], sq[i], gi)
		m[i], sq[i] = mi, vi
		d := sqrt(vi/c.BC2) + c.Eps
		pi = pi + T(c.NegLR*gi)/d
		p[i] = pi + T(c.NegLRAvg*mi)/d
	}
}

// NAdamCoeffs returns the scalars of NAdam's step number step (1-based) and
// advances the parameter's mu_product (sc[0], 1 before the first step),
// exactly as torch 2.11's single-tensor NAdam:
//
//	μ_t = β1*(1 - 0.5*0.96^(t*ψ)),  μ_{t+1} likewise
//	mu_product = float32(mu_product * float32(μ_t))
//	NegLR = -lr*(1-μ_t)/(1-mu_product)
//	NegLRAvg = -lr*μ_{t+1}/(1 - mu_product*μ_{t+1})
func NAdamCoeffs[T Float](lr, beta1, beta2, eps, weightDecay, momentumDecay float64, decoupled, maximize bool, step int64, sc Scalars) (Coeffs[T], Variant, Scalars) {
	t := float64(step)
	// Every product is rounded before it feeds a sum, here or in a later
	// statement (1 - mu): Go may fuse across statements.
	mu := float64(beta1 * (1 - float64(0.5*detmath.Pow(0.96, t*momentumDecay))))
	muNext := float64(beta1 * (1 - float64(0.5*detmath.Pow(0.96, (t+1)*momentumDecay))))
	// torch multiplies the float32 tensor by the Python float in float32.
	sc[0] = float32(sc[0] * float32(mu))
	product := float64(sc[0])
	productNext := float64(product * muNext)
	c := Coeffs[T]{Sign: sign[T](maximize), WeightDecay: T(weightDecay), Beta2: T(beta2), OneMinusBeta2: T(1 - beta2),
		BC2: T(1 - PowInt(beta2, step)), Eps: T(eps),
		NegLR: T(float64(-lr*(1-mu)) / (1 - product)), NegLRAvg: T(float64(-lr*muNext) / (1 - productNext))}
	var v Variant
	var high bool
	c.Lerp, c.LerpComp, high = lerpCoeffs[T](beta1)
	if high {
		v |= VarLerpHigh
	}
	v |= decay(&c, lr, weightDecay, decoupled)
	return c, v, sc
}

// nadamProgram states NAdam's loop body.
func nadamProgram(b builder, v Variant) {
	p := b.Load(ir.StreamP)
	g := b.gradient()
	p, g = b.weightDecay(v, p, g)
	m, sq := b.moments(v, g)
	d := b.Add(b.Sqrt(b.Div(sq, b.Coeff("BC2"))), b.Coeff("Eps"))
	p = b.Add(p, b.Div(b.Mul(b.Coeff("NegLR"), g), d))
	b.Store(ir.StreamP, b.Add(p, b.Div(b.Mul(b.Coeff("NegLRAvg"), m), d)))
}

func nadamProduced() []Variant {
	out := produced{}
	for _, wd := range []float64{0, 0.01} {
		for _, beta1 := range []float64{0.9, 0.3} {
			for _, decoupled := range bools {
				_, v, _ := NAdamCoeffs[float32](2e-3, beta1, 0.999, 1e-8, wd, 4e-3, decoupled, false, 5, Scalars{1})
				out[v] = true
			}
		}
	}
	return out.sorted()
}

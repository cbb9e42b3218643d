package generic

import (
	"math"

	"github.com/simdoptim/optim/internal/ir"
)

var adagradRule = RuleDesc{
	Kind: KindAdagrad, GoName: "Adagrad", Name: "adagrad",
	Summary:        "torch.optim.Adagrad",
	Slots:          []Slot{{Key: "sum", Used: always, NonNegative: true}},
	Axes:           [][]Variant{{0, VarWeightDecay}},
	TypicalVariant: 0,
	program:        adagradProgram,
	Produced:       adagradProduced,
	ref32:          Adagrad[float32], ref64: Adagrad[float64],
}

func always(Variant) bool { return true }

// Adagrad applies one step of torch.optim.Adagrad with the accumulated sum
// of squares sum. Per element:
//
//	g = -g                      if maximizing
//	g = g + wd*p                VarWeightDecay
//	sum = sum + g*g
//	p = p + ((-clr)*g) / (sqrt(sum) + eps)
func Adagrad[T Float](v Variant, c *Coeffs[T], p, g, sum, _, _ []T) {
	n := len(p)
	g, sum = g[:n], sum[:n]
	neg := math.Signbit(float64(c.Sign))
	hasWD := v&VarWeightDecay != 0
	wd, lr, eps := c.WeightDecay, c.NegLR, c.Eps
	for i := range p {
		pi, gi := p[i], g[i]
		if neg {
			gi = -gi
		}
		if hasWD {
			gi = gi + T(wd*pi)
		}
		s := sum[i] + T(gi*gi)
		sum[i] = s
		std := sqrt(s) + eps
		p[i] = pi + T(lr*gi)/std
	}
}

// AdagradCoeffs returns the scalars of Adagrad's step number step (1-based).
func AdagradCoeffs[T Float](lr, lrDecay, weightDecay, eps float64, maximize bool, step int64) (Coeffs[T], Variant) {
	clr := lr / (1 + float64(float64(step-1)*lrDecay))
	c := Coeffs[T]{Sign: sign[T](maximize), NegLR: T(-clr), WeightDecay: T(weightDecay), Eps: T(eps)}
	var v Variant
	if weightDecay != 0 {
		v |= VarWeightDecay
	}
	return c, v
}

// adagradProgram states Adagrad's loop body.
func adagradProgram(b builder, v Variant) {
	p := b.Load(ir.StreamP)
	g := b.gradient()
	p, g = b.weightDecay(v, p, g)
	s := b.Add(b.Load(ir.StreamS0), b.Mul(g, g))
	b.Store(ir.StreamS0, s)
	std := b.Add(b.Sqrt(s), b.Coeff("Eps"))
	b.Store(ir.StreamP, b.Add(p, b.Div(b.Mul(b.Coeff("NegLR"), g), std)))
}

func adagradProduced() []Variant {
	out := produced{}
	for _, wd := range []float64{0, 0.01} {
		for _, maximize := range bools {
			_, v := AdagradCoeffs[float32](0.01, 0.1, wd, 1e-10, maximize, 3)
			out[v] = true
		}
	}
	return out.sorted()
}

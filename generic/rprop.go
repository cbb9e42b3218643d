package generic

import (
	"math"

	"github.com/simdoptim/optim/internal/ir"
)

var rpropRule = RuleDesc{
	Kind: KindRprop, GoName: "Rprop", Name: "rprop",
	Summary: "torch.optim.Rprop (torch 2.11)",
	Slots: []Slot{
		{Key: "prev", Used: always},
		{Key: "step_size", Used: always, NonNegative: true},
	},
	Axes:           [][]Variant{{0, VarFirst}},
	TypicalVariant: 0, // past the first step (VarFirst)
	program:        rpropProgram,
	Produced:       rpropProduced,
	ref32:          Rprop[float32], ref64: Rprop[float64],
}

// Rprop applies one step of torch.optim.Rprop with the previous (masked)
// gradient prev and the step sizes ss. Per element:
//
//	g = -g                        if maximizing
//	x = g*prev
//	f = η+ if 0 < x, else η- if x < 0, else 1    (a NaN x gives 1)
//	s = lr                        VarFirst: torch fills step_size with lr
//	s = clamp(s*f, min, max)      s < min: min; then max < s: max (NaN kept)
//	g = 0 if x < 0
//	p = p + (-sign(g))*s          torch.sign: sign(NaN) = sign(±0) = +0
//	prev = g
//
// torch marks the flipped elements by comparing the replaced factor with
// η-, which is x < 0 exactly because η- < 1 < η+ in the element type
// (validated by the optimizer).
func Rprop[T Float](v Variant, c *Coeffs[T], p, g, prev, ss, _ []T) {
	n := len(p)
	g, prev, ss = g[:n], prev[:n], ss[:n]
	neg := math.Signbit(float64(c.Sign))
	first := v&VarFirst != 0
	for i := range p {
		gi := g[i]
		if neg {
			gi = -gi
		}
		x := T(gi * prev[i])
		f := T(1)
		if 0 < x {
			f = c.EtaPlus
		} else if x < 0 {
			f = c.EtaMinus
		}
		s := ss[i]
		if first {
			s = c.LR
		}
		s = T(s * f)
		if s < c.StepSizeMin {
			s = c.StepSizeMin
		}
		if c.StepSizeMax < s {
			s = c.StepSizeMax
		}
		ss[i] = s
		if x < 0 {
			gi = 0
		}
		negSign := T(math.Copysign(0, -1)) // -1 * torch.sign(g)
		if 0 < gi {
			negSign = -1
		} else if gi < 0 {
			negSign = 1
		}
		p[i] = p[i] + T(negSign*s)
		prev[i] = gi
	}
}

// RpropCoeffs returns the scalars of Rprop's steps; first reports the
// parameter's first step, on which torch's lazily created step sizes hold
// the learning rate.
func RpropCoeffs[T Float](lr, etaMinus, etaPlus, stepSizeMin, stepSizeMax float64, maximize, first bool) (Coeffs[T], Variant) {
	c := Coeffs[T]{Sign: sign[T](maximize), LR: T(lr), EtaPlus: T(etaPlus), EtaMinus: T(etaMinus),
		StepSizeMin: T(stepSizeMin), StepSizeMax: T(stepSizeMax)}
	var v Variant
	if first {
		v |= VarFirst
	}
	return c, v
}

// rpropProgram states Rprop's loop body.
func rpropProgram(b builder, v Variant) {
	g := b.gradient()
	zero := b.Const(0)
	x := b.Mul(g, b.Load(ir.StreamS0))
	f := b.IfLess(zero, x, b.Coeff("EtaPlus"), b.IfLess(x, zero, b.Coeff("EtaMinus"), b.Const(1)))
	var s ir.Value
	if v&VarFirst != 0 {
		s = b.Coeff("LR")
	} else {
		s = b.Load(ir.StreamS1)
	}
	s = b.Mul(s, f)
	lo, hi := b.Coeff("StepSizeMin"), b.Coeff("StepSizeMax")
	s = b.Lower(b.Raise(s, lo), hi)
	b.Store(ir.StreamS1, s)
	g = b.IfLess(x, zero, zero, g)
	negSign := b.IfLess(zero, g, b.Const(-1), b.IfLess(g, zero, b.Const(1), b.Const(math.Copysign(0, -1))))
	b.Store(ir.StreamP, b.Add(b.Load(ir.StreamP), b.Mul(negSign, s)))
	b.Store(ir.StreamS0, g)
}

func rpropProduced() []Variant {
	out := produced{}
	for _, first := range bools {
		_, v := RpropCoeffs[float32](1e-2, 0.5, 1.2, 1e-6, 50, false, first)
		out[v] = true
	}
	return out.sorted()
}

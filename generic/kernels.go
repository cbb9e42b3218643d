package generic

import "math"

// Kernel is the signature shared by every update kernel, portable or SIMD:
// one fused pass over p, g and up to three state slices s0..s2, all of length
// len(p). Slices a variant does not use may be nil. Callers validate lengths
// and aliasing; a kernel assumes them.
type Kernel[T Float] func(v Variant, c *Coeffs[T], p, g, s0, s1, s2 []T)

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

// lerp is torch's lerp(start, end, w) with comp = T(1)-w:
// start + w*(end-start) when w < 0.5 (high false), else
// end - (end-start)*comp.
func lerp[T Float](start, end, w, comp T, high bool) T {
	if high {
		return end - T((end-start)*comp)
	}
	return start + T(w*(end-start))
}

// MaxNaN is torch.maximum(a, b): NaN if either operand is NaN, otherwise
// b when a < b and a when they compare equal (so maximum(-0, +0) is -0).
func MaxNaN[T Float](a, b T) T {
	if a < b || b != b {
		return b
	}
	return a
}

// sqrt is the correctly rounded square root in T. For float32 the float64
// square root rounded to float32 is correctly rounded (53 >= 2*24+2 bits).
func sqrt[T Float](x T) T { return T(math.Sqrt(float64(x))) }

package generic

import "fmt"

// This file specifies the update rules on low-precision storage: every rule
// of this package, every variant, applied to parameters, gradients and
// state held as bfloat16 or float16 bits (lowp.go), and the float32 step
// that also writes a low-precision copy of the parameters. Neither is a
// rule of its own: both are the float32 reference kernel (Reference) run on
// widened values, with every stored value narrowed, so a rule described
// once in this package has them without a line of its own.

// Format is a 16-bit storage format of float32 values.
type Format int

const (
	FormatBF16 Format = iota // bfloat16: float32's upper 16 bits (BF16FromFloat32)
	FormatF16                // IEEE 754 binary16 (F16FromFloat32)
	FormatCount
)

// String is the format's short name: "bf16" or "f16".
func (f Format) String() string {
	switch f {
	case FormatBF16:
		return "bf16"
	case FormatF16:
		return "f16"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Narrow is x rounded to format f: BF16FromFloat32 or F16FromFloat32.
func (f Format) Narrow(x float32) uint16 {
	if f == FormatF16 {
		return F16FromFloat32(x)
	}
	return BF16FromFloat32(x)
}

// Widen is the float32 value of format-f bits h: Float32FromBF16 or
// Float32FromF16.
func (f Format) Widen(h uint16) float32 {
	if f == FormatF16 {
		return Float32FromF16(h)
	}
	return Float32FromBF16(h)
}

// LowpState is the storage of a low-precision step's state slices: the
// parameters' format (uint16 bits, as torch's fused optimizers keep state
// "like the parameter", rounded after every step), or float32.
type LowpState interface{ uint16 | float32 }

// StepLowp applies one step of rule k under variant v to parameters p
// stored in format f, with gradients g in the same format, and state slices
// s0..s2 stored either in f (S = uint16) or in float32. Per element i, in
// this order:
//
//	widen p[i], g[i] and every state element the variant uses to float32
//	(exactly; a uint16 state element through f, a float32 one as it is)
//	run Reference[float32](k) on that one element, with coefficients c
//	store p[i] = f.Narrow(the new parameter); a uint16 state element is
//	stored narrowed the same way, a float32 one as it is
//
// so the arithmetic is exactly the float32 rule's, and each stored 16-bit
// value is its result rounded to nearest even (NaNs canonical, overflow to
// an infinity). Slices the variant does not use may be nil; the others
// have len(p) elements. This is the specification every kernel set's
// low-precision kernel reproduces bit for bit (package kernels).
func StepLowp[S LowpState](k Kind, f Format, v Variant, c *Coeffs[float32], p, g []uint16, s0, s1, s2 []S) {
	stepLowp(k, f, v, c, p, g, s0, s1, s2, func(_ int, x float32) uint16 { return f.Narrow(x) })
}

// stepLowp is StepLowp with the new parameter of element i stored as
// narrow(i, x): to nearest even (StepLowp) or stochastically (StepLowpSR).
func stepLowp[S LowpState](k Kind, f Format, v Variant, c *Coeffs[float32], p, g []uint16, s0, s1, s2 []S, narrow func(i int, x float32) uint16) {
	ref := Reference[float32](k)
	uses := table[k].Uses(v)
	st := [3][]S{s0, s1, s2}
	g = g[:len(p)]
	for i := range p {
		var x [5]float32
		x[0], x[1] = f.Widen(p[i]), f.Widen(g[i])
		for j, used := range uses {
			if used {
				x[2+j] = widenState(f, st[j][i])
			}
		}
		ref(v, c, x[0:1], x[1:2], x[2:3], x[3:4], x[4:5])
		p[i] = narrow(i, x[0])
		for j, used := range uses {
			if used {
				st[j][i] = narrowState[S](f, x[2+j])
			}
		}
	}
}

// StepMaster applies one step of rule k under variant v to float32 master
// parameters p with float32 state s0..s2, exactly as Reference[float32](k)
// does, from gradients g that are float32 (G = float32) or format-f bits
// (G = uint16, widened exactly first), and also writes copy[i] =
// f.Narrow(p[i]) of the new parameters: DeepSpeed's step_plus_copy. The
// float32 trajectory is that of the float32 step with the widened
// gradient; copy has len(p) elements.
func StepMaster[G LowpState](k Kind, f Format, v Variant, c *Coeffs[float32], p []float32, g []G, s0, s1, s2 []float32, copy []uint16) {
	ref := Reference[float32](k)
	uses := table[k].Uses(v)
	st := [3][]float32{s0, s1, s2}
	g, copy = g[:len(p)], copy[:len(p)]
	for i := range p {
		var x [5]float32
		x[0], x[1] = p[i], widenState(f, g[i])
		for j, used := range uses {
			if used {
				x[2+j] = st[j][i]
			}
		}
		ref(v, c, x[0:1], x[1:2], x[2:3], x[3:4], x[4:5])
		p[i] = x[0]
		copy[i] = f.Narrow(x[0])
		for j, used := range uses {
			if used {
				st[j][i] = x[2+j]
			}
		}
	}
}

// widenState is x as float32: widened through f if it is 16-bit bits.
func widenState[S LowpState](f Format, x S) float32 {
	switch x := any(x).(type) {
	case uint16:
		return f.Widen(x)
	case float32:
		return x
	}
	panic("unreachable")
}

// narrowState is x stored as S: narrowed to f for uint16.
func narrowState[S LowpState](f Format, x float32) S {
	var zero S
	if _, ok := any(zero).(uint16); ok {
		return S(f.Narrow(x))
	}
	return S(x)
}

package ir_test

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"unsafe"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/ir"
)

// eval interprets p on element i of the streams, with scalars in T.
func eval[T generic.Float](p ir.Program, c *generic.Coeffs[T], streams *[ir.NumStreams][]T, i int) {
	coeffs := reflect.ValueOf(c).Elem()
	val := make([]T, p.Values)
	for _, in := range p.Body {
		var r T
		switch in.Op {
		case ir.OpLoad:
			r = streams[in.Stream][i]
		case ir.OpStore:
			streams[in.Stream][i] = val[in.A]
			continue
		case ir.OpCoeff:
			r = T(coeffs.Field(in.Coeff).Float())
		case ir.OpAdd:
			r = val[in.A] + val[in.B]
		case ir.OpSub:
			r = val[in.A] - val[in.B]
		case ir.OpMul:
			r = T(val[in.A] * val[in.B])
		case ir.OpDiv:
			r = val[in.A] / val[in.B]
		case ir.OpSqrt:
			r = T(math.Sqrt(float64(val[in.A])))
		case ir.OpXor:
			r = xor(val[in.A], val[in.B])
		case ir.OpMaxNaN:
			r = generic.MaxNaN(val[in.A], val[in.B])
		case ir.OpAbs:
			r = T(math.Float64frombits(math.Float64bits(float64(val[in.A])) &^ (1 << 63)))
		case ir.OpRaise:
			r = val[in.A]
			if val[in.A] < val[in.B] {
				r = val[in.B]
			}
		case ir.OpLower:
			r = val[in.A]
			if val[in.A] > val[in.B] {
				r = val[in.B]
			}
		case ir.OpConst:
			r = T(in.Imm)
		case ir.OpSelect:
			r = val[in.Y]
			if val[in.A] < val[in.B] {
				r = val[in.X]
			}
		case ir.OpNarrow:
			// A 16-bit value is held as its bits' integer, exact in T.
			r = T(generic.Format(in.Format).Narrow(float32(val[in.A])))
		case ir.OpExpand:
			r = T(generic.Format(in.Format).Widen(uint16(val[in.A])))
		}
		val[in.Dst] = r
	}
}

func xor[T generic.Float](a, b T) T {
	if _, ok := any(a).(float32); ok {
		return T(math.Float32frombits(math.Float32bits(float32(a)) ^ math.Float32bits(float32(b))))
	}
	return T(math.Float64frombits(math.Float64bits(float64(a)) ^ math.Float64bits(float64(b))))
}

var specials = []float64{0, math.Copysign(0, -1), 1, -1, math.Inf(1), math.Inf(-1), math.NaN(), 1e-30, -1e30, 5e-324}

func value(r *rand.Rand) float64 {
	if r.IntN(8) == 0 {
		return specials[r.IntN(len(specials))]
	}
	return (r.Float64()*2 - 1) * math.Ldexp(1, r.IntN(8)-4)
}

func bitsEqual[T generic.Float](a, b T) bool {
	if a != a && b != b {
		return true // NaN payloads are canonicalized
	}
	if _, ok := any(a).(float32); ok {
		return math.Float32bits(float32(a)) == math.Float32bits(float32(b))
	}
	return math.Float64bits(float64(a)) == math.Float64bits(float64(b))
}

// TestProgramsMatchReference interprets every rule's program under every
// variant and compares it bit for bit with the rule's reference kernel.
// Coefficients are set through reflection, which the race detector's
// pointer checks accept (a cast to a longer array aborted under -race).
func TestProgramsMatchReference(t *testing.T) {
	for _, r := range generic.Rules() {
		for _, v := range r.Variants() {
			p := ir.Build(int(r.Kind), uint32(v))
			t.Run(p.Name(), func(t *testing.T) {
				check(t, p, generic.Reference[float64](r.Kind))
				check(t, p, generic.Reference[float32](r.Kind))
			})
		}
	}
}

// lowpCoeffs draws float32 coefficients for the low-precision programs:
// magnitudes of value, and Sign ±0, as every kernel requires.
func lowpCoeffs(r *rand.Rand) generic.Coeffs[float32] {
	var c generic.Coeffs[float32]
	cs := reflect.ValueOf(&c).Elem()
	for i := range ir.CoeffNames() {
		cs.Field(i).SetFloat(float64(float32(math.Abs(value(r)))))
	}
	c.Sign = float32(math.Copysign(0, float64(r.IntN(2))-0.5))
	return c
}

// TestLowpProgramsMatchReference interprets every rule's program under
// every variant with every stream stored in each 16-bit format (ir.Lowp;
// the interpreter holds 16-bit values as their bits' integers) and
// compares it with generic.StepLowp, exactly.
func TestLowpProgramsMatchReference(t *testing.T) {
	if int(ir.BF16) != int(generic.FormatBF16) || int(ir.F16) != int(generic.FormatF16) {
		t.Fatal("ir.Format and generic.Format number the formats differently")
	}
	r := rand.New(rand.NewPCG(3, 22))
	const n = 64
	for _, rule := range generic.Rules() {
		for _, v := range rule.Variants() {
			for f := range ir.FormatCount {
				p := ir.Lowp(ir.Build(int(rule.Kind), uint32(v)), f)
				gf := generic.Format(f)
				c := lowpCoeffs(r)
				var want [ir.NumStreams][]uint16
				var got [ir.NumStreams][]float32
				for s := range want {
					want[s], got[s] = make([]uint16, n), make([]float32, n)
					for i := range want[s] {
						want[s][i] = gf.Narrow(float32(value(r)))
						got[s][i] = float32(want[s][i])
					}
				}
				generic.StepLowp(rule.Kind, gf, v, &c, want[0], want[1], want[2], want[3], want[4])
				for i := 0; i < n; i++ {
					eval(p, &c, &got, i)
				}
				for s := range want {
					for i := range want[s] {
						if uint16(got[s][i]) != want[s][i] {
							t.Fatalf("%s stream %d [%d]: program %#04x, generic.StepLowp %#04x", p.Name(), s, i, uint16(got[s][i]), want[s][i])
						}
					}
				}
			}
		}
	}
}

// TestLowpState32ProgramsMatchReference interprets every rule's program
// under every variant with its parameters and gradients stored in each
// 16-bit format and its state in float32 (ir.LowpState32) and compares it
// with generic.StepLowp with float32 state: the 16-bit streams exactly,
// the state as bitsEqual does.
func TestLowpState32ProgramsMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 22))
	const n = 64
	for _, rule := range generic.Rules() {
		for _, v := range rule.Variants() {
			for f := range ir.FormatCount {
				p := ir.LowpState32(ir.Build(int(rule.Kind), uint32(v)), f)
				if !p.State32 || p.Master() || p.Half[ir.StreamS0] || !p.Half[ir.StreamP] {
					t.Fatalf("%s: State32 %v, Half %v", p.Name(), p.State32, p.Half)
				}
				gf := generic.Format(f)
				c := lowpCoeffs(r)
				var p16 [2][]uint16
				var st [3][]float32
				var got [ir.NumStreams][]float32
				for s := range got {
					got[s] = make([]float32, n)
				}
				for s := range p16 {
					p16[s] = make([]uint16, n)
					for i := range p16[s] {
						p16[s][i] = gf.Narrow(float32(value(r)))
						got[s][i] = float32(p16[s][i]) // the bits' integer, as eval holds them
					}
				}
				for j := range st {
					st[j] = make([]float32, n)
					for i := range st[j] {
						st[j][i] = float32(value(r))
						got[ir.StreamS0+j][i] = st[j][i]
					}
				}
				generic.StepLowp(rule.Kind, gf, v, &c, p16[0], p16[1], st[0], st[1], st[2])
				for i := 0; i < n; i++ {
					eval(p, &c, &got, i)
				}
				for i := 0; i < n; i++ {
					if uint16(got[ir.StreamP][i]) != p16[0][i] {
						t.Fatalf("%s p[%d]: program %#04x, generic.StepLowp %#04x", p.Name(), i, uint16(got[ir.StreamP][i]), p16[0][i])
					}
					for j := range st {
						if !bitsEqual(got[ir.StreamS0+j][i], st[j][i]) {
							t.Fatalf("%s s%d[%d]: program %v, generic.StepLowp %v", p.Name(), j, i, got[ir.StreamS0+j][i], st[j][i])
						}
					}
				}
			}
		}
	}
}

// TestMasterProgramsMatchReference interprets every rule's program under
// every variant writing a copy of the parameters in each 16-bit format
// (ir.Master) and compares it with generic.StepMaster with float32
// gradients: the float32 streams as bitsEqual does, the copy exactly.
func TestMasterProgramsMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 22))
	const n = 64
	for _, rule := range generic.Rules() {
		for _, v := range rule.Variants() {
			for f := range ir.FormatCount {
				p := ir.Master(ir.Build(int(rule.Kind), uint32(v)), f)
				if !p.Master() || p.Half != [ir.NumStreams]bool{ir.StreamCopy: true} {
					t.Fatalf("%s: Master %v, Half %v", p.Name(), p.Master(), p.Half)
				}
				c := lowpCoeffs(r)
				var want, got [ir.NumStreams][]float32
				for s := range want {
					want[s], got[s] = make([]float32, n), make([]float32, n)
					if s == ir.StreamCopy {
						continue
					}
					for i := range want[s] {
						want[s][i] = float32(value(r))
						got[s][i] = want[s][i]
					}
				}
				copy16 := make([]uint16, n)
				generic.StepMaster(rule.Kind, generic.Format(f), v, &c, want[0], want[1], want[2], want[3], want[4], copy16)
				for i := 0; i < n; i++ {
					eval(p, &c, &got, i)
				}
				for s := range want {
					for i := range want[s] {
						if s == ir.StreamCopy {
							if uint16(got[s][i]) != copy16[i] {
								t.Fatalf("%s copy [%d]: program %#04x, generic.StepMaster %#04x", p.Name(), i, uint16(got[s][i]), copy16[i])
							}
						} else if !bitsEqual(got[s][i], want[s][i]) {
							t.Fatalf("%s stream %d [%d]: program %v, generic.StepMaster %v", p.Name(), s, i, got[s][i], want[s][i])
						}
					}
				}
			}
		}
	}
}

func check[T generic.Float](t *testing.T, p ir.Program, ref generic.Kernel[T]) {
	r := rand.New(rand.NewPCG(1, uint64(p.Variant)))
	const n = 512
	var c generic.Coeffs[T]
	cs := reflect.ValueOf(&c).Elem()
	for trial := 0; trial < 20; trial++ {
		for i := range ir.CoeffNames() {
			cs.Field(i).SetFloat(float64(T(math.Abs(value(r)))))
		}
		if trial%2 == 1 {
			c.Sign = T(math.Copysign(0, -1))
		} else {
			c.Sign = 0
		}
		var a, b [ir.NumStreams][]T
		for s := range a {
			a[s], b[s] = make([]T, n), make([]T, n)
			for i := range a[s] {
				a[s][i] = T(value(r))
				b[s][i] = a[s][i]
			}
		}
		ref(generic.Variant(p.Variant), &c, a[0], a[1], a[2], a[3], a[4])
		for i := 0; i < n; i++ {
			eval(p, &c, &b, i)
		}
		for s := range a {
			for i := range a[s] {
				if !bitsEqual(a[s][i], b[s][i]) {
					t.Fatalf("%T trial %d stream %d [%d]: reference %v, program %v", c.Eps, trial, s, i, a[s][i], b[s][i])
				}
			}
		}
	}
}

// runGrad interprets gradient program p over x (and y, of x's length, for
// a program that reads it) in the order its Acc defines (gradElem per
// element), storing into x what the program stores, and returns the
// reduction (the blocked sum or the maximum) and the flag.
func runGrad[T generic.Float](p *ir.GradProgram, x, y []T, s float64, a, b T) (float64, bool) {
	var t generic.SumTree
	var m, z T
	for len(x) > 0 {
		n := min(len(x), generic.ReduceBlock)
		var acc [generic.ReduceLanes]float64
		for j := range x[:n] {
			st, narrow, wide := gradElem(p, x[j], y[j], s, a, b)
			x[j] = st
			switch p.Acc {
			case ir.AccLanes:
				acc[j%generic.ReduceLanes] += wide
			case ir.AccMax:
				m = generic.MaxNaN(m, narrow)
			case ir.AccFlag:
				z += narrow
			}
		}
		t.Push(generic.FoldLanes(&acc))
		x, y = x[n:], y[n:]
	}
	if p.Acc == ir.AccMax {
		return float64(m), false
	}
	return t.Sum(), !(z == 0)
}

// TestGradProgramsMatchReference interprets every gradient program and
// compares it bit for bit with the reference in generic/reduce.go, at lengths that
// cover a partial lane group, a partial block and several blocks.
func TestGradProgramsMatchReference(t *testing.T) {
	progs := ir.GradPrograms()
	if len(progs) != int(ir.GradKindCount) {
		t.Fatalf("%d programs, want %d", len(progs), ir.GradKindCount)
	}
	for _, p := range progs {
		if p.Values > gradMaxValues {
			t.Fatalf("%s: %d values, more than gradElem holds", p.Name, p.Values)
		}
		t.Run(p.Name, func(t *testing.T) {
			checkGrad[float32](t, &p)
			checkGrad[float64](t, &p)
		})
	}
}

func checkGrad[T generic.Float](t *testing.T, p *ir.GradProgram) {
	r := rand.New(rand.NewPCG(uint64(p.Kind), 3))
	args := []T{0.75, 0x1p-20, T(math.Inf(1)), 0}
	lerp := p.Kind == ir.GradLerp || p.Kind == ir.GradLerpHigh
	if lerp || p.Kind == ir.GradAccumulate {
		// Both of Lerp's forms at their bounds, and weights beyond [0, 1].
		args = append(args, 1, 0.5, T(math.Nextafter32(0.5, 0)), -0.5, -0.3, -2, 3, T(math.Inf(-1)), T(math.NaN()))
	}
	random := func(n int) []T {
		x := make([]T, n)
		for i := range x {
			x[i] = T(value(r))
			if r.IntN(4) == 0 {
				x[i] *= 0x1p30
			}
		}
		return x
	}
	for _, n := range []int{0, 1, 31, 32, 33, 100, 4095, 4096, 4097, 3*4096 + 77} {
		for _, c := range args {
			if lerp && generic.LerpHigh(c) != (p.Kind == ir.GradLerpHigh) {
				continue // the reference takes the other program's form
			}
			x, y := random(n), random(n)
			want := append([]T(nil), x...)
			got := append([]T(nil), x...)
			s := float64(c) // a power of two or not: exactness is not assumed
			a, b := c, c
			switch p.Kind {
			case ir.GradClamp:
				a = -c // Clamp's bounds are -c and c
			case ir.GradLerp, ir.GradLerpHigh:
				b = 1 - c // the caller computes 1 - w in T, as the reference does
			}
			red, flag := runGrad(p, got, y, s, a, b)
			var wantRed float64
			var wantFlag bool
			switch p.Kind {
			case ir.GradSumSquares:
				wantRed = generic.SumSquares(want)
			case ir.GradSumSquaresScaled:
				wantRed = generic.SumSquaresScaled(want, s)
			case ir.GradSumAbs:
				wantRed = generic.SumAbs(want)
			case ir.GradMaxAbs:
				wantRed = generic.MaxAbs(want)
			case ir.GradScale:
				generic.Scale(want, c)
			case ir.GradClamp:
				generic.Clamp(want, c)
			case ir.GradUnscaleCheck:
				wantFlag = generic.UnscaleCheck(want, c)
			case ir.GradNonFinite:
				wantFlag = generic.NonFinite(want)
			case ir.GradAccumulate:
				generic.Accumulate(want, y, c)
			case ir.GradLerp, ir.GradLerpHigh:
				generic.Lerp(want, y, c)
			default:
				t.Fatalf("no reference for %s", p.Name)
			}
			if p.Acc == ir.AccLanes || p.Acc == ir.AccMax {
				if !bitsEqual(red, wantRed) {
					t.Fatalf("%T n=%d c=%v: %v, reference %v", c, n, c, red, wantRed)
				}
			}
			if p.Acc == ir.AccFlag && flag != wantFlag {
				t.Fatalf("%T n=%d c=%v: flag %v, reference %v", c, n, c, flag, wantFlag)
			}
			for i := range got {
				if !bitsEqual(got[i], want[i]) {
					t.Fatalf("%T n=%d c=%v: element %d = %v, reference %v", c, n, c, i, got[i], want[i])
				}
			}
		}
	}
}

// TestGradOps checks each operation the gradient programs added against its
// definition in ir.go, on every pair of special values, through gradElem:
// widen and abs (float64 results), raise and lower (NaN and equal operands
// keep A), and accum (the term comes out as it went in).
func TestGradOps(t *testing.T) {
	type prog func(b *ir.Builder, x ir.Value)
	run := func(body prog, x, a float32) (stored, narrow float32, wide float64) {
		b := ir.NewBuilder(ir.GradArgNames)
		body(b, b.Load(ir.StreamP))
		p := ir.GradProgram{Body: b.Program().Body, Values: b.Program().Values}
		return gradElem(&p, x, 0, float64(a), a, a)
	}
	f32 := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0.5, float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), math.Float32frombits(0x7f800001), math.Float32frombits(1)}
	same := func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) }
	for _, x := range f32 {
		if _, _, w := run(func(b *ir.Builder, x ir.Value) { b.Accum(b.Widen(x)) }, x, 0); !bitsEqual(w, float64(x)) {
			t.Errorf("widen(%v) = %v", x, w)
		}
		if _, _, w := run(func(b *ir.Builder, x ir.Value) { b.Accum(b.Abs(b.Widen(x))) }, x, 0); !bitsEqual(w, math.Abs(float64(x))) {
			t.Errorf("abs(widen(%v)) = %v", x, w)
		}
		if _, n, _ := run(func(b *ir.Builder, x ir.Value) { b.Accum(b.Abs(x)) }, x, 0); math.Float32bits(n) != math.Float32bits(x)&^(1<<31) {
			t.Errorf("abs(%v) = %#x: not the sign bit cleared", x, math.Float32bits(n))
		}
		for _, a := range f32 {
			raise := func(b *ir.Builder, x ir.Value) { b.Store(ir.StreamP, b.Raise(x, b.Arg(ir.GradArgA))) }
			lower := func(b *ir.Builder, x ir.Value) { b.Store(ir.StreamP, b.Lower(x, b.Arg(ir.GradArgA))) }
			wantRaise, wantLower := x, x
			if x < a {
				wantRaise = a
			}
			if x > a {
				wantLower = a
			}
			if got, _, _ := run(raise, x, a); !same(got, wantRaise) {
				t.Errorf("raise(%v, %v) = %v", x, a, got)
			}
			if got, _, _ := run(lower, x, a); !same(got, wantLower) {
				t.Errorf("lower(%v, %v) = %v", x, a, got)
			}
		}
	}
}

// gradMaxValues bounds GradProgram.Values, for gradElem's fixed arrays.
const gradMaxValues = 16

// gradElem interprets p on one element x (and y, for a program that reads
// it) with the scalar arguments s, a and b: it returns the value the program
// stores into x (x itself if it stores nothing) and the term it accumulates, in T (narrow) or in float64 (wide,
// AccLanes). Every operation is one correctly rounded operation of its
// type, never fused with another. The tests run it on every element to
// prove the descriptions equal to the references.
func gradElem[T generic.Float](p *ir.GradProgram, x, y T, s float64, a, b T) (stored, narrow T, wide float64) {
	var vt [gradMaxValues]T       // the values of type T
	var vw [gradMaxValues]float64 // the values of type float64 (widened)
	stored = x
	for _, in := range p.Body {
		switch in.Op {
		case ir.OpLoad:
			vt[in.Dst] = x
			if in.Stream == ir.StreamG {
				vt[in.Dst] = y
			}
		case ir.OpStore:
			if in.Stream != ir.StreamP {
				panic("ir: a gradient program stores into a stream other than x")
			}
			stored = vt[in.A]
		case ir.OpAccum:
			narrow, wide = vt[in.A], vw[in.A]
		case ir.OpCoeff:
			switch in.Coeff {
			case ir.GradArgS:
				vw[in.Dst] = s
			case ir.GradArgA:
				vt[in.Dst] = a
			default:
				vt[in.Dst] = b
			}
		case ir.OpWiden:
			vw[in.Dst] = float64(vt[in.A])
		case ir.OpAbs:
			vt[in.Dst], vw[in.Dst] = absBits(vt[in.A]), math.Abs(vw[in.A])
		case ir.OpRaise:
			vt[in.Dst] = vt[in.A]
			if vt[in.A] < vt[in.B] {
				vt[in.Dst] = vt[in.B]
			}
		case ir.OpLower:
			vt[in.Dst] = vt[in.A]
			if vt[in.A] > vt[in.B] {
				vt[in.Dst] = vt[in.B]
			}
		case ir.OpMul:
			vt[in.Dst], vw[in.Dst] = T(vt[in.A]*vt[in.B]), float64(vw[in.A]*vw[in.B])
		case ir.OpAdd:
			vt[in.Dst], vw[in.Dst] = T(vt[in.A]+vt[in.B]), float64(vw[in.A]+vw[in.B])
		case ir.OpSub:
			vt[in.Dst], vw[in.Dst] = T(vt[in.A]-vt[in.B]), float64(vw[in.A]-vw[in.B])
		default:
			panic("generic: gradient program uses " + in.Op.String())
		}
	}
	return stored, narrow, wide
}

// absBits is |x| by clearing the sign bit, as the vector instructions do
// (a conversion through float64 would quiet a signaling NaN).
func absBits[T generic.Float](x T) T {
	if unsafe.Sizeof(x) == 4 {
		return T(math.Float32frombits(math.Float32bits(float32(x)) &^ (1 << 31)))
	}
	return T(math.Float64frombits(math.Float64bits(float64(x)) &^ (1 << 63)))
}

// TestSelectSignAbsOps interprets the element-wise choice operations on
// every pair of special values and checks them against their definitions
// in ir.go, independently of any rule.
func TestSelectSignAbsOps(t *testing.T) {
	b := ir.NewBuilder(nil)
	x, y := b.Load(ir.StreamP), b.Load(ir.StreamG)
	b.Store(ir.StreamS0, b.IfLess(x, y, b.Const(1), b.Const(-2)))
	b.Store(ir.StreamS1, b.Sign(x))
	b.Store(ir.StreamS2, b.Abs(x))
	b.Store(ir.StreamP, b.Lower(b.Raise(x, y), b.Const(0.5)))
	prog := b.Program()
	negZero := math.Copysign(0, -1)
	for _, a := range specials {
		for _, c := range specials {
			streams := [ir.NumStreams][]float64{{a}, {c}, {0}, {0}, {0}}
			eval(prog, &generic.Coeffs[float64]{}, &streams, 0)
			wantSel := -2.0
			if a < c {
				wantSel = 1
			}
			wantSign := a
			if a > 0 {
				wantSign = 1
			} else if a < 0 {
				wantSign = -1
			}
			wantClamp := a
			if a < c {
				wantClamp = c
			}
			if wantClamp > 0.5 {
				wantClamp = 0.5
			}
			for _, chk := range []struct {
				name      string
				got, want float64
			}{
				{"IfLess", streams[ir.StreamS0][0], wantSel},
				{"Sign", streams[ir.StreamS1][0], wantSign},
				{"Abs", streams[ir.StreamS2][0], math.Abs(a)},
				{"Lower(Raise)", streams[ir.StreamP][0], wantClamp},
			} {
				if !bitsEqual(chk.got, chk.want) {
					t.Errorf("%s(%v, %v) = %v, want %v", chk.name, a, c, chk.got, chk.want)
				}
			}
		}
	}
	if got := math.Float64bits(func() float64 {
		s := [ir.NumStreams][]float64{{negZero}, {0}, {0}, {0}, {0}}
		eval(prog, &generic.Coeffs[float64]{}, &s, 0)
		return s[ir.StreamS1][0]
	}()); got != math.Float64bits(negZero) {
		t.Errorf("Sign(-0) bits %#x, want -0", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("Const(0.1), not exact in float32, did not panic")
		}
	}()
	ir.NewBuilder(nil).Const(0.1)
}

package kernels

import (
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"testing"
)

// The AVX-512 float32 and float64 Adam kernels divide sqrt(v) by the
// coefficient BC2Sqrt with a reciprocal and Markstein's correction where
// BC2Sqrt is in a range (asm/internal/x86/markstein.go: [2^-62, 2^50] for
// float32, [2^-510, 2^484] for float64) and divide otherwise. These tests
// hold them to generic's division at and around the bounds, with the
// special values of sqrt(v) in every lane, and check the algorithm itself
// in pure Go. The fused low-precision kernels divide (the correction did
// not pay there); their test stands guard in case that changes.

// marksteinShort reports whether to trim these tests: under -short, and on
// every architecture but amd64, where no kernel has the correction (they
// divide, as TestMatchesGeneric checks) and the pure-Go check is the same
// Go as on amd64 (arm64's full test runs under qemu, 10-20x slower).
func marksteinShort() bool { return testing.Short() || runtime.GOARCH != "amd64" }

// marksteinBounds are the ends of the range of BC2Sqrt in which the
// AVX-512 Adam kernels of element size size (4 or 8) use the correction.
func marksteinBounds(size int) (lo, hi float64) {
	if size == 4 {
		return 0x1p-62, 0x1p50
	}
	return 0x1p-510, 0x1p484
}

// divisorCases are values of BC2Sqrt for T: each bound of both types'
// ranges and its neighbours, ordinary values, the extremes, zeros,
// negative values, infinities and NaN.
func divisorCases[T Float]() []T {
	var out []T
	near := func(x T) {
		inf := T(math.Inf(1))
		out = append(out, x, nextToward(x, -inf), nextToward(x, inf))
	}
	for _, size := range []int{4, 8} {
		lo, hi := marksteinBounds(size)
		if size == 8 && sizeOf[T]() == 4 {
			// Out of float32's range: they become 0 and +Inf, listed below.
			continue
		}
		near(T(lo))
		near(T(hi))
	}
	// Far out of range, where the correction would go wrong: q or x/c
	// subnormal, y subnormal, or q*c infinite.
	for _, e := range []int{-70, -100, 60, 100, -520, -900, 490, 900} {
		if x := T(math.Ldexp(1.2345, e)); x != 0 && !math.IsInf(float64(x), 0) {
			out = append(out, x)
		}
	}
	specials := specialValues[T]()
	out = append(out, 1, 0.70710677, 0.031622775, 1e-4, 3, T(math.Sqrt(1-math.Pow(0.999, 7))))
	return append(out, specials...)
}

// nextToward is the T after x in the direction of y.
func nextToward[T Float](x, y T) T {
	if sizeOf[T]() == 4 {
		return T(math.Nextafter32(float32(x), float32(y)))
	}
	return T(math.Nextafter(float64(x), float64(y)))
}

// rootInputs are the values of v: the special values (zeros, subnormals,
// the extremes, infinities, NaNs) and ordinary ones.
func rootInputs[T Float]() []T {
	return append(specialValues[T](), 0.25, 3.7, 1e-10, 12345.6, 0.999, 2e-30, 7e20)
}

// failingRoots returns a few v whose sqrt(v)/c the correction would get
// wrong (with y = RN(1/c)), drawn at random over all positive T, for c out
// of the kernels' range: a kernel whose range check let c through fails on
// them. None for most c, where none turns up.
func failingRoots[T Float](c T) []T {
	r := rand.New(rand.NewPCG(uint64(rawBits(c)), 7))
	var out []T
	for range 5000 {
		var v T
		var wrong bool
		if sizeOf[T]() == 4 {
			v = T(math.Float32frombits(r.Uint32N(0x7f800000)))
			x, c := float32(math.Sqrt(float64(v))), float32(c)
			wrong = x != 0 && !sameBits(markstein32(x, c, 1/c), x/c)
		} else {
			v = T(math.Float64frombits(r.Uint64N(0x7ff0_0000_0000_0000)))
			x, c := math.Sqrt(float64(v)), float64(c)
			wrong = x != 0 && !sameBits(markstein64(x, c, 1/c), x/c)
		}
		if !wrong {
			continue
		}
		if out = append(out, v); len(out) == 4 {
			break
		}
	}
	return out
}

// marksteinConfigs is the number of configurations of marksteinCoeffs.
const marksteinConfigs = 12

// marksteinCoeffs returns Adam's coefficients with BC2Sqrt = c in
// configuration cfg (0 to marksteinConfigs-1): exact moments (Beta2 1,
// OneMinusBeta2 -0: v' = v*1 + (-0*g)*g is v, -0 included, for every
// finite g), so that sqrt(v) takes every value of rootInputs, or typical
// ones; Eps 0, -0 (so that the sign of a zero quotient shows) or 1e-8; and
// NegLR -1 or the smallest normal, negated (so that a subnormal quotient's
// bits show, not an overflow).
func marksteinCoeffs[T Float](c T, cfg int) Coeffs[T] {
	eps := []T{0, T(math.Copysign(0, -1)), 1e-8}[cfg/2%3]
	k := Coeffs[T]{NegLR: -1, WeightDecay: 0.01, Decay: 0.99, Lerp: 0.1, LerpComp: 0.9, BC2Sqrt: c, Eps: eps,
		Beta2: 0.999, OneMinusBeta2: 0.001}
	if cfg%2 == 0 {
		k.Beta2, k.OneMinusBeta2 = 1, T(math.Copysign(0, -1))
	}
	if cfg >= 6 {
		k.NegLR = -T(math.Ldexp(1, -126))
		if sizeOf[T]() == 8 {
			k.NegLR = -T(math.Ldexp(1, -1022))
		}
	}
	return k
}

// adamCases are Adam test cases: every third variant and the last (which
// has every flag: AMSGrad, decoupled decay, maximize), or the first and the
// last under -short. The correction's code is the same in every variant;
// only the registers and the interleaving around it differ.
func adamCases() []testCase {
	var all []testCase
	for _, tc := range allCases() {
		if tc.kind == KindAdam {
			all = append(all, tc)
		}
	}
	step := 3
	if marksteinShort() {
		step = len(all) - 1
	}
	var out []testCase
	for i := 0; i < len(all)-1; i += step {
		out = append(out, all[i])
	}
	return append(out, all[len(all)-1])
}

// marksteinLayout returns vals padded with pad to an odd length L, which
// is coprime with the lanes of every vector (2 to 16), and the length n =
// 16L + 27, so that cycling through the values puts each in every lane of
// the unrolled loop, then some in the single vectors (16 float32
// elements) and the tail (11); and the offsets to cycle from: four, so
// that the vectors after the unrolled loop meet more values, one under
// -short.
func marksteinLayout[E any](vals []E, pad E) ([]E, int, []int) {
	if len(vals)%2 == 0 {
		vals = append(vals, pad)
	}
	shifts := []int{0, 1, len(vals) / 3, 2 * len(vals) / 3}
	if marksteinShort() {
		shifts = shifts[:1]
	}
	return vals, 16*len(vals) + 16 + 11, shifts
}

func TestAdamDivisionByBC2Sqrt(t *testing.T) {
	forEachSet(t, func(t *testing.T, s *Set) {
		adamDivision[float32](t, s)
		adamDivision[float64](t, s)
	})
}

// adamDivision runs set s's Adam kernels against generic's for every
// divisor of divisorCases, with v cycling through rootInputs at every
// offset, so that each value meets each lane.
func adamDivision[T Float](t *testing.T, s *Set) {
	ordinary := []T{1, -2.5, 0, 0.125, 3}
	for _, tc := range adamCases() {
		used := tc.used()
		kernel, ref := Kernel[T](s, tc.kind), Kernel[T](Generic(), tc.kind)
		for _, c := range divisorCases[T]() {
			vals, n, shifts := marksteinLayout(append(rootInputs[T](), failingRoots(c)...), 0.5)
			var in, got, want [5][]T
			for k := range in {
				in[k], got[k], want[k] = make([]T, n), make([]T, n), make([]T, n)
			}
			for cfg := range marksteinConfigs {
				co := marksteinCoeffs(c, cfg)
				for _, shift := range shifts {
					for i := range n {
						in[0][i] = []T{0, 1.5, 0}[i%3]
						in[1][i] = ordinary[i%len(ordinary)]
						in[2][i] = ordinary[(i+2)%len(ordinary)]
						in[3][i] = vals[(i+shift)%len(vals)]
						in[4][i] = vals[(i+2*shift)%len(vals)]
					}
					var args, wargs [5][]T
					for k := range in {
						if used[k] {
							args[k], wargs[k] = got[k], want[k]
							copy(got[k], in[k])
							copy(want[k], in[k])
						}
					}
					ref(tc.v, &co, wargs[0], wargs[1], wargs[2], wargs[3], wargs[4])
					kernel(tc.v, &co, args[0], args[1], args[2], args[3], args[4])
					for k := range args {
						if !used[k] {
							continue
						}
						if i := firstDiff(got[k], want[k]); i >= 0 {
							t.Fatalf("%s %s %s BC2Sqrt=%v (%#x) cfg=%d: %s[%d] = %#x, generic gives %#x (v = %#x)",
								s.name, dtypeName[T](), tc, c, rawBits(c), cfg, streamNames[k], i,
								rawBits(got[k][i]), rawBits(want[k][i]), rawBits(in[3][i]))
						}
					}
				}
			}
		}
	}
}

func TestAdamDivisionByBC2SqrtLowp(t *testing.T) {
	// The fused kernels: the others run the float32 kernels, which
	// TestAdamDivisionByBC2Sqrt covers.
	paths := lowpPaths(t)
	var fused []lowpPath
	for _, u := range paths[1:] {
		if u.fused {
			fused = append(fused, u)
		}
	}
	if len(fused) == 0 {
		t.Skip("no fused low-precision kernels on this CPU")
	}
	for _, f := range []Format{BFloat16, Float16} {
		var vals []uint16
		for _, x := range rootInputs[float32]() {
			vals = append(vals, f.Narrow(x))
		}
		vals = append(vals, 0x0001, 0x8001, 0x0003) // subnormal in both formats
		vals, n, shifts := marksteinLayout(vals, f.Narrow(0.5))
		ordinary := []uint16{f.Narrow(1), f.Narrow(-2.5), 0, f.Narrow(0.125), f.Narrow(3)}
		for _, tc := range adamCases() {
			used := tc.used()
			var in [5][]uint16
			for k := range in {
				if used[k] {
					in[k] = make([]uint16, n)
				}
			}
			for _, c := range divisorCases[float32]() {
				for cfg := range marksteinConfigs {
					co := marksteinCoeffs(c, cfg)
					for _, shift := range shifts {
						for i := range n {
							in[0][i] = []uint16{0, f.Narrow(1.5), 0}[i%3]
							in[1][i] = ordinary[i%len(ordinary)]
							in[2][i] = ordinary[(i+2)%len(ordinary)]
							in[3][i] = vals[(i+shift)%len(vals)]
							if in[4] != nil {
								in[4][i] = vals[(i+2*shift)%len(vals)]
							}
						}
						want := cloneLowp(in)
						runLowpPath(paths[0], tc.kind, f, tc.v, &co, want[0], want[1], [3][]uint16{want[2], want[3], want[4]})
						for _, u := range fused {
							got := cloneLowp(in)
							runLowpPath(u, tc.kind, f, tc.v, &co, got[0], got[1], [3][]uint16{got[2], got[3], got[4]})
							for k := range got {
								if i := sameState(got[k], want[k]); i >= 0 {
									t.Fatalf("%s %v %s BC2Sqrt=%v (%#x) cfg=%d: %s[%d] = %#x, generic gives %#x (v = %#x)",
										u.name, f, tc, c, math.Float32bits(c), cfg, streamNames[k], i, got[k][i], want[k][i], in[3][i])
								}
							}
						}
					}
				}
			}
		}
	}
}

// cloneLowp copies the five streams (nil stays nil).
func cloneLowp(in [5][]uint16) [5][]uint16 {
	var out [5][]uint16
	for k := range in {
		if in[k] != nil {
			out[k] = append([]uint16(nil), in[k]...)
		}
	}
	return out
}

// fma32 is the correctly rounded float32 a*b + c. The float64 FMA rounds
// the exact value once; rounding that to float32 again is wrong only when
// it lands exactly halfway between two float32 values (or in float32's
// subnormal range), and those cases are redone exactly.
func fma32(a, b, c float32) float32 {
	s := math.FMA(float64(a), float64(b), float64(c))
	bits := math.Float64bits(s)
	if bits&(1<<29-1) != 1<<28 && (s == 0 || math.Abs(s) >= 0x1p-126 || math.IsInf(s, 0) || s != s) {
		return float32(s)
	}
	x := new(big.Float).SetPrec(1000).SetFloat64(float64(a))
	x.Mul(x, new(big.Float).SetPrec(1000).SetFloat64(float64(b)))
	x.Add(x, new(big.Float).SetPrec(1000).SetFloat64(float64(c)))
	f, _ := x.Float32()
	return f
}

// markstein32 and markstein64 are the kernels' division x/c, given y =
// RN(1/c), for x a positive normal square root.
func markstein32(x, c, y float32) float32 {
	q := x * y
	r := fma32(-q, c, x)
	return fma32(r, y, q)
}

func markstein64(x, c, y float64) float64 {
	q := x * y
	r := math.FMA(-q, c, x)
	return math.FMA(r, y, q)
}

// logUniform32 draws a float32 in [2^lo, 2^hi): a uniform exponent and a
// uniform significand.
func logUniform32(r *rand.Rand, lo, hi int) float32 {
	return float32(math.Ldexp(1+float64(r.Uint32()>>9)*0x1p-23, lo+r.IntN(hi-lo)))
}

func logUniform64(r *rand.Rand, lo, hi int) float64 {
	return math.Ldexp(1+float64(r.Uint64()>>12)*0x1p-52, lo+r.IntN(hi-lo))
}

// TestMarksteinDivisionSampled checks the correction in pure Go on random
// divisors in the kernels' range (and its bounds, and significands of all
// ones, the reciprocal's hardest) and random x in the range of square roots:
// [2^-75, 2^64) for float32, [2^-537, 2^512) for float64.
func TestMarksteinDivisionSampled(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 1))
	divisors, xs := 100, 50000
	if marksteinShort() {
		divisors, xs = 20, 2000
	}
	lo32, hi32 := marksteinBounds(4)
	cs32 := []float32{float32(lo32), float32(hi32), 1, 0x1.fffffep0, 0x1.fffffep-10, 0.70710677}
	for len(cs32) < divisors {
		cs32 = append(cs32, logUniform32(r, -62, 50))
	}
	for _, c := range cs32 {
		y := 1 / c
		for range xs {
			x := logUniform32(r, -75, 64)
			if got, want := markstein32(x, c, y), x/c; got != want {
				t.Fatalf("float32 %g / %g: corrected %g (%#x), division %g (%#x)", x, c, got, math.Float32bits(got), want, math.Float32bits(want))
			}
		}
	}
	lo64, hi64 := marksteinBounds(8)
	cs64 := []float64{lo64, hi64, 1, 0x1.fffffffffffffp0, 0x1.fffffffffffffp-100, 0.7071067811865476}
	for len(cs64) < divisors {
		cs64 = append(cs64, logUniform64(r, -510, 484))
	}
	for _, c := range cs64 {
		y := 1 / c
		for range xs {
			x := logUniform64(r, -537, 512)
			if got, want := markstein64(x, c, y), x/c; got != want {
				t.Fatalf("float64 %g / %g: corrected %g (%#x), division %g (%#x)", x, c, got, math.Float64bits(got), want, math.Float64bits(want))
			}
		}
	}
}

// TestMarksteinDivisionExhaustive checks the float32 correction for every
// x in the range of square roots, [2^-75, 2^64], and a few divisors,
// among them both bounds of the kernels' range. It runs only with
// OPTIM_EXHAUSTIVE=1 (never in make test): about 30 s of CPU per divisor,
// 400 s for the nine on the shared 2-core development machine (Zen 5, at
// low priority beside other work, 2026-12-03); it passed.
func TestMarksteinDivisionExhaustive(t *testing.T) {
	if os.Getenv("OPTIM_EXHAUSTIVE") != "1" {
		t.Skip("set OPTIM_EXHAUSTIVE=1 to run (minutes)")
	}
	lo, hi := marksteinBounds(4)
	cs := []float32{1, 0.70710677, 0.031622775, 0x1p-12, float32(lo), float32(hi), 0x1.fffffep0, 0x1.fffffep-62, 0x1.000002p49}
	first, last := math.Float32bits(0x1p-75), math.Float32bits(0x1p64)
	for _, c := range cs {
		y := 1 / c
		workers := runtime.GOMAXPROCS(0)
		bad := make([]uint32, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := first + uint32(w); b <= last; b += uint32(workers) {
					x := math.Float32frombits(b)
					if markstein32(x, c, y) != x/c && bad[w] == 0 {
						bad[w] = b
					}
				}
			}()
		}
		wg.Wait()
		for _, b := range bad {
			if b != 0 {
				x := math.Float32frombits(b)
				t.Errorf("float32 %g / %g: corrected %g, division %g", x, c, markstein32(x, c, y), x/c)
			}
		}
	}
}

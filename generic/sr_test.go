package generic

import (
	"math"
	"math/rand/v2"
	"testing"
)

// srGap returns the neighbours lo <= |x| <= hi of |x| on format f's grid
// (hi = lo when |x| is on it), in float64, by the definition in sr.go.
func srGap(f Format, x float32) (lo, gap float64) {
	a := math.Abs(float64(x))
	if f == FormatBF16 {
		b := math.Float32bits(float32(a))
		lo = float64(math.Float32frombits(b &^ 0xffff))
		return lo, float64(math.Float32frombits(b|0xffff+1)) - lo
	}
	e := math.Floor(math.Log2(a))
	qe := max(e-10, -24)
	gap = math.Ldexp(1, int(qe))
	return math.Floor(a/gap) * gap, gap
}

// TestNarrowSRUnbiased draws SR(x) 4096 times, with the bits of
// consecutive elements of one key, for values across each format's exponent
// range (subnormals, the smallest normals, around 1, the largest
// exponents), both signs: every result must be one of x's two neighbours,
// and the mean of the results within 6 standard deviations of x (a failure
// once in 10^8 per value for a fair coin).
func TestNarrowSRUnbiased(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const n = 4096
	for _, tc := range []struct {
		f    Format
		exps []int
	}{
		{FormatBF16, []int{-148, -140, -127, -126, -125, -60, -1, 0, 1, 30, 126, 127}},
		{FormatF16, []int{-40, -33, -30, -26, -25, -24, -20, -15, -14, -13, -1, 0, 7, 14, 15}},
	} {
		for _, e := range tc.exps {
			for k := range 4 {
				x := float32(math.Ldexp(1+r.Float64(), e))
				if k%2 == 1 {
					x = -x
				}
				lo, gap := srGap(tc.f, x)
				sr := SR{Seed: r.Uint64(), Param: uint32(k), Step: uint64(e + 200)}
				sum := 0.0
				for i := range n {
					h := tc.f.NarrowSR(x, sr.Bits(i))
					y := math.Abs(float64(tc.f.Widen(h)))
					if y != lo && y != lo+gap && !(math.IsInf(y, 1) && lo+gap >= 65536) {
						t.Fatalf("%s SR(%g) = %#04x (%g), not a neighbour %g or %g", tc.f, x, h, y, lo, lo+gap)
					}
					if math.Signbit(float64(tc.f.Widen(h))) != math.Signbit(float64(x)) {
						t.Fatalf("%s SR(%g) = %#04x: sign lost", tc.f, x, h)
					}
					sum += y
				}
				mean, want := sum/n, math.Abs(float64(x))
				p := (want - lo) / gap
				sigma := gap * math.Sqrt(p*(1-p)/n)
				if d := math.Abs(mean - want); d > 6*sigma+gap*0x1p-32 {
					t.Errorf("%s: mean of %d SR(%g) = %g, off by %.3g gaps (sigma %.3g gaps)", tc.f, n, x, mean, d/gap, sigma/gap)
				}
			}
		}
	}
}

// TestNarrowSRSpecials: NaNs give the canonical NaN, infinities stay,
// values on the grid stay whatever the bits, float16's values at or past
// 65536 become infinities, and a value between the largest finite one and
// the grid's end rounds to either.
func TestNarrowSRSpecials(t *testing.T) {
	bits := []uint32{0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0x1234_5678}
	for _, f := range []Format{FormatBF16, FormatF16} {
		for _, r := range bits {
			for _, x := range []float32{float32(math.NaN()), float32(math.Copysign(math.NaN(), -1))} {
				if got := f.NarrowSR(x, r); got != f.Narrow(x) {
					t.Errorf("%s SR(NaN, %#x) = %#04x", f, r, got)
				}
			}
			for _, x := range []float32{float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)), 1, -2, 0.5, f.Widen(0x7bff)} {
				if got, want := f.NarrowSR(x, r), f.Narrow(x); got != want {
					t.Errorf("%s SR(%g, %#x) = %#04x, want %#04x (on the grid)", f, x, r, got, want)
				}
			}
		}
		// Every 16-bit value, widened, is on the grid.
		for h := range 1 << 16 {
			x := f.Widen(uint16(h))
			if x != x {
				continue
			}
			if got := f.NarrowSR(x, 0xffff_ffff); got != uint16(h) {
				t.Fatalf("%s SR(%g = %#04x) = %#04x", f, x, h, got)
			}
		}
	}
	for _, x := range []float32{65536, 1e9, math.MaxFloat32} {
		if got := FormatF16.NarrowSR(x, 0); got != 0x7c00 {
			t.Errorf("f16 SR(%g) = %#04x, want +Inf", x, got)
		}
		if got := FormatF16.NarrowSR(-x, 0); got != 0xfc00 {
			t.Errorf("f16 SR(%g) = %#04x, want -Inf", -x, got)
		}
	}
	if lo, hi := FormatF16.NarrowSR(65520, 0), FormatF16.NarrowSR(65520, 0xffff_ffff); lo != 0x7bff || hi != 0x7c00 {
		t.Errorf("f16 SR(65520) gives %#04x and %#04x, want 0x7bff and 0x7c00", lo, hi)
	}
	if lo, hi := FormatBF16.NarrowSR(math.MaxFloat32, 0), FormatBF16.NarrowSR(math.MaxFloat32, 0xffff_ffff); lo != 0x7f7f || hi != 0x7f80 {
		t.Errorf("bf16 SR(MaxFloat32) gives %#04x and %#04x, want 0x7f7f and 0x7f80", lo, hi)
	}
}

// TestSRBitsSplit: the bits of element i depend on Offset+i alone, so a
// slice rounded in parts, each with its offset, gets the bits it gets whole.
func TestSRBitsSplit(t *testing.T) {
	src := make([]float32, 1000)
	for i := range src {
		src[i] = float32(i) * 0.001
	}
	sr := SR{Seed: 1 << 40, Param: 3, Step: 1 << 33, Offset: 1<<32 - 400}
	whole, parts := make([]uint16, len(src)), make([]uint16, len(src))
	NarrowSRSlice(FormatBF16, whole, src, sr)
	for _, cut := range [][2]int{{0, 123}, {123, 600}, {600, 1000}} {
		part := sr
		part.Offset += uint64(cut[0])
		NarrowSRSlice(FormatBF16, parts[cut[0]:cut[1]], src[cut[0]:cut[1]], part)
	}
	for i := range whole {
		if whole[i] != parts[i] || whole[i] != FormatBF16.NarrowSR(src[i], sr.Bits(i)) {
			t.Fatalf("element %d: whole %#04x, in parts %#04x", i, whole[i], parts[i])
		}
	}
	if sr.Bits(0) == (SR{Seed: sr.Seed, Param: 4, Step: sr.Step, Offset: sr.Offset}).Bits(0) {
		t.Error("two parameters draw the same bits")
	}
}

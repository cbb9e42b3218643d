package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/simdoptim/optim/generic"
)

// TestNarrowSRMatchesReference: NarrowSR gives generic.NarrowSRSlice's
// bits in both formats, for values across the whole float32 range and its
// special values, at offsets whose elements cross a multiple of 2^32 (where
// the hash's per-call part changes) and for every length up to a few
// hundred.
func TestNarrowSRMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), math.Float32frombits(0xffc00001), math.Float32frombits(0x7f800001),
		math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 1e-40, -1e-40, 65504, 65519, 65520, 1e5,
		math.Float32frombits(0x7f7fffff), math.Float32frombits(0x3f80ffff), math.Float32frombits(0x33000001)}
	src := make([]float32, 600)
	for i := range src {
		switch {
		case i%5 == 0:
			src[i] = special[rng.IntN(len(special))]
		case i%5 < 3: // around float16's range, where its rounding changes
			src[i] = math.Float32frombits(rng.Uint32()&0x807f_ffff | uint32(98+rng.IntN(50))<<23)
		default:
			src[i] = math.Float32frombits(rng.Uint32())
		}
	}
	for _, f := range []Format{BFloat16, Float16} {
		for _, offset := range []uint64{0, 7, 1<<32 - 300, 1<<33 - 1, math.MaxUint64 - 1000} {
			for _, n := range []int{0, 1, 15, 16, 17, 299, 300, 301, 600} {
				sr := SR{Seed: 0x1234_5678_9abc, Param: 9, Step: 1<<32 + 5, Offset: offset}
				want, got := make([]uint16, n), make([]uint16, n)
				generic.NarrowSRSlice(f, want, src, sr)
				NarrowSR(f, got, src, sr)
				if !slices.Equal(got, want) {
					t.Fatalf("format %v, offset %d, n %d: got %04x, want %04x", f, offset, n, got, want)
				}
			}
		}
	}
}

// BenchmarkNarrowSR times the stochastic rounding of 2^16 float32 values
// to bfloat16 and float16 against the reference's loop.
func BenchmarkNarrowSR(b *testing.B) {
	const n = 1 << 16
	src, dst := make([]float32, n), make([]uint16, n)
	for i := range src {
		src[i] = float32(i%13)*0.01 + 1e-3
	}
	sr := SR{Seed: 1, Step: 1}
	for _, f := range []Format{BFloat16, Float16} {
		b.Run(f.String()+"/kernels", func(b *testing.B) {
			b.SetBytes(6 * n)
			for b.Loop() {
				NarrowSR(f, dst, src, sr)
			}
		})
		b.Run(f.String()+"/generic", func(b *testing.B) {
			b.SetBytes(6 * n)
			for b.Loop() {
				generic.NarrowSRSlice(f, dst, src, sr)
			}
		})
	}
}

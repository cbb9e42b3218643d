//go:build unix

package kernels

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/simdoptim/optim/generic"
)

// TestGradGuardPages runs every gradient kernel of every supported set on
// every length 0..300 (and a few sums over several blocks) with the slice
// flush against an inaccessible page, at its end and then at its start:
// touching one byte outside the slice faults. Results are compared with the
// reference.
func TestGradGuardPages(t *testing.T) {
	forEachSet(t, func(t *testing.T, s *Set) {
		gradGuardPages[float32](t, s)
		gradGuardPages[float64](t, s)
		pairGuardPages[float32](t, s)
		pairGuardPages[float64](t, s)
	})
}

// pairGuardPages runs every two-slice pass of pairCases on every length of
// pairLengths with each slice in its own mapping, flush against its guard
// pages: both at their mappings' ends, both at their starts, and one at
// each. The slice the pass only reads is then checked unchanged.
func pairGuardPages[T Float](t *testing.T, s *Set) {
	lengths := pairLengths()
	maxLen := slices.Max(lengths)
	regionX, regionY := newGuardedRegion(t, maxLen*sizeOf[T]()), newGuardedRegion(t, maxLen*sizeOf[T]())
	ref := generic.GradReference[T]()
	cases := pairCases(Grad[T](s), &ref)
	r := rand.New(rand.NewPCG(7, uint64(sizeOf[T]())))
	pool := newValuePool[T](r)
	inX, inY := make([]T, maxLen), make([]T, maxLen)
	at := []func(*guardedRegion, int) []T{atEnd[T], atStart[T]}
	for _, placeX := range at {
		for _, placeY := range at {
			for _, n := range lengths {
				fill(r, pool, inX[:n])
				fill(r, pool, inY[:n])
				x, y := placeX(regionX, n), placeY(regionY, n)
				for _, c := range cases {
					if err := c.run(x, y, inX[:n], inY[:n]); err != nil {
						t.Fatalf("%s %s %s n=%d: %v", s.name, c.name, dtypeName[T](), n, err)
					}
				}
			}
		}
	}
}

func gradGuardPages[T Float](t *testing.T, s *Set) {
	lengths := make([]int, 0, harnessMaxLen+8)
	for n := 0; n <= harnessMaxLen; n++ {
		lengths = append(lengths, n)
	}
	lengths = append(lengths, 4096, 4096+31, 2*4096-1) // the value pool holds 2^13
	maxLen := slices.Max(lengths)
	region := newGuardedRegion(t, maxLen*sizeOf[T]())
	k, ref := Grad[T](s), generic.GradReference[T]()
	r := rand.New(rand.NewPCG(5, uint64(sizeOf[T]())))
	pool := newValuePool[T](r)
	in := make([]T, maxLen)
	type reduce struct {
		name      string
		got, want func([]T) float64
	}
	reductions := []reduce{
		{"SumSquares", k.SumSquares, ref.SumSquares},
		{"SumAbs", k.SumAbs, ref.SumAbs},
		{"MaxAbs", k.MaxAbs, ref.MaxAbs},
		{"SumSquaresScaled", func(x []T) float64 { return k.SumSquaresScaled(x, generic.ScaleDown) },
			func(x []T) float64 { return ref.SumSquaresScaled(x, generic.ScaleDown) }},
	}
	type update struct {
		name      string
		got, want func([]T) bool
	}
	updates := []update{
		{"Scale", func(x []T) bool { k.Scale(x, 0.7); return false }, func(x []T) bool { ref.Scale(x, 0.7); return false }},
		{"Clamp", func(x []T) bool { k.Clamp(x, 1); return false }, func(x []T) bool { ref.Clamp(x, 1); return false }},
		{"UnscaleCheck", func(x []T) bool { return k.UnscaleCheck(x, 0x1p-16) }, func(x []T) bool { return ref.UnscaleCheck(x, 0x1p-16) }},
		{"NonFinite", k.NonFinite, ref.NonFinite},
	}
	for _, at := range []func(*guardedRegion, int) []T{atEnd[T], atStart[T]} {
		for _, n := range lengths {
			pool.fill(r, in[:n], false)
			x := at(region, n)
			for _, f := range reductions {
				copy(x, in[:n])
				got, want := f.got(x), f.want(in[:n])
				if canonical(got) != canonical(want) {
					t.Fatalf("%s %s %s n=%d: %v, reference %v", s.name, f.name, dtypeName[T](), n, got, want)
				}
			}
			for _, f := range updates {
				copy(x, in[:n])
				w := slices.Clone(in[:n])
				gotFlag, wantFlag := f.got(x), f.want(w)
				if i := firstDiff(x, w); i >= 0 || gotFlag != wantFlag {
					t.Fatalf("%s %s %s n=%d: flag %v (reference %v), first differing element %d", s.name, f.name, dtypeName[T](), n, gotFlag, wantFlag, i)
				}
			}
		}
	}
}

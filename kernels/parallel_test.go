package kernels

import (
	"math/rand/v2"
	"testing"

	"github.com/simdoptim/optim/generic"
)

// TestParallelMatchesSerial: the parallel stateless entry point gives the
// bits of one call, for every rule, worker count and set, and validates as
// the serial layer does.
func TestParallelMatchesSerial(t *testing.T) {
	old := parallelMin
	parallelMin = 4096
	t.Cleanup(func() { parallelMin = old })
	n := 3*parallelMin + 1001
	if testing.Short() {
		n = 2*parallelMin + 17
	}
	r := rand.New(rand.NewPCG(1, 2))
	pool := newValuePool[float32](r)
	for _, s := range append(testedSets(t), Generic()) {
		for _, tc := range allCases() {
			if tc.v&generic.VarLerpHigh != 0 || tc.v&generic.VarWeightDecay != 0 {
				continue // fewer cases: the split does not depend on the variant
			}
			var in [5][]float32
			used := tc.used()
			for k := range in {
				if used[k] {
					in[k] = make([]float32, n)
					for lo := 0; lo < n; lo += 4096 {
						pool.fill(r, in[k][lo:min(lo+4096, n)], tc.nonNegative()[k])
					}
				}
			}
			c := randomCoeffs[float32](r, false)
			var want [5][]float32
			for k := range in {
				if in[k] != nil {
					want[k] = append([]float32(nil), in[k]...)
				}
			}
			Kernel[float32](s, tc.kind)(tc.v, &c, want[0], want[1], want[2], want[3], want[4])
			for _, w := range []int{2, 3, 7} {
				var got [5][]float32
				for k := range in {
					if in[k] != nil {
						got[k] = append([]float32(nil), in[k]...)
					}
				}
				if err := Parallel(w, s, tc.kind, tc.v, &c, got[0], got[1], got[2], got[3], got[4]); err != nil {
					t.Fatal(err)
				}
				for k := range got {
					if i := firstDiff(got[k], want[k]); i >= 0 {
						t.Fatalf("%s %v, %d workers: %s differs at %d", s.Name(), tc, w, streamNames[k], i)
					}
				}
			}
		}
	}
	p := make([]float32, 4)
	c, v := generic.AdamCoeffs[float32](1e-3, 0.9, 0.999, 1e-8, 0, false, false, false, 1)
	if err := Parallel(2, Generic(), KindAdam, v, &c, p, p, make([]float32, 4), make([]float32, 4), nil); err == nil {
		t.Error("Parallel with g = p: no error")
	}
	if err := Parallel(0, Generic(), KindAdam, v, &c, p, make([]float32, 4), make([]float32, 4), make([]float32, 4), nil); err == nil {
		t.Error("Parallel with 0 workers: no error")
	}
}

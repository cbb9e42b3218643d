package optim

import (
	"testing"

	"github.com/simdoptim/optim/generic"
)

// TestNAdamProductMatchesFullReplay: Coefficients' mu_product equals the
// plain step-by-step float32 recurrence, for β1 on both sides of 0.5 and
// close to 1, at step numbers before and after the product stops
// changing, asked in increasing, decreasing and repeated order.
func TestNAdamProductMatchesFullReplay(t *testing.T) {
	for _, beta1 := range []float64{0, 0.3, 0.5, 0.9, 0.99} {
		for _, psi := range []float64{0, 4e-3, 0.5} {
			r := DefaultNAdam()
			r.Beta1, r.MomentumDecay = beta1, psi
			const n = 6000
			want := make([]generic.Scalars, n+1) // want[k]: after steps 1..k
			var sc generic.Scalars
			for k := int64(1); k <= n; k++ {
				_, _, sc = coefficients[float32](r, k, k == 1, sc)
				want[k] = sc
			}
			for _, k := range []int64{1, 2, 3, 100, 5999, 6000, 4000, 4001, 2, 6000, 1} {
				if got, _ := r.replayProduct(k, advance[float32](r)); got != want[k] {
					t.Fatalf("β1 %v ψ %v: mu_product after %d steps = %v, want %v", beta1, psi, k, got, want[k])
				}
				if got, _ := r.replayProduct(k, advance[float64](r)); got != want[k] {
					t.Fatalf("β1 %v ψ %v (float64): mu_product after %d steps = %v, want %v", beta1, psi, k, got, want[k])
				}
			}
		}
	}
}

// TestNAdamProductCostIsBounded: with β1 >= 0.99, mu_product sticks at the
// smallest subnormal instead of reaching 0, and Coefficients replayed
// every step up to the one asked (0.9 s at step 10^6: O(T²) for a caller
// that asks at every step). The replay now stops where the product stops
// changing, and a call at a later step continues the previous one.
func TestNAdamProductCostIsBounded(t *testing.T) {
	for _, c := range []struct {
		beta1, psi float64
		most       int64 // steps replayed for step 10^12
	}{
		{0.999, 4e-3, 200},    // torch's default ψ: μ_t starts near β1/2
		{0.9999, 4e-3, 200},   //
		{0.9, 0.5, 1030},      // a large ψ: μ_t near β1 at once, at most ≈ 103/(1−β1)
		{0.999, 0.5, 103_000}, //
	} {
		r := DefaultNAdam()
		r.Beta1, r.MomentumDecay = c.beta1, c.psi
		lastNAdamReplay.nadamReplay = nadamReplay{} // no earlier replay to continue
		if _, n := r.replayProduct(1e12, advance[float32](r)); n > c.most {
			t.Errorf("β1 %v ψ %v: mu_product at step 10^12 replayed %d steps, want at most %d", c.beta1, c.psi, n, c.most)
		}
		for step := int64(1e12 + 1); step < 1e12+100; step++ {
			if _, n := r.replayProduct(step, advance[float32](r)); n != 0 {
				t.Fatalf("β1 %v ψ %v: step %d replayed %d steps after step %d", c.beta1, c.psi, step, n, step-1)
			}
		}
		// A sequential caller from step 1 replays one step per call.
		lastNAdamReplay.nadamReplay = nadamReplay{}
		for step := int64(1); step < 500; step++ {
			if _, n := r.replayProduct(step, advance[float32](r)); n > 1 {
				t.Fatalf("β1 %v ψ %v: step %d replayed %d steps after step %d", c.beta1, c.psi, step, n, step-1)
			}
		}
	}
	if _, _, err := Coefficients[float32](DefaultNAdam(), 1e15); err != nil {
		t.Fatal(err)
	}
}

// advance is the step function Coefficients gives replayProduct.
func advance[T generic.Float](r Rule) func(int64, bool, generic.Scalars) generic.Scalars {
	return func(k int64, first bool, sc generic.Scalars) generic.Scalars {
		_, _, next := coefficients[T](r, k, first, sc)
		return next
	}
}

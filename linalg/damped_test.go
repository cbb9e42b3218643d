package linalg

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// residual checks ‖(H + τI)d + g‖ ≤ c·n·ε·(‖g‖ + ‖H + τI‖·‖d‖) in the
// Frobenius and Euclidean norms.
func checkResidual(t *testing.T, what string, h, g, d []float64, n int, tau float64) {
	t.Helper()
	var rr, gg, hh, dd float64
	for i := range n {
		r := g[i]
		for j := range n {
			v := h[i*n+j]
			if i == j {
				v += tau
			}
			r += v * d[j]
			hh += v * v
		}
		rr += r * r
		gg += g[i] * g[i]
		dd += d[i] * d[i]
	}
	bound := 8 * float64(n) * eps * (math.Sqrt(gg) + math.Sqrt(hh)*math.Sqrt(dd))
	if math.Sqrt(rr) > bound {
		t.Errorf("%s: residual %.3g > %.3g (τ = %g)", what, math.Sqrt(rr), bound, tau)
	}
}

func randomVector(rng *rand.Rand, n int) []float64 {
	g := make([]float64, n)
	for i := range g {
		g[i] = rng.NormFloat64()
	}
	return g
}

func TestDampedPositiveDefinite(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	var s Damped
	for _, n := range []int{1, 2, 7, 33, 100, 211} {
		for _, cond := range []float64{1, 1e6, 1e12} {
			h := randomSPD(rng, n, cond)
			g := randomVector(rng, n)
			work := append([]float64(nil), h...)
			d := make([]float64, n)
			tau, err := s.Solve(d, work, g, n)
			if err != nil || tau != 0 || s.Factorizations() != 1 {
				t.Fatalf("n=%d cond=%g: τ = %g, %d factorizations, %v", n, cond, tau, s.Factorizations(), err)
			}
			checkResidual(t, "PD", h, g, d, n, 0)
		}
	}
}

// TestDampedIndefinite shifts indefinite and singular Hessians: τ must make
// H + τI positive definite, stay within a small factor of the least shift
// that does, and take few factorizations thanks to the pivot bound.
func TestDampedIndefinite(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, n := range []int{2, 5, 40, 120, 250} {
		for _, tc := range []struct {
			name    string
			lambdas func(i int) float64
			least   float64 // −λmin
		}{
			{"indefinite", func(i int) float64 {
				if i%3 == 0 {
					return -float64(i + 1)
				}
				return float64(i + 1)
			}, 0},
			{"one negative", func(i int) float64 {
				if i == n/2 {
					return -0.5
				}
				return 1 + float64(i)
			}, 0},
			{"singular", func(i int) float64 {
				if i == 0 {
					return 0
				}
				return float64(i)
			}, 0},
			{"nearly singular", func(i int) float64 {
				if i == n-1 {
					return -1e-12
				}
				return 1 + float64(i)
			}, 0},
		} {
			lambda := make([]float64, n)
			least := 0.0
			for i := range lambda {
				lambda[i] = tc.lambdas(i)
				least = max(least, -lambda[i])
			}
			h := fromEigen(rng, n, lambda)
			g := randomVector(rng, n)
			d := make([]float64, n)
			var s Damped
			tau, err := s.Solve(d, append([]float64(nil), h...), g, n)
			if err != nil {
				t.Fatalf("%s n=%d: %v", tc.name, n, err)
			}
			if tau < least || (least > 0 && tau == least) || tau > 2*(least*(1+2e-3)+2e-3) {
				t.Errorf("%s n=%d: τ = %g, least shift %g", tc.name, n, tau, least)
			}
			// Doubling from β would need about 2 + log2(least/β).
			if limit := 2 + math.Log2(max(least, 1e-3)/1e-3); float64(s.Factorizations()) > limit {
				t.Errorf("%s n=%d: %d factorizations", tc.name, n, s.Factorizations())
			}
			checkResidual(t, tc.name, h, g, d, n, tau)

			// Same matrix again: the warm start needs at most two factorizations.
			tau2, err := s.Solve(d, append([]float64(nil), h...), g, n)
			if err != nil || s.Factorizations() > 2 || tau2 < tau {
				t.Errorf("%s n=%d: warm restart τ = %g (first %g), %d factorizations, %v", tc.name, n, tau2, tau, s.Factorizations(), err)
			}
		}
	}
}

// TestDampedBeatsDoubling counts factorizations against Nocedal–Wright
// Algorithm 3.3 (τ from β, doubling), which needs about log2(|λmin|/β).
func TestDampedBeatsDoubling(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	n := 60
	lambda := make([]float64, n)
	for i := range lambda {
		lambda[i] = 1 + float64(i)
	}
	lambda[7] = -300
	h := fromEigen(rng, n, lambda)
	var s Damped
	if _, err := s.Solve(make([]float64, n), append([]float64(nil), h...), randomVector(rng, n), n); err != nil {
		t.Fatal(err)
	}
	doubling := 1 + int(math.Ceil(math.Log2(300/1e-3)))
	t.Logf("%d factorizations with the pivot bound, about %d by doubling", s.Factorizations(), doubling)
	if s.Factorizations() >= doubling/2 {
		t.Errorf("%d factorizations, doubling needs %d", s.Factorizations(), doubling)
	}
}

func TestDampedGivesUp(t *testing.T) {
	n := 3
	h := []float64{-1e300, 0, 0, 0, -1e300, 0, 0, 0, -1e300}
	s := Damped{MaxAttempts: 1}
	dst := []float64{7, 7, 7}
	_, err := s.Solve(dst, h, []float64{1, 1, 1}, n)
	if !errors.Is(err, ErrDampingFailed) {
		t.Errorf("error %v, want ErrDampingFailed", err)
	}
	// A negative definite H needs one shift past its pivot bound.
	s = Damped{}
	h = []float64{-4, 0, 0, 0, -1, 0, 0, 0, -2}
	tau, err := s.Solve(dst, h, []float64{1, 1, 1}, n)
	if err != nil || tau <= 4 || tau > 4.02 {
		t.Errorf("τ = %g, %v", tau, err)
	}
}

func TestDampedBadInput(t *testing.T) {
	good := []float64{2, 0, 0, 2}
	for _, tc := range []struct {
		name      string
		dst, h, g []float64
		n         int
	}{
		{"n=0", make([]float64, 2), good, []float64{1, 1}, 0},
		{"n<0", make([]float64, 2), good, []float64{1, 1}, -3},
		{"short h", make([]float64, 2), good[:3], []float64{1, 1}, 2},
		{"short g", make([]float64, 2), good, []float64{1}, 2},
		{"short dst", make([]float64, 1), good, []float64{1, 1}, 2},
		{"NaN h", make([]float64, 2), []float64{2, 0, math.NaN(), 2}, []float64{1, 1}, 2},
		{"Inf g", make([]float64, 2), good, []float64{1, math.Inf(1)}, 2},
		{"NaN g", make([]float64, 2), good, []float64{math.NaN(), 1}, 2},
	} {
		for i := range tc.dst {
			tc.dst[i] = 42
		}
		var s Damped
		if _, err := s.Solve(tc.dst, append([]float64(nil), tc.h...), tc.g, tc.n); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
		for _, v := range tc.dst {
			if v != 42 {
				t.Errorf("%s: dst written", tc.name)
			}
		}
	}
}

// TestDampedNoAllocs: after the first call of an order, further calls,
// failed attempts included, allocate nothing.
func TestDampedNoAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	n := 150
	lambda := make([]float64, n)
	for i := range lambda {
		lambda[i] = float64(i) - 10
	}
	h := fromEigen(rng, n, lambda)
	g := randomVector(rng, n)
	work := make([]float64, n*n)
	d := make([]float64, n)
	var s Damped
	allocs := testing.AllocsPerRun(20, func() {
		copy(work, h)
		if _, err := s.Solve(d, work, g, n); err != nil {
			t.Fatal(err)
		}
	})
	if s.Factorizations() < 2 {
		t.Errorf("only %d factorizations: the test should exercise retries", s.Factorizations())
	}
	if allocs != 0 {
		t.Errorf("%v allocations per call", allocs)
	}
}

// TestDampedAliasing: h is overwritten by the factorization, so a g or dst
// that shares memory with it is an error, and nothing is written. dst may
// share memory with g, which is read before dst is written.
func TestDampedAliasing(t *testing.T) {
	fresh := func() []float64 { return []float64{2, 1, 0, 1, 2, 1, 0, 1, 2, 7, 7, 7} }
	for _, tc := range []struct {
		name   string
		dst, g func(h []float64) []float64
	}{
		{"g = h's first row", func([]float64) []float64 { return make([]float64, 3) }, func(h []float64) []float64 { return h[:3] }},
		{"g = h's last row", func([]float64) []float64 { return make([]float64, 3) }, func(h []float64) []float64 { return h[6:9] }},
		{"g straddles h's end", func([]float64) []float64 { return make([]float64, 3) }, func(h []float64) []float64 { return h[8:11] }},
		{"dst in h", func(h []float64) []float64 { return h[4:7] }, func([]float64) []float64 { return []float64{1, 1, 1} }},
		{"dst straddles h's end", func(h []float64) []float64 { return h[7:10] }, func([]float64) []float64 { return []float64{1, 1, 1} }},
	} {
		buf := fresh()
		h := buf[:9]
		var s Damped
		if _, err := s.Solve(tc.dst(buf), h, tc.g(buf), 3); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
		if want := fresh(); !equalBits(buf, want) {
			t.Errorf("%s: written on error: %v", tc.name, buf)
		}
	}
	// Past h's n·n elements (h's capacity beyond them is not h) and dst = g
	// are fine.
	buf := fresh()
	var s Damped
	g := buf[9:12]
	if _, err := s.Solve(g, buf[:9], g, 3); err != nil {
		t.Fatal(err)
	}
	checkResidual(t, "dst = g", fresh()[:9], []float64{7, 7, 7}, g, 3, 0)
}

func equalBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

// TestDampedNamesNonFiniteOnGivingUp: a NaN that no attempt reached is
// still named when damping gives up, rather than blamed on the damping.
func TestDampedNamesNonFiniteOnGivingUp(t *testing.T) {
	s := Damped{MaxAttempts: 1}
	h := []float64{-1, 0, 0, math.NaN()}
	_, err := s.Solve(make([]float64, 2), h, []float64{1, 1}, 2)
	if err == nil || errors.Is(err, ErrDampingFailed) || !strings.Contains(err.Error(), "h[1][1] is NaN") {
		t.Errorf("error %v", err)
	}
}

// TestNewtonStep: the function form of a fresh Damped's Solve (whose
// aliasing rules TestDampedAliasing checks).
func TestNewtonStep(t *testing.T) {
	// H = [[2, 1], [1, 2]] (PD), g = [1, 1]: d = −H⁻¹g = [−1/3, −1/3].
	h := []float64{2, 1, 1, 2}
	dst := make([]float64, 2)
	tau, err := NewtonStep(dst, h, []float64{1, 1}, 2)
	if err != nil || tau != 0 || math.Abs(dst[0]+1.0/3) > 1e-15 || math.Abs(dst[1]+1.0/3) > 1e-15 {
		t.Errorf("d = %v, τ = %g, %v", dst, tau, err)
	}
	// Indefinite: H = diag(1, −1): τ > 1.
	h = []float64{1, 0, 0, -1}
	tau, err = NewtonStep(dst, h, []float64{1, 1}, 2)
	if err != nil || tau <= 1 || tau > 1.01 {
		t.Errorf("τ = %g, %v", tau, err)
	}
	if _, err := NewtonStep(dst, []float64{1}, []float64{1, 1}, 2); err == nil {
		t.Error("short h accepted")
	}
}

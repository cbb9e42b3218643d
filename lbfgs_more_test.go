package optim

import (
	"errors"
	"hash/fnv"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// lbfgsDigest is the FNV-64a hash of LBFGS's trajectories (digestLBFGS):
// every parameter, loss and state bit after every step. LBFGS is plain Go
// with every rounding explicit, so the same value must come out on every
// CPU: natively, at GOAMD64=v3 (where Go may fuse a*b+c), with -tags
// noasm, under every OPTIM_ISA and on arm64 (GOARCH=arm64 go test -exec
// qemu-aarch64 -run TestLBFGSDigest .). Recorded from the logged value.
const lbfgsDigest uint64 = 0xbf5a75f5b911f5ef

// TestLBFGSDigest checks lbfgsDigest.
func TestLBFGSDigest(t *testing.T) {
	got := digestLBFGS(t)
	t.Logf("LBFGS digest %#x", got)
	if got != lbfgsDigest {
		t.Errorf("LBFGS digest = %#x, want %#x", got, lbfgsDigest)
	}
}

func digestLBFGS(t *testing.T) uint64 {
	d := &digestWriter{h: fnv.New64a()}
	configs := []LBFGS{
		DefaultLBFGS(),
		{LR: 1, MaxIter: 20, ToleranceGrad: 1e-7, ToleranceChange: 1e-9, HistorySize: 5, LineSearch: StrongWolfe},
		{LR: 0.5, MaxIter: 9, MaxEval: 7, ToleranceGrad: 1e-5, ToleranceChange: 1e-6, HistorySize: 2},
		{LR: 1e-3, MaxIter: 12, ToleranceGrad: 1e-7, ToleranceChange: 1e-9, HistorySize: 3, LineSearch: StrongWolfe},
	}
	config := 0
	for _, cfg := range configs {
		for _, n := range []int{2, 10, 33, 100} {
			digestLBFGSRun[float32](t, d, cfg, n, config)
			digestLBFGSRun[float64](t, d, cfg, n, config)
			config++
		}
	}
	return d.h.Sum64()
}

func digestLBFGSRun[T float32 | float64](t *testing.T, d *digestWriter, cfg LBFGS, n, config int) {
	// Exact inputs: integers scaled by a power of two.
	r := rand.New(rand.NewPCG(uint64(config), 0x1bf6))
	x := make([]T, n)
	for i := range x {
		x[i] = T(float64(r.IntN(1<<10)-1<<9) / 256)
	}
	split := n / 3
	a, b := x[:split:split], x[split:]
	opt, err := NewLBFGS(cfg, a, b)
	if err != nil {
		t.Fatal(err)
	}
	g := make([]T, n)
	for range 4 {
		loss, err := opt.Step(func() (float64, error) {
			l := rosenbrock(x, g)
			copy(opt.Grad(0), g[:split])
			copy(opt.Grad(1), g[split:])
			return float64(l), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		d.word(math.Float64bits(loss))
		digestSlice(d, x)
		digestSlice(d, opt.d)
		digestSlice(d, opt.prevFlatGrad)
		d.word(math.Float64bits(opt.t.v))
		d.word(math.Float64bits(opt.hDiag.v))
		d.word(math.Float64bits(opt.prevLoss))
		d.word(uint64(opt.funcEvals))
		d.word(uint64(opt.nIter))
		for i := range opt.count {
			k := (opt.head + i) % cfg.HistorySize
			digestSlice(d, opt.dirs[k])
			digestSlice(d, opt.stps[k])
			d.word(math.Float64bits(opt.ro[k]))
			d.word(math.Float64bits(opt.al[i]))
		}
	}
}

// TestLBFGSSplitParams checks that how the parameters are cut into slices
// does not change a bit: torch flattens them into one vector.
func TestLBFGSSplitParams(t *testing.T) {
	for _, ls := range []LineSearch{NoLineSearch, StrongWolfe} {
		cfg := DefaultLBFGS()
		cfg.LineSearch, cfg.HistorySize = ls, 4
		start := []float64{-1.2, 1, 0.3, -0.7, 2, 1.1, -0.4}
		one := append([]float64(nil), start...)
		opt1, _ := NewLBFGS(cfg, one)
		three := append([]float64(nil), start...)
		opt3, _ := NewLBFGS(cfg, three[:2:2], three[2:2:2], three[2:])
		g := make([]float64, len(start))
		for s := range 3 {
			l1, err1 := opt1.Step(func() (float64, error) { return rosenbrock(one, opt1.Grad(0)), nil })
			l3, err3 := opt3.Step(func() (float64, error) {
				l := rosenbrock(three, g)
				copy(opt3.Grad(0), g[:2])
				copy(opt3.Grad(2), g[2:])
				return l, nil
			})
			if err1 != nil || err3 != nil || l1 != l3 || !equalBits(one, three) {
				t.Fatalf("%q step %d: one slice %v %v, three %v %v", ls, s, l1, err1, l3, err3)
			}
		}
	}
}

// TestLBFGSAllocs checks that Step allocates nothing, from the first.
func TestLBFGSAllocs(t *testing.T) {
	for _, ls := range []LineSearch{NoLineSearch, StrongWolfe} {
		cfg := DefaultLBFGS()
		cfg.LineSearch, cfg.HistorySize = ls, 3
		x := []float32{-1.2, 1, 0.3, -0.7, 2}
		opt, _ := NewLBFGS(cfg, x)
		closure := func() (float64, error) { return float64(rosenbrock(x, opt.Grad(0))), nil }
		if n := testing.AllocsPerRun(20, func() {
			if _, err := opt.Step(closure); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%q: Step allocates %v times", ls, n)
		}
	}
}

// TestLBFGSValidation checks each field's range and the constructor's
// arguments.
func TestLBFGSValidation(t *testing.T) {
	x := []float64{1, 2}
	bad := map[string]func(*LBFGS){
		"LR":              func(c *LBFGS) { c.LR = 0 },
		"LR inf":          func(c *LBFGS) { c.LR = math.Inf(1) },
		"MaxIter":         func(c *LBFGS) { c.MaxIter = 0 },
		"MaxEval":         func(c *LBFGS) { c.MaxEval = -1 },
		"ToleranceGrad":   func(c *LBFGS) { c.ToleranceGrad = math.NaN() },
		"ToleranceChange": func(c *LBFGS) { c.ToleranceChange = -1 },
		"HistorySize":     func(c *LBFGS) { c.HistorySize = 0 },
	}
	for name, f := range bad {
		c := DefaultLBFGS()
		f(&c)
		_, err := NewLBFGS(c, x)
		var he *HyperparameterError
		if !errors.As(err, &he) || he.Rule != "LBFGS" {
			t.Errorf("%s: %v, want a *HyperparameterError of LBFGS", name, err)
		}
	}
	c := DefaultLBFGS()
	c.LineSearch = "backtracking"
	var re *RuleError
	if _, err := NewLBFGS(c, x); !errors.As(err, &re) {
		t.Errorf("LineSearch: %v, want a *RuleError", err)
	}
	var se *ShapeError
	if _, err := NewLBFGS[float64](DefaultLBFGS()); !errors.As(err, &se) {
		t.Errorf("no params: %v, want a *ShapeError", err)
	}
	var oe *OverlapError
	if _, err := NewLBFGS(DefaultLBFGS(), x, x[1:]); !errors.As(err, &oe) {
		t.Errorf("overlapping params: %v, want an *OverlapError", err)
	}
	c = DefaultLBFGS()
	c.HistorySize = math.MaxInt / 4
	if _, err := NewLBFGS(c, x); !errors.As(err, new(*HyperparameterError)) {
		t.Errorf("huge HistorySize: %v, want a *HyperparameterError", err)
	}
	if got := (&LBFGS{MaxIter: 20}).maxEval(); got != 25 {
		t.Errorf("max_eval of max_iter 20 = %d, want 25", got)
	}
}

// TestLBFGSClosureError checks that a failing closure ends the step with
// the parameters of the last successful call, and that the next step
// continues.
func TestLBFGSClosureError(t *testing.T) {
	for _, ls := range []LineSearch{NoLineSearch, StrongWolfe} {
		cfg := DefaultLBFGS()
		cfg.LineSearch = ls
		x := []float64{-1.2, 1, 0.3}
		opt, _ := NewLBFGS(cfg, x)
		boom := errors.New("boom")
		calls, failAt := 0, 0
		var atLast []float64
		closure := func() (float64, error) {
			calls++
			if calls == failAt {
				return 0, boom
			}
			atLast = append(atLast[:0], x...)
			return rosenbrock(x, opt.Grad(0)), nil
		}
		// The first call fails: nothing changes.
		calls, failAt = 0, 1
		if _, err := opt.Step(closure); !errors.Is(err, boom) || opt.Evaluations() != 0 || opt.Iterations() != 0 {
			t.Fatalf("%q: first call failing: %v, evals %d, iters %d", ls, err, opt.Evaluations(), opt.Iterations())
		}
		if !equalBits(x, []float64{-1.2, 1, 0.3}) {
			t.Fatalf("%q: params changed: %v", ls, x)
		}
		// A later call fails: the params are where the iteration began.
		calls, failAt = 0, 5
		_, err := opt.Step(closure)
		var ce *ClosureError
		if !errors.As(err, &ce) || ce.Eval != 5 {
			t.Fatalf("%q: %v, want a *ClosureError of call 5", ls, err)
		}
		if opt.Evaluations() != 4 {
			t.Errorf("%q: func_evals %d after 4 successful calls", ls, opt.Evaluations())
		}
		if !equalBits(x, opt.x) {
			t.Errorf("%q: params %v are not the iteration's start %v", ls, x, opt.x)
		}
		calls, failAt = 0, 0
		if _, err := opt.Step(closure); err != nil {
			t.Fatalf("%q: the next step: %v", ls, err)
		}
		if _, err := opt.Step(nil); err == nil {
			t.Errorf("%q: a nil closure is no error", ls)
		}
	}
}

// TestLBFGSNaNLoss follows torch: a NaN loss or gradient is no error.
func TestLBFGSNaNLoss(t *testing.T) {
	x := []float32{1, 2}
	opt, _ := NewLBFGS(DefaultLBFGS(), x)
	loss, err := opt.Step(func() (float64, error) {
		g := opt.Grad(0)
		g[0], g[1] = float32(math.NaN()), 1
		return math.NaN(), nil
	})
	if err != nil || !math.IsNaN(loss) {
		t.Errorf("Step = %v, %v; want NaN, nil", loss, err)
	}
}

// TestFMA32 checks fma32 against the exact a·b + c rounded once to
// float32 (math/big), on random operands whose sums cancel and round at
// every distance, subnormal results included.
func TestFMA32(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	f := func() float32 {
		return float32(math.Ldexp(float64(r.Int32N(1<<24)-1<<23), r.IntN(60)-70))
	}
	for i := range 200000 {
		a, b, c := f(), f(), f()
		if i%3 == 0 {
			c = -float32(float64(a) * float64(b)) // cancellation
		}
		exact := new(big.Float).SetPrec(200).Mul(big.NewFloat(float64(a)), big.NewFloat(float64(b)))
		exact.Add(exact, big.NewFloat(float64(c)))
		want, _ := exact.Float32()
		if got := fma32(a, b, c); math.Float32bits(got) != math.Float32bits(want) && !(got == 0 && want == 0) {
			t.Fatalf("fma32(%g, %g, %g) = %g, want %g", a, b, c, got, want)
		}
	}
}

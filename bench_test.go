package optim

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// benchRules are the rules timed by BenchmarkStep: every rule, plus the
// option families that change which state a kernel streams or which
// operations it runs (weight decay, momentum, centering, AMSGrad).
var benchRules = []struct {
	name string
	rule Rule
}{
	{"sgd", DefaultSGD()},
	{"sgd_wd", SGD{LR: 1e-3, WeightDecay: 1e-2}},
	{"momentum", SGD{LR: 1e-3, Momentum: 0.9}},
	{"momentum_dampening", SGD{LR: 1e-3, Momentum: 0.9, Dampening: 0.1}},
	{"nesterov", SGD{LR: 1e-3, Momentum: 0.9, Nesterov: true}},
	{"adagrad", DefaultAdagrad()},
	{"adagrad_wd", Adagrad{LR: 1e-2, Eps: 1e-10, WeightDecay: 1e-2}},
	{"rmsprop", DefaultRMSProp()},
	{"rmsprop_momentum", RMSProp{LR: 1e-2, Alpha: 0.99, Eps: 1e-8, Momentum: 0.9}},
	{"rmsprop_centered", RMSProp{LR: 1e-2, Alpha: 0.99, Eps: 1e-8, Centered: true}},
	{"rmsprop_centered_momentum", RMSProp{LR: 1e-2, Alpha: 0.99, Eps: 1e-8, Momentum: 0.9, Centered: true}},
	{"adam", DefaultAdam()},
	{"adam_wd", Adam{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 1e-2}},
	{"adamw", DefaultAdamW()},
	{"adam_amsgrad", Adam{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, AMSGrad: true}},
	{"adamw_amsgrad", Adam{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 1e-2, AMSGrad: true, Decoupled: true}},
}

// benchSizes span L1-resident (1024) to far beyond the last-level cache
// (1<<24, where Adam float64 keeps ~670 MB live, skipped under -short).
var benchSizes = []int{1 << 10, 1 << 16, 1 << 20, 1 << 24}

// BenchmarkStep times Optimizer.Step on one parameter slice of n elements.
// SetBytes counts each of p, g and every state slice read once and p and
// every state slice written once (Adam: 7 accesses of sizeof(T) per
// parameter), so MB/s compares directly with BenchmarkCopy.
func BenchmarkStep(b *testing.B) {
	for _, r := range benchRules {
		b.Run(r.name, func(b *testing.B) {
			b.Run("float32", func(b *testing.B) { benchSteps[float32](b, r.rule) })
			b.Run("float64", func(b *testing.B) { benchSteps[float64](b, r.rule) })
		})
	}
}

func benchSteps[T float32 | float64](b *testing.B, rule Rule) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			if n > 1<<20 {
				if testing.Short() {
					b.Skip("large size skipped under -short")
				}
				// The previous large benchmark's slices are garbage now:
				// collect them before allocating as much again.
				runtime.GC()
			}
			p, g := make([]T, n), make([]T, n)
			for i := range p {
				p[i] = T(i%1000)*1e-3 - 0.5
				g[i] = T(i%777)*1e-3 - 0.4
			}
			opt, err := New(rule, p)
			if err != nil {
				b.Fatal(err)
			}
			// One goroutine: this benchmark times the kernels;
			// BenchmarkWorkers times the parallel step.
			if err := opt.SetWorkers(1); err != nil {
				b.Fatal(err)
			}
			// One step outside the timer: SGD's first momentum step only
			// writes the buffer, every later step reads it too.
			if err := opt.Step(g); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(streamedPerParam(b, opt)) * int64(n))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := opt.Step(g); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// streamedPerParam returns the bytes one step reads and writes per
// parameter: p read and written, g read, and each state slice the rule keeps
// read and written.
func streamedPerParam[T float32 | float64](b *testing.B, opt *Optimizer[T]) int {
	s, err := opt.State(0)
	if err != nil {
		b.Fatal(err)
	}
	accesses := 3
	for _, st := range [][]T{s.MomentumBuffer, s.Sum, s.SquareAvg, s.GradAvg, s.ExpAvg, s.ExpAvgSq, s.MaxExpAvgSq} {
		if st != nil {
			accesses += 2
		}
	}
	var zero T
	return accesses * int(unsafe.Sizeof(zero))
}

// BenchmarkCopy is the bandwidth reference: Go's copy moving as many bytes
// as an Adam float32 step over n parameters (28 bytes each: 14 read, 14
// written). It is a reference, not a ceiling: the runtime's memmove picks
// its own instructions for large copies, and a kernel can beat it.
// Its working set is 28 bytes per parameter, Adam's 16 (p, g, m, v), so
// near a cache's capacity the two can sit in different levels; at n=1<<24
// both are far beyond any cache and the ratio is the DRAM one.
func BenchmarkCopy(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			if n > 1<<20 && testing.Short() {
				b.Skip("large size skipped under -short")
			}
			src, dst := make([]byte, 14*n), make([]byte, 14*n)
			b.SetBytes(28 * int64(n))
			b.ResetTimer()
			for range b.N {
				copy(dst, src)
			}
		})
	}
}

// BenchmarkGroups compares one group of 100,000 parameters with 100 groups
// of 1,000 (each its own rule value, as a scheduler leaves them): the
// per-group work (scalars, dispatch) must stay small against the update.
func BenchmarkGroups(b *testing.B) {
	const total = 100_000
	for _, c := range []struct{ groups, workers int }{{1, 1}, {100, 1}, {1, 0}, {100, 0}} {
		groups := c.groups
		b.Run(fmt.Sprintf("adam/float32/workers=%d/groups=%d", c.workers, groups), func(b *testing.B) {
			var gs []Group[float32]
			var grads [][]float32
			for k := range groups {
				n := total / groups
				p, g := make([]float32, n), make([]float32, n)
				for i := range p {
					p[i] = float32(i%1000)*1e-3 - 0.5
					g[i] = float32((i+k)%777)*1e-3 - 0.4
				}
				gs = append(gs, Group[float32]{Rule: DefaultAdamW(), Params: [][]float32{p}})
				grads = append(grads, g)
			}
			opt, err := NewGroups(gs...)
			if err != nil {
				b.Fatal(err)
			}
			defer opt.Close()
			if err := opt.SetWorkers(c.workers); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(7 * 4 * total)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := opt.Step(grads...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWorkers times float32 Adam (AdamW) steps over one parameter of n
// elements with 1 worker and with every core (GOMAXPROCS), next to
// BenchmarkCopyParallel, the same bytes moved by as many goroutines.
// Per-parameter time at 2^26 against 2^24 shows whether the streams
// collide in the cache (see staggerGap).
func BenchmarkWorkers(b *testing.B) {
	for _, n := range []int{1 << 12, 1 << 16, 1 << 20, 1 << 24, 1 << 26} {
		for _, w := range []int{1, runtime.GOMAXPROCS(0)} {
			b.Run(fmt.Sprintf("n=%d/workers=%d", n, w), func(b *testing.B) {
				if n > 1<<20 && testing.Short() {
					b.Skip("large size skipped under -short")
				}
				runtime.GC()
				p, g := make([]float32, n), make([]float32, n)
				for i := range p {
					p[i] = float32(i%1000)*1e-3 - 0.5
					g[i] = float32(i%777)*1e-3 - 0.4
				}
				opt, err := New(DefaultAdamW(), p)
				if err != nil {
					b.Fatal(err)
				}
				defer opt.Close()
				if err := opt.SetWorkers(w); err != nil {
					b.Fatal(err)
				}
				if err := opt.Step(g); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(28 * int64(n))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if err := opt.Step(g); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkCopyParallel moves Adam's 28 bytes per parameter with copy() in
// GOMAXPROCS goroutines, each its own contiguous part: the bandwidth a plain
// parallel Go loop reaches, the reference for BenchmarkWorkers.
func BenchmarkCopyParallel(b *testing.B) {
	for _, n := range []int{1 << 24, 1 << 26} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			if testing.Short() {
				b.Skip("large size skipped under -short")
			}
			runtime.GC()
			w := runtime.GOMAXPROCS(0)
			src, dst := make([]byte, 14*n), make([]byte, 14*n)
			b.SetBytes(28 * int64(n))
			b.ResetTimer()
			for range b.N {
				var wg sync.WaitGroup
				for k := range w {
					lo, hi := len(src)*k/w, len(src)*(k+1)/w
					wg.Add(1)
					go func() { copy(dst[lo:hi], src[lo:hi]); wg.Done() }()
				}
				wg.Wait()
			}
		})
	}
}

// BenchmarkSplitThreshold measures where splitting a step between two
// workers starts to pay: float32 AdamW at sizes around parallelMin, with
// the split forced (parallelMin lowered) against one worker. The crossover
// set parallelMin; see docs/guide.md ("Every core").
func BenchmarkSplitThreshold(b *testing.B) {
	for _, n := range []int{1 << 12, 1 << 14, 1 << 15, 3 << 14, 1 << 16, 1 << 17, 1 << 18, 1 << 19, 1 << 20, 1 << 21, 1 << 22} {
		for _, w := range []int{1, 2} {
			b.Run(fmt.Sprintf("n=%d/workers=%d", n, w), func(b *testing.B) {
				lowParallelMin(b, 1024)
				p, g := make([]float32, n), make([]float32, n)
				opt, err := New(DefaultAdamW(), p)
				if err != nil {
					b.Fatal(err)
				}
				defer opt.Close()
				if err := opt.SetWorkers(w); err != nil {
					b.Fatal(err)
				}
				_ = opt.Step(g)
				b.SetBytes(28 * int64(n))
				b.ResetTimer()
				for range b.N {
					_ = opt.Step(g)
				}
			})
		}
	}
}

// BenchmarkOwnedGrads times a float32 AdamW step with passed gradients
// (Step(grads...)), with owned ones (Step()), and with the owned ones
// cleared and set again as a training loop does every step (ZeroGrad,
// then Grad for every parameter, then Step()), over one large parameter
// and over 100 small ones, on one worker. SetBytes counts what the step
// streams, as BenchmarkStep.
func BenchmarkOwnedGrads(b *testing.B) {
	for _, shape := range []struct {
		name      string
		params, n int
	}{{"1x1048576", 1, 1 << 20}, {"100x1024", 100, 1024}} {
		params := make([][]float32, shape.params)
		grads := make([][]float32, shape.params)
		for k := range params {
			params[k], grads[k] = make([]float32, shape.n), make([]float32, shape.n)
			for i := range grads[k] {
				grads[k][i] = float32(i%777)*1e-3 - 0.4
			}
		}
		opt, err := New(DefaultAdamW(), params...)
		if err != nil {
			b.Fatal(err)
		}
		if err := opt.SetWorkers(1); err != nil {
			b.Fatal(err)
		}
		fill := func() {
			opt.ZeroGrad()
			for k := range params {
				buf, _ := opt.Grad(k)
				copy(buf, grads[k])
			}
		}
		fill()
		if err := opt.Step(); err != nil {
			b.Fatal(err)
		}
		bytes := int64(streamedPerParam(b, opt)) * int64(shape.params*shape.n)
		for _, c := range []struct {
			name string
			step func() error
		}{
			{"passed", func() error { return opt.Step(grads...) }},
			{"owned", func() error { return opt.Step() }},
			{"owned_zero_grad", func() error { opt.ZeroGrad(); fill(); return opt.Step() }},
		} {
			b.Run(shape.name+"/"+c.name, func(b *testing.B) {
				b.SetBytes(bytes)
				b.ReportAllocs()
				for range b.N {
					if err := c.step(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkReductionSplit measures where splitting the gradient reductions
// between two workers pays, as BenchmarkSplitThreshold does for steps: the
// optimizer's GradNorm (a read-only sum) and ClipGradNorm (a sum, then a
// scaling pass) over one gradient, with the split forced.
func BenchmarkReductionSplit(b *testing.B) {
	for _, n := range []int{1 << 14, 1 << 15, 1 << 16, 1 << 17, 1 << 18, 1 << 20} {
		for _, w := range []int{1, 2} {
			p, g := make([]float32, n), make([]float32, n)
			for i := range g {
				g[i] = float32(i%1000) * 0x1p-10
			}
			opt, err := New(DefaultAdamW(), p)
			if err != nil {
				b.Fatal(err)
			}
			setSplit(b, opt, w, 1024)
			b.Run(fmt.Sprintf("GradNorm/n=%d/workers=%d", n, w), func(b *testing.B) {
				b.SetBytes(4 * int64(n))
				for b.Loop() {
					if _, err := opt.GradNorm(2, g); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("ClipGradNorm/n=%d/workers=%d", n, w), func(b *testing.B) {
				b.SetBytes(4 * int64(n))
				for b.Loop() {
					if _, err := opt.ClipGradNorm(1e30, 2, false, g); err != nil {
						b.Fatal(err)
					}
				}
			})
			opt.Close()
		}
	}
}

// BenchmarkStepAfterPause times one float32 AdamW step that follows a pause
// longer than the workers spin (spinFor), as in a training loop whose
// forward and backward passes take a while: the workers are parked, and
// the step must not cost more than on one worker. Only the step is timed
// (ns/step).
func BenchmarkStepAfterPause(b *testing.B) {
	for _, n := range []int{1 << 16, 1 << 20} {
		for _, w := range []int{1, 2} {
			b.Run(fmt.Sprintf("n=%d/workers=%d", n, w), func(b *testing.B) {
				lowParallelMin(b, 1<<14)
				p, g := make([]float32, n), make([]float32, n)
				opt, err := New(DefaultAdamW(), p)
				if err != nil {
					b.Fatal(err)
				}
				defer opt.Close()
				if err := opt.SetWorkers(w); err != nil {
					b.Fatal(err)
				}
				_ = opt.Step(g)
				var total time.Duration
				for range b.N {
					time.Sleep(spinFor + 300*time.Microsecond)
					start := time.Now()
					_ = opt.Step(g)
					total += time.Since(start)
				}
				b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/step")
			})
		}
	}
}

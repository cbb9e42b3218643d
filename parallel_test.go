package optim

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// lowParallelMin lets small tests exercise every split.
func lowParallelMin(t testing.TB, n int) {
	old := parallelMin
	parallelMin = n
	t.Cleanup(func() { parallelMin = old })
}

// parallelParams is a mix of one big parameter and many small ones, at odd
// offsets, with every rule's state.
func parallelParams[T testFloat](seed uint64) (params [][]T, grads [][][]T) {
	lens := []int{1000, 1, 0, 37, 16, 17, 513, 3, 2048, 5}
	var out [][]T
	for k, n := range lens {
		mem := make([]T, n+k%5)
		p := mem[k%5:]
		for i := range p {
			p[i] = T((i*7+k+int(seed))%23-11) / 8
		}
		out = append(out, p)
	}
	for s := range 4 {
		var gs [][]T
		for k, n := range lens {
			g := make([]T, n)
			for i := range g {
				g[i] = T((i*5+k*3+s)%19-9) / 4
			}
			gs = append(gs, g)
		}
		grads = append(grads, gs)
	}
	return out, grads
}

// TestParallelBitIdentical: every worker count gives the bits of one.
func TestParallelBitIdentical(t *testing.T) {
	lowParallelMin(t, 16)
	testParallelBitIdentical[float32](t)
	testParallelBitIdentical[float64](t)
}

func testParallelBitIdentical[T testFloat](t *testing.T) {
	workerCounts := []int{1, 2, 3, 7, 8, 13, 64}
	if testing.Short() {
		workerCounts = []int{1, 2, 3, 7}
	}
	for _, c := range caseConfigs() {
		var ref [][]T
		var refState []map[string]*[]T
		for _, w := range workerCounts {
			params, grads := parallelParams[T](1)
			// Two groups with the same rule and one with SGD, so that the
			// per-parameter scalar table has several entries.
			o, err := NewGroups(Group[T]{Rule: c.rule, Params: params[:4]}, Group[T]{Rule: SGD{LR: 0.01, Momentum: 0.5}, Params: params[4:6]}, Group[T]{Rule: c.rule, Params: params[6:]})
			if err != nil {
				t.Fatal(err)
			}
			if err := o.SetWorkers(w); err != nil {
				t.Fatal(err)
			}
			for s := range grads {
				if err := o.Step(grads[s]...); err != nil {
					t.Fatal(err)
				}
			}
			var states []map[string]*[]T
			for i := range params {
				st, _ := o.State(i)
				states = append(states, stateByKey(&st))
			}
			o.Close()
			if ref == nil {
				ref, refState = params, states
				continue
			}
			for i := range params {
				if j := firstDiff(params[i], ref[i]); j >= 0 {
					t.Fatalf("%#v %s, %d workers: param %d differs at %d", c.rule, dtypeName[T](), w, i, j)
				}
				for name, s := range states[i] {
					if j := firstDiff(*s, *refState[i][name]); j >= 0 {
						t.Fatalf("%#v, %d workers: %s of param %d differs at %d", c.rule, w, name, i, j)
					}
				}
			}
		}
	}
}

// TestMakePlan: the shares cover every element exactly once, in order, and
// every cut inside a parameter is at a cache line.
func TestMakePlan(t *testing.T) {
	params, _ := parallelParams[float32](0)
	total := 0
	for _, p := range params {
		total += len(p)
	}
	for n := 1; n <= 70; n++ {
		segs, bounds := makePlan(params, total, n)
		if len(bounds) != n+1 || bounds[0] != 0 || bounds[n] != len(segs) {
			t.Fatalf("n=%d: bounds %v for %d segments", n, bounds, len(segs))
		}
		next := make([]int, len(params))
		for _, s := range segs {
			if s.lo != next[s.param] || s.hi <= s.lo {
				t.Fatalf("n=%d: segment %+v, expected to start at %d", n, s, next[s.param])
			}
			next[s.param] = s.hi
			p := params[s.param]
			if s.lo > 0 && uintptr(unsafe.Pointer(&p[s.lo]))%cacheLine != 0 {
				t.Errorf("n=%d: cut inside param %d at %d is not at a cache line", n, s.param, s.lo)
			}
		}
		for i, p := range params {
			if next[i] != len(p) {
				t.Fatalf("n=%d: param %d covered up to %d of %d", n, i, next[i], len(p))
			}
		}
	}
}

func TestParallelAllocatesNothing(t *testing.T) {
	lowParallelMin(t, 16)
	params, grads := parallelParams[float32](2)
	o, err := New(DefaultAdamW(), params...)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if err := o.SetWorkers(8); err != nil {
		t.Fatal(err)
	}
	_ = o.Step(grads[0]...) // starts the workers
	if n := testing.AllocsPerRun(50, func() { _ = o.Step(grads[1]...) }); n != 0 {
		t.Errorf("a parallel Step with 8 workers allocates %v times", n)
	}
}

// TestWorkersDoNotLeak: Close stops the workers, and so does collecting an
// optimizer that was never closed.
func TestWorkersDoNotLeak(t *testing.T) {
	lowParallelMin(t, 16)
	waitWorkers(t, 0, "before the test") // other tests' optimizers
	params, grads := parallelParams[float64](3)
	o, _ := New(DefaultAdam(), params...)
	_ = o.SetWorkers(6)
	_ = o.Step(grads[0]...)
	if n := workerGoroutines(); n != 5 {
		t.Fatalf("%d worker goroutines with 6 workers, want 5", n)
	}
	o.Close()
	waitWorkers(t, 0, "after Close")
	// The optimizer stays usable after Close.
	if err := o.Step(grads[1]...); err != nil {
		t.Fatal(err)
	}
	if n := workerGoroutines(); n != 5 {
		t.Fatalf("%d worker goroutines after a step that followed Close, want 5", n)
	}
	o = nil
	waitWorkers(t, 0, "after the optimizer was collected")
}

// workerGoroutines counts the pool's worker goroutines, started or not:
// each one's trace ends with the function that started it.
func workerGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "created by github.com/simdoptim/optim.(*pool).grow ")
		}
		buf = make([]byte, 2*len(buf))
	}
}

func waitWorkers(t *testing.T, want int, when string) {
	t.Helper()
	for range 400 {
		runtime.GC()
		if workerGoroutines() == want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Errorf("%s: %d worker goroutines, want %d", when, workerGoroutines(), want)
}

func TestSetWorkers(t *testing.T) {
	o, _ := New(DefaultSGD(), make([]float32, 4))
	if o.Workers() != 1 {
		t.Errorf("default Workers() over 4 elements = %d, want 1", o.Workers())
	}
	for _, n := range []int{-1, maxWorkers + 1} {
		var he *HyperparameterError
		if err := o.SetWorkers(n); !errors.As(err, &he) || he.Field != "n" {
			t.Errorf("SetWorkers(%d): %v, want a *HyperparameterError", n, err)
		}
	}
	if err := o.SetWorkers(3); err != nil || o.Workers() != 1 {
		t.Errorf("SetWorkers(3) over 4 elements: %v, Workers %d, want 1", err, o.Workers())
	}
	// A small step runs on the caller: no goroutines are started.
	_ = o.Step(make([]float32, 4))
	if o.pool != nil {
		t.Error("a 4-element step started workers")
	}
	// With a threshold of 1 element, every worker asked for steps a share.
	if err := o.SetParallelMin(1); err != nil {
		t.Fatal(err)
	}
	if o.Workers() != 3 {
		t.Errorf("SetWorkers(3), SetParallelMin(1) over 4 elements: Workers %d, want 3", o.Workers())
	}
	if err := o.SetWorkers(0); err != nil || o.Workers() != min(runtime.GOMAXPROCS(0), 4) {
		t.Errorf("SetWorkers(0), SetParallelMin(1) over 4 elements: Workers %d, want min(GOMAXPROCS, 4)", o.Workers())
	}
}

func ExampleOptimizer_SetWorkers() {
	w := make([]float32, 1<<20)
	g := make([]float32, len(w))
	opt, _ := New(DefaultAdamW(), w)
	defer opt.Close()
	_ = opt.SetWorkers(0) // every core (the default)
	_ = opt.Step(g)
	fmt.Println(opt.Steps())
	// Output: 1
}

// TestWorkersStartOnlyWhatAStepUses: SetWorkers(1024) on a step that
// splits in two starts one goroutine besides the caller (it started 1023);
// a larger step then starts what it needs.
func TestWorkersStartOnlyWhatAStepUses(t *testing.T) {
	lowParallelMin(t, 16)
	waitWorkers(t, 0, "before the test")
	small, big := make([]float32, 40), make([]float32, 100)
	o, err := New(DefaultSGD(), small)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if err := o.SetWorkers(maxWorkers); err != nil {
		t.Fatal(err)
	}
	if err := o.Step(make([]float32, len(small))); err != nil {
		t.Fatal(err)
	}
	if n := workerGoroutines(); n != 1 {
		t.Fatalf("%d worker goroutines for a 40-element step with SetWorkers(%d) and 16 elements per worker, want 1", n, maxWorkers)
	}
	if err := o.AddGroup(Group[float32]{Rule: DefaultSGD(), Params: [][]float32{big}}); err != nil {
		t.Fatal(err)
	}
	if err := o.Step(make([]float32, len(small)), make([]float32, len(big))); err != nil {
		t.Fatal(err)
	}
	if n := workerGoroutines(); n != 140/16-1 {
		t.Fatalf("%d worker goroutines for a 140-element step, want %d", n, 140/16-1)
	}
}

package optim

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestCopies: with copies, the float32 trajectory is the plain float32
// step's bit for bit, and every copy is its master's conversion after
// every step; StepLowGrads follows Step on the widened gradients. Both
// formats, several rules, one and two workers.
func TestCopies(t *testing.T) {
	t.Run("bfloat16", func(t *testing.T) { testCopies[BFloat16](t) })
	t.Run("float16", func(t *testing.T) { testCopies[Float16](t) })
}

func testCopies[H BFloat16 | Float16](t *testing.T) {
	f := formatOf[H]()
	sizes := []int{5000, 1, 0, 40000}
	if testing.Short() {
		sizes = []int{3000, 1, 0, 5000}
	}
	for _, c := range lowCases() {
		if c.opts != (LowOptions{}) {
			continue // the storage options are LowOptimizer's
		}
		for _, workers := range []int{1, 2} {
			for _, low := range []bool{false, true} {
				rng := rand.New(rand.NewPCG(8, 9))
				var plain, master [][]float32
				var copies [][]H
				var last [][]float32
				for _, n := range sizes {
					p := make([]float32, n)
					for j := range p {
						p[j] = float32(rng.NormFloat64())
					}
					plain = append(plain, p)
					master = append(master, slices.Clone(p))
					copies = append(copies, make([]H, n))
				}
				ref, err := New(c.rule, plain...)
				if err != nil {
					t.Fatal(err)
				}
				opt, err := New(c.rule, master...)
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range []*Optimizer[float32]{ref, opt} {
					o.SetWorkers(workers)
					o.SetParallelMin(1000)
				}
				if err := SetCopies(opt, copies...); err != nil {
					t.Fatal(err)
				}
				for step := range 3 {
					grads := make([][]float32, len(sizes))
					grads16 := make([][]H, len(sizes))
					for i, n := range sizes {
						if i == 1 && step == 1 {
							continue // a nil gradient keeps its parameter and copy
						}
						grads16[i] = lowValues[H](rng, n, 0.1)
						grads[i] = make([]float32, n)
						for j, h := range grads16[i] {
							grads[i][j] = f.Widen(uint16(h))
						}
					}
					last = grads
					if err := ref.Step(grads...); err != nil {
						t.Fatal(err)
					}
					if low {
						err = StepLowGrads(opt, grads16...)
					} else {
						err = opt.Step(grads...)
					}
					if err != nil {
						t.Fatal(err)
					}
					for i := range master {
						if !slices.Equal(master[i], plain[i]) {
							t.Fatalf("%s, %d workers, 16-bit grads %v, step %d: parameter %d differs from the plain step's", c.name, workers, low, step+1, i)
						}
						for j, h := range copies[i] {
							if uint16(h) != f.Narrow(master[i][j]) {
								t.Fatalf("%s, %d workers, step %d: copy %d[%d] = %#04x, the master's conversion %#04x", c.name, workers, step+1, i, j, uint16(h), f.Narrow(master[i][j]))
							}
						}
					}
				}
				if n := testing.AllocsPerRun(3, func() { opt.Step(last...) }); n != 0 && !underRace {
					t.Errorf("%s: %v allocations per Step with copies", c.name, n)
				}
				ref.Close()
				opt.Close()
			}
		}
	}
}

// TestCopiesErrors: copies that do not fit, or overlap what the optimizer
// writes, are refused and change nothing; StepLowGrads needs copies of its
// format; AddGroup is refused while copies are set.
func TestCopiesErrors(t *testing.T) {
	p := make([]float32, 16)
	opt, err := New(DefaultAdam(), p)
	if err != nil {
		t.Fatal(err)
	}
	var shape *ShapeError
	if err := SetCopies(opt, make([]BFloat16, 15)); !errors.As(err, &shape) {
		t.Errorf("short copy: %v, want a *ShapeError", err)
	}
	var ruleErr *RuleError
	if err := StepLowGrads(opt, make([]BFloat16, 16)); !errors.As(err, &ruleErr) {
		t.Errorf("StepLowGrads without copies: %v, want a *RuleError", err)
	}
	buf := make([]BFloat16, 32)
	if err := SetCopies(opt, buf[:16]); err != nil {
		t.Fatal(err)
	}
	var overlap *OverlapError
	if err := StepLowGrads(opt, buf[8:24]); !errors.As(err, &overlap) {
		t.Errorf("a gradient over the copy: %v, want an *OverlapError", err)
	}
	if err := StepLowGrads(opt, make([]Float16, 16)); !errors.As(err, &ruleErr) {
		t.Errorf("float16 gradients with bfloat16 copies: %v, want a *RuleError", err)
	}
	if err := opt.AddGroup(Group[float32]{Rule: DefaultAdam(), Params: [][]float32{make([]float32, 4)}}); !errors.As(err, &ruleErr) {
		t.Errorf("AddGroup with copies: %v, want a *RuleError", err)
	}
	if opt.Steps() != 0 {
		t.Error("a refused call stepped")
	}
	if err := SetCopies[BFloat16](opt); err != nil {
		t.Fatal(err)
	}
	if err := opt.AddGroup(Group[float32]{Rule: DefaultAdam(), Params: [][]float32{make([]float32, 4)}}); err != nil {
		t.Errorf("AddGroup after the copies were dropped: %v", err)
	}
}

package optim

import (
	"errors"
	"runtime"
	"testing"
)

// TestWorkersSaysWhatAStepUses: Workers reports the goroutines the next
// Step runs on, not the setting: a step over fewer than twice the split
// threshold runs on the caller alone whatever SetWorkers asked for.
func TestWorkersSaysWhatAStepUses(t *testing.T) {
	small, err := New[float32](DefaultAdamW(), make([]float32, 1000))
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	if err := small.SetWorkers(2); err != nil {
		t.Fatal(err)
	}
	if got := small.Workers(); got != 1 {
		t.Errorf("SetWorkers(2) over 1000 elements: Workers() = %d, but a step runs on 1 goroutine", got)
	}
	if err := small.Step(make([]float32, 1000)); err != nil {
		t.Fatal(err)
	}
	if small.pool != nil {
		t.Errorf("a step that Workers() says runs on 1 goroutine started workers")
	}
	if small.Workers() != 1 || runtime.GOMAXPROCS(0) < 1 {
		t.Errorf("Workers() = %d after a step", small.Workers())
	}
}

// TestSetParallelMin: the threshold is the optimizer's, validated, and
// decides Workers and the split of a step, whose bits do not change.
func TestSetParallelMin(t *testing.T) {
	p := make([]float32, 4096)
	for i := range p {
		p[i] = float32(i%17) / 16
	}
	q := append([]float32(nil), p...)
	g := make([]float32, len(p))
	for i := range g {
		g[i] = float32(i%13)/8 - 0.75
	}
	split, _ := New[float32](DefaultAdamW(), p)
	whole, _ := New[float32](DefaultAdamW(), q)
	defer split.Close()
	if split.ParallelMin() != defaultParallelMin {
		t.Errorf("default ParallelMin() = %d, want %d", split.ParallelMin(), defaultParallelMin)
	}
	for _, n := range []int{-1, maxParallelMin + 1} {
		var he *HyperparameterError
		if err := split.SetParallelMin(n); !errors.As(err, &he) || he.Field != "n" {
			t.Errorf("SetParallelMin(%d): %v, want a *HyperparameterError", n, err)
		}
	}
	if err := split.SetParallelMin(1024); err != nil {
		t.Fatal(err)
	}
	if err := split.SetWorkers(3); err != nil {
		t.Fatal(err)
	}
	if split.ParallelMin() != 1024 || split.Workers() != 3 {
		t.Fatalf("SetParallelMin(1024), SetWorkers(3) over 4096: ParallelMin %d, Workers %d", split.ParallelMin(), split.Workers())
	}
	for range 3 {
		if err := split.Step(g); err != nil {
			t.Fatal(err)
		}
		if err := whole.Step(g); err != nil {
			t.Fatal(err)
		}
	}
	if split.pool == nil || len(split.pool.workers) != 2 {
		t.Errorf("a step that Workers() says runs on 3 goroutines did not start 2 workers")
	}
	if j := firstDiff(p, q); j >= 0 {
		t.Errorf("split step differs at [%d]", j)
	}
	if err := split.SetParallelMin(0); err != nil || split.ParallelMin() != defaultParallelMin || split.Workers() != 1 {
		t.Errorf("SetParallelMin(0): %v, ParallelMin %d, Workers %d", err, split.ParallelMin(), split.Workers())
	}
}

package optim

import (
	"fmt"
	"hash/fnv"
	"slices"
	"testing"

	"github.com/simdoptim/optim/kernels"
)

// The digest of parameters without a gradient: every digest configuration
// of ruleCases run over digestInputs with some gradients nil
// (digestSkips), hashed with each parameter's step count and whether its
// state exists. It was recorded as the others are, from the logged
// "digest" of `go test -run DigestSkipped -v .`.
const digestSkippedWant = 0x45ca6fd15909cc4c

// digestSkips reports whether parameter pi has no gradient at step s of
// the skipped-parameter digest: param 3 never has one, param 30 none
// before step 10 (its state is created by a first step among parameters
// at step 11), and the others now and then.
func digestSkips(s, pi int) bool {
	switch pi {
	case 3:
		return true
	case 30:
		return s < 10
	}
	return (pi*7+s*3)%5 == 0
}

// withSkips returns grads with the gradients digestSkips drops set to nil.
func withSkips[T testFloat](grads [][][]T) [][][]T {
	out := make([][][]T, len(grads))
	for s, gs := range grads {
		out[s] = slices.Clone(gs)
		for pi := range gs {
			if digestSkips(s, pi) {
				out[s][pi] = nil
			}
		}
	}
	return out
}

// skippedResult is a digest run's result with, per parameter, its step
// count and whether its state exists.
type skippedResult[T testFloat] struct {
	digestResult[T]
	steps  []int64
	exists []bool
}

type skippedRun[T testFloat] func(rule Rule, params [][]T, grads [][][]T) skippedResult[T]

// skippedAPI steps through New and Step(grads...) with nil gradients, or
// with owned gradients left unset (Step()), on workers workers.
func skippedAPI[T testFloat](t *testing.T, workers int, owned bool) skippedRun[T] {
	return func(rule Rule, params [][]T, grads [][][]T) skippedResult[T] {
		opt, err := New[T](rule, params...)
		if err != nil {
			t.Fatal(err)
		}
		defer opt.Close()
		if err := opt.SetWorkers(workers); err != nil {
			t.Fatal(err)
		}
		for _, gs := range grads {
			if !owned {
				if err := opt.Step(gs...); err != nil {
					t.Fatal(err)
				}
				continue
			}
			opt.ZeroGrad()
			for i, g := range gs {
				if g != nil {
					buf, _ := opt.Grad(i)
					copy(buf, g)
				}
			}
			if err := opt.Step(); err != nil {
				t.Fatal(err)
			}
		}
		r := skippedResult[T]{digestResult: digestResult[T]{opt.params, opt.state, opt.scalars}, steps: opt.steps}
		kind := mustKernelKind(t, rule)
		for i := range params {
			r.exists = append(r.exists, opt.hasState(i, kind))
		}
		return r
	}
}

// skippedSet steps one set's raw kernels by hand, each parameter only at
// the steps it has a gradient.
func skippedSet[T testFloat](t *testing.T, set string) skippedRun[T] {
	return func(rule Rule, params [][]T, grads [][][]T) skippedResult[T] {
		s, ok := lookupSupported(set)
		if !ok {
			t.Fatalf("set %s vanished", set)
		}
		var ms []*manual[T]
		for _, p := range params {
			ms = append(ms, newManual(t, s, rule, p))
		}
		for _, gs := range grads {
			for i, m := range ms {
				if gs[i] != nil {
					m.step(t, gs[i])
				}
			}
		}
		r := skippedResult[T]{digestResult: digestResult[T]{params: params}}
		for _, m := range ms {
			r.state = append(r.state, m.state)
			r.scalars = append(r.scalars, m.scalars)
			r.steps = append(r.steps, m.steps)
			// A step creates state where the rule keeps some (SGD without
			// momentum keeps none).
			r.exists = append(r.exists, m.steps > 0 && m.state[0] != nil)
		}
		return r
	}
}

func skippedRuns(t *testing.T, configs []Rule, run32 skippedRun[float32], run64 skippedRun[float64]) uint64 {
	d := &digestWriter{h: fnv.New64a()}
	for ci, rule := range configs {
		kind := mustKernelKind(t, rule)
		p32, g32 := digestInputs[float32](ci)
		skippedResultTo(d, kind, run32(rule, p32, withSkips(g32)))
		p64, g64 := digestInputs[float64](ci)
		skippedResultTo(d, kind, run64(rule, p64, withSkips(g64)))
	}
	return d.h.Sum64()
}

func skippedResultTo[T testFloat](d *digestWriter, kind kernels.Kind, r skippedResult[T]) {
	digestResultTo(d, kind, r.digestResult)
	for i := range r.steps {
		d.word(uint64(r.steps[i]))
		if r.exists[i] {
			d.word(1)
		} else {
			d.word(0)
		}
	}
}

// TestDigestSkipped checks the skipped-parameter digest through the public
// API (passed nil gradients and unset owned ones, on every kernel set and
// with several workers) and through every set's raw kernels stepped by
// hand.
func TestDigestSkipped(t *testing.T) {
	var configs []Rule
	for _, c := range ruleCases() {
		configs = append(configs, c.digestConfigs...)
	}
	check := func(t *testing.T, what string, got uint64) {
		t.Helper()
		if got != digestSkippedWant {
			t.Errorf("skipped-parameter digest %s = %#x, want %#x", what, got, uint64(digestSkippedWant))
		}
	}
	got := skippedRuns(t, configs, skippedAPI[float32](t, 1, false), skippedAPI[float64](t, 1, false))
	t.Logf("digest %#x through the public API (set %s)", got, ISA())
	check(t, "through the public API on "+ISA(), got)
	check(t, "with owned gradients", skippedRuns(t, configs, skippedAPI[float32](t, 1, true), skippedAPI[float64](t, 1, true)))
	for _, set := range digestSets() {
		check(t, "through the raw "+set.Name()+" kernels", skippedRuns(t, configs, skippedSet[float32](t, set.Name()), skippedSet[float64](t, set.Name())))
		t.Run(set.Name(), func(t *testing.T) {
			withKernelSet(t, set)
			check(t, "through the public API on "+set.Name(), skippedRuns(t, configs, skippedAPI[float32](t, 1, false), skippedAPI[float64](t, 1, false)))
		})
	}
	lowParallelMin(t, 16)
	for _, w := range []int{2, 3, 7} {
		check(t, fmt.Sprintf("with %d workers", w), skippedRuns(t, configs, skippedAPI[float32](t, w, false), skippedAPI[float64](t, w, false)))
	}
}

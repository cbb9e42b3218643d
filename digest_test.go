package optim

import (
	"encoding/binary"
	"hash"
	"hash/fnv"
	"math/rand/v2"
	"testing"
)

// wantDigest is the FNV-64a hash of every parameter and state bit (NaNs
// canonicalized) after the runs of digestRuns. It is the cross-architecture
// promise in one number: the same constant must come out of every kernel set,
// through the public API and the raw kernels, at GOAMD64=v1 and v3, on arm64
// (GOARCH=arm64 go test -exec qemu-aarch64 -run Digest .) and with -tags
// noasm.
//
// It was produced by running `go test -run Digest -v .` and copying the
// logged "digest" value; it changes only when the specification (package
// generic) or the inputs below change on purpose.
const wantDigest = 0x857487ad8bee03c8

// digestConfigs are several option combinations of every rule; the
// hyperparameters are literals, so their coefficients are computed the same
// way everywhere.
func digestConfigs() []Rule {
	return []Rule{
		SGD{LR: 0.0625},
		SGD{LR: 0.03125, Momentum: 0.875, Dampening: 0.125, WeightDecay: 0.01, Maximize: true},
		SGD{LR: 0.1, Momentum: 0.9, Nesterov: true, WeightDecay: 1e-3},
		Adagrad{LR: 0.1, LRDecay: 0.01, WeightDecay: 1e-3, InitialAccumulatorValue: 0.1, Eps: 1e-10},
		Adagrad{LR: 0.01, Eps: 1e-10, Maximize: true},
		DefaultRMSProp(),
		RMSProp{LR: 0.01, Alpha: 0.9, Eps: 1e-6, WeightDecay: 0.01, Momentum: 0.5, Centered: true},
		RMSProp{LR: 0.003, Alpha: 0.3, Eps: 1e-8, Momentum: 0.9, Centered: true, Maximize: true},
		DefaultAdam(),
		Adam{LR: 0.01, Beta1: 0.8, Beta2: 0.99, Eps: 1e-8, WeightDecay: 0.05, AMSGrad: true, Decoupled: true},
		Adam{LR: 0.002, Beta1: 0.25, Beta2: 0.5, Eps: 1e-7, WeightDecay: 0.01, AMSGrad: true, Maximize: true},
	}
}

const digestSteps = 24

// digestLens covers every tail length of every vector width and a few long
// vectors.
func digestLens() []int {
	var out []int
	for n := range 41 {
		out = append(out, n)
	}
	return append(out, 63, 64, 65, 127, 128, 129, 255, 256, 257, 300)
}

// digestInputs returns the initial params and every step's grads, built from
// exact operations only: PCG integers scaled by powers of two (exact), and
// special values from their bits. math functions such as Exp or Log may
// round differently across architectures, so none is used.
func digestInputs[T testFloat](config int) (params [][]T, grads [][][]T) {
	r := rand.New(rand.NewPCG(uint64(config), 0x5eed))
	specials := specialValues[T]()
	val := func(bits int, scale float64) T { return T(float64(r.IntN(1<<bits)-1<<(bits-1)) * scale) }
	lens := digestLens()
	for pi, n := range lens {
		p := make([]T, n)
		for i := range p {
			p[i] = val(12, 0x1p-10)
		}
		// One param holds every special value.
		if pi == 25 {
			copy(p, specials)
		}
		params = append(params, p)
	}
	for s := range digestSteps {
		var gs [][]T
		for _, n := range lens {
			g := make([]T, n)
			for i := range g {
				g[i] = val(20, 0x1p-18)
			}
			// Now and then a special gradient, late enough that the
			// params have moved first.
			if n > 0 && s >= digestSteps/2 && r.IntN(8) == 0 {
				g[r.IntN(n)] = specials[r.IntN(len(specials))]
			}
			// Tiny and huge gradients, exact powers of two.
			if n > 1 && r.IntN(4) == 0 {
				g[r.IntN(n)] = val(8, 0x1p-140)
				g[r.IntN(n)] = val(8, 0x1p100)
			}
			gs = append(gs, g)
		}
		grads = append(grads, gs)
	}
	return params, grads
}

// digestWriter feeds canonicalized bits to a hash.
type digestWriter struct {
	h   hash.Hash64
	buf [8]byte
}

func (d *digestWriter) word(x uint64) {
	binary.LittleEndian.PutUint64(d.buf[:], x)
	d.h.Write(d.buf[:])
}

func digestSlice[T testFloat](d *digestWriter, s []T) {
	d.word(uint64(len(s)))
	for _, x := range s {
		d.word(bits(x))
	}
}

// digestRuns runs every config in both element types through run, which
// returns the final params and their state slots, and hashes the results.
func digestRuns(t *testing.T, run32 func(Rule, [][]float32, [][][]float32) ([][]float32, [][3][]float32),
	run64 func(Rule, [][]float64, [][][]float64) ([][]float64, [][3][]float64)) uint64 {
	d := &digestWriter{h: fnv.New64a()}
	for ci, rule := range digestConfigs() {
		p32, g32 := digestInputs[float32](ci)
		ps32, st32 := run32(rule, p32, g32)
		p64, g64 := digestInputs[float64](ci)
		ps64, st64 := run64(rule, p64, g64)
		for i := range ps32 {
			digestSlice(d, ps32[i])
			for _, s := range st32[i] {
				digestSlice(d, s)
			}
		}
		for i := range ps64 {
			digestSlice(d, ps64[i])
			for _, s := range st64[i] {
				digestSlice(d, s)
			}
		}
	}
	return d.h.Sum64()
}

// digestAPI runs a config through New and Step, on the dispatched set,
// with the given number of workers.
func digestAPI[T testFloat](t *testing.T, workers int) func(Rule, [][]T, [][][]T) ([][]T, [][3][]T) {
	return func(rule Rule, params [][]T, grads [][][]T) ([][]T, [][3][]T) {
		opt, err := New[T](rule, params...)
		if err != nil {
			t.Fatal(err)
		}
		defer opt.Close()
		if err := opt.SetWorkers(workers); err != nil {
			t.Fatal(err)
		}
		for _, g := range grads {
			if err := opt.Step(g...); err != nil {
				t.Fatal(err)
			}
		}
		return opt.params, opt.state
	}
}

// digestSet runs a config through one set's raw kernels by hand.
func digestSet[T testFloat](t *testing.T, set string) func(Rule, [][]T, [][][]T) ([][]T, [][3][]T) {
	return func(rule Rule, params [][]T, grads [][][]T) ([][]T, [][3][]T) {
		s, ok := lookupSupported(set)
		if !ok {
			t.Fatalf("set %s vanished", set)
		}
		var ms []*manual[T]
		for _, p := range params {
			ms = append(ms, newManual(t, s, rule, p))
		}
		for _, g := range grads {
			for i, m := range ms {
				if len(m.p) > 0 {
					m.step(t, g[i])
				}
			}
		}
		var states [][3][]T
		for _, m := range ms {
			states = append(states, m.state)
		}
		return params, states
	}
}

func TestDigest(t *testing.T) {
	got := digestRuns(t, digestAPI[float32](t, 1), digestAPI[float64](t, 1))
	t.Logf("digest %#x through the public API (set %s)", got, ISA())
	if got != wantDigest {
		t.Errorf("digest through the public API on %s = %#x, want %#x", ISA(), got, uint64(wantDigest))
	}
	// Several workers split every parameter (the split threshold lowered
	// so that these small inputs are split at all).
	lowParallelMin(t, 16)
	for _, w := range []int{2, 3, 7} {
		got := digestRuns(t, digestAPI[float32](t, w), digestAPI[float64](t, w))
		if got != wantDigest {
			t.Errorf("digest through the public API with %d workers = %#x, want %#x", w, got, uint64(wantDigest))
		}
	}
	for _, set := range SupportedSets() {
		got := digestRuns(t, digestSet[float32](t, set.Name()), digestSet[float64](t, set.Name()))
		t.Logf("digest %#x through the raw %s kernels", got, set.Name())
		if got != wantDigest {
			t.Errorf("digest through the raw %s kernels = %#x, want %#x", set.Name(), got, uint64(wantDigest))
		}
	}
}

package optim

import (
	"encoding/binary"
	"hash"
	"hash/fnv"
	"math/rand/v2"
	"testing"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
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

// wantDigestNew is wantDigest for digestConfigsNew, the rules added with
// torch 2.11's optimizers and Lion, whose scalar state (NAdam's mu_product,
// ASGD's eta and mu) it covers too. It is separate so that wantDigest, the
// older promise, stays checkable as it was.
const wantDigestNew = 0x68b55dbb673a0e8f

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

// digestConfigsNew are option combinations of the newer rules: every
// variant their coefficient functions produce (RAdam rectifies from step
// 6 with β2 = 0.99, ASGD averages from step T0+2).
func digestConfigsNew() []Rule {
	return []Rule{
		DefaultNAdam(),
		NAdam{LR: 0.01, Beta1: 0.3, Beta2: 0.9, Eps: 1e-6, WeightDecay: 0.05, MomentumDecay: 0.5, Decoupled: true, Maximize: true},
		NAdam{LR: 0.003, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, WeightDecay: 0.01, MomentumDecay: 4e-3},
		NAdam{LR: 0.003, Beta1: 0.25, Beta2: 0.5, Eps: 1e-7, MomentumDecay: 0.1},
		NAdam{LR: 0.003, Beta1: 0.5, Beta2: 0.99, Eps: 1e-8, WeightDecay: 0.01, MomentumDecay: 4e-3, Maximize: true},
		NAdam{LR: 0.01, Beta1: 0.8, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1, MomentumDecay: 4e-3, Decoupled: true},
		RAdam{LR: 0.01, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8},
		RAdam{LR: 0.01, Beta1: 0.25, Beta2: 0.99, Eps: 1e-7, Maximize: true},
		RAdam{LR: 0.002, Beta1: 0.8, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.01},
		RAdam{LR: 0.002, Beta1: 0.5, Beta2: 0.99, Eps: 1e-8, WeightDecay: 0.01},
		RAdam{LR: 0.01, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, WeightDecay: 0.05, Decoupled: true},
		RAdam{LR: 0.01, Beta1: 0.25, Beta2: 0.99, Eps: 1e-7, WeightDecay: 0.05, Decoupled: true, Maximize: true},
		RAdam{LR: 0.01, Beta1: 0.9, Beta2: 0.5, Eps: 1e-8}, // never rectified
		DefaultAdamax(),
		Adamax{LR: 0.01, Beta1: 0.25, Beta2: 0.5, Eps: 1e-7, WeightDecay: 0.01, Maximize: true},
		Adamax{LR: 0.01, Beta1: 0.5, Beta2: 0.9, Eps: 1e-7},
		Adamax{LR: 0.01, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, WeightDecay: 0.1},
		DefaultAdadelta(),
		Adadelta{LR: 0.5, Rho: 0.3, Eps: 1e-6, WeightDecay: 0.01, Maximize: true},
		DefaultRprop(),
		Rprop{LR: 0.125, EtaMinus: 0.25, EtaPlus: 2, StepSizeMin: 0.01, StepSizeMax: 0.5, Maximize: true},
		DefaultASGD(),
		ASGD{LR: 0.05, Lambd: 0.1, Alpha: 0.5, T0: 4, WeightDecay: 0.01, Maximize: true},
		ASGD{LR: 0.02, Lambd: 1e-3, Alpha: 0.75, T0: 10},
		DefaultLion(),
		Lion{LR: 0.01, Beta1: 0.5, Beta2: 0.9, WeightDecay: 0.1, Maximize: true},
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

// digestResult is what a run leaves: the params, their state slots and,
// for the rules that keep it, their scalar state.
type digestResult[T testFloat] struct {
	params  [][]T
	state   [][3][]T
	scalars []Scalars
}

// digestRun runs one config over params with every step's grads.
type digestRun[T testFloat] func(rule Rule, params [][]T, grads [][][]T) digestResult[T]

// digestRuns runs every config in both element types through run and
// hashes the results.
func digestRuns(t *testing.T, configs []Rule, run32 digestRun[float32], run64 digestRun[float64]) uint64 {
	d := &digestWriter{h: fnv.New64a()}
	for ci, rule := range configs {
		p32, g32 := digestInputs[float32](ci)
		digestResultTo(d, rule, run32(rule, p32, g32))
		p64, g64 := digestInputs[float64](ci)
		digestResultTo(d, rule, run64(rule, p64, g64))
	}
	return d.h.Sum64()
}

func digestResultTo[T testFloat](d *digestWriter, rule Rule, r digestResult[T]) {
	for i := range r.params {
		digestSlice(d, r.params[i])
		for _, s := range r.state[i] {
			digestSlice(d, s)
		}
		// Only rules with scalar state hash it, so that wantDigest, of
		// the rules without, stays what it was.
		if hasScalars(ruleKind(rule)) {
			for _, x := range r.scalars[i] {
				d.word(bits(x))
			}
		}
	}
}

// digestAPI runs a config through New and Step, on the dispatched set,
// with the given number of workers.
func digestAPI[T testFloat](t *testing.T, workers int) digestRun[T] {
	return func(rule Rule, params [][]T, grads [][][]T) digestResult[T] {
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
		return digestResult[T]{opt.params, opt.state, opt.scalars}
	}
}

// digestSet runs a config through one set's raw kernels by hand.
func digestSet[T testFloat](t *testing.T, set string) digestRun[T] {
	return func(rule Rule, params [][]T, grads [][][]T) digestResult[T] {
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
				m.step(t, g[i]) // an empty param's scalar state advances too
			}
		}
		r := digestResult[T]{params: params}
		for _, m := range ms {
			r.state = append(r.state, m.state)
			r.scalars = append(r.scalars, m.scalars)
		}
		return r
	}
}

func TestDigest(t *testing.T) {
	testDigest(t, "", digestConfigs(), wantDigest)
}

func TestDigestNewRules(t *testing.T) {
	testDigest(t, "new rules: ", digestConfigsNew(), wantDigestNew)
}

// TestDigestConfigsNewCoverVariants: the new rules' digest runs every
// variant of their kernels.
func TestDigestConfigsNewCoverVariants(t *testing.T) {
	seen := map[kernels.Kind]map[kernels.Variant]bool{}
	for _, rule := range digestConfigsNew() {
		k := ruleKind(rule)
		if seen[k] == nil {
			seen[k] = map[kernels.Variant]bool{}
		}
		var sc Scalars
		for step := int64(1); step <= digestSteps; step++ {
			_, v, next, err := CoefficientsWith[float32](rule, step, step == 1, sc)
			if err != nil {
				t.Fatal(err)
			}
			seen[k][v], sc = true, next
		}
	}
	for k, vs := range seen {
		for _, v := range generic.Rules()[k].Variants() {
			if !vs[v] {
				t.Errorf("%v: the digest never runs variant %s", k, v.Expr(""))
			}
		}
	}
}

func testDigest(t *testing.T, what string, configs []Rule, want uint64) {
	got := digestRuns(t, configs, digestAPI[float32](t, 1), digestAPI[float64](t, 1))
	t.Logf("%sdigest %#x through the public API (set %s)", what, got, ISA())
	if got != want {
		t.Errorf("%sdigest through the public API on %s = %#x, want %#x", what, ISA(), got, want)
	}
	// Several workers split every parameter (the split threshold lowered
	// so that these small inputs are split at all).
	lowParallelMin(t, 16)
	for _, w := range []int{2, 3, 7} {
		got := digestRuns(t, configs, digestAPI[float32](t, w), digestAPI[float64](t, w))
		if got != want {
			t.Errorf("%sdigest through the public API with %d workers = %#x, want %#x", what, w, got, want)
		}
	}
	for _, set := range SupportedSets() {
		got := digestRuns(t, configs, digestSet[float32](t, set.Name()), digestSet[float64](t, set.Name()))
		t.Logf("%sdigest %#x through the raw %s kernels", what, got, set.Name())
		if got != want {
			t.Errorf("%sdigest through the raw %s kernels = %#x, want %#x", what, set.Name(), got, want)
		}
	}
}

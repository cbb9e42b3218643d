package optim

import (
	"encoding/binary"
	"fmt"
	"hash"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// The digests are the cross-architecture promise in a few numbers: the
// FNV-64a hash of every parameter and state bit (NaNs canonicalized) after
// the digest runs of the rules' digestConfigs (ruleCases), their scalar
// state included for the rules that keep one. The same numbers must come
// out of every kernel set, through the public API and the raw kernels, at
// GOAMD64=v1 and v3, on arm64 (GOARCH=arm64 go test -exec qemu-aarch64 -run
// Digest .) and with -tags noasm.
//
// Each was produced by running `go test -run Digest -v .` and copying the
// logged "digest" value into the row that closes its run of rows; it
// changes only when the specification (package generic) or the inputs
// below change on purpose.

// digestGroup is a run of consecutive rows of ruleCases hashed together,
// and their recorded digest.
type digestGroup struct {
	name    string // the first and the last rule
	configs []Rule
	want    uint64
}

// digestGroups splits the digest configurations of ruleCases at the rows
// that hold a digest.
func digestGroups(t *testing.T) []digestGroup {
	var out []digestGroup
	var g digestGroup
	for _, c := range ruleCases() {
		if len(g.configs) == 0 {
			g.name = c.name
		}
		g.configs = append(g.configs, c.digestConfigs...)
		if c.digest != 0 {
			g.name += "-" + c.name
			g.want = c.digest
			out = append(out, g)
			g = digestGroup{}
		}
	}
	if len(g.configs) > 0 {
		// Hashed all the same, so that the digest to record is logged.
		t.Errorf("the digest configurations from %s on have no recorded digest: record the logged digest in the last row", g.name)
		out = append(out, g)
	}
	return out
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
		kind := mustKernelKind(t, rule)
		p32, g32 := digestInputs[float32](ci)
		digestResultTo(d, kind, run32(rule, p32, g32))
		p64, g64 := digestInputs[float64](ci)
		digestResultTo(d, kind, run64(rule, p64, g64))
	}
	return d.h.Sum64()
}

func digestResultTo[T testFloat](d *digestWriter, kind kernels.Kind, r digestResult[T]) {
	for i := range r.params {
		digestSlice(d, r.params[i])
		for _, s := range r.state[i] {
			digestSlice(d, s)
		}
		// Only rules with scalar state hash it, so that the digests of
		// the rules without stay what they were.
		if hasScalars(kind) {
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
		return skippedAPI[T](t, workers, false)(rule, params, grads).digestResult
	}
}

// digestSet runs a config through one set's raw kernels by hand.
func digestSet[T testFloat](t *testing.T, set string) digestRun[T] {
	return func(rule Rule, params [][]T, grads [][][]T) digestResult[T] {
		return skippedSet[T](t, set)(rule, params, grads).digestResult
	}
}

// TestDigest checks every digest of ruleCases.
func TestDigest(t *testing.T) {
	for _, g := range digestGroups(t) {
		t.Run(g.name, func(t *testing.T) { testDigest(t, g.configs, g.want) })
	}
}

// TestDigestCoversVariants: the digest configurations of a rule run every
// variant of its kernel within digestSteps steps (but where the row says
// that they miss some).
func TestDigestCoversVariants(t *testing.T) {
	seen := map[kernels.Kind]map[kernels.Variant]bool{}
	for _, c := range ruleCases() {
		if c.digestMissesVariants {
			continue
		}
		k := mustKernelKind(t, c.classes[0].constructor)
		seen[k] = map[kernels.Variant]bool{}
		for _, rule := range c.digestConfigs {
			var sc Scalars
			for step := int64(1); step <= digestSteps; step++ {
				_, v, next, err := CoefficientsWith[float32](rule, step, step == 1, sc)
				if err != nil {
					t.Fatal(err)
				}
				seen[k][v], sc = true, next
			}
		}
	}
	for _, d := range generic.Rules() {
		for _, v := range d.Variants() {
			if seen[d.Kind] != nil && !seen[d.Kind][v] {
				t.Errorf("%v: the digest never runs variant %s", d.Kind, v.Expr(""))
			}
		}
	}
}

func testDigest(t *testing.T, configs []Rule, want uint64) {
	got := digestRuns(t, configs, digestAPI[float32](t, 1), digestAPI[float64](t, 1))
	t.Logf("digest %#x through the public API (set %s)", got, ISA())
	if got != want {
		t.Errorf("digest through the public API on %s = %#x, want %#x", ISA(), got, want)
	}
	// Several workers split every parameter (the split threshold lowered
	// so that these small inputs are split at all).
	lowParallelMin(t, 16)
	for _, w := range []int{2, 3, 7} {
		got := digestRuns(t, configs, digestAPI[float32](t, w), digestAPI[float64](t, w))
		if got != want {
			t.Errorf("digest through the public API with %d workers = %#x, want %#x", w, got, want)
		}
	}
	for _, set := range SupportedSets() {
		got := digestRuns(t, configs, digestSet[float32](t, set.Name()), digestSet[float64](t, set.Name()))
		t.Logf("digest %#x through the raw %s kernels", got, set.Name())
		if got != want {
			t.Errorf("digest through the raw %s kernels = %#x, want %#x", set.Name(), got, want)
		}
	}
}

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
	for _, set := range SupportedSets() {
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

package optim

import (
	"encoding/binary"
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

// digestSets returns the kernel sets that the digest tests sweep: every
// supported set, but under the race detector only the dispatched one. The
// race step looks for races between the workers, whose interleaving no
// set changes, and every later step of make test sweeps every set; under
// -race the sweep cost 25 s of the step.
func digestSets() []*kernels.Set {
	if underRace {
		return []*kernels.Set{Kernels()}
	}
	return SupportedSets()
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
	for _, set := range digestSets() {
		got := digestRuns(t, configs, digestSet[float32](t, set.Name()), digestSet[float64](t, set.Name()))
		t.Logf("digest %#x through the raw %s kernels", got, set.Name())
		if got != want {
			t.Errorf("digest through the raw %s kernels = %#x, want %#x", set.Name(), got, want)
		}
	}
}

// averagingDigest is the digest of Averaged's updates: every Average of
// averagesTested, with the buffers copied and averaged, in both element
// types, over the digest's inputs (the model takes each step's "grads" as
// its values; the slices from 30 on are its buffers), hashed after every
// Update. It was recorded as the other digests are (the logged value), and
// must come out of every kernel set and worker count, on arm64 too.
const averagingDigest uint64 = 0x217d91064dcf1903

// TestDigestAveraging checks averagingDigest through the public API and on
// every supported set with several workers.
func TestDigestAveraging(t *testing.T) {
	got := digestAveraging(t, Kernels(), 1)
	t.Logf("averaging digest %#x through the public API (set %s)", got, ISA())
	if got != averagingDigest {
		t.Errorf("averaging digest on %s = %#x, want %#x", ISA(), got, averagingDigest)
	}
	lowParallelMin(t, 16) // so that these small slices are split
	for _, set := range digestSets() {
		for _, w := range []int{1, 2, 3, 7} {
			if got := digestAveraging(t, set, w); got != averagingDigest {
				t.Errorf("averaging digest on %s with %d workers = %#x, want %#x", set.Name(), w, got, averagingDigest)
			}
		}
	}
}

func digestAveraging(t *testing.T, set *kernels.Set, workers int) uint64 {
	d := &digestWriter{h: fnv.New64a()}
	config := 0
	for _, avg := range averagesTested {
		for _, useBuffers := range []bool{false, true} {
			digestAveragingRun[float32](t, d, config, avg, useBuffers, set, workers)
			digestAveragingRun[float64](t, d, config, avg, useBuffers, set, workers)
			config++
		}
	}
	return d.h.Sum64()
}

func digestAveragingRun[T testFloat](t *testing.T, d *digestWriter, config int, avg Average, useBuffers bool, set *kernels.Set, workers int) {
	params, rows := digestInputs[T](config)
	const buffersFrom = 30
	m := Model[T]{Params: params[:buffersFrom], Buffers: params[buffersFrom:], UseBuffers: useBuffers}
	a, err := newAveraged("NewAveragedModel", avg, m, set)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.SetWorkers(workers); err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		for i, x := range row {
			copy(params[i], x)
		}
		if err := a.Update(); err != nil {
			t.Fatal(err)
		}
		d.word(uint64(a.NAveraged()))
		for _, s := range slices.Concat(a.Params(), a.Buffers()) {
			digestSlice(d, s)
		}
	}
}

package optim

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// goldenAverage is one run of torch's AveragedModel;
// testdata/torch-averaging/README.md describes the format.
type goldenAverage struct {
	Name            string        `json:"name"`
	Dtype           string        `json:"dtype"`
	Average         string        `json:"average"`
	Decay           *float64      `json:"decay"`
	UseBuffers      bool          `json:"use_buffers"`
	Steps           int           `json:"steps"`
	Params0         [][]float64   `json:"params0"`
	Buffers0        [][]float64   `json:"buffers0"`
	Params          [][][]float64 `json:"params"`
	Buffers         [][][]float64 `json:"buffers"`
	AveragedParams  [][][]float64 `json:"averaged_params"`
	AveragedBuffers [][][]float64 `json:"averaged_buffers"`
	NAveraged       int64         `json:"n_averaged"`
}

func (g goldenAverage) average(t *testing.T) Average {
	switch {
	case g.Average == "ema" && g.Decay != nil:
		return EMA(*g.Decay)
	case g.Average == "swa" && g.Decay == nil:
		return SWA()
	}
	t.Fatalf("%s: average %q with decay %v", g.Name, g.Average, g.Decay)
	return Average{}
}

// TestAveragedGoldenTorch replays every recorded torch average through
// NewAveragedModel and Update, on every supported kernel set.
func TestAveragedGoldenTorch(t *testing.T) {
	replayAverageGoldens(t, "testdata/torch-averaging", 16, func(t *testing.T, run goldenAverage, set *kernels.Set) {
		if run.Dtype == "float32" {
			replayAverage[float32](t, run, set, 2e-5)
		} else {
			replayAverage[float64](t, run, set, 1e-13)
		}
	})
}

// replayAverageGoldens replays every file of dir, which must hold at least
// least of them, each file a subtest named after it, on every supported
// kernel set.
func replayAverageGoldens(t *testing.T, dir string, least int, replay func(*testing.T, goldenAverage, *kernels.Set)) {
	files, _ := filepath.Glob(dir + "/*.json.gz")
	if len(files) < least {
		t.Fatalf("%d golden files in %s, want at least %d", len(files), dir, least)
	}
	for _, path := range files {
		var run goldenAverage
		if err := json.Unmarshal(readGzip(t, path), &run); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		t.Run(strings.TrimSuffix(filepath.Base(path), ".json.gz"), func(t *testing.T) {
			for _, set := range SupportedSets() {
				t.Run(set.Name(), func(t *testing.T) { replay(t, run, set) })
			}
		})
	}
}

func toT[T testFloat](rows [][]float64) [][]T {
	out := make([][]T, len(rows))
	for i, r := range rows {
		out[i] = make([]T, len(r))
		for j, v := range r {
			out[i][j] = T(v)
		}
	}
	return out
}

func replayAverage[T testFloat](t *testing.T, run goldenAverage, set *kernels.Set, tol float64) {
	m := Model[T]{Params: toT[T](run.Params0), Buffers: toT[T](run.Buffers0), UseBuffers: run.UseBuffers}
	a, err := newAveraged("NewAveragedModel", run.average(t), m, set)
	if err != nil {
		t.Fatal(err)
	}
	// torch's deepcopy: the average starts as the model's exact copy.
	checkExact(t, "before the first update", a.Params(), toT[T](run.Params0))
	worst := 0.0
	for s := range run.Steps {
		for i, p := range toT[T](run.Params[s]) {
			copy(m.Params[i], p)
		}
		for i, b := range toT[T](run.Buffers[s]) {
			copy(m.Buffers[i], b)
		}
		if err := a.Update(); err != nil {
			t.Fatal(err)
		}
		if s == 0 || !run.UseBuffers {
			checkExact(t, fmt.Sprintf("update %d: the copied buffers", s), a.Buffers(), m.Buffers)
		}
		if s == 0 {
			checkExact(t, "update 0: the copied params", a.Params(), m.Params)
		}
		for _, part := range []struct {
			got  [][]T
			want [][]float64
		}{{a.Params(), run.AveragedParams[s]}, {a.Buffers(), run.AveragedBuffers[s]}} {
			for i, w := range part.want {
				worst = math.Max(worst, checkGoldenStep(t, s, part.got[i], w, tol))
			}
		}
	}
	if a.NAveraged() != run.NAveraged {
		t.Errorf("NAveraged() = %d, want %d", a.NAveraged(), run.NAveraged)
	}
	t.Logf("worst relative error %.3g (tolerance %.3g)", worst, tol)
}

// avgElem is an Averaged's element type.
type avgElem interface {
	float32 | float64 | BFloat16 | Float16
}

// elemDiff is the first index at which got and want differ, or -1: in
// canonicalized bits for float32 and float64 (firstDiff), in bits for the
// 16-bit types (a copy keeps a NaN's bits, a lerp gives the canonical NaN).
func elemDiff[T avgElem](got, want []T) int {
	switch g := any(got).(type) {
	case []float32:
		return firstDiff(g, any(want).([]float32))
	case []float64:
		return firstDiff(g, any(want).([]float64))
	case []BFloat16:
		return firstBitDiffLen(g, any(want).([]BFloat16))
	default:
		return firstBitDiffLen(any(got).([]Float16), any(want).([]Float16))
	}
}

// firstBitDiffLen is firstBitDiff for slices that may differ in length.
func firstBitDiffLen[H BFloat16 | Float16](got, want []H) int {
	if len(got) != len(want) {
		return min(len(got), len(want))
	}
	return firstBitDiff(got, want)
}

// checkExact fails unless got and want are equal bit for bit.
func checkExact[T avgElem](t *testing.T, what string, got, want [][]T) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d slices, want %d", what, len(got), len(want))
	}
	for i := range got {
		if j := elemDiff(got[i], want[i]); j >= 0 {
			t.Fatalf("%s: slice %d differs at element %d: %v, want %v", what, i, j, at(got[i], j), at(want[i], j))
		}
	}
}

// at is x[j], or nothing past x's end.
func at[T any](x []T, j int) any {
	if j < len(x) {
		return x[j]
	}
	return "none"
}

// TestAveragedWeights: the lerp weights are torch 2.x's: EMA's 1 - decay in
// float64 rounded to T, SWA's float32 1/(n+1) whatever T.
func TestAveragedWeights(t *testing.T) {
	// Python's 1 - 0.999, not the exact 0.001 of a Go constant.
	const ema = 0.0010000000000000009
	if got := weight[float32](EMA(0.999), 7); got != float32(ema) {
		t.Errorf("EMA(0.999) float32 weight = %v, want %v", got, float32(ema))
	}
	if got := weight[float64](EMA(0.999), 7); got != ema {
		t.Errorf("EMA(0.999) float64 weight = %v, want %v", got, ema)
	}
	for _, c := range []struct {
		n    int64
		want float64 // torch: (1 / (torch.tensor(n) + 1)).item()
	}{
		{1, 0.5},
		{2, 0.3333333432674408},
		{9, 0.10000000149011612},
		{1 << 24, 5.960464477539063e-08}, // 2^24 + 1 rounds to 2^24 in float32
	} {
		if got := weight[float64](SWA(), c.n); got != c.want {
			t.Errorf("SWA float64 weight after %d = %v, want %v", c.n, got, c.want)
		}
		if got := weight[float32](SWA(), c.n); got != float32(c.want) {
			t.Errorf("SWA float32 weight after %d = %v, want %v", c.n, got, float32(c.want))
		}
	}
}

// averagedInputs is a model of slices of every tail length of the kernel
// sets' vectors and longer ones, holding special values, and its values
// at each of a few updates.
func averagedInputs[T testFloat]() (Model[T], [][][]T) {
	lens := []int{0, 1, 3, 15, 16, 17, 31, 33, 64, 100, 257}
	specials := specialValues[T]()
	val := func(i, j, s int) T { return T(float64((i*131+j*17+s*29)%201-100) * 0x1p-6) }
	var steps [][][]T
	for s := range 6 {
		var row [][]T
		for i, n := range lens {
			x := make([]T, n)
			for j := range x {
				x[j] = val(i, j, s)
			}
			if i == 9 && s >= 3 {
				copy(x, specials)
			}
			row = append(row, x)
		}
		steps = append(steps, row)
	}
	return averagedModelOf(steps[0]), steps
}

// averagedModelOf is a model of a copy of the slices first: 8 params, and
// the rest buffers.
func averagedModelOf[T avgElem](first [][]T) Model[T] {
	all := cloneSlices(first)
	return Model[T]{Params: all[:8], Buffers: all[8:]}
}

// averagedSlices are m's params and buffers, and how many of them are
// averaged (the rest copied).
func averagedSlices[T avgElem](m Model[T]) (all [][]T, mean int) {
	all = slices.Concat(m.Params, m.Buffers)
	if m.UseBuffers {
		return all, len(all)
	}
	return all, len(m.Params)
}

// averagedReference is Update's specification, written out: the first
// update copies, every later one lerps the averaged slices (generic.Lerp)
// by torch's weight and copies the rest.
func averagedReference[T testFloat](avg Average, m Model[T], steps [][][]T) [][]T {
	all, mean := averagedSlices(m)
	out := make([][]T, len(all))
	for s, row := range steps {
		for i, x := range row {
			switch {
			case s == 0 || i >= mean:
				out[i] = slices.Clone(x)
			case avg.ema:
				generic.Lerp(out[i], x, T(1-avg.decay))
			default:
				generic.Lerp(out[i], x, T(float32(1)/float32(s+1)))
			}
		}
	}
	return out
}

// runAveraged runs steps through an Averaged on set with workers.
func runAveraged[T avgElem](t *testing.T, avg Average, m Model[T], steps [][][]T, set *kernels.Set, workers int) [][]T {
	t.Helper()
	a, err := newAveraged("NewAveragedModel", avg, m, set)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.SetWorkers(workers); err != nil {
		t.Fatal(err)
	}
	src := slices.Concat(m.Params, m.Buffers)
	for _, row := range steps {
		for i, x := range row {
			copy(src[i], x)
		}
		if err := a.Update(); err != nil {
			t.Fatal(err)
		}
		if workers > 1 && a.Workers() != workers {
			t.Fatalf("Workers() = %d, want %d", a.Workers(), workers)
		}
	}
	return slices.Concat(a.Params(), a.Buffers())
}

var averagesTested = []Average{EMA(0.999), EMA(0.9), EMA(0.5), EMA(0.25), EMA(0), EMA(1), SWA()}

// TestAveragedSameBitsEverywhere: every kernel set and worker count gives
// the bits of the reference, special values included.
func TestAveragedSameBitsEverywhere(t *testing.T) {
	lowParallelMin(t, 16) // so that these small slices are split
	t.Run("float32", func(t *testing.T) { testAveragedSameBits[float32](t) })
	t.Run("float64", func(t *testing.T) { testAveragedSameBits[float64](t) })
}

func testAveragedSameBits[T testFloat](t *testing.T) {
	for _, avg := range averagesTested {
		for _, useBuffers := range []bool{false, true} {
			m, steps := averagedInputs[T]()
			m.UseBuffers = useBuffers
			want := averagedReference(avg, m, steps)
			for _, set := range SupportedSets() {
				for _, w := range []int{1, 2, 3, 7} {
					m, steps := averagedInputs[T]()
					m.UseBuffers = useBuffers
					got := runAveraged(t, avg, m, steps, set, w)
					for i := range want {
						if j := firstDiff(got[i], want[i]); j >= 0 {
							t.Fatalf("%v, use buffers %v, set %s, %d workers: slice %d element %d = %v, want %v",
								avg, useBuffers, set.Name(), w, i, j, got[i][j], want[i][j])
						}
					}
				}
			}
		}
	}
}

// TestAveragedFollowsTorchSemantics: made as a copy of the model, the first
// Update copies again whatever the Average, buffers are copied unless
// UseBuffers, and NAveraged counts the Updates.
func TestAveragedFollowsTorchSemantics(t *testing.T) {
	p, b := []float64{1, 2}, []float64{10}
	a, err := NewAveragedModel(EMA(0.5), Model[float64]{Params: [][]float64{p}, Buffers: [][]float64{b}})
	if err != nil {
		t.Fatal(err)
	}
	p[0], b[0] = 3, 20 // after the copy: the Averaged holds the old values
	if got := a.Params()[0]; got[0] != 1 || a.NAveraged() != 0 {
		t.Fatalf("before Update: params %v, n_averaged %d; want the model as made, 0", got, a.NAveraged())
	}
	steps := []struct {
		p0, b0     float64
		avg, buf   float64
		nAveraged  int64
		whatAssert string
	}{
		{3, 20, 3, 20, 1, "the first update copies"},
		{5, 30, 4, 30, 2, "EMA(0.5): halfway; the buffer copied"},
		{4, 40, 4, 40, 3, "EMA(0.5) again"},
	}
	for _, s := range steps {
		p[0], b[0] = s.p0, s.b0
		if err := a.Update(); err != nil {
			t.Fatal(err)
		}
		if got, buf := a.Params()[0][0], a.Buffers()[0][0]; got != s.avg || buf != s.buf || a.NAveraged() != s.nAveraged {
			t.Errorf("%s: param %v, buffer %v, n_averaged %d; want %v, %v, %d", s.whatAssert, got, buf, a.NAveraged(), s.avg, s.buf, s.nAveraged)
		}
	}

	// UseBuffers: the buffer is averaged too. SWA: the equal mean, with
	// torch's float32 weights (1/3 is 0.3333333432674408 in float64 too).
	p, b = []float64{0}, []float64{0}
	a, err = NewAveragedModel(SWA(), Model[float64]{Params: [][]float64{p}, Buffers: [][]float64{b}, UseBuffers: true})
	if err != nil {
		t.Fatal(err)
	}
	third := float64(float32(1.0 / 3))
	for k, v := range []float64{4, 8, 0} {
		p[0], b[0] = v, 2*v
		if err := a.Update(); err != nil {
			t.Fatal(err)
		}
		mean := []float64{4, 6, 6 + third*(0-6)}[k]
		if a.Params()[0][0] != mean || a.Buffers()[0][0] != 2*mean {
			t.Errorf("SWA after %d updates: %v and %v, want %v and %v", k+1, a.Params()[0][0], a.Buffers()[0][0], mean, 2*mean)
		}
	}
}

// TestAveragedAccessorsDoNotAlias: the lists Params, Buffers and the names
// return are the caller's; their slices are the Averaged's memory.
func TestAveragedAccessorsDoNotAlias(t *testing.T) {
	params := [][]float32{{1}, {2}}
	names := []string{"w", "b"}
	a, err := NewAveragedModel(SWA(), Model[float32]{Params: params, Names: names})
	if err != nil {
		t.Fatal(err)
	}
	params[0] = []float32{100} // the caller's list: the Averaged keeps the slice it was given
	names[0] = "x"
	got := a.Params()
	got[1] = nil
	a.Names()[0] = "y"
	if err := a.Update(); err != nil {
		t.Fatal(err)
	}
	if p := a.Params(); p[0][0] != 1 || p[1][0] != 2 {
		t.Errorf("Params() = %v, want [[1] [2]]", p)
	}
	if n := a.Names(); !slices.Equal(n, []string{"w", "b"}) || len(a.BufferNames()) != 0 {
		t.Errorf("Names() = %q, BufferNames() = %q; want [w b] and none", n, a.BufferNames())
	}
	if d, ok := a.Average().Decay(); ok || d != 0 || a.Average().String() != "SWA" {
		t.Errorf("Average() = %v", a.Average())
	}
	if s := EMA(0.999).String(); s != "EMA(0.999)" {
		t.Errorf("EMA(0.999).String() = %q", s)
	}
	if len(a.Buffers()) != 0 {
		t.Errorf("Buffers() = %v, want none", a.Buffers())
	}
}

// TestAveragedErrors: every refusal is typed, names its subject, and
// changes nothing.
func TestAveragedErrors(t *testing.T) {
	p := [][]float32{{1, 2}, {3}}
	for _, decay := range []float64{-0.1, 1.5, math.NaN(), math.Inf(1)} {
		_, err := NewAveraged(EMA(decay), p...)
		var he *HyperparameterError
		if !errors.As(err, &he) || he.Func != "EMA" || he.Field != "decay" {
			t.Errorf("EMA(%v): err %v, want a *HyperparameterError for EMA's decay", decay, err)
		}
	}
	for _, c := range []struct {
		names, bufferNames []string
		want               string
	}{
		{[]string{"w"}, nil, "1 param names for 2 params"},
		{[]string{"w", "b"}, nil, "0 buffer names for 1 buffers"},
		{nil, []string{"bn"}, "0 param names for 2 params"},
		{[]string{"w", ""}, []string{"bn"}, "the name of param 1 is empty"},
		{[]string{"w", "b"}, []string{"w"}, `the name "w" is given to param 0 and buffer 0`},
		{[]string{"w", "b\xff"}, []string{"bn"}, "not valid UTF-8"},
	} {
		_, err := NewAveragedModel(SWA(), Model[float32]{Params: p, Names: c.names, Buffers: [][]float32{{0}}, BufferNames: c.bufferNames})
		var ne *NameError
		if !errors.As(err, &ne) || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "optim: NewAveragedModel: ") {
			t.Errorf("names %q, %q: err %v, want a *NameError saying %q", c.names, c.bufferNames, err, c.want)
		}
	}

	a, err := NewAveragedModel(EMA(0.5), Model[float32]{Params: p, Names: []string{"w", "b"}, Buffers: [][]float32{{7}}, BufferNames: []string{"bn"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Update(); err != nil {
		t.Fatal(err)
	}
	before := a.State()
	before.Params, before.Buffers = clone2(before.Params), clone2(before.Buffers)
	unchanged := func(what string) {
		t.Helper()
		st := a.State()
		checkExact(t, what, st.Params, before.Params)
		checkExact(t, what, st.Buffers, before.Buffers)
		if st.NAveraged != before.NAveraged {
			t.Errorf("%s: n_averaged %d, want %d", what, st.NAveraged, before.NAveraged)
		}
	}
	good := func() AveragedState[float32] {
		return AveragedState[float32]{NAveraged: 3, Params: [][]float32{{9, 9}, {9}}, Buffers: [][]float32{{9}}}
	}
	for _, c := range []struct {
		edit func(*AveragedState[float32])
		want string
	}{
		{func(s *AveragedState[float32]) { s.NAveraged = -1 }, "n_averaged = -1"},
		{func(s *AveragedState[float32]) { s.NAveraged = math.MaxInt64 }, "n_averaged = 9223372036854775807"},
		{func(s *AveragedState[float32]) { s.Params = s.Params[:1] }, "1 params given for the averaged model's 2"},
		{func(s *AveragedState[float32]) { s.Buffers = nil }, "0 buffers given for the averaged model's 1"},
		{func(s *AveragedState[float32]) { s.Params[1] = []float32{1, 2} }, "param 1 (b) has length 2, want 1"},
		{func(s *AveragedState[float32]) { s.Buffers[0] = nil }, "buffer 0 (bn) has length 0, want 1"},
	} {
		st := good()
		c.edit(&st)
		err := a.Restore(st)
		var se *StateError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "optim: Restore: ") {
			t.Errorf("Restore: err %v, want a *StateError saying %q", err, c.want)
		}
		unchanged("after a refused Restore")
	}

	// The largest count cannot grow.
	st := good()
	st.NAveraged = math.MaxInt64 - 1
	if err := a.Restore(st); err != nil {
		t.Fatal(err)
	}
	if err := a.Update(); err != nil {
		t.Fatal(err)
	}
	before = a.State()
	before.Params, before.Buffers = clone2(before.Params), clone2(before.Buffers)
	err = a.Update()
	var se *StateError
	if !errors.As(err, &se) || se.Key != "n_averaged" {
		t.Errorf("Update at n_averaged MaxInt64: err %v, want a *StateError for n_averaged", err)
	}
	unchanged("after a refused Update")

	for _, n := range []int{-1, maxWorkers + 1} {
		var he *HyperparameterError
		if err := a.SetWorkers(n); !errors.As(err, &he) || he.Func != "SetWorkers" {
			t.Errorf("SetWorkers(%d): err %v, want a *HyperparameterError", n, err)
		}
	}
}

// TestAveragedStateRoundTrip: a state saved and restored into a new
// Averaged continues bit for bit as the uninterrupted one, NaN payloads
// included, whatever the worker count; a refused Restore changes nothing.
func TestAveragedStateRoundTrip(t *testing.T) {
	t.Run("float32", func(t *testing.T) { testAveragedStateRoundTrip(t, averagedInputs[float32]) })
	t.Run("float64", func(t *testing.T) { testAveragedStateRoundTrip(t, averagedInputs[float64]) })
}

func testAveragedStateRoundTrip[T avgElem](t *testing.T, inputs func() (Model[T], [][][]T)) {
	lowParallelMin(t, 16)
	for _, avg := range []Average{EMA(0.9), SWA()} {
		m, steps := inputs()
		whole := runAveraged(t, avg, m, steps, Kernels(), 1)

		m, steps = inputs()
		a, err := NewAveragedModel(avg, m)
		if err != nil {
			t.Fatal(err)
		}
		src := slices.Concat(m.Params, m.Buffers)
		feed := func(a *Averaged[T], row [][]T) {
			for i, x := range row {
				copy(src[i], x)
			}
			if err := a.Update(); err != nil {
				t.Fatal(err)
			}
		}
		half := len(steps) / 2
		for _, row := range steps[:half] {
			feed(a, row)
		}
		st := a.State()
		saved := AveragedState[T]{NAveraged: st.NAveraged, Params: cloneSlices(st.Params), Buffers: cloneSlices(st.Buffers)}

		b, err := NewAveragedModel(avg, m) // another process: a fresh copy of the model
		if err != nil {
			t.Fatal(err)
		}
		if err := b.SetWorkers(3); err != nil {
			t.Fatal(err)
		}
		// A buffer one element short is refused, and nothing changes.
		fresh := slices.Concat(cloneSlices(b.Params()), cloneSlices(b.Buffers()))
		bad := AveragedState[T]{NAveraged: saved.NAveraged, Params: saved.Params, Buffers: slices.Clone(saved.Buffers)}
		bad.Buffers[len(bad.Buffers)-1] = bad.Buffers[len(bad.Buffers)-1][1:]
		var se *StateError
		if err := b.Restore(bad); !errors.As(err, &se) || !strings.Contains(err.Error(), "has length") {
			t.Fatalf("Restore of a short buffer: err %v, want a *StateError about its length", err)
		}
		checkExact(t, "after a refused Restore", slices.Concat(b.Params(), b.Buffers()), fresh)
		if b.NAveraged() != 0 {
			t.Fatalf("after a refused Restore: n_averaged %d", b.NAveraged())
		}
		if err := b.Restore(saved); err != nil {
			t.Fatal(err)
		}
		checkExact(t, "restored params", b.Params(), saved.Params)
		for _, row := range steps[half:] {
			feed(b, row)
		}
		b.Close()
		checkExact(t, fmt.Sprintf("%v: resumed", avg), slices.Concat(b.Params(), b.Buffers()), whole)
		if b.NAveraged() != int64(len(steps)) {
			t.Errorf("%v: resumed n_averaged %d, want %d", avg, b.NAveraged(), len(steps))
		}
	}
}

// TestAveragedUpdateAllocatesNothing, on the caller and on workers.
func TestAveragedUpdateAllocatesNothing(t *testing.T) {
	m, _ := averagedInputs[float32]()
	testAveragedAllocs(t, m)
}

// testAveragedAllocs checks that an Update of m, after the first two (the
// copy, which starts the workers, and a lerp), allocates nothing, on the
// caller and on 3 workers.
func testAveragedAllocs[T avgElem](t *testing.T, m Model[T]) {
	lowParallelMin(t, 16)
	for _, workers := range []int{1, 3} {
		a, err := NewAveragedModel(EMA(0.99), m)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.SetWorkers(workers); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := a.Update(); err != nil {
				t.Fatal(err)
			}
		}
		if got := a.Workers(); got != workers {
			t.Errorf("Workers() = %d, want %d", got, workers)
		}
		if allocs := testing.AllocsPerRun(20, func() {
			if err := a.Update(); err != nil {
				t.Fatal(err)
			}
		}); allocs != 0 {
			t.Errorf("%d workers: Update allocates %v times", workers, allocs)
		}
		a.Close()
	}
}

// cloneSlices returns a deep copy of s.
func cloneSlices[T any](s [][]T) [][]T {
	out := make([][]T, len(s))
	for i := range s {
		out[i] = slices.Clone(s[i])
	}
	return out
}

// TestAveragedWorkersSayWhatUpdateUses: below twice the split threshold an
// Update runs on the caller alone, whatever SetWorkers says.
func TestAveragedWorkersSayWhatUpdateUses(t *testing.T) {
	a, err := NewAveraged(SWA(), make([]float32, 100))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetWorkers(4); err != nil {
		t.Fatal(err)
	}
	if got := a.Workers(); got != 1 {
		t.Errorf("100 elements, SetWorkers(4): Workers() = %d, want 1", got)
	}
	lowParallelMin(t, 30)
	if got := a.Workers(); got != 3 {
		t.Errorf("100 elements, threshold 30, SetWorkers(4): Workers() = %d, want 3", got)
	}
}

// TestAveragedWorkersStopWhenCollected: an Averaged dropped without Close
// stops its workers.
func TestAveragedWorkersStopWhenCollected(t *testing.T) {
	lowParallelMin(t, 16)
	before := runtime.NumGoroutine()
	func() {
		a, err := NewAveraged(EMA(0.5), make([]float64, 1000))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.SetWorkers(4); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := a.Update(); err != nil {
				t.Fatal(err)
			}
		}
	}()
	for range 50 {
		runtime.GC()
		if runtime.NumGoroutine() <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%d goroutines after the Averaged was collected, want at most %d", runtime.NumGoroutine(), before)
}

// BenchmarkAveragedUpdate times an EMA Update of one slice of n elements
// on the caller. SetBytes counts the model's slice read and the average
// read and written (3 accesses of sizeof(T) per element).
func BenchmarkAveragedUpdate(b *testing.B) {
	b.Run("float32", func(b *testing.B) { benchAveraged[float32](b) })
	b.Run("float64", func(b *testing.B) { benchAveraged[float64](b) })
	b.Run("bfloat16", func(b *testing.B) { benchAveraged[BFloat16](b) })
	b.Run("float16", func(b *testing.B) { benchAveraged[Float16](b) })
}

// elemFrom is x as T, rounded to nearest even.
func elemFrom[T avgElem](x float64) T {
	var v any
	switch any(T(0)).(type) {
	case float32:
		v = float32(x)
	case float64:
		v = x
	case BFloat16:
		v = BFloat16From(float32(x))
	default:
		v = Float16From(float32(x))
	}
	return v.(T)
}

func benchAveraged[T avgElem](b *testing.B) {
	for _, n := range []int{1 << 10, 1 << 16, 1 << 20, 1 << 24} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			if n > 1<<20 && testing.Short() {
				b.Skip("large size skipped under -short")
			}
			p := make([]T, n)
			for i := range p {
				p[i] = elemFrom[T](float64(i%1000)*1e-3 - 0.5)
			}
			a, err := NewAveraged(EMA(0.999), p)
			if err != nil {
				b.Fatal(err)
			}
			if err := a.SetWorkers(1); err != nil {
				b.Fatal(err)
			}
			if err := a.Update(); err != nil { // the first copies
				b.Fatal(err)
			}
			b.SetBytes(int64(3 * n * int(unsafe.Sizeof(T(0)))))
			for b.Loop() {
				if err := a.Update(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package optim

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// Averaged of bfloat16 and float16 models: torch's AveragedModel of a
// 16-bit module, whose average is 16-bit too.

// lowFrom is x rounded to H by the package's conversions.
func lowFrom[H BFloat16 | Float16](x float32) H {
	if formatOf[H]() == kernels.BFloat16 {
		return H(BFloat16From(x))
	}
	return H(Float16From(x))
}

// lowWiden is h's value, exactly.
func lowWiden[H BFloat16 | Float16](h H) float32 {
	if formatOf[H]() == kernels.BFloat16 {
		return BFloat16(h).Float32()
	}
	return Float16(h).Float32()
}

// toLow converts golden rows, each value exact in H (else it fails).
func toLow[H BFloat16 | Float16](t *testing.T, rows [][]float64) [][]H {
	t.Helper()
	out := make([][]H, len(rows))
	for i, r := range rows {
		out[i] = make([]H, len(r))
		for j, v := range r {
			h := lowFrom[H](float32(v))
			if float64(lowWiden(h)) != v {
				t.Fatalf("golden value %v is not a %s", v, dtypeNameLow[H]())
			}
			out[i][j] = h
		}
	}
	return out
}

func dtypeNameLow[H BFloat16 | Float16]() string {
	if formatOf[H]() == kernels.BFloat16 {
		return "bfloat16"
	}
	return "float16"
}

// minLowAveragingGoldens is how many files testdata/torch-averaging-lowp
// holds: EMA at two decays and SWA, for bfloat16 and float16.
const minLowAveragingGoldens = 6

// TestAveragedLowGoldenTorch replays every run of torch's AveragedModel on
// bfloat16 and float16 tensors (testdata/torch-averaging-lowp) through
// NewAveragedModel and Update, on every supported kernel set; each file is
// a subtest named after it. Each update starts from torch's average of the
// update before (Restore), so that every element is one lerp of torch's.
//
// The tolerance: every copy, and every averaged element but the few where
// torch's fused multiply-add rounds differently, is bit for bit torch's.
// torch's CPU lerp computes base + coeff·(end − start) in float32 with one
// rounding (an FMA), generic.Lerp with two, as the float32 and float64
// averages do (testdata/torch-averaging/README.md); the two float32
// results are at most an ulp or so of float32 apart, which rounding to 16
// bits hides unless they straddle a rounding boundary of the format or
// cancel (a tiny result). The test requires every averaged element of
// torch's to be exactly the fused formula by the float32 weight, rounded
// to the format (torchLerp16), and ours, where it differs, to be exactly
// generic.Lerp's rounded: the difference is that rounding and nothing
// else, at no more than 1% of the elements (2 of the 34,884 recorded).
func TestAveragedLowGoldenTorch(t *testing.T) {
	replayAverageGoldens(t, "testdata/torch-averaging-lowp", minLowAveragingGoldens, func(t *testing.T, run goldenAverage, set *kernels.Set) {
		switch run.Dtype {
		case "bfloat16":
			replayAverageLow[BFloat16](t, run, set)
		case "float16":
			replayAverageLow[Float16](t, run, set)
		default:
			t.Fatalf("dtype %q", run.Dtype)
		}
	})
}

func replayAverageLow[H BFloat16 | Float16](t *testing.T, run goldenAverage, set *kernels.Set) {
	m := Model[H]{Params: toLow[H](t, run.Params0), Buffers: toLow[H](t, run.Buffers0), UseBuffers: run.UseBuffers}
	a, err := newAveraged("NewAveragedModel", run.average(t), m, set)
	if err != nil {
		t.Fatal(err)
	}
	checkExact(t, "before the first update", a.Params(), toLow[H](t, run.Params0))
	model, mean := averagedSlices(m)
	averaged, fused := 0, 0
	for s := range run.Steps {
		prev := slices.Concat(cloneSlices(a.Params()), cloneSlices(a.Buffers())) // torch's, restored
		for i, p := range toLow[H](t, run.Params[s]) {
			copy(m.Params[i], p)
		}
		for i, b := range toLow[H](t, run.Buffers[s]) {
			copy(m.Buffers[i], b)
		}
		if err := a.Update(); err != nil {
			t.Fatal(err)
		}
		wantP, wantB := toLow[H](t, run.AveragedParams[s]), toLow[H](t, run.AveragedBuffers[s])
		got, want := slices.Concat(a.Params(), a.Buffers()), slices.Concat(wantP, wantB)
		w := float32(1) / float32(s+1)
		if d, ok := run.average(t).Decay(); ok {
			w = float32(1 - d)
		}
		for i := range want {
			if s == 0 || i >= mean { // copies: exact
				checkExact(t, fmt.Sprintf("update %d: copied slice %d", s, i), got[i:i+1], want[i:i+1])
				continue
			}
			for j := range want[i] {
				averaged++
				// torch's value is its fused formula's, by the float32 weight.
				if tv := torchLerp16(prev[i][j], model[i][j], w); want[i][j] != tv {
					t.Fatalf("update %d: slice %d element %d: torch %#04x, its formula %#04x from %#04x to %#04x by %v",
						s, i, j, uint16(want[i][j]), uint16(tv), uint16(prev[i][j]), uint16(model[i][j]), w)
				}
				if got[i][j] == want[i][j] {
					continue
				}
				fused++
				d := []float32{lowWiden(prev[i][j])}
				generic.Lerp(d, []float32{lowWiden(model[i][j])}, w)
				if got[i][j] != lowFrom[H](d[0]) {
					t.Fatalf("update %d: slice %d element %d = %#04x, torch %#04x, generic.Lerp's rounded %#04x",
						s, i, j, uint16(got[i][j]), uint16(want[i][j]), uint16(lowFrom[H](d[0])))
				}
			}
		}
		// The next update starts from torch's average.
		if err := a.Restore(AveragedState[H]{NAveraged: int64(s + 1), Params: wantP, Buffers: wantB}); err != nil {
			t.Fatal(err)
		}
	}
	if a.NAveraged() != run.NAveraged {
		t.Errorf("NAveraged() = %d, want %d", a.NAveraged(), run.NAveraged)
	}
	// A handful at most: a systematic difference would be many.
	if fused > averaged/100 {
		t.Errorf("%d of %d averaged elements differ from torch's by its fused rounding, want at most 1%%", fused, averaged)
	}
	t.Logf("%d of %d averaged elements differ from torch's, each by its fused multiply-add only", fused, averaged)
}

// torchLerp16 is torch 2.x's CPU lerp of one 16-bit element (lerp_vec of
// LerpKernel.cpp): start and end widened, diff = end − start rounded to
// float32, then fma(coeff, diff, base) rounded once to float32, with
// coeff, base = w, start when |w| < 0.5 and w − 1, end otherwise, and the
// result rounded to H. The FMA is computed exactly with math/big.
func torchLerp16[H BFloat16 | Float16](start, end H, w float32) H {
	a, b := lowWiden(start), lowWiden(end)
	diff := b - a
	coeff, base := w, a
	if !(float32(math.Abs(float64(w))) < 0.5) {
		coeff, base = w-1, b
	}
	if math.IsNaN(float64(diff)) || math.IsInf(float64(diff), 0) || math.IsInf(float64(base), 0) {
		return lowFrom[H](base + coeff*diff)
	}
	prod := new(big.Float).SetFloat64(float64(coeff) * float64(diff)) // exact: 24 × 24 bits
	sum := new(big.Float).SetPrec(24).SetMode(big.ToNearestEven)
	sum.Add(prod, new(big.Float).SetFloat64(float64(base)))
	r, _ := sum.Float32()
	return lowFrom[H](r)
}

// averagedLowInputs is a 16-bit model of slices of every tail length of
// the kernel sets' vectors, and longer than the lerp's float32 blocks, at
// several scales, and its values at each of a few updates; from the
// fourth update two params and a buffer hold special values (subnormals,
// infinities, NaNs of several payloads), and the first update copies a
// param and a buffer of special values.
func averagedLowInputs[H BFloat16 | Float16]() (Model[H], [][][]H) {
	lens := []int{0, 1, 3, 15, 16, 17, 31, 33, 64, 100, 257, 2*len(lowBlocks{}[0]) + 37, 40}
	scales := []float64{1, 1, 300, 1e-3, 20, 1, 0.05, 1, 4, 1e-4, 1, 2, 1}
	rng := rand.New(rand.NewPCG(1, 7))
	sp := lowSpecials[H]()
	var steps [][][]H
	for s := range 6 {
		var row [][]H
		for i, n := range lens {
			x := lowValues[H](rng, n, scales[i])
			if (i == 5 || i == 7 || i == 11) && s >= 3 || (i == 6 || i == 12) && s == 0 {
				for k := range x {
					if k%3 == 0 {
						x[k] = sp[(k/3+s)%len(sp)]
					}
				}
			}
			row = append(row, x)
		}
		steps = append(steps, row)
	}
	return averagedModelOf(steps[0]), steps
}

// averagedLowReference is Update's specification for 16-bit slices,
// element by element: the first update copies; each later one sets an
// averaged element to round(generic.Lerp(widen(avg), widen(model), w)),
// in float32 by the float32 weight (torch's opmath), rounded to nearest
// even by the package's conversions; copied slices are copied.
func averagedLowReference[H BFloat16 | Float16](avg Average, m Model[H], steps [][][]H) [][]H {
	all, mean := averagedSlices(m)
	out := make([][]H, len(all))
	for s, row := range steps {
		w := float32(1) / float32(s+1)
		if avg.ema {
			w = float32(1 - avg.decay)
		}
		for i, x := range row {
			if s == 0 || i >= mean {
				out[i] = slices.Clone(x)
				continue
			}
			for j := range x {
				d := []float32{lowWiden(out[i][j])}
				generic.Lerp(d, []float32{lowWiden(x[j])}, w)
				out[i][j] = lowFrom[H](d[0])
			}
		}
	}
	return out
}

// TestAveragedLowSameBitsEverywhere: for both formats, every kernel set and
// worker count gives the bits of the plain Go reference, special values
// included: a NaN that the lerp computes is the canonical NaN, a NaN that
// is copied keeps its bits, as torch's copy_.
func TestAveragedLowSameBitsEverywhere(t *testing.T) {
	lowParallelMin(t, 16) // so that these small slices are split
	t.Run("bfloat16", func(t *testing.T) { testAveragedLowSameBits[BFloat16](t) })
	t.Run("float16", func(t *testing.T) { testAveragedLowSameBits[Float16](t) })
}

func testAveragedLowSameBits[H BFloat16 | Float16](t *testing.T) {
	averages := []Average{EMA(0.999), EMA(0.5), EMA(0.25), EMA(1), SWA()}
	workers := []int{1, 2, 3, 7}
	if testing.Short() {
		averages = []Average{EMA(0.999), EMA(0.25), SWA()}
		workers = []int{1, 3}
	}
	canonical := 0
	for _, avg := range averages {
		for _, useBuffers := range []bool{false, true} {
			m, steps := averagedLowInputs[H]()
			m.UseBuffers = useBuffers
			want := averagedLowReference(avg, m, steps)
			nan := lowFrom[H](float32(math.NaN()))
			for _, x := range want[:8] {
				for _, h := range x {
					if h == nan {
						canonical++
					}
				}
			}
			for _, set := range SupportedSets() {
				for _, w := range workers {
					m, steps := averagedLowInputs[H]()
					m.UseBuffers = useBuffers
					got := runAveraged(t, avg, m, steps, set, w)
					checkExact(t, fmt.Sprintf("%v, use buffers %v, set %s, %d workers", avg, useBuffers, set.Name(), w), got, want)
				}
			}
		}
	}
	if canonical == 0 {
		t.Error("no averaged element became the canonical NaN: the specials are not reached")
	}
}

// TestAveragedLowFollowsTorchSemantics, by hand: made as a copy, the first
// Update copies (NaN payloads kept), EMA moves by 1 - decay in float32
// and rounds once, buffers are copied unless UseBuffers, SWA by float32's
// 1/(n+1).
func TestAveragedLowFollowsTorchSemantics(t *testing.T) {
	bf := BFloat16From
	p, b := []BFloat16{bf(1), 0xFFC1}, []BFloat16{bf(10)}
	a, err := NewAveragedModel(EMA(0.5), Model[BFloat16]{Params: [][]BFloat16{p}, Buffers: [][]BFloat16{b}})
	if err != nil {
		t.Fatal(err)
	}
	p[0], b[0] = bf(3), bf(20)
	if got := a.Params()[0]; got[0] != bf(1) || got[1] != 0xFFC1 {
		t.Fatalf("before Update: %#04x, want the model as made", got)
	}
	for k, s := range []struct {
		p0, b0, avg, buf float32
		nan              BFloat16
	}{
		{3, 20, 3, 20, 0xFFC1}, // the copy keeps the NaN's bits
		{5, 30, 4, 30, BFloat16NaN},
		// 4 + 0.5·(257 − 4) = 130.5 in float32, 130 in bfloat16 (nearest even
		// of 130 and 131, bfloat16's neighbours there being 2 apart).
		{257, 40, 130, 40, BFloat16NaN},
	} {
		p[0], b[0] = bf(s.p0), bf(s.b0)
		if err := a.Update(); err != nil {
			t.Fatal(err)
		}
		got := a.Params()[0]
		if got[0] != bf(s.avg) || got[1] != s.nan || a.Buffers()[0][0] != bf(s.buf) || a.NAveraged() != int64(k+1) {
			t.Errorf("update %d: param %v, NaN %#04x, buffer %v, n %d; want %v, %#04x, %v, %d", k, got[0].Float32(), uint16(got[1]),
				a.Buffers()[0][0].Float32(), a.NAveraged(), s.avg, uint16(s.nan), s.buf, k+1)
		}
	}

	// float16 SWA with averaged buffers: the mean of 1, 2, 4 by the
	// weights 1/2, then float32's 1/3 (2·(1 − w) + 4·w rounds to 2.666...,
	// which float16 rounds to 2.666015625).
	h := Float16From
	q, c := []Float16{h(0)}, []Float16{h(0)}
	s, err := NewAveragedModel(SWA(), Model[Float16]{Params: [][]Float16{q}, Buffers: [][]Float16{c}, UseBuffers: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []float32{1, 3, 4} {
		q[0], c[0] = h(v), h(-v)
		if err := s.Update(); err != nil {
			t.Fatal(err)
		}
	}
	third := float32(1) / 3
	want := h(2 + third*(4-2))
	if got := s.Params()[0][0]; got != want || got.Float32() != 2.666015625 || s.Buffers()[0][0] != want^0x8000 {
		t.Errorf("float16 SWA of 1, 3, 4: %v and buffer %v, want %v and its negation", got.Float32(), s.Buffers()[0][0].Float32(), want.Float32())
	}
}

// TestAveragedLowStateRoundTrip: a 16-bit state saved and restored into a
// new Averaged continues bit for bit as the uninterrupted one, whatever
// the worker count; a refused Restore is typed and changes nothing
// (testAveragedStateRoundTrip).
func TestAveragedLowStateRoundTrip(t *testing.T) {
	t.Run("bfloat16", func(t *testing.T) { testAveragedStateRoundTrip(t, averagedLowInputs[BFloat16]) })
	t.Run("float16", func(t *testing.T) { testAveragedStateRoundTrip(t, averagedLowInputs[Float16]) })
}

// TestAveragedLowUpdateAllocatesNothing, on the caller and on workers,
// with averaged buffers.
func TestAveragedLowUpdateAllocatesNothing(t *testing.T) {
	m, _ := averagedLowInputs[BFloat16]()
	m.UseBuffers = true
	testAveragedAllocs(t, m)
}

// TestAveragedLowErrors: the checks of the float types hold for 16-bit
// ones: a bad decay, bad names, a count that cannot grow.
func TestAveragedLowErrors(t *testing.T) {
	var he *HyperparameterError
	if _, err := NewAveraged(EMA(math.NaN()), []Float16{1}); !errors.As(err, &he) {
		t.Errorf("EMA(NaN): err %v, want a *HyperparameterError", err)
	}
	var ne *NameError
	if _, err := NewAveragedModel(SWA(), Model[BFloat16]{Params: [][]BFloat16{{1}}, Names: []string{""}}); !errors.As(err, &ne) {
		t.Errorf("an empty name: err %v, want a *NameError", err)
	}
	a, err := NewAveraged(SWA(), []BFloat16{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Restore(AveragedState[BFloat16]{NAveraged: math.MaxInt64 - 1, Params: [][]BFloat16{{3, 4}}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Update(); err != nil {
		t.Fatal(err)
	}
	want := cloneSlices(a.Params())
	var se *StateError
	if err := a.Update(); !errors.As(err, &se) || se.Key != "n_averaged" {
		t.Errorf("Update at n_averaged MaxInt64: err %v, want a *StateError for n_averaged", err)
	}
	checkExact(t, "after a refused Update", a.Params(), want)
}

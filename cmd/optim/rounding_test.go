package main

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"testing"

	"github.com/simdoptim/optim"
)

// roundingDigestWant is the FNV-1a hash of every recorded value of figure
// 12's three runs (see roundingDigest): the same on every kernel set, CPU
// and architecture.
const roundingDigestWant = 0x2c8cc7bbf685a142

// roundingDigest hashes the recorded excess losses and weights of the
// three runs, in order, as float64 bits.
func roundingDigest(rr *roundingRuns) uint64 {
	h := fnv.New64a()
	var buf [8]byte
	put := func(x float64) {
		binary.LittleEndian.PutUint64(buf[:], math.Float64bits(x))
		h.Write(buf[:])
	}
	for _, run := range rr.runs {
		for j := range run.steps {
			put(float64(run.steps[j]))
			put(run.excess[j])
			for _, w := range run.weights[j] {
				put(w)
			}
		}
	}
	return h.Sum64()
}

// TestRoundingFigure checks figure 12's claim on its own data: rounded to
// nearest, bfloat16 SGD stops far above the minimum and does not move over
// the second half of the run; rounded stochastically, it follows float32
// while the loss falls and ends within a few percent of its loss; and the
// runs have the same bits on every supported kernel set, and the digest
// that every architecture gives.
func TestRoundingFigure(t *testing.T) {
	rg := newRegression(roundingDim, roundingExamples, roundingSeed)
	var first *roundingRuns
	for _, set := range optim.SupportedSets() {
		rr, err := runRounding(set, rg, roundingLR, roundingSteps, roundingEvery, roundingSRSeed)
		if err != nil {
			t.Fatal(err)
		}
		if got := roundingDigest(rr); got != roundingDigestWant {
			t.Errorf("set %s: digest %#x, want %#x", set.Name(), got, uint64(roundingDigestWant))
		}
		if first == nil {
			first = rr
		}
		t.Logf("set %s: digest %#x", set.Name(), roundingDigest(rr))
	}
	rr := first
	f32, rne, sr := rr.runs[storeF32], rr.runs[storeRNE], rr.runs[storeSR]
	last := len(f32.steps) - 1
	if f32.steps[last] != roundingSteps {
		t.Fatalf("last recorded step %d, want %d", f32.steps[last], roundingSteps)
	}
	fMin := rg.fMin
	loss := func(run *roundingRun, j int) float64 { return fMin + run.excess[j] }
	t.Logf("f* = %.6g; after %d steps: float32 f = %.6g (f − f* = %.3g), round to nearest %.6g (%.3g), stochastic %.6g (%.3g)",
		fMin, roundingSteps, loss(f32, last), f32.excess[last], loss(rne, last), rne.excess[last], loss(sr, last), sr.excess[last])

	// Round to nearest stalls: far above the minimum, and frozen.
	if r := loss(rne, last) / fMin; r < 100 {
		t.Errorf("round to nearest ends at f = %.4g, %.3g times f*: want at least 100 times", loss(rne, last), r)
	}
	if half := last / 2; rne.excess[half] != rne.excess[last] {
		t.Errorf("round to nearest still moves in the second half: f − f* %.6g at step %d, %.6g at step %d",
			rne.excess[half], rne.steps[half], rne.excess[last], rne.steps[last])
	}
	// Stochastic rounding keeps learning: near float32's loss at the end,
	// and with it while the loss falls.
	if r := loss(sr, last) / loss(f32, last); !(r < 1.1) {
		t.Errorf("stochastic rounding ends at f = %.6g, %.4g times float32's %.6g: want under 1.1", loss(sr, last), r, loss(f32, last))
	}
	if r := rne.excess[last] / sr.excess[last]; !(r > 1000) {
		t.Errorf("stochastic rounding's f − f* %.4g is only %.3g times below round to nearest's %.4g: want 1000", sr.excess[last], r, rne.excess[last])
	}
	for j, step := range f32.steps {
		if step == 0 || f32.excess[j] < 0.05 {
			continue // from here on both sit at their floors
		}
		if r := sr.excess[j] / f32.excess[j]; !(r > 0.7 && r < 1.4) {
			t.Errorf("step %d: stochastic rounding's f − f* %.4g is %.3g times float32's %.4g: want within [0.7, 1.4]", step, sr.excess[j], r, f32.excess[j])
			break
		}
	}
	// The traced weight: round to nearest leaves it over a unit short.
	if k := rr.traced(); math.Abs(rne.weights[last][k]-rg.wMin[k]) < 1 || math.Abs(sr.weights[last][k]-rg.wMin[k]) > 0.1 {
		t.Errorf("weight %d (optimum %.4g): round to nearest ends at %.4g, stochastic rounding at %.4g", k, rg.wMin[k], rne.weights[last][k], sr.weights[last][k])
	}
}

package schedule

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"testing"
)

// wantScheduleDigest is the FNV-64a hash of every rate and momentum bit of
// digestSpecs' schedules. It is the cross-architecture promise of the
// schedules in one number: the same constant must come out on amd64 (at
// GOAMD64=v1 and v3) and on arm64 (GOARCH=arm64 go test -exec qemu-aarch64
// -run Digest ./schedule/), which holds because every cos and pow comes from
// internal/detmath and no product is fused into a sum.
//
// It was produced by `go test -run Digest -v ./schedule/` (the logged
// "digest"); it changes only when a schedule's arithmetic or the specs below
// change on purpose.
const wantScheduleDigest = 0x8ab14aebe8cec9db

// digestSpecs are schedules that exercise cos and pow in every place the
// package calls them (SWALR's cos among them), with two groups and momentum
// cycling.
func digestSpecs() []Spec {
	cyc := DefaultCyclicLR(0.001, 0.1)
	cyc.Mode, cyc.Gamma, cyc.StepSizeUp, cyc.StepSizeDown = "exp_range", 0.993, 7, 11
	cyc.BaseLR = []float64{0.001, 0.0003}
	tri2 := DefaultCyclicLR(0.002, 0.05)
	tri2.Mode, tri2.StepSizeUp = "triangular2", 5
	oneCos := DefaultOneCycleLR(0.1, 300)
	oneCos.MaxLR = []float64{0.1, 0.0123}
	one3 := DefaultOneCycleLR(0.01, 300)
	one3.ThreePhase, one3.PctStart = true, 0.27
	oneLin := DefaultOneCycleLR(0.05, 300)
	oneLin.AnnealStrategy = "linear"
	plateau := DefaultReduceLROnPlateau()
	plateau.Patience, plateau.Cooldown = 2, 1
	return []Spec{
		CosineAnnealingLR{TMax: 37, EtaMin: 1e-5},
		CosineAnnealingLR{TMax: 300},
		CosineAnnealingWarmRestarts{T0: 5, TMult: 2, EtaMin: 3e-4},
		ExponentialLR{Gamma: 0.987},
		PolynomialLR{TotalIters: 250, Power: 0.5},
		PolynomialLR{TotalIters: 299, Power: 2.7},
		oneCos, one3, oneLin, cyc, tri2,
		DefaultMultiStepLR(10, 10, 50, 120),
		LinearLR{StartFactor: 0.001, EndFactor: 0.7, TotalIters: 97},
		LambdaLR{Lambdas: []func(int) float64{func(e int) float64 { return pow(0.97, float64(e)) }}},
		SequentialLR{
			Schedulers: []Spec{LinearLR{StartFactor: 0.01, EndFactor: 1, TotalIters: 20}, CosineAnnealingLR{TMax: 280, EtaMin: 1e-6}},
			Milestones: []int{20},
		},
		SequentialLR{
			Schedulers: []Spec{DefaultConstantLR(), ExponentialLR{Gamma: 0.99}, PolynomialLR{TotalIters: 100, Power: 1.5}},
			Milestones: []int{9, 150},
		},
		ChainedScheduler{Schedulers: []Spec{CosineAnnealingWarmRestarts{T0: 13, TMult: 1}, ExponentialLR{Gamma: 0.995}}},
		plateau,
		SWALR{SwaLR: []float64{0.01, 0.0003}, AnnealEpochs: 37, AnnealStrategy: "cos"},
		SequentialLR{
			Schedulers: []Spec{CosineAnnealingLR{TMax: 150}, SWALR{SwaLR: []float64{0.004}, AnnealEpochs: 60, AnnealStrategy: "cos"}},
			Milestones: []int{110},
		},
	}
}

func TestScheduleDigest(t *testing.T) {
	h := fnv.New64a()
	var buf [8]byte
	put := func(x float64) {
		binary.LittleEndian.PutUint64(buf[:], math.Float64bits(x))
		h.Write(buf[:])
	}
	for _, spec := range digestSpecs() {
		tgt := newFake([]float64{0.05, 0.002}, 0.9)
		s, err := New(tgt, spec)
		if err != nil {
			t.Fatalf("%T: %v", spec, err)
		}
		for k := range 300 {
			if _, ok := spec.(ReduceLROnPlateau); ok {
				// A metric from exact operations: improves, then stalls.
				err = s.StepMetric(1 / float64(1+min(k, 40)))
			} else {
				err = s.Step()
			}
			if err != nil {
				t.Fatalf("%T step %d: %v", spec, k, err)
			}
			for i := range tgt.lr {
				put(tgt.lr[i])
				put(tgt.mom[i])
			}
		}
	}
	got := h.Sum64()
	t.Logf("digest %#x", got)
	if got != wantScheduleDigest {
		t.Errorf("digest %#x, want %#x", got, uint64(wantScheduleDigest))
	}
}

package kernels

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/simdoptim/optim/generic"
)

// Benchmarks for tuning the assembly sets against generic and against copy().
// b.SetBytes counts every byte read and every byte written, so the MB/s of
// BenchmarkCopy (which reads and writes half each) is directly comparable:
//
//	go test -run - -bench 'Adam/|Copy' ./kernels

var benchSizes = []int{65536, 16 << 20}

// benchSets returns generic and the assembly sets this CPU runs.
func benchSets() []*Set {
	out := []*Set{Generic()}
	for _, s := range archSets() {
		if s.Supported() {
			out = append(out, s)
		}
	}
	return out
}

// BenchmarkKernels times each rule's typical variant (its description's
// TypicalVariant), at every size: at 65,536 elements the data stay in
// cache, at 16M memory bandwidth bounds every rule.
func BenchmarkKernels(b *testing.B) {
	for _, r := range generic.Rules() {
		for _, n := range benchSizes {
			benchKind[float32](b, r.Kind, r.TypicalVariant, n)
			benchKind[float64](b, r.Kind, r.TypicalVariant, n)
		}
	}
}

func benchKind[T Float](b *testing.B, k Kind, v Variant, n int) {
	u0, u1, u2 := Uses(k, v)
	used := [5]bool{true, true, u0, u1, u2}
	written := [5]bool{true, false, u0, u1, u2}
	var sl [5][]T
	moved := 0
	for i := range sl {
		if used[i] {
			sl[i] = make([]T, n)
			for j := range sl[i] {
				sl[i][j] = T(j%13) * 0.01
			}
			moved++
			if written[i] {
				moved++
			}
		}
	}
	// Typical values, so that no rule drifts into subnormals or NaNs, whose
	// cost differs between sets, over many iterations.
	var c Coeffs[T]
	c.NegLR, c.Momentum, c.Dampening, c.Beta2, c.OneMinusBeta2 = -1e-3, 0.9, 1, 0.999, 0.001
	c.Lerp, c.LerpComp, c.BC2Sqrt, c.Eps = 0.1, 0.9, 0.5, 1e-8
	c.Decay, c.Beta1, c.OneMinusBeta1, c.NegLRAvg, c.BC1, c.BC2 = 1, 0.9, 0.1, -1e-3, 0.5, 0.5
	c.LR, c.Rect, c.EtaPlus, c.EtaMinus, c.StepSizeMin, c.StepSizeMax, c.Mu = 1e-2, 0.5, 1.2, 0.5, 1e-6, 50, 1
	for _, s := range benchSets() {
		kernel := Kernel[T](s, k)
		b.Run(fmt.Sprintf("%v/%T/n=%d/set=%s", k, T(0), n, s.name), func(b *testing.B) {
			b.SetBytes(int64(moved * n * int(unsafe.Sizeof(T(0)))))
			for b.Loop() {
				kernel(v, &c, sl[0], sl[1], sl[2], sl[3], sl[4])
			}
		})
	}
}

// BenchmarkCopy moves as many bytes as Adam float32 without AMSGrad
// (28 per parameter: 16 read, 12 written) with copy(): half read, half
// written.
func BenchmarkCopy(b *testing.B) {
	for _, n := range benchSizes {
		half := 14 * n
		src, dst := make([]byte, half), make([]byte, half)
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			b.SetBytes(int64(2 * half))
			for b.Loop() {
				copy(dst, src)
			}
		})
	}
}

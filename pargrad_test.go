package optim

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestParallelGradBitIdentical: the optimizer's workers compute every norm,
// clip and check with the bits of the single-threaded functions, for every
// worker count.
func TestParallelGradBitIdentical(t *testing.T) {
	lowParallelMin(t, 1000)
	testParallelGrad[float32](t)
	testParallelGrad[float64](t)
}

func testParallelGrad[T testFloat](t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	// One long slice (many blocks, with a partial one), a medium and a
	// short one; scaled so that float64 takes the overflow and underflow
	// passes too.
	lens := []int{23*4096 + 77, 5000, 300}
	for _, scale := range []float64{1, 1e300, 1e-300} {
		var grads [][]T
		for _, n := range lens {
			g := make([]T, n)
			for i := range g {
				g[i] = T(r.NormFloat64() * scale)
			}
			grads = append(grads, g)
		}
		workerCounts := []int{2, 3, 7, 16}
		if testing.Short() {
			workerCounts = []int{3, 16} // an odd split, and more workers than blocks of the short slices
		}
		for _, w := range workerCounts {
			o, err := New(DefaultSGD(), make([]T, 1))
			if err != nil {
				t.Fatal(err)
			}
			if err := o.SetWorkers(w); err != nil {
				t.Fatal(err)
			}
			for _, p := range []float64{1, 2, 3, math.Inf(1)} {
				want, _ := GradNorm(p, grads...)
				got, err := o.GradNorm(p, grads...)
				if err != nil || math.Float64bits(got) != math.Float64bits(want) {
					t.Fatalf("%s scale %g, %d workers, p=%v: %v (%v), single-threaded %v", dtypeName[T](), scale, w, p, got, err, want)
				}
			}
			a, b := clone2(grads), clone2(grads)
			na, _ := ClipGradNorm(0.5, 2, false, a...)
			nb, _ := o.ClipGradNorm(0.5, 2, false, b...)
			if na != nb {
				t.Fatalf("ClipGradNorm norms %v and %v", na, nb)
			}
			for i := range a {
				if j := firstDiff(a[i], b[i]); j >= 0 {
					t.Fatalf("%d workers: clipped grad %d differs at %d", w, i, j)
				}
			}
			_ = ClipGradValue(0.1, a...)
			_ = o.ClipGradValue(0.1, b...)
			for i := range a {
				if j := firstDiff(a[i], b[i]); j >= 0 {
					t.Fatalf("%d workers: clamped grad %d differs at %d", w, i, j)
				}
			}
			serial := false
			for _, g := range grads {
				serial = serial || gradKernels[T]().NonFinite(g)
			}
			if o.NonFinite(grads...) != serial {
				t.Fatalf("NonFinite = %v, single-threaded %v", !serial, serial)
			}
			bad := clone2(grads)
			bad[0][len(bad[0])-5] = T(math.NaN())
			if !o.NonFinite(bad...) {
				t.Fatal("NonFinite missed a NaN in the last block")
			}
			o.Close()
		}
	}
}

func TestSplitBlocks(t *testing.T) {
	for _, n := range []int{1, 4096, 4097, 23*4096 + 77, 1 << 20} {
		for _, w := range []int{2, 3, 8} {
			pieces := splitBlocks(nil, n, w)
			at := 0
			for _, p := range pieces {
				start := uint64(p.lo / 4096)
				if p.lo != at || p.blocks&(p.blocks-1) != 0 || start%p.blocks != 0 {
					t.Fatalf("n=%d w=%d: piece %+v after %d", n, w, p, at)
				}
				at = p.hi
			}
			if at != n {
				t.Fatalf("n=%d: pieces end at %d", n, at)
			}
			b := shareBounds(nil, pieces, w)
			if len(b) != w+1 || b[0] != 0 || b[w] != len(pieces) {
				t.Fatalf("bounds %v", b)
			}
		}
	}
}

func TestParallelGradAllocatesNothing(t *testing.T) {
	lowParallelMin(t, 1000)
	o, _ := New(DefaultSGD(), make([]float32, 1))
	defer o.Close()
	_ = o.SetWorkers(4)
	g := make([]float32, 40000)
	_, _ = o.ClipGradNorm(1, 2, false, g)
	if n := testing.AllocsPerRun(20, func() { _, _ = o.ClipGradNorm(1, 2, false, g) }); n != 0 {
		t.Errorf("a parallel ClipGradNorm allocates %v times", n)
	}
}

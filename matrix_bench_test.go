package optim

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/simdoptim/optim/linalg"
)

// muonFlops is the floating-point operations of one Muon step of a
// rows × cols parameter: each Newton–Schulz iteration forms A = X·Xᵀ
// (2m²n), (c·A)·A (2m³) and B·X (2m²n), with m ≤ n the sides.
func muonFlops(rows, cols, steps int) float64 {
	m, n := float64(min(rows, cols)), float64(max(rows, cols))
	return float64(steps) * (4*m*m*n + 2*m*m*m)
}

// On a shared machine the figures over CPU time (cpuGF/s, cpu-ns/param)
// are the steadier ones; with several workers they count every thread.

// BenchmarkMuon times one float32 Muon step of a 1024 × 4096 weight on one
// worker and on GOMAXPROCS, and reports its GF/s and the fraction of the
// GF/s of linalg.Gemm on the step's largest product shape (m = 1024,
// n = 1024, k = 4096, timed in the same run on as many workers): the
// elementwise work and the norm besides the products cost the rest.
// SetBytes counts p, g and the momentum buffer.
func BenchmarkMuon(b *testing.B) {
	const rows, cols = 1024, 4096
	p := make([]float32, rows*cols)
	g := make([]float32, rows*cols)
	for i := range p {
		p[i] = float32(i%1000)/1000 - 0.5
		g[i] = float32(i%777)/777 - 0.5
	}
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		peak := gemmPeak(workers)
		b.Run(fmt.Sprintf("float32/%dx%d/workers=%d", rows, cols, workers), func(b *testing.B) {
			o, err := NewGroups(Group[float32]{Rule: DefaultMuon(), Params: [][]float32{p}, Shapes: []Shape{{rows, cols}}})
			if err != nil {
				b.Fatal(err)
			}
			defer o.Close()
			if err := o.SetWorkers(workers); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(4 * 4 * rows * cols)
			// One step first: the first touch of the state and the scratch
			// (about 12 µs per 4 KiB page in this VM) is not a step's cost.
			if err := o.Step(g); err != nil {
				b.Fatal(err)
			}
			cpu0 := processCPU()
			for b.Loop() {
				if err := o.Step(g); err != nil {
					b.Fatal(err)
				}
			}
			reportMuon(b, rows, cols, peak, cpu0)
		})
		// The same step on bfloat16 storage: the float32 step of the
		// widened values, rounded back (LowOptimizer).
		b.Run(fmt.Sprintf("bfloat16/%dx%d/workers=%d", rows, cols, workers), func(b *testing.B) {
			p16, g16 := make([]BFloat16, len(p)), make([]BFloat16, len(g))
			_ = NarrowBFloat16(p16, p)
			_ = NarrowBFloat16(g16, g)
			o, err := NewLowGroups(LowOptions{}, LowGroup[BFloat16]{Rule: DefaultMuon(), Params: [][]BFloat16{p16}, Shapes: []Shape{{rows, cols}}})
			if err != nil {
				b.Fatal(err)
			}
			defer o.Close()
			if err := o.SetWorkers(workers); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(3 * 2 * rows * cols)
			// One step first: the first touch of the state and the scratch
			// (about 12 µs per 4 KiB page in this VM) is not a step's cost.
			if err := o.Step(g16); err != nil {
				b.Fatal(err)
			}
			cpu0 := processCPU()
			for b.Loop() {
				if err := o.Step(g16); err != nil {
					b.Fatal(err)
				}
			}
			reportMuon(b, rows, cols, peak, cpu0)
		})
	}
}

// reportMuon reports a Muon benchmark's GF/s over wall time, its fraction
// of peak (Gemm's GF/s in the same run), and its GF/s over the process's
// CPU time since cpu0.
func reportMuon(b *testing.B, rows, cols int, peak, cpu0 float64) {
	gfs := muonFlops(rows, cols, 5) * float64(b.N) / b.Elapsed().Seconds() / 1e9
	b.ReportMetric(gfs, "GF/s")
	b.ReportMetric(gfs/peak, "of-gemm")
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(muonFlops(rows, cols, 5)*float64(b.N)/cpu/1e9, "cpuGF/s")
	}
}

// gemmPeak is linalg.Gemm's GF/s on C = A·Aᵀ with A 1024 × 4096 float32,
// Muon's largest product, on workers goroutines: the best of three.
func gemmPeak(workers int) float64 {
	const m, k = 1024, 4096
	a := make([]float32, m*k)
	for i := range a {
		a[i] = float32(i%1000) / 1000
	}
	c := make([]float32, m*m)
	w := linalg.GemmWorkspace[float32]{Workers: workers}
	best := 0.0
	for range 3 {
		start := time.Now()
		if err := w.Gemm(false, true, m, m, k, 1, a, k, a, k, 0, c, m); err != nil {
			panic(err)
		}
		best = max(best, 2*m*m*k/time.Since(start).Seconds()/1e9)
	}
	return best
}

// BenchmarkAdafactor times a float32 Adafactor step of a 4096 × 4096
// weight, factored, and Adam's step of the same parameter in the same run,
// on one worker; ns/param is the time per element. SetBytes counts p and g
// (Adafactor's factors are 2·4096 values) and, for Adam, its two moments.
func BenchmarkAdafactor(b *testing.B) {
	const n = 4096
	p := make([]float32, n*n)
	g := make([]float32, n*n)
	for i := range p {
		p[i] = float32(i&1023)/1024 - 0.5
		g[i] = float32(i*7&1023)/1024 - 0.5
	}
	for _, c := range []struct {
		name  string
		rule  Rule
		bytes int64
	}{
		{"Adafactor", DefaultAdafactor(), 3 * 4},
		{"Adam", DefaultAdam(), 7 * 4},
	} {
		b.Run(fmt.Sprintf("%s/float32/%dx%d", c.name, n, n), func(b *testing.B) {
			o, err := NewGroups(Group[float32]{Rule: c.rule, Params: [][]float32{p}, Shapes: []Shape{{n, n}}})
			if err != nil {
				b.Fatal(err)
			}
			defer o.Close()
			if err := o.SetWorkers(1); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(c.bytes * n * n)
			// One step first: the first touch of the state and the scratch
			// (about 12 µs per 4 KiB page in this VM) is not a step's cost.
			if err := o.Step(g); err != nil {
				b.Fatal(err)
			}
			cpu0 := processCPU()
			for b.Loop() {
				if err := o.Step(g); err != nil {
					b.Fatal(err)
				}
			}
			reportPerParam(b, n*n, cpu0)
		})
	}
	// Adafactor on bfloat16 storage (LowOptimizer): the float32 step of
	// the widened values, rounded back.
	b.Run(fmt.Sprintf("Adafactor/bfloat16/%dx%d", n, n), func(b *testing.B) {
		p16, g16 := make([]BFloat16, len(p)), make([]BFloat16, len(g))
		_ = NarrowBFloat16(p16, p)
		_ = NarrowBFloat16(g16, g)
		o, err := NewLowGroups(LowOptions{}, LowGroup[BFloat16]{Rule: DefaultAdafactor(), Params: [][]BFloat16{p16}, Shapes: []Shape{{n, n}}})
		if err != nil {
			b.Fatal(err)
		}
		defer o.Close()
		if err := o.SetWorkers(1); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(3 * 2 * n * n)
		if err := o.Step(g16); err != nil { // the first touch, as above
			b.Fatal(err)
		}
		cpu0 := processCPU()
		for b.Loop() {
			if err := o.Step(g16); err != nil {
				b.Fatal(err)
			}
		}
		reportPerParam(b, n*n, cpu0)
	})
}

// reportPerParam reports a benchmark's time per element of its n over wall
// time, and over the process's CPU time since cpu0.
func reportPerParam(b *testing.B, n int, cpu0 float64) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/param")
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(cpu*1e9/float64(b.N)/float64(n), "cpu-ns/param")
	}
}

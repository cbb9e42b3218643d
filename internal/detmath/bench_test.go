package detmath

import (
	"math"
	"testing"
)

// The arguments cycle through 1024 values typical of a schedule; sink keeps
// the calls from being optimised away.
var sink float64

func benchArgs(lo, hi float64) []float64 {
	r := rng(3)
	a := make([]float64, 1024)
	for i := range a {
		a[i] = r.in(lo, hi)
	}
	return a
}

func bench1(b *testing.B, f func(float64) float64, lo, hi float64) {
	a := benchArgs(lo, hi)
	b.SetBytes(8)
	s := 0.0
	for i := 0; i < b.N; i++ {
		s += f(a[i&1023])
	}
	sink = s
}

func bench2(b *testing.B, f func(float64, float64) float64) {
	x, y := benchArgs(0.5, 1), benchArgs(0, 1e4)
	b.SetBytes(8)
	s := 0.0
	for i := 0; i < b.N; i++ {
		s += f(x[i&1023], y[i&1023])
	}
	sink = s
}

func BenchmarkCos(b *testing.B)     { bench1(b, Cos, 0, 1e4) }
func BenchmarkMathCos(b *testing.B) { bench1(b, math.Cos, 0, 1e4) }
func BenchmarkSin(b *testing.B)     { bench1(b, Sin, 0, 1e4) }
func BenchmarkMathSin(b *testing.B) { bench1(b, math.Sin, 0, 1e4) }
func BenchmarkExp(b *testing.B)     { bench1(b, Exp, -50, 50) }
func BenchmarkMathExp(b *testing.B) { bench1(b, math.Exp, -50, 50) }
func BenchmarkLog(b *testing.B)     { bench1(b, Log, 1e-5, 1e5) }
func BenchmarkMathLog(b *testing.B) { bench1(b, math.Log, 1e-5, 1e5) }
func BenchmarkPow(b *testing.B)     { bench2(b, Pow) }
func BenchmarkMathPow(b *testing.B) { bench2(b, math.Pow) }

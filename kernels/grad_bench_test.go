package kernels

import (
	"fmt"
	"testing"
	"unsafe"
)

// BenchmarkGrad runs every gradient kernel of every set this CPU runs on
// 65,536 elements (in cache: the kernels' own speed) and 2^24 (memory).
// b.SetBytes counts the bytes read plus the bytes written, as
// BenchmarkCopy does: one slice's bytes for a reduction, two for a pass
// that rewrites its slice, three for Accumulate and Lerp (two read, one
// written):
//
//	go test -run - -bench 'Grad/' ./kernels
func BenchmarkGrad(b *testing.B) {
	for _, n := range benchSizes {
		benchGrad[float32](b, n)
		benchGrad[float64](b, n)
	}
}

func benchGrad[T Float](b *testing.B, n int) {
	x, y := make([]T, n), make([]T, n)
	for i := range x {
		x[i] = T(i%1000) * 0x1p-10
		y[i] = T(i%777+1) * 0x1p-9 // never 0, which x would approach
	}
	size := int64(n) * int64(unsafe.Sizeof(T(0)))
	var sink float64
	var flag bool
	for _, s := range benchSets() {
		k := Grad[T](s)
		cases := []struct {
			name   string
			slices int64 // slices read, plus those written
			run    func()
		}{
			{"SumSquares", 1, func() { sink += k.SumSquares(x) }},
			// A scale of 1/2: the norm's scales, 2^±600, make the squares
			// of ordinary values subnormal or infinite, which only measures
			// the CPU's handling of those.
			{"SumSquaresScaled", 1, func() { sink += k.SumSquaresScaled(x, 0.5) }},
			{"SumAbs", 1, func() { sink += k.SumAbs(x) }},
			{"MaxAbs", 1, func() { sink += k.MaxAbs(x) }},
			{"Scale", 2, func() { k.Scale(x, 1) }}, // 1 and [-2^30, 2^30]: x stays as it is
			{"Clamp", 2, func() { k.Clamp(x, 0x1p30) }},
			{"UnscaleCheck", 2, func() { flag = flag != k.UnscaleCheck(x, 1) }},
			{"NonFinite", 1, func() { flag = flag != k.NonFinite(x) }},
			// x grows by y/1024 a call and moves towards y, which is
			// never 0: its values stay normal, so no case times the CPU's
			// handling of subnormals.
			{"Accumulate", 3, func() { k.Accumulate(x, y, 0x1p-10) }},
			{"Lerp", 3, func() { k.Lerp(x, y, 0x1p-10) }},  // an EMA's weight 1 - decay: the first form
			{"LerpHigh", 3, func() { k.Lerp(x, y, 0.75) }}, // the second form, |w| >= 0.5
		}
		for _, c := range cases {
			b.Run(fmt.Sprintf("%s/%T/n=%d/set=%s", c.name, T(0), n, s.name), func(b *testing.B) {
				b.SetBytes(c.slices * size)
				for b.Loop() {
					c.run()
				}
			})
		}
	}
	_, _ = sink, flag
}

package kernels

import (
	"fmt"
	"testing"
	"unsafe"
)

// BenchmarkGrad runs every gradient kernel of every set this CPU runs on
// 65,536 elements (in cache: the kernels' own speed) and 2^24 (memory).
// b.SetBytes counts the bytes read plus the bytes written, as
// BenchmarkCopy does:
//
//	go test -run - -bench 'Grad/' ./kernels
func BenchmarkGrad(b *testing.B) {
	for _, n := range benchSizes {
		benchGrad[float32](b, n)
		benchGrad[float64](b, n)
	}
}

func benchGrad[T Float](b *testing.B, n int) {
	x := make([]T, n)
	for i := range x {
		x[i] = T(i%1000) * 0x1p-10
	}
	size := int64(n) * int64(unsafe.Sizeof(T(0)))
	var sink float64
	var flag bool
	for _, s := range benchSets() {
		k := Grad[T](s)
		cases := []struct {
			name    string
			written bool
			run     func()
		}{
			{"SumSquares", false, func() { sink += k.SumSquares(x) }},
			// A scale of 1/2: the norm's scales, 2^±600, make the squares
			// of ordinary values subnormal or infinite, which only measures
			// the CPU's handling of those.
			{"SumSquaresScaled", false, func() { sink += k.SumSquaresScaled(x, 0.5) }},
			{"SumAbs", false, func() { sink += k.SumAbs(x) }},
			{"MaxAbs", false, func() { sink += k.MaxAbs(x) }},
			{"Scale", true, func() { k.Scale(x, 1) }}, // 1 and [-2^30, 2^30]: x stays as it is
			{"Clamp", true, func() { k.Clamp(x, 0x1p30) }},
			{"UnscaleCheck", true, func() { flag = flag != k.UnscaleCheck(x, 1) }},
			{"NonFinite", false, func() { flag = flag != k.NonFinite(x) }},
		}
		for _, c := range cases {
			b.Run(fmt.Sprintf("%s/%T/n=%d/set=%s", c.name, T(0), n, s.name), func(b *testing.B) {
				b.SetBytes(size)
				if c.written {
					b.SetBytes(2 * size)
				}
				for b.Loop() {
					c.run()
				}
			})
		}
	}
	_, _ = sink, flag
}

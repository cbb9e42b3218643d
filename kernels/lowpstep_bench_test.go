package kernels

import (
	"fmt"
	"slices"
	"testing"
)

// BenchmarkLowpStep times Adam (its typical variant) on low-precision
// storage against float32 Adam, the baseline, at 65,536 elements (in
// cache) and 16M (memory-bound), with generic (at 65,536 only) and every
// assembly set this CPU runs:
//
//   - f32: the float32 kernel (28 bytes per element moved);
//   - bf16: LowpStep, parameters, gradients and state in bfloat16 (14);
//   - f16: the same in float16 (14);
//   - bf16-sr: LowpStepSR, bf16's with the parameters rounded
//     stochastically (14);
//   - bf16-f32state: LowpStep with float32 state (22);
//   - master-bf16: MasterStep, a float32 step that writes a bfloat16 copy
//     of the parameters in the same pass (30), against
//   - f32+narrow: the float32 step, then NarrowBF16 over the parameters
//     into the copy, a second pass (30, counted as master-bf16's).
//
// b.SetBytes counts the bytes read and written at their stored widths,
// so MB/s compares memory traffic and ns/op the time of one step:
//
//	go test -run - -bench LowpStep ./kernels
func BenchmarkLowpStep(b *testing.B) {
	c := Coeffs[float32]{NegLR: -1e-3, Beta2: 0.999, OneMinusBeta2: 0.001, Lerp: 0.1, LerpComp: 0.9, BC2Sqrt: 0.5, Eps: 1e-8}
	for _, n := range benchSizes {
		p32, g32, m32, v32 := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
		for j := range p32 {
			// BenchmarkKernels' typical values, which keep every step
			// away from subnormals, infinities and NaNs.
			x := float32(j%13) * 0.01
			p32[j], g32[j], m32[j], v32[j] = x, x, x, x
		}
		p16, g16, m16, v16 := make([]uint16, n), make([]uint16, n), make([]uint16, n), make([]uint16, n)
		h16, hg16, hm16, hv16 := make([]uint16, n), make([]uint16, n), make([]uint16, n), make([]uint16, n)
		for j := range p16 {
			p16[j], g16[j], m16[j], v16[j] = BFloat16.Narrow(p32[j]), BFloat16.Narrow(g32[j]), BFloat16.Narrow(m32[j]), BFloat16.Narrow(v32[j])
			h16[j], hg16[j], hm16[j], hv16[j] = Float16.Narrow(p32[j]), Float16.Narrow(g32[j]), Float16.Narrow(m32[j]), Float16.Narrow(v32[j])
		}
		// The copy is written here, as the other slices are, so that no
		// form pays for the first touch of its pages (in this project's
		// virtual machine about 12 µs per 4 KiB page, 100 ms at 2^24:
		// master-bf16, the first form to write it, was charged for it).
		cp := slices.Clone(p16)
		for _, s := range benchSets() {
			if s == Generic() && n > 1<<16 {
				continue
			}
			f32 := Kernel[float32](s, KindAdam)
			lowp := LowpStep[uint16](s, KindAdam, BFloat16)
			lowp32 := LowpStep[float32](s, KindAdam, BFloat16)
			master := MasterStep[float32](s, KindAdam, BFloat16)
			f16 := LowpStep[uint16](s, KindAdam, Float16)
			sr := LowpStepSR[uint16](s, KindAdam, BFloat16)
			path := convFor(s)
			nk, _ := convKinds(BFloat16)
			for _, bc := range []struct {
				name  string
				bytes int
				run   func()
			}{
				{"f32", 28, func() { f32(0, &c, p32, g32, m32, v32, nil) }},
				{"bf16", 14, func() { lowp(0, &c, p16, g16, m16, v16, nil) }},
				{"f16", 14, func() { f16(0, &c, h16, hg16, hm16, hv16, nil) }},
				{"bf16-sr", 14, func() { sr(0, &c, SR{Seed: 1, Step: 1}, p16, g16, m16, v16, nil) }},
				{"bf16-f32state", 22, func() { lowp32(0, &c, p16, g16, m32, v32, nil) }},
				{"master-bf16", 30, func() { master(0, &c, p32, g32, m32, v32, nil, cp) }},
				{"f32+narrow", 30, func() {
					f32(0, &c, p32, g32, m32, v32, nil)
					runNarrow(path, nk, cp, p32)
				}},
			} {
				b.Run(fmt.Sprintf("%s/n=%d/set=%s", bc.name, n, s.name), func(b *testing.B) {
					b.SetBytes(int64(bc.bytes * n))
					for b.Loop() {
						bc.run()
					}
				})
			}
		}
	}
}

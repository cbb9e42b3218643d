package kernels

import (
	"encoding/binary"
	"hash/fnv"
	"math/rand/v2"
	"testing"

	"github.com/simdoptim/optim/generic"
)

// FuzzLowpStep reads the fuzzer's bytes as the 16-bit bits of p, g and the
// state of one rule's variant (chosen by rule and variant), in format bf16
// or f16 (format), with coefficients drawn from a generator seeded with
// the bytes, and runs two steps of LowpStep (16-bit and float32 state) and
// MasterStep (float32 and 16-bit gradients) on every path of every
// supported set against the reference: 16-bit results exactly (every NaN
// narrows to the canonical one), float32 ones with NaNs equal.
func FuzzLowpStep(f *testing.F) {
	seed := make([]byte, 2*5*40)
	for i := range 5 * 40 {
		binary.LittleEndian.PutUint16(seed[2*i:], []uint16{0x3F80, 0x7FC0, 0xFF80, 0x0001, 0x8000, 0x7BFF, 0xBC00, 0x7E00, 0x3C00, 0x0400}[i%10]+uint16(i))
	}
	f.Add(seed, uint8(generic.KindAdam), uint8(0), uint8(0))
	f.Add(seed[:62], uint8(generic.KindRprop), uint8(1), uint8(1))
	f.Add(seed, uint8(generic.KindLion), uint8(3), uint8(1))
	paths := lowpPaths(f)
	f.Fuzz(func(t *testing.T, data []byte, rule, variant, format uint8) {
		kind := Kind(int(rule) % int(kindCount))
		vs := generic.Rules()[kind].Variants()
		tc := testCase{kind, vs[int(variant)%len(vs)]}
		fm := Format(format % uint8(generic.FormatCount))
		n := len(data) / 10
		h := fnv.New64a()
		h.Write(data)
		r := rand.New(rand.NewPCG(h.Sum64(), uint64(rule)))
		in := lowpInput{c: randomCoeffs[float32](r, format&2 != 0), v: tc.v}
		for i, used := range tc.used() {
			if used {
				in.x[i] = make([]float32, n)
				for e := range in.x[i] {
					in.x[i][e] = fm.Widen(binary.LittleEndian.Uint16(data[2*(5*e+i):]))
				}
			}
		}
		for _, u := range paths {
			for _, run := range []func() error{
				func() error { return checkLowp[uint16](u, kind, fm, in, 2) },
				func() error { return checkLowp[float32](u, kind, fm, in, 2) },
				func() error { return checkMaster[float32](u, kind, fm, in, 2) },
				func() error { return checkMaster[uint16](u, kind, fm, in, 2) },
			} {
				if err := run(); err != nil {
					t.Fatalf("%s %v %s n=%d: %v", u.name, tc, fm, n, err)
				}
			}
		}
	})
}

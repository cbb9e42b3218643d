package kernels

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

// sweep returns the longest slice and the largest alignment offset (in
// elements) of the exhaustive sweeps, chosen to cover every unrolled loop,
// vector loop and tail of every set at every alignment, a few iterations of
// the widest loop deep:
//   - amd64: every length 0..300 at every offset 0..15. AVX-512's widest
//     iteration is 4 vectors of 16 float32 (64 elements), and a vector
//     spans 64 bytes.
//   - arm64: every length 0..150 at every offset 0..7. NEON's widest
//     iteration is 4 vectors of 4 float32 (16 elements; a reduction's
//     accumulators span 32), and a vector spans 16 bytes. That is as many
//     iterations and every alignment for a quarter of amd64's work, which
//     matters under qemu, where make test runs these.
//
// -short and -race take less: their runs look for other faults, and a later
// step of make test runs the full sweep.
func sweep() (maxLen, maxOff int) {
	switch {
	case testing.Short() || underRace:
		return 70, 3
	case runtime.GOARCH == "arm64":
		return 150, 7
	}
	return 300, 15
}

// TestMatchesGeneric runs every kernel of every compiled set this CPU
// supports, for every variant of every rule's description and both element
// types, on every length at every alignment offset, with inputs drawn with
// special values and guard values around every slice, and compares every
// element of every stream with generic bit for bit (NaN payloads aside) and
// every guard with its original bits.
func TestMatchesGeneric(t *testing.T) {
	forEachSet(t, func(t *testing.T, s *Set) {
		for _, tc := range allCases() {
			t.Run(tc.String(), func(t *testing.T) {
				matchesGeneric[float32](t, s, tc)
				matchesGeneric[float64](t, s, tc)
			})
		}
	})
}

func matchesGeneric[T Float](t *testing.T, s *Set, tc testCase) {
	maxLen, maxOff := sweep()
	r := rand.New(rand.NewPCG(uint64(tc.kind), uint64(tc.v)<<8|uint64(sizeOf[T]())))
	pool := newValuePool[T](r)
	used, nonNeg := tc.used(), tc.nonNegative()
	var bufs [5]*guardedBuf[T]
	var in, want [5][]T
	for k := range bufs {
		bufs[k] = newGuardedBuf[T](k, maxLen+maxOff)
		in[k], want[k] = make([]T, maxLen), make([]T, maxLen)
	}
	kernel, ref := Kernel[T](s, tc.kind), Kernel[T](Generic(), tc.kind)
	for n := 0; n <= maxLen; n++ {
		for off := 0; off <= maxOff; off++ {
			c := randomCoeffs[T](r, (n+off)%2 == 1)
			var args [5][]T
			var offs [5]int
			for k := range args {
				if !used[k] {
					continue // unused state slices are nil
				}
				// Every stream meets every offset, each at its own.
				offs[k] = (off + 5*k) % (maxOff + 1)
				pool.fill(r, in[k][:n], nonNeg[k])
				copy(want[k], in[k][:n])
				args[k] = bufs[k].place(offs[k], n)
				copy(args[k], in[k][:n])
			}
			ws := stateArgs(want, used, n)
			ref(tc.v, &c, want[0][:n], want[1][:n], ws[0], ws[1], ws[2])
			kernel(tc.v, &c, args[0], args[1], args[2], args[3], args[4])
			for k := range args {
				if !used[k] {
					continue
				}
				if err := bufs[k].check(offs[k], n); err != nil {
					t.Fatalf("%s %s n=%d: %v", s.name, dtypeName[T](), n, err)
				}
				if i := firstDiff(args[k], want[k][:n]); i >= 0 {
					t.Fatalf("%s %s n=%d offsets=%v: %s[%d] = %#x, generic gives %#x (inputs p=%#x g=%#x, coefficients %+v)",
						s.name, dtypeName[T](), n, offs, streamNames[k], i, rawBits(args[k][i]), rawBits(want[k][i]),
						rawBits(in[0][i]), rawBits(in[1][i]), c)
				}
			}
		}
	}
}

//go:build unix

package kernels

import (
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/simdoptim/optim/generic"
)

// guardedCopy returns a copy of x in region r, flush against its trailing
// guard page (atEnd) or its leading one; nil for nil.
func guardedCopy[E uint16 | float32](r *guardedRegion, x []E, atEnd bool) []E {
	if x == nil {
		return nil
	}
	var zero E
	out := unsafe.Slice((*E)(guardedSlice(r, len(x), int(unsafe.Sizeof(zero)), atEnd)), len(x))
	copy(out, x)
	return out
}

// TestLowpStepGuardPages runs the low-precision steps of every rule's every
// variant on every path of every supported set with each slice (p, g, the
// used state, the copy) in its own mapping, flush against an inaccessible
// page on either side: LowpStep with 16-bit and float32 state, MasterStep
// with float32 and 16-bit gradients. Reading or writing a byte past either
// end of a slice faults; the results are compared with the reference. Each
// combination takes one length, in turn, from lengths around the
// conversion unit and the block.
func TestLowpStepGuardPages(t *testing.T) {
	if testing.Short() && underRace {
		// It looks for wrong bits, not data races, and every step of make
		// test but race runs it; TestLowpStepValidation runs the
		// validated functions under the race detector.
		t.Skip("-short under -race")
	}
	lengths := []int{1, 9, 17, 31, lowpBlock + 3}
	maxLen := lengths[len(lengths)-1]
	var regions [6]*guardedRegion
	for i := range regions {
		regions[i] = newGuardedRegion(t, 4*maxLen)
	}
	r := rand.New(rand.NewPCG(22, 9))
	vp := newValuePool[float32](r)
	turn := 0
	for _, u := range lowpPaths(t) {
		for _, tc := range allCases() {
			for f := range generic.FormatCount {
				n := lengths[turn%len(lengths)]
				atEnd := turn%2 == 0
				turn++
				in := newLowpInput(r, vp, tc, n)
				// LowpStep, 16-bit state.
				p, g := narrowed(f, in.x[0]), narrowed(f, in.x[1])
				s16 := [3][]uint16{narrowed(f, in.x[2]), narrowed(f, in.x[3]), narrowed(f, in.x[4])}
				wp, ws := slices.Clone(p), cloneState(s16)
				generic.StepLowp(tc.kind, f, tc.v, &in.c, wp, g, ws[0], ws[1], ws[2])
				gp, gg := guardedCopy(regions[0], p, atEnd), guardedCopy(regions[1], g, atEnd)
				var gs [3][]uint16
				for j := range gs {
					gs[j] = guardedCopy(regions[2+j], s16[j], atEnd)
				}
				runLowpPath(u, tc.kind, f, tc.v, &in.c, gp, gg, gs)
				if !slices.Equal(gp, wp) || !slices.Equal(gs[0], ws[0]) || !slices.Equal(gs[1], ws[1]) || !slices.Equal(gs[2], ws[2]) {
					t.Fatalf("%s %v %s n=%d at end %v: 16-bit state: results differ from generic.StepLowp", u.name, tc, f, n, atEnd)
				}
				// LowpStep, float32 state.
				s32 := [3][]float32{slices.Clone(in.x[2]), slices.Clone(in.x[3]), slices.Clone(in.x[4])}
				wp, w32 := slices.Clone(p), cloneState(s32)
				generic.StepLowp(tc.kind, f, tc.v, &in.c, wp, g, w32[0], w32[1], w32[2])
				gp = guardedCopy(regions[0], p, atEnd)
				var g32 [3][]float32
				for j := range g32 {
					g32[j] = guardedCopy(regions[2+j], s32[j], atEnd)
				}
				runLowpPath(u, tc.kind, f, tc.v, &in.c, gp, gg, g32)
				if !slices.Equal(gp, wp) || firstDiff(g32[0], w32[0]) >= 0 || firstDiff(g32[1], w32[1]) >= 0 || firstDiff(g32[2], w32[2]) >= 0 {
					t.Fatalf("%s %v %s n=%d at end %v: float32 state: results differ from generic.StepLowp", u.name, tc, f, n, atEnd)
				}
				// MasterStep with 16-bit, then float32 gradients.
				for _, wide := range []bool{false, true} {
					pm, mst := slices.Clone(in.x[0]), cloneState(s32)
					wcp := make([]uint16, n)
					gpm := guardedCopy(regions[0], pm, atEnd)
					for j := range g32 {
						g32[j] = guardedCopy(regions[2+j], mst[j], atEnd)
					}
					gcp := guardedCopy(regions[5], make([]uint16, n), atEnd)
					if wide {
						generic.StepMaster(tc.kind, f, tc.v, &in.c, pm, in.x[1], mst[0], mst[1], mst[2], wcp)
						runMasterPath(u, tc.kind, f, tc.v, &in.c, gpm, guardedCopy(regions[1], in.x[1], atEnd), g32, gcp)
					} else {
						generic.StepMaster(tc.kind, f, tc.v, &in.c, pm, g, mst[0], mst[1], mst[2], wcp)
						runMasterPath(u, tc.kind, f, tc.v, &in.c, gpm, gg, g32, gcp)
					}
					if firstDiff(gpm, pm) >= 0 || !slices.Equal(gcp, wcp) || firstDiff(g32[0], mst[0]) >= 0 || firstDiff(g32[1], mst[1]) >= 0 || firstDiff(g32[2], mst[2]) >= 0 {
						t.Fatalf("%s %v %s n=%d at end %v: master (float32 g %v): results differ from generic.StepMaster", u.name, tc, f, n, atEnd, wide)
					}
				}
			}
		}
	}
}

package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/cpufeat"
)

// lowpPath is one way a set runs the low-precision steps: the set's float32
// kernels with one of its conversion paths (avx512 with and without
// AVX512_BF16's narrowing, for example).
type lowpPath struct {
	name string
	set  *Set
	path *convPath
	// fused: the set's fused kernels run LowpStep (16-bit state, and on
	// AVX2 and AVX-512 float32 state too) and MasterStep with float32
	// gradients (AVX2, AVX-512), instead of the composition.
	fused bool
	// ext: the fused kernels with bfloat16 storage or copy run their
	// AVX512_BF16 form (extBF16), where the set has one.
	ext bool
}

// runLowpPath runs LowpStep's kernel on path u.
func runLowpPath[S LowpState](u lowpPath, kind Kind, f Format, v Variant, c *Coeffs[float32], p, g []uint16, st [3][]S) {
	if k := fusedLowp[S](u.set, kind, f); u.fused && k.ok() {
		saved := extBF16
		extBF16 = u.ext
		runFused(k, kind, v, c, p, g, st)
		extBF16 = saved
		return
	}
	runLowp(u.set, u.path, kind, f, v, c, p, g, st)
}

// runMasterPath runs MasterStep's kernel on path u.
func runMasterPath[G LowpState](u lowpPath, kind Kind, f Format, v Variant, c *Coeffs[float32], p []float32, g []G, st [3][]float32, copy []uint16) {
	if k := fusedMaster[G](u.set, kind, f); u.fused && k != nil {
		saved := extBF16
		extBF16 = u.ext
		runFusedMaster(k, kind, v, c, p, g, st, copy)
		extBF16 = saved
		return
	}
	runMaster(u.set, u.path, kind, f, v, c, p, g, st, copy)
}

// lowpPaths returns generic's path and every conversion path of every
// compiled set this CPU supports, those of extensions it lacks left out
// (and logged), and each set's fused kernels, in the AVX512_BF16 form
// too where the set has one and the CPU the extension.
func lowpPaths(t testing.TB) []lowpPath {
	out := []lowpPath{{"generic", Generic(), convFor(Generic()), false, false}}
	for _, s := range testedSets(t) {
		for _, p := range convPaths(s) {
			if _, ext, ok := strings.Cut(p.name, "+"); ok {
				if e, known := extOf(ext); !known || !e.Supported() {
					t.Logf("this CPU lacks %s: %s not tested", ext, p.name)
					continue
				}
			}
			out = append(out, lowpPath{p.name, s, &p, false, false})
		}
		if s.lowp[BFloat16][KindSGD] != nil {
			out = append(out, lowpPath{s.name + "/fused", s, convFor(s), true, false})
			if e := cpufeat.BF16; e.Set().String() == s.name {
				if e.Supported() {
					out = append(out, lowpPath{s.name + "+" + e.String() + "/fused", s, convFor(s), true, true})
				} else {
					t.Logf("this CPU lacks %s: %s+%s/fused not tested", e, s.name, e)
				}
			}
		}
	}
	return out
}

// lowpInput is one step's arguments in float32, which each storage takes
// rounded to its own format.
type lowpInput struct {
	x [5][]float32 // p, g, s0, s1, s2; nil where unused
	c Coeffs[float32]
	v Variant
}

// newLowpInput draws the arguments of n elements for case tc.
func newLowpInput(r *rand.Rand, vp *valuePool[float32], tc testCase, n int) lowpInput {
	in := lowpInput{c: randomCoeffs[float32](r, r.IntN(2) == 0), v: tc.v}
	used, nonNeg := tc.used(), tc.nonNegative()
	for i := range in.x {
		if used[i] {
			in.x[i] = make([]float32, n)
			vp.fill(r, in.x[i], nonNeg[i])
		}
	}
	return in
}

// narrowed returns x rounded to f; nil for nil.
func narrowed(f Format, x []float32) []uint16 {
	if x == nil {
		return nil
	}
	out := make([]uint16, len(x))
	for i, v := range x {
		out[i] = f.Narrow(v)
	}
	return out
}

// cloneState returns copies of the state slices (nil stays nil).
func cloneState[S LowpState](s [3][]S) [3][]S {
	return [3][]S{slices.Clone(s[0]), slices.Clone(s[1]), slices.Clone(s[2])}
}

// sameState compares two state slices of type S: exactly for 16-bit bits
// (every narrowing gives the canonical NaN), as sameBits for float32.
func sameState[S LowpState](got, want []S) int {
	for i := range want {
		g, w := any(got[i]), any(want[i])
		switch w := w.(type) {
		case uint16:
			if g.(uint16) != w {
				return i
			}
		case float32:
			if !sameBits(g.(float32), w) {
				return i
			}
		}
	}
	return -1
}

// checkLowp runs steps steps of LowpStep with path u on in, stored in
// format f with state stored as S, against generic.StepLowp, and reports
// the first difference.
func checkLowp[S LowpState](u lowpPath, kind Kind, f Format, in lowpInput, steps int) error {
	p, g := narrowed(f, in.x[0]), narrowed(f, in.x[1])
	var st [3][]S
	for j := range st {
		if in.x[2+j] == nil {
			continue
		}
		st[j] = make([]S, len(in.x[2+j]))
		for i, v := range in.x[2+j] {
			if _, ok := any(st[j][i]).(uint16); ok {
				st[j][i] = S(f.Narrow(v))
			} else {
				st[j][i] = S(v)
			}
		}
	}
	wp, wst := slices.Clone(p), cloneState(st)
	for step := range steps {
		generic.StepLowp(kind, f, in.v, &in.c, wp, g, wst[0], wst[1], wst[2])
		runLowpPath(u, kind, f, in.v, &in.c, p, g, st)
		for i := range wp {
			if p[i] != wp[i] {
				return fmt.Errorf("step %d: p[%d] = %#04x, want %#04x", step, i, p[i], wp[i])
			}
		}
		for j := range st {
			if i := sameState(st[j], wst[j]); i >= 0 {
				return fmt.Errorf("step %d: s%d[%d] = %v, want %v", step, j, i, st[j][i], wst[j][i])
			}
		}
	}
	return nil
}

// checkMaster runs steps steps of MasterStep with path u on in, gradients
// of type G, against generic.StepMaster, and reports the first difference;
// it also checks the float32 trajectory against the float32 kernel of
// generic itself and the copy against the narrowing of the master.
func checkMaster[G LowpState](u lowpPath, kind Kind, f Format, in lowpInput, steps int) error {
	n := len(in.x[0])
	p := slices.Clone(in.x[0])
	g := make([]G, n)
	g32 := make([]float32, n) // the gradient as the float32 step sees it
	for i, v := range in.x[1] {
		if _, ok := any(g[i]).(uint16); ok {
			h := f.Narrow(v)
			g[i], g32[i] = G(h), f.Widen(h)
		} else {
			g[i], g32[i] = G(v), v
		}
	}
	st := [3][]float32{slices.Clone(in.x[2]), slices.Clone(in.x[3]), slices.Clone(in.x[4])}
	wp, wst := slices.Clone(p), cloneState(st)
	fp, fst := slices.Clone(p), cloneState(st)
	cp, wcp := make([]uint16, n), make([]uint16, n)
	for step := range steps {
		generic.StepMaster(kind, f, in.v, &in.c, wp, g, wst[0], wst[1], wst[2], wcp)
		generic.Reference[float32](kind)(in.v, &in.c, fp, g32, fst[0], fst[1], fst[2])
		runMasterPath(u, kind, f, in.v, &in.c, p, g, st, cp)
		if i := firstDiff(wp, fp); i >= 0 {
			return fmt.Errorf("step %d: generic.StepMaster's p[%d] = %#08x, the float32 step's %#08x", step, i, math.Float32bits(wp[i]), math.Float32bits(fp[i]))
		}
		if i := firstDiff(p, wp); i >= 0 {
			return fmt.Errorf("step %d: p[%d] = %#08x, want %#08x", step, i, math.Float32bits(p[i]), math.Float32bits(wp[i]))
		}
		for j := range st {
			if i := firstDiff(st[j], wst[j]); i >= 0 {
				return fmt.Errorf("step %d: s%d[%d] = %#08x, want %#08x", step, j, i, math.Float32bits(st[j][i]), math.Float32bits(wst[j][i]))
			}
		}
		for i := range cp {
			if cp[i] != wcp[i] || cp[i] != f.Narrow(p[i]) {
				return fmt.Errorf("step %d: copy[%d] = %#04x, want %#04x", step, i, cp[i], wcp[i])
			}
		}
	}
	return nil
}

// lowpLengths are the lengths the equivalence test samples: empty, shorter
// than a conversion unit and a vector, around the conversion unit, and
// around one and two blocks (lowpBlock).
var lowpLengths = []int{0, 1, 7, 15, 16, 17, 40, lowpBlock - 1, lowpBlock, lowpBlock + 1, 2*lowpBlock + 37}

// TestLowpStepMatchesReference runs every rule's every variant, both
// formats, on every path of every supported set (the AVX-512 set with and
// without AVX512_BF16's narrowing where the CPU has it), for two steps:
// parameters and gradients in the format with state in the format and in
// float32 (LowpStep), and float32 master weights with float32 and 16-bit
// gradients (MasterStep). Every 16-bit result must equal the reference's
// bits exactly (every NaN narrows to the canonical one), every float32
// result as sameBits compares. Each combination runs at two lengths of
// lowpLengths, in turn, so every length meets every rule; on arm64, which
// make test runs under qemu, at one.
func TestLowpStepMatchesReference(t *testing.T) {
	if testing.Short() && underRace {
		// It looks for wrong bits, not data races, and every step of make
		// test but race runs it; TestLowpStepValidation runs the
		// validated functions under the race detector.
		t.Skip("-short under -race")
	}
	lengthsPer := 2
	if runtime.GOARCH != "amd64" {
		lengthsPer = 1
	}
	r := rand.New(rand.NewPCG(22, 16))
	vp := newValuePool[float32](r)
	turn := 0
	for _, u := range lowpPaths(t) {
		t.Run(u.name, func(t *testing.T) {
			for _, tc := range allCases() {
				for f := range generic.FormatCount {
					for k := range lengthsPer {
						n := lowpLengths[turn%len(lowpLengths)]
						if k == 1 {
							n = lowpLengths[r.IntN(len(lowpLengths))]
						}
						turn++
						in := newLowpInput(r, vp, tc, n)
						for _, run := range []struct {
							name string
							f    func() error
						}{
							{"state " + f.String(), func() error { return checkLowp[uint16](u, tc.kind, f, in, 2) }},
							{"state float32", func() error { return checkLowp[float32](u, tc.kind, f, in, 2) }},
							{"master, float32 g", func() error { return checkMaster[float32](u, tc.kind, f, in, 2) }},
							{"master, " + f.String() + " g", func() error { return checkMaster[uint16](u, tc.kind, f, in, 2) }},
						} {
							if err := run.f(); err != nil {
								t.Fatalf("%v %s %s n=%d: %v", tc, f, run.name, n, err)
							}
						}
					}
				}
			}
		})
	}
}

// TestLowpStepFusedSpecialLanes runs the fused kernels of every set (both
// forms of the AVX-512 set's bfloat16 ones where the CPU has AVX512_BF16)
// on 149 elements, two iterations of the widest main loop (64 elements),
// a vector and a tail, with a special value, in each stream, at each lane
// position of the first iteration and at another of the second and of the
// rest: subnormals, whose results stay subnormal (VCVTNE2PS2BF16 would
// flush them), and infinities and NaNs, whose results are NaNs of either
// sign (it would keep the sign and payload). Every other lane holds a
// typical value, so a fix-up that redoes the wrong lanes or vectors shows.
func TestLowpStepFusedSpecialLanes(t *testing.T) {
	if testing.Short() && underRace {
		t.Skip("-short under -race")
	}
	specials := []float32{
		math.Float32frombits(0x00010000), math.Float32frombits(0x80400000), math.Float32frombits(0x007F0000),
		math.Float32frombits(0x00800000), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
	}
	const n, block = 149, 64
	stride := 1
	if testing.Short() || runtime.GOARCH != "amd64" {
		stride = 7
	}
	r := rand.New(rand.NewPCG(22, 64))
	vp := newValuePool[float32](r)
	for _, u := range lowpPaths(t) {
		if !u.fused {
			continue
		}
		t.Run(u.name, func(t *testing.T) {
			for _, tc := range allCases() {
				for f := range generic.FormatCount {
					for pos := 0; pos < block; pos += stride {
						in := newLowpInput(r, vp, tc, n)
						for j, x := range in.x {
							if x == nil {
								continue
							}
							sp := specials[(pos+j)%len(specials)]
							x[pos] = sp
							x[block+(pos*7+3+j)%block] = sp
							x[2*block+(pos+j)%(n-2*block)] = sp
						}
						if err := checkLowp[uint16](u, tc.kind, f, in, 2); err != nil {
							t.Fatalf("%v %s, special at %d: %v", tc, f, pos, err)
						}
						if err := checkLowp[float32](u, tc.kind, f, in, 2); err != nil {
							t.Fatalf("%v %s, float32 state, special at %d: %v", tc, f, pos, err)
						}
						if err := checkMaster[float32](u, tc.kind, f, in, 2); err != nil {
							t.Fatalf("%v %s, master, special at %d: %v", tc, f, pos, err)
						}
						// A zero gradient where the parameter is special
						// keeps a subnormal parameter subnormal in the
						// rules whose step is then zero, so that the
						// master kernels' copy sees subnormals too.
						for _, i := range []int{pos, block + (pos*7+3)%block, 2*block + pos%(n-2*block)} {
							in.x[1][i] = 0
						}
						if err := checkMaster[float32](u, tc.kind, f, in, 2); err != nil {
							t.Fatalf("%v %s, master, zero gradient, special at %d: %v", tc, f, pos, err)
						}
					}
				}
			}
		})
	}
}

// TestLowpStepValidation: every malformed call of StepLowp and StepMaster
// is refused with an error naming what is wrong, and writes nothing; the
// well-formed call runs each compiled set's chosen path with the
// reference's bits.
func TestLowpStepValidation(t *testing.T) {
	c := Coeffs[float32]{NegLR: -0.1, Beta2: 0.9, OneMinusBeta2: 0.1, Lerp: 0.1, LerpComp: 0.9, BC2Sqrt: 1, Eps: 1e-8}
	bad := c
	bad.Sign = 1
	one := func() []uint16 { return []uint16{0x3F80} }
	for _, s := range runnableCompiled() {
		p, g, m, sq := one(), one(), one(), one()
		shared := one()
		for _, tc := range []struct {
			err string
			run func() error
		}{
			{"nil kernel set", func() error { return StepLowp(nil, KindAdam, BFloat16, 0, &c, p, g, m, sq, nil) }},
			{"unknown rule", func() error { return StepLowp(s, kindCount, BFloat16, 0, &c, p, g, m, sq, nil) }},
			{"unknown storage format", func() error { return StepLowp(s, KindAdam, 2, 0, &c, p, g, m, sq, nil) }},
			{"nil coefficients", func() error { return StepLowp(s, KindAdam, BFloat16, 0, nil, p, g, m, sq, nil) }},
			{"invalid variant", func() error { return StepLowp(s, KindAdam, BFloat16, generic.VarCount, &c, p, g, m, sq, nil) }},
			{"coefficient Sign", func() error { return StepLowp(s, KindAdam, BFloat16, 0, &bad, p, g, m, sq, nil) }},
			{"len(g) = 2", func() error { return StepLowp(s, KindAdam, BFloat16, 0, &c, p, []uint16{1, 2}, m, sq, nil) }},
			{"len(state 1) = 0", func() error { return StepLowp(s, KindAdam, Float16, 0, &c, p, g, m, nil, nil) }},
			{"len(state 2) = 0", func() error { return StepLowp(s, KindAdam, Float16, generic.VarAMSGrad, &c, p, g, m, sq, nil) }},
			{"p and state 0 overlap", func() error { return StepLowp(s, KindAdam, BFloat16, 0, &c, p, g, p, sq, nil) }},
			{"g and state 1 overlap", func() error { return StepLowp(s, KindAdam, BFloat16, 0, &c, p, shared, m, shared, nil) }},
			{"len(state 0) = 2", func() error {
				return StepLowp(s, KindAdam, BFloat16, 0, &c, p, g, []float32{1, 2}, []float32{1}, nil)
			}},
			{"len(copy) = 0", func() error {
				return StepMaster(s, KindAdam, BFloat16, 0, &c, []float32{1}, []float32{1}, []float32{1}, []float32{1}, nil, nil)
			}},
			{"p and copy overlap", func() error {
				pm := []float32{1}
				return StepMaster(s, KindAdam, BFloat16, 0, &c, pm, []uint16{1}, []float32{1}, []float32{1}, nil, unsafeU16(pm))
			}},
		} {
			err := tc.run()
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err = %v, want one that says %q", s.Name(), err, tc.err)
			}
			for _, x := range [][]uint16{p, g, m, sq, shared} {
				if x[0] != 0x3F80 {
					t.Fatalf("%s: refused call (%s) wrote %#04x", s.Name(), tc.err, x[0])
				}
			}
		}
		// The well-formed calls, and the reference.
		wp, wm, wsq := one(), one(), one()
		generic.StepLowp(KindAdam, BFloat16, 0, &c, wp, g, wm, wsq, nil)
		if err := StepLowp(s, KindAdam, BFloat16, 0, &c, p, g, m, sq, nil); err != nil {
			t.Fatalf("%s: %v", s.Name(), err)
		}
		if p[0] != wp[0] || m[0] != wm[0] || sq[0] != wsq[0] {
			t.Errorf("%s: StepLowp gives p, m, sq = %#04x %#04x %#04x, want %#04x %#04x %#04x", s.Name(), p[0], m[0], sq[0], wp[0], wm[0], wsq[0])
		}
		pm, cp := []float32{1}, []uint16{0}
		if err := StepMaster(s, KindAdam, Float16, 0, &c, pm, g, []float32{0}, []float32{0}, nil, cp); err != nil {
			t.Fatalf("%s: %v", s.Name(), err)
		}
		if cp[0] != Float16.Narrow(pm[0]) || pm[0] == 1 {
			t.Errorf("%s: StepMaster gives p = %v, copy %#04x", s.Name(), pm[0], cp[0])
		}
	}
}

// unsafeU16 views the first two bytes of x's memory as a uint16 slice.
func unsafeU16(x []float32) []uint16 {
	return unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(x))), 1)
}

// TestLowpStepNoAllocs: a step allocates nothing once the buffer pool holds
// a buffer (the race detector empties sync.Pool at random, so not there).
func TestLowpStepNoAllocs(t *testing.T) {
	if underRace {
		t.Skip("the race detector empties sync.Pool at random")
	}
	n := 3000
	p, g, m, sq := make([]uint16, n), make([]uint16, n), make([]uint16, n), make([]uint16, n)
	pm, gm, mm, sqm := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	c := Coeffs[float32]{NegLR: -0.1, Beta2: 0.9, OneMinusBeta2: 0.1, Lerp: 0.1, LerpComp: 0.9, BC2Sqrt: 1, Eps: 1e-8}
	for _, s := range runnableCompiled() {
		k := LowpStep[uint16](s, KindAdam, BFloat16)
		mk := MasterStep[uint16](s, KindAdam, BFloat16)
		if a := testing.AllocsPerRun(20, func() {
			k(0, &c, p, g, m, sq, nil)
			mk(0, &c, pm, g, mm, sqm, nil, p)
			if err := StepLowp(s, KindAdam, Float16, 0, &c, p, g, mm, sqm, nil); err != nil {
				t.Fatal(err)
			}
			if err := StepMaster(s, KindAdam, Float16, 0, &c, pm, gm, mm, sqm, nil, p); err != nil {
				t.Fatal(err)
			}
			if err := StepLowpSR(s, KindAdam, BFloat16, 0, &c, SR{Seed: 1, Step: 2}, p, g, m, sq, nil); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("%s: %v allocations per step", s.Name(), a)
		}
	}
}

// TestLowpStepSRMatchesReference runs LowpStepSR's kernel, every rule's
// every variant in both formats with 16-bit and float32 state, on every
// path of every supported set against generic.StepLowpSR, and then once
// more in two calls split at an odd element, each with its offset: the bits
// must not depend on the set, the path or the split.
func TestLowpStepSRMatchesReference(t *testing.T) {
	if testing.Short() && underRace {
		// It looks for wrong bits, not data races, and every step of make
		// test but race runs it; TestLowpStepValidation runs the
		// validated functions under the race detector.
		t.Skip("-short under -race")
	}
	r := rand.New(rand.NewPCG(22, 17))
	vp := newValuePool[float32](r)
	turn := 0
	for _, u := range lowpPaths(t) {
		if u.fused {
			continue // stochastic rounding is composed on every set
		}
		for _, tc := range allCases() {
			for f := range generic.FormatCount {
				n := lowpLengths[turn%len(lowpLengths)]
				turn++
				in := newLowpInput(r, vp, tc, n)
				sr := SR{Seed: r.Uint64(), Param: r.Uint32(), Step: r.Uint64(), Offset: r.Uint64() >> 1}
				p, g := narrowed(f, in.x[0]), narrowed(f, in.x[1])
				st := [3][]uint16{narrowed(f, in.x[2]), narrowed(f, in.x[3]), narrowed(f, in.x[4])}
				st32 := [3][]float32{slices.Clone(in.x[2]), slices.Clone(in.x[3]), slices.Clone(in.x[4])}
				wp, wst := slices.Clone(p), cloneState(st)
				generic.StepLowpSR(tc.kind, f, tc.v, &in.c, sr, wp, g, wst[0], wst[1], wst[2])
				gp, gst := slices.Clone(p), cloneState(st)
				runLowpSR(u.set, u.path, tc.kind, f, tc.v, &in.c, &sr, gp, g, gst)
				for j := range gst {
					if !slices.Equal(gst[j], wst[j]) {
						t.Fatalf("%s %v %s n=%d: state %d differs from generic.StepLowpSR", u.name, tc, f, n, j)
					}
				}
				if !slices.Equal(gp, wp) {
					t.Fatalf("%s %v %s n=%d: p differs from generic.StepLowpSR", u.name, tc, f, n)
				}
				// float32 state, in two calls.
				wp32, w32 := slices.Clone(p), cloneState(st32)
				generic.StepLowpSR(tc.kind, f, tc.v, &in.c, sr, wp32, g, w32[0], w32[1], w32[2])
				gp32, g32 := slices.Clone(p), cloneState(st32)
				cut := n/3 | 1
				if cut > n {
					cut = n
				}
				first, second := sr, sr
				second.Offset += uint64(cut)
				part := func(lo, hi int, x SR) {
					var s3 [3][]float32
					for j := range g32 {
						if g32[j] != nil {
							s3[j] = g32[j][lo:hi]
						}
					}
					runLowpSR(u.set, u.path, tc.kind, f, tc.v, &in.c, &x, gp32[lo:hi], g[lo:hi], s3)
				}
				part(0, cut, first)
				part(cut, n, second)
				if !slices.Equal(gp32, wp32) || firstDiff(g32[0], w32[0]) >= 0 || firstDiff(g32[1], w32[1]) >= 0 || firstDiff(g32[2], w32[2]) >= 0 {
					t.Fatalf("%s %v %s n=%d: float32 state, split at %d: differs from generic.StepLowpSR", u.name, tc, f, n, cut)
				}
			}
		}
	}
}

// TestStepLowpSRValidated: the validated function refuses what StepLowp
// refuses, writing nothing, and otherwise gives the reference's bits.
func TestStepLowpSRValidated(t *testing.T) {
	c := Coeffs[float32]{NegLR: -0.1, Momentum: 0.9, Dampening: 0.1}
	sr := SR{Seed: 9, Param: 1, Step: 2}
	for _, s := range runnableCompiled() {
		p, g, buf := []uint16{0x3f80, 0x4000}, []uint16{0x3f00, 0x3f00}, []uint16{0x3e00, 0x3e00}
		if err := StepLowpSR(s, KindSGD, BFloat16, generic.VarMomentum, &c, sr, p, g, buf[:1], nil, nil); err == nil || p[0] != 0x3f80 {
			t.Errorf("%s: short state accepted (err %v) or written", s.Name(), err)
		}
		wp, wbuf := slices.Clone(p), slices.Clone(buf)
		generic.StepLowpSR(KindSGD, BFloat16, generic.VarMomentum, &c, sr, wp, g, wbuf, nil, nil)
		if err := StepLowpSR(s, KindSGD, BFloat16, generic.VarMomentum, &c, sr, p, g, buf, nil, nil); err != nil {
			t.Fatalf("%s: %v", s.Name(), err)
		}
		if !slices.Equal(p, wp) || !slices.Equal(buf, wbuf) {
			t.Errorf("%s: p, buf = %#04x %#04x, want %#04x %#04x", s.Name(), p, buf, wp, wbuf)
		}
	}
}

package optim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/big"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/testvals"
)

// ---- Golden replay of torch 1.13's clip_grad_norm_ and clip_grad_value_.

// goldenNum is a JSON number that may also be NaN, Infinity or -Infinity
// (Python's JSON extensions, quoted by unquotedSpecials before decoding),
// or the string "inf" (norm_type).
type goldenNum float64

func (g *goldenNum) UnmarshalJSON(b []byte) error {
	switch s := strings.Trim(string(b), `"`); s {
	case "NaN":
		*g = goldenNum(math.NaN())
	case "Infinity", "inf":
		*g = goldenNum(math.Inf(1))
	case "-Infinity":
		*g = goldenNum(math.Inf(-1))
	default:
		var f float64
		if err := json.Unmarshal(b, &f); err != nil {
			return err
		}
		*g = goldenNum(f)
	}
	return nil
}

// goldenClip is one recorded call; testdata/torch-clip/README.md describes
// the fields.
type goldenClip struct {
	Name             string        `json:"name"`
	Dtype            string        `json:"dtype"`
	Function         string        `json:"function"`
	MaxNorm          goldenNum     `json:"max_norm"`
	NormType         goldenNum     `json:"norm_type"`
	ErrorIfNonfinite bool          `json:"error_if_nonfinite"`
	ClipValue        goldenNum     `json:"clip_value"`
	Grads            [][]goldenNum `json:"grads"`
	TotalNorm        *goldenNum    `json:"total_norm"`
	Error            string        `json:"error"`
	After            [][]goldenNum `json:"after"`
}

// quoteSpecials quotes the bare NaN, Infinity and -Infinity tokens outside
// strings, which encoding/json rejects.
func quoteSpecials(b []byte) []byte {
	var out []byte
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			out = append(out, c)
			if c == '\\' && i+1 < len(b) {
				i++
				out = append(out, b[i])
			} else if c == '"' {
				inString = false
			}
			continue
		}
		if c == '"' {
			inString = true
		}
		matched := false
		for _, tok := range []string{"-Infinity", "Infinity", "NaN"} {
			if bytes.HasPrefix(b[i:], []byte(tok)) {
				out = append(out, '"')
				out = append(out, tok...)
				out = append(out, '"')
				i += len(tok) - 1
				matched = true
				break
			}
		}
		if !matched {
			out = append(out, c)
		}
	}
	return out
}

func loadGoldenClip(t *testing.T, path string) goldenClip {
	t.Helper()
	var g goldenClip
	if err := json.Unmarshal(quoteSpecials(readGzip(t, path)), &g); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return g
}

// TestGoldenTorchClip replays every recorded torch call with torch's
// tolerances (testdata/torch-clip/README.md). Where we deliberately differ
// (float32 norms that overflow float32 in torch), the test checks the
// better answer instead and says so.
func TestGoldenTorchClip(t *testing.T) {
	files, _ := filepath.Glob("testdata/torch-clip/*.json.gz")
	if len(files) == 0 {
		t.Fatal("no golden files in testdata/torch-clip")
	}
	for _, path := range files {
		g := loadGoldenClip(t, path)
		t.Run(strings.TrimSuffix(filepath.Base(path), ".json.gz"), func(t *testing.T) {
			if g.Dtype == "float32" {
				replayGoldenClip[float32](t, g, 1e-5, 2e-6)
			} else {
				replayGoldenClip[float64](t, g, 1e-13, 1e-14)
			}
		})
	}
}

func replayGoldenClip[T testFloat](t *testing.T, g goldenClip, normTol, elemTol float64) {
	grads := make([][]T, len(g.Grads))
	for i, gr := range g.Grads {
		grads[i] = make([]T, len(gr))
		for j, v := range gr {
			grads[i][j] = T(v)
		}
	}
	before := clone2(grads)
	if g.Function == "clip_grad_value_" {
		if err := ClipGradValue(float64(g.ClipValue), grads...); err != nil {
			t.Fatal(err)
		}
		compareAfter(t, g, grads, elemTol)
		return
	}
	total, err := ClipGradNorm(float64(g.MaxNorm), float64(g.NormType), g.ErrorIfNonfinite, grads...)
	if g.Error != "" {
		var nf *NonFiniteNormError
		if !errors.As(err, &nf) {
			t.Fatalf("torch raised %q; got error %v", g.Error, err)
		}
		for i := range grads {
			if firstDiff(grads[i], before[i]) >= 0 {
				t.Fatalf("grad %d changed although ClipGradNorm failed", i)
			}
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	want := float64(*g.TotalNorm)
	if math.IsInf(want, 1) && !math.IsInf(total, 1) {
		// Deliberate difference: torch's float32 norm overflowed float32.
		// Ours is the true norm, and clipping scales instead of zeroing.
		exact := bigNorm2(before)
		t.Logf("deliberate difference from torch: torch's norm is +Inf (float32 overflow), ours is %v (exact %v)", total, exact)
		if rel := math.Abs(total-exact) / exact; !(rel <= 1e-15) {
			t.Errorf("norm %v, exact %v: relative error %.3g", total, exact, rel)
		}
		c := T(generic.ClipCoef(float64(g.MaxNorm), total))
		for i := range grads {
			for j := range grads[i] {
				if w := before[i][j] * c; bits(grads[i][j]) != bits(w) {
					t.Fatalf("grad %d[%d] = %v, want %v * %v = %v", i, j, grads[i][j], before[i][j], c, w)
				}
			}
		}
		if n, _ := GradNorm(2, grads...); math.Abs(n-float64(g.MaxNorm)) > 1e-5 {
			t.Errorf("clipped norm %v, want about max_norm %v", n, float64(g.MaxNorm))
		}
		return
	}
	switch {
	case want != want:
		if total == total {
			t.Errorf("total norm %v, torch NaN", total)
		}
	case math.IsInf(want, 0):
		if total != want {
			t.Errorf("total norm %v, torch %v", total, want)
		}
	default:
		if rel := math.Abs(total-want) / math.Abs(want); !(rel <= normTol) {
			t.Errorf("total norm %v, torch %v: relative difference %.3g > %.3g", total, want, rel, normTol)
		} else {
			t.Logf("total norm relative difference %.3g (tolerance %.3g)", rel, normTol)
		}
	}
	compareAfter(t, g, grads, elemTol)
}

func compareAfter[T testFloat](t *testing.T, g goldenClip, grads [][]T, tol float64) {
	t.Helper()
	worst := 0.0
	for i := range grads {
		for j, w := range g.After[i] {
			got, want := float64(grads[i][j]), float64(w)
			if want != want {
				if got == got {
					t.Fatalf("grad %d[%d] = %v, torch NaN", i, j, got)
				}
				continue
			}
			d := math.Abs(got-want) / math.Max(1, math.Abs(want))
			if math.IsInf(want, 0) && got == want {
				d = 0
			}
			worst = math.Max(worst, d)
			if !(d <= tol) {
				t.Fatalf("grad %d[%d] = %v, torch %v (difference %.3g > %.3g)", i, j, got, want, d, tol)
			}
		}
	}
	t.Logf("worst element difference %.3g (tolerance %.3g)", worst, tol)
}

// bigNorm2 is the exact 2-norm of grads (math/big, 256 bits), rounded.
func bigNorm2[T testFloat](grads [][]T) float64 {
	sum := new(big.Float).SetPrec(256)
	for _, g := range grads {
		for _, e := range g {
			v := new(big.Float).SetPrec(256).SetFloat64(float64(e))
			sum.Add(sum, v.Mul(v, v))
		}
	}
	f, _ := sum.Sqrt(sum).Float64()
	return f
}

// ---- Bad input: typed errors, and nothing written.

func TestClipErrors(t *testing.T) {
	nan := math.NaN()
	a := []float32{1, 2, 3, 4}
	b := []float32{5, 6}
	orig := [][]float32{slices.Clone(a), slices.Clone(b)}
	unchanged := func(t *testing.T) {
		t.Helper()
		if firstDiff(a, orig[0]) >= 0 || firstDiff(b, orig[1]) >= 0 {
			t.Fatal("a grad changed on error")
		}
	}
	var argErr *HyperparameterError
	for _, c := range []struct {
		name string
		call func() error
		arg  string
	}{
		{"GradNorm p<1", func() error { _, err := GradNorm(0.5, a, b); return err }, "normType"},
		{"GradNorm p NaN", func() error { _, err := GradNorm(nan, a, b); return err }, "normType"},
		{"GradNorm p -Inf", func() error { _, err := GradNorm(math.Inf(-1), a); return err }, "normType"},
		{"ClipGradNorm maxNorm<0", func() error { _, err := ClipGradNorm(-1, 2, false, a, b); return err }, "maxNorm"},
		{"ClipGradNorm maxNorm NaN", func() error { _, err := ClipGradNorm(nan, 2, false, a, b); return err }, "maxNorm"},
		{"ClipGradNorm p NaN", func() error { _, err := ClipGradNorm(1, nan, false, a, b); return err }, "normType"},
		{"ClipGradValue clip<0", func() error { return ClipGradValue(-0.1, a, b) }, "clip"},
		{"ClipGradValue clip NaN", func() error { return ClipGradValue(nan, a, b) }, "clip"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if !errors.As(err, &argErr) || argErr.Field != c.arg {
				t.Fatalf("error %v, want an *HyperparameterError for %s", err, c.arg)
			}
			unchanged(t)
		})
	}
	var ov *OverlapError
	if _, err := ClipGradNorm(0.1, 2, false, a, b, a[1:3]); !errors.As(err, &ov) || ov.A.Index != 0 || ov.B.Index != 2 {
		t.Errorf("ClipGradNorm with aliased grads: %v", err)
	}
	if err := ClipGradValue(0.1, b, a, b); !errors.As(err, &ov) {
		t.Errorf("ClipGradValue with aliased grads: %v", err)
	}
	unchanged(t)
	// Many grads: the sorted check.
	many := make([][]float32, 100)
	backing := make([]float32, 1000)
	for i := range many {
		many[i] = backing[i*10 : i*10+10]
	}
	many[77] = backing[5:12]
	if _, err := ClipGradNorm(0.1, 2, false, many...); !errors.As(err, &ov) || ov.B.Index != 77 || ov.A.Index != 1 && ov.A.Index != 0 {
		t.Errorf("ClipGradNorm with 100 grads, one aliased: %v", err)
	}
	many[77] = make([]float32, 10)
	if _, err := ClipGradNorm(0.1, 2, false, many...); err != nil {
		t.Errorf("100 disjoint grads: %v", err)
	}
	// errorIfNonfinite
	c := []float64{1, math.Inf(1), 2}
	var nf *NonFiniteNormError
	if n, err := ClipGradNorm(1, 2, true, c); !errors.As(err, &nf) || !math.IsInf(n, 1) || c[0] != 1 || c[2] != 2 {
		t.Errorf("errorIfNonfinite: %v, %v, grads %v", n, err, c)
	}
}

func TestClipSemantics(t *testing.T) {
	// The coefficient multiplies even when it is 1: -0 stays, NaN stays.
	g := []float64{3, 4}
	n, err := ClipGradNorm(10, 2, false, g)
	if err != nil || n != 5 || g[0] != 3 || g[1] != 4 {
		t.Errorf("unclipped: %v %v %v", n, err, g)
	}
	n, err = ClipGradNorm(1, 2, false, g)
	if c := 1 / (5 + 1e-6); err != nil || n != 5 || g[0] != 3*c || g[1] != 4*c {
		t.Errorf("clipped: %v %v %v", n, err, g)
	}
	// An infinite norm zeroes finite grads; the infinite one becomes NaN.
	h := []float32{1, float32(math.Inf(-1)), -2}
	if n, _ := ClipGradNorm(1, 2, false, h); !math.IsInf(n, 1) || h[0] != 0 || h[1] == h[1] || h[2] != 0 || !math.Signbit(float64(h[2])) {
		t.Errorf("infinite norm: %v %v", n, h)
	}
	// No grads: norm 0, as torch.
	if n, err := ClipGradNorm[float32](1, 2, false); n != 0 || err != nil {
		t.Errorf("no grads: %v %v", n, err)
	}
	// ClipGradValue rounds clip to T and keeps NaN.
	v := []float32{0.8, -0.8, float32(math.NaN()), 0.5}
	if err := ClipGradValue(0.7, v); err != nil || v[0] != float32(0.7) || v[1] != -float32(0.7) || v[2] == v[2] || v[3] != 0.5 {
		t.Errorf("ClipGradValue: %v %v", err, v)
	}
}

func TestClipAllocatesNothing(t *testing.T) {
	g := [][]float32{make([]float32, 5000), make([]float32, 7)}
	for i := range g[0] {
		g[0][i] = float32(i)
	}
	if n := testing.AllocsPerRun(10, func() {
		GradNorm(2, g...)
		GradNorm(3, g...)
		ClipGradNorm(1e9, 2, true, g...)
		ClipGradValue(1e9, g...)
	}); n != 0 {
		t.Errorf("%v allocations per run, want 0", n)
	}
}

func TestStepIfFinite(t *testing.T) {
	p := []float32{1, 2, 3}
	q := []float32{4}
	opt, err := New[float32](DefaultAdam(), p, q)
	if err != nil {
		t.Fatal(err)
	}
	if skipped, err := opt.StepIfFinite([]float32{0.1, 0.2, 0.3}, []float32{1}); skipped || err != nil {
		t.Fatalf("finite: %v %v", skipped, err)
	}
	st, _ := opt.State(0)
	saveP, saveQ, saveM, saveV := slices.Clone(p), slices.Clone(q), slices.Clone(st.ExpAvg), slices.Clone(st.ExpAvgSq)
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1))} {
		if skipped, err := opt.StepIfFinite([]float32{0.1, bad, 0.3}, []float32{1}); !skipped || err != nil {
			t.Fatalf("%v: %v %v", bad, skipped, err)
		}
	}
	if opt.Steps() != 1 || firstDiff(p, saveP) >= 0 || firstDiff(q, saveQ) >= 0 || firstDiff(st.ExpAvg, saveM) >= 0 || firstDiff(st.ExpAvgSq, saveV) >= 0 {
		t.Error("a skipped step changed the optimizer")
	}
	var gm *ShapeError
	if _, err := opt.StepIfFinite([]float32{1, 2}, []float32{1}); !errors.As(err, &gm) || gm.Index != 0 {
		t.Errorf("wrong length: %v", err)
	}
	if _, err := opt.StepIfFinite([]float32{1, 2, 3}); !errors.As(err, &gm) || gm.Index != -1 {
		t.Errorf("wrong count: %v", err)
	}
	var ov *OverlapError
	if _, err := opt.StepIfFinite(p, q); !errors.As(err, &ov) || ov.B.Kind != "param" {
		t.Errorf("grad aliasing a param: %v", err)
	}
	g0, g1 := []float32{0, 0, 0}, []float32{0}
	if n := testing.AllocsPerRun(10, func() { opt.StepIfFinite(g0, g1) }); n != 0 {
		t.Errorf("StepIfFinite: %v allocations", n)
	}
}

// ---- The digest: one number for the bits of every norm and clipping
// output, which every kernel set and architecture must reproduce.

// wantClipDigest is the FNV-64a hash of clipDigestT's outputs, produced by
// `go test -run ClipDigest -v .` and copied from the log; it changes only
// when the specification (generic/reduce.go) or the inputs change on
// purpose. The same constant came out on amd64 (GOAMD64=v1 and v3, and
// -tags noasm) and on arm64 under qemu (GOARCH=arm64 go test -exec
// qemu-aarch64 -run ClipDigest .).
const wantClipDigest = 0x8dfde5c3d783227a

// clipDigestInputs returns gradient lists built from exact operations only
// (PCG integers times powers of two, special values from bits): lengths
// 0..40, lengths around the lane and block sizes, and many small slices.
func clipDigestInputs[T testFloat](config int) [][]T {
	r := rand.New(rand.NewPCG(uint64(config), 0xc11b))
	specials := specialValues[T]()
	lens := []int{0, 1, 2, 3, 31, 32, 33, 40, 63, 64, 65, 300, 4095, 4096, 4097, 3*4096 + 5}
	var grads [][]T
	for _, n := range lens {
		g := make([]T, n)
		for i := range g {
			g[i] = T(float64(r.IntN(1<<20)-1<<19) * 0x1p-18)
		}
		grads = append(grads, g)
	}
	// Powers of two that push float64's sum of squares past overflow or
	// below UnderflowRisk, and float32's past torch's overflow.
	hugeScale, tinyScale := 0x1p1000, 0x1p-1040
	if !is64[T]() {
		hugeScale, tinyScale = 0x1p100, 0x1p-135
	}
	switch config {
	case 1: // one special value somewhere
		grads[5][7] = specials[r.IntN(len(specials))]
	case 2: // huge: float64's first pass overflows
		for _, g := range grads {
			for i := range g {
				g[i] = T(float64(g[i]) * hugeScale)
			}
		}
	case 3: // tiny: float64's first pass underflows
		for _, g := range grads {
			for i := range g {
				g[i] = T(float64(g[i]) * tinyScale)
			}
		}
	case 4: // many small slices
		grads = nil
		for i := range 200 {
			g := make([]T, i%9)
			for j := range g {
				g[j] = T(float64(r.IntN(1<<12)-1<<11) * 0x1p-6)
			}
			grads = append(grads, g)
		}
	}
	return grads
}

func is64[T testFloat]() bool { return dtypeName[T]() == "float64" }

const clipDigestConfigs = 5

// clipDigestT hashes GradNorm for several orders, then the outputs of
// ClipGradNorm, ClipGradValue and Unscale on copies.
func clipDigestT[T testFloat](t *testing.T, d *digestWriter) {
	for config := range clipDigestConfigs {
		grads := clipDigestInputs[T](config)
		for _, p := range []float64{1, 2, 3, math.Inf(1)} {
			n, err := GradNorm(p, grads...)
			if err != nil {
				t.Fatal(err)
			}
			d.word(bits(n))
		}
		for _, p := range []float64{1, 2, math.Inf(1)} {
			g := clone2(grads)
			n, err := ClipGradNorm(0.25, p, false, g...)
			if err != nil {
				t.Fatal(err)
			}
			d.word(bits(n))
			for _, s := range g {
				digestSlice(d, s)
			}
		}
		g := clone2(grads)
		if err := ClipGradValue(0.5, g...); err != nil {
			t.Fatal(err)
		}
		for _, s := range g {
			digestSlice(d, s)
		}
		g = clone2(grads)
		found := unscaleAll(gradKernels[T](), g, T(float32(1.0/3))) // inexact products: a fused check would misreport
		d.word(map[bool]uint64{false: 0, true: 1}[found])
		for _, s := range g {
			digestSlice(d, s)
		}
	}
}

func TestClipDigest(t *testing.T) {
	d := &digestWriter{h: fnv.New64a()}
	clipDigestT[float32](t, d)
	clipDigestT[float64](t, d)
	got := d.h.Sum64()
	t.Logf("clip digest %#x", got)
	if got != wantClipDigest {
		t.Errorf("clip digest %#x, want %#x", got, uint64(wantClipDigest))
	}
}

// ---- Fuzz targets: fuzzer-chosen lengths, offsets, orders and bits.

// fuzzGrads splits n fuzzed values into up to three slices placed at
// offset off in one buffer.
func fuzzGrads[T testFloat](n, off int, data []byte) [][]T {
	n, off = n%1200, off%16
	if n < 0 {
		n = -n
	}
	if off < 0 {
		off = -off
	}
	buf := make([]T, off+n+2)
	in := &testvals.FuzzInput[T]{Data: data}
	in.Fill(buf)
	x := buf[off : off+n]
	a, b := n/3, 2*n/3
	return [][]T{x[:a], x[a:b:b], x[b:]}
}

func FuzzGradNorm(f *testing.F) {
	seed := testvals.FuzzSeed()
	for _, p := range []float64{1, 2, 3, math.Inf(1), 0.5, math.NaN()} {
		f.Add(100, 3, p, seed)
	}
	f.Fuzz(func(t *testing.T, n, off int, p float64, data []byte) {
		fuzzGradNormT[float32](t, n, off, p, data)
		fuzzGradNormT[float64](t, n, off, p, data)
	})
}

func fuzzGradNormT[T testFloat](t *testing.T, n, off int, p float64, data []byte) {
	grads := fuzzGrads[T](n, off, data)
	before := clone2(grads)
	got, err := GradNorm(p, grads...)
	for i := range grads {
		if firstDiff(grads[i], before[i]) >= 0 {
			t.Fatal("GradNorm wrote a grad")
		}
	}
	if !(p >= 1) {
		var ae *HyperparameterError
		if !errors.As(err, &ae) {
			t.Fatalf("p=%v: error %v, want *HyperparameterError", p, err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	// The naive model: NaN and Inf first, then the exact value.
	hasNaN, hasInf, m := false, false, 0.0
	for _, g := range grads {
		for _, e := range g {
			v := math.Abs(float64(e))
			hasNaN = hasNaN || v != v
			hasInf = hasInf || math.IsInf(v, 1)
			m = math.Max(m, v)
		}
	}
	switch {
	case hasNaN:
		if got == got {
			t.Fatalf("p=%v: NaN input, norm %v", p, got)
		}
		return
	case hasInf:
		if !math.IsInf(got, 1) {
			t.Fatalf("p=%v: infinite input, norm %v", p, got)
		}
		return
	case math.IsInf(p, 1):
		if got != m {
			t.Fatalf("max norm %v, want %v", got, m)
		}
		return
	}
	if p != 1 && p != 2 {
		// m <= norm <= m * count^(1/p), up to the rounding bound (a few
		// dozen units in the last place; 64 is generous).
		count := 0
		for _, g := range grads {
			count += len(g)
		}
		lo, hi := m*(1-64*0x1p-53), m*math.Pow(float64(count), 1/p)*(1+64*0x1p-53)
		if !(got >= lo && got <= hi) && !(m < 0x1p-1000) {
			t.Fatalf("p=%v: norm %v outside [%v, %v] (largest element %v, %d elements)", p, got, lo, hi, m, count)
		}
		return
	}
	want := bigNormP(grads, int(p))
	if math.IsInf(want, 1) {
		return // the true norm exceeds MaxFloat64
	}
	tol := 0x1p-53 * (float64(generic.ReduceBlock/generic.ReduceLanes) + 10)
	if d := math.Abs(got - want); !(d <= tol*want) && !(want < 0x1p-1022 && d <= 0x1p-1074) {
		t.Fatalf("p=%v: norm %v, exact %v (relative %.3g)", p, got, want, d/want)
	}
}

// bigNormP is the exact 1- or 2-norm (math/big, 2200 bits), rounded.
func bigNormP[T testFloat](grads [][]T, p int) float64 {
	const prec = 2200
	sum := new(big.Float).SetPrec(prec)
	for _, g := range grads {
		for _, e := range g {
			v := new(big.Float).SetPrec(prec).SetFloat64(math.Abs(float64(e)))
			if p == 2 {
				v.Mul(v, v)
			}
			sum.Add(sum, v)
		}
	}
	if p == 2 {
		sum.Sqrt(sum)
	}
	f, _ := sum.Float64()
	return f
}

func FuzzClip(f *testing.F) {
	seed := testvals.FuzzSeed()
	f.Add(100, 3, 1.0, 2.0, 0.5, false, false, seed)
	f.Add(7, 0, 0.0, math.Inf(1), 0.0, true, true, seed)
	f.Add(9, 1, -1.0, 0.9, math.NaN(), false, false, seed)
	f.Fuzz(func(t *testing.T, n, off int, maxNorm, p, clip float64, errorIfNonfinite, alias bool, data []byte) {
		fuzzClipT[float32](t, n, off, maxNorm, p, clip, errorIfNonfinite, alias, data)
		fuzzClipT[float64](t, n, off, maxNorm, p, clip, errorIfNonfinite, alias, data)
	})
}

func fuzzClipT[T testFloat](t *testing.T, n, off int, maxNorm, p, clip float64, errorIfNonfinite, alias bool, data []byte) {
	grads := fuzzGrads[T](n, off, data)
	if alias && len(grads[2]) > 0 {
		grads = append(grads, grads[2][:1])
	}
	before := clone2(grads)
	unchanged := func(what string) {
		for i := range grads {
			if firstDiff(grads[i], before[i]) >= 0 {
				t.Fatalf("%s: grad %d changed on error", what, i)
			}
		}
	}
	aliased := alias && len(grads[2]) > 0
	total, err := ClipGradNorm(maxNorm, p, errorIfNonfinite, grads...)
	switch {
	case !(maxNorm >= 0) || !(p >= 1) || aliased:
		if err == nil {
			t.Fatalf("ClipGradNorm(%v, %v) with aliasing %v: no error", maxNorm, p, aliased)
		}
		unchanged("ClipGradNorm")
	case errorIfNonfinite && (math.IsInf(total, 0) || total != total):
		var nf *NonFiniteNormError
		if !errors.As(err, &nf) {
			t.Fatalf("non-finite norm %v: error %v", total, err)
		}
		unchanged("ClipGradNorm")
	default:
		if err != nil {
			t.Fatal(err)
		}
		want, _ := GradNorm(p, before...)
		if bits(total) != bits(want) {
			t.Fatalf("ClipGradNorm returned %v, GradNorm %v", total, want)
		}
		c := T(generic.ClipCoef(maxNorm, total))
		for i := range grads {
			for j := range grads[i] {
				if w := before[i][j] * c; bits(grads[i][j]) != bits(w) {
					t.Fatalf("grad %d[%d] = %v, want %v", i, j, grads[i][j], w)
				}
			}
		}
	}
	grads = clone2(before)
	if aliased {
		grads[3] = grads[2][:1]
	}
	err = ClipGradValue(clip, grads...)
	if !(clip >= 0) || aliased {
		if err == nil {
			t.Fatalf("ClipGradValue(%v) with aliasing %v: no error", clip, aliased)
		}
		unchanged("ClipGradValue")
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	c := T(clip)
	for i := range grads {
		for j, x := range before[i] {
			w := x
			if x < -c {
				w = -c
			} else if x > c {
				w = c
			}
			if bits(grads[i][j]) != bits(w) {
				t.Fatalf("clamp(%v, %v) = %v, want %v", x, c, grads[i][j], w)
			}
		}
	}
}

// ---- Benchmarks. The targets in the issue are for the SIMD kernels;
// these give the reference's figures and the plain loop to compare with.

func benchGrads(n int) []float32 {
	g := make([]float32, n)
	for i := range g {
		g[i] = float32(i%1000) * 0x1p-10
	}
	return g
}

func BenchmarkGradNorm(b *testing.B) {
	for _, n := range []int{1 << 16, 1 << 24} {
		b.Run(fmt.Sprintf("float32/n=%d", n), func(b *testing.B) {
			g := benchGrads(n)
			b.SetBytes(int64(4 * n))
			for b.Loop() {
				GradNorm(2, g)
			}
		})
	}
}

func BenchmarkClipGradNorm(b *testing.B) {
	n := 1 << 24
	b.Run(fmt.Sprintf("float32/n=%d", n), func(b *testing.B) {
		g := benchGrads(n)
		b.SetBytes(int64(4 * n)) // g's bytes once; clipping reads it twice and writes it once
		for b.Loop() {
			ClipGradNorm(1e30, 2, false, g) // coefficient 1: g stays the same
		}
	})
}

var benchSink float32

// BenchmarkSumLoop is a plain float32 sum over the same bytes: the read
// bandwidth one core reaches with the simplest loop.
func BenchmarkSumLoop(b *testing.B) {
	n := 1 << 24
	b.Run(fmt.Sprintf("float32/n=%d", n), func(b *testing.B) {
		g := benchGrads(n)
		b.SetBytes(int64(4 * n))
		for b.Loop() {
			var s0, s1, s2, s3 float32
			for i := 0; i+4 <= len(g); i += 4 {
				s0 += g[i]
				s1 += g[i+1]
				s2 += g[i+2]
				s3 += g[i+3]
			}
			benchSink = s0 + s1 + s2 + s3
		}
	})
}

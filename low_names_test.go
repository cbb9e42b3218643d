package optim

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// A LowOptimizer's parameter names and owned gradient buffers: Optimizer's
// (grads_test.go), with buffers in the parameters' format.

// namedLow is an AdamW LowOptimizer over three named params of lengths 5,
// 33 and 64, in two groups.
func namedLow[H BFloat16 | Float16](t *testing.T, opts LowOptions) (*LowOptimizer[H], [][]H) {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 6))
	params := [][]H{lowValues[H](rng, 5, 1), lowValues[H](rng, 33, 1), lowValues[H](rng, 64, 1)}
	o, err := NewLowGroups(opts,
		LowGroup[H]{Rule: DefaultAdamW(), Params: params[:2], Names: []string{"emb.weight", "fc.weight"}},
		LowGroup[H]{Rule: DefaultAdam(), Params: params[2:], Names: []string{"fc.bias"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return o, params
}

// splitLow is NewLow with workers workers, each given at least 1000
// elements, so that the tests' parameters and gradients are split.
func splitLow[H BFloat16 | Float16](t *testing.T, rule Rule, opts LowOptions, workers int, params ...[]H) *LowOptimizer[H] {
	t.Helper()
	o, err := NewLow(rule, opts, params...)
	if err != nil {
		t.Fatal(err)
	}
	setSplit(t, o, workers, 1000)
	return o
}

// setSplit gives o workers workers, each of at least least elements.
func setSplit(tb testing.TB, o interface {
	SetWorkers(int) error
	SetParallelMin(int) error
}, workers, least int) {
	tb.Helper()
	if err := o.SetWorkers(workers); err != nil {
		tb.Fatal(err)
	}
	if err := o.SetParallelMin(least); err != nil {
		tb.Fatal(err)
	}
}

// lowSnapshot is everything of o a refused call must leave as it was: the
// checkpointed state (lowFingerprint), the parameters, and the gradient
// buffers with whether each is set.
func lowSnapshot[H BFloat16 | Float16](o *LowOptimizer[H]) string {
	var b strings.Builder
	b.WriteString(lowFingerprint(o))
	fmt.Fprintf(&b, "|%v|%v|%v", o.params, o.grads.buf, o.grads.set)
	return b.String()
}

// TestLowNames: Name and Index, and every way names are refused (the
// *NameErrors of Optimizer), before anything changes.
func TestLowNames(t *testing.T) {
	o, _ := namedLow[BFloat16](t, LowOptions{})
	wantNames(t, o, "emb.weight", "fc.weight", "fc.bias")
	unnamed, err := NewLow(DefaultSGD(), LowOptions{}, make([]Float16, 3))
	if err != nil {
		t.Fatal(err)
	}
	if unnamed.Name(0) != "" {
		t.Errorf("an unnamed param is named %q", unnamed.Name(0))
	}
	refusedNames(t, func(spec []nameGroup) error {
		groups := make([]LowGroup[BFloat16], len(spec))
		for gi, g := range spec {
			groups[gi] = LowGroup[BFloat16]{Rule: DefaultSGD(), Params: make2[BFloat16](g.params, 3), Names: g.names}
		}
		_, err := NewLowGroups(LowOptions{}, groups...)
		return err
	})
	p := func(n int) [][]BFloat16 { return make2[BFloat16](n, 3) }
	// AddGroup: a name taken, an unnamed group, names on an unnamed
	// optimizer; nothing changes.
	before := lowSnapshot(o)
	err = o.AddGroup(LowGroup[BFloat16]{Rule: DefaultSGD(), Params: p(1), Names: []string{"fc.bias"}})
	wantError(t, "AddGroup with a taken name", err, `"fc.bias"`, "param 2 and param 3")
	err = o.AddGroup(LowGroup[BFloat16]{Rule: DefaultSGD(), Params: p(1)})
	wantError(t, "AddGroup without names", err, "every group")
	if o.Len() != 3 || o.Groups() != 2 || lowSnapshot(o) != before {
		t.Errorf("a refused AddGroup changed the optimizer: %d params, %d groups", o.Len(), o.Groups())
	}
	err = unnamed.AddGroup(LowGroup[Float16]{Rule: DefaultSGD(), Params: [][]Float16{make([]Float16, 2)}, Names: []string{"x"}})
	wantError(t, "AddGroup with names to an unnamed optimizer", err, "not named", "every group")
	if err := o.AddGroup(LowGroup[BFloat16]{Rule: DefaultSGD(), Params: p(1), Names: []string{"head"}}); err != nil {
		t.Fatal(err)
	}
	if i, ok := o.Index("head"); !ok || i != 3 || o.Name(3) != "head" {
		t.Errorf(`Index("head") = %d, %v after AddGroup`, i, ok)
	}
}

// TestLowNamesInErrors: errors about a named parameter name it.
func TestLowNamesInErrors(t *testing.T) {
	o, params := namedLow[Float16](t, LowOptions{})
	g := [][]Float16{make([]Float16, 5), make([]Float16, 33), make([]Float16, 64)}
	wantError(t, "short grad", o.Step(g[0], g[1][:3], g[2]), `param 1 ("fc.weight") has length 33`)
	wantError(t, "grad overlapping a param", o.Step(g[0], params[1], g[2]), `grad 1 ("fc.weight") overlaps param 1 ("fc.weight")`)
	err := o.AddGroup(LowGroup[Float16]{Rule: DefaultSGD(), Params: [][]Float16{params[2][3:9]}, Names: []string{"head"}})
	wantError(t, "AddGroup of an overlapping param", err, `param 3 ("head")`, `param 2 ("fc.bias")`)
}

// TestLowNamesInCheckpoint: Save records the names in param_groups
// (param_names) as Optimizer's; Load accepts a file of the same names or of
// none, into a named or an unnamed optimizer, and refuses one of other
// names with a *CheckpointError, before anything changes.
func TestLowNamesInCheckpoint(t *testing.T) {
	t.Run("bfloat16", func(t *testing.T) { lowNamesInCheckpoint[BFloat16](t) })
	t.Run("float16", func(t *testing.T) { lowNamesInCheckpoint[Float16](t) })
}

func lowNamesInCheckpoint[H BFloat16 | Float16](t *testing.T) {
	o, _ := namedLow[H](t, LowOptions{})
	if err := o.Step(make([]H, 5), nil, lowValues[H](rand.New(rand.NewPCG(1, 1)), 64, 0.1)); err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	if err := o.Save(&file); err != nil {
		t.Fatal(err)
	}
	mk := func(names ...[]string) *LowOptimizer[H] {
		rng := rand.New(rand.NewPCG(7, 8))
		g := []LowGroup[H]{
			{Rule: DefaultAdamW(), Params: [][]H{lowValues[H](rng, 5, 1), lowValues[H](rng, 33, 1)}},
			{Rule: DefaultAdam(), Params: [][]H{lowValues[H](rng, 64, 1)}},
		}
		if names != nil {
			g[0].Names, g[1].Names = names[0], names[1]
		}
		u, err := NewLowGroups(LowOptions{}, g...)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	same, _ := namedLow[H](t, LowOptions{})
	namesOptional(t, file.Bytes(), same, mk())
	if err := same.Load(bytes.NewReader(file.Bytes())); err != nil {
		t.Fatal(err)
	}
	if lowFingerprint(same) != lowFingerprint(o) {
		t.Error("the loaded state is not the saved one")
	}
	for _, c := range []struct {
		name  string
		names [][]string
		want  []string
	}{
		{"a name changed", [][]string{{"emb.weight", "fc.w"}, {"fc.bias"}}, []string{`param_names[1] is "fc.weight"`, `param 1 is named "fc.w"`}},
		{"names swapped", [][]string{{"fc.weight", "emb.weight"}, {"fc.bias"}}, []string{`param_names[0] is "emb.weight"`, `param 0 is named "fc.weight"`}},
	} {
		other := mk(c.names...)
		if err := other.Step(nil, make([]H, 33), nil); err != nil {
			t.Fatal(err)
		}
		before := lowSnapshot(other)
		err := other.Load(bytes.NewReader(file.Bytes()))
		var ce *CheckpointError
		if !errors.As(err, &ce) {
			t.Fatalf("%s: Load: %v, want a *CheckpointError", c.name, err)
		}
		wantError(t, c.name, err, c.want...)
		if lowSnapshot(other) != before {
			t.Errorf("%s: a refused Load changed the optimizer", c.name)
		}
	}
}

// TestLowOwnedGradsStepAsPassedGrads: Step() over the owned buffers,
// filled through Grad, is bit for bit Step(grads...) with the same values,
// for every storage and rounding, on one worker and split; an unset buffer
// (never asked for, or not since ZeroGrad) is a nil gradient, and Grad
// returns it zeroed.
func TestLowOwnedGradsStepAsPassedGrads(t *testing.T) {
	t.Run("bfloat16", func(t *testing.T) { lowOwnedStep[BFloat16](t) })
	t.Run("float16", func(t *testing.T) { lowOwnedStep[Float16](t) })
}

func lowOwnedStep[H BFloat16 | Float16](t *testing.T) {
	sizes := []int{3001, 7, 0, 2500}
	cases := lowCases()
	if testing.Short() {
		cases = cases[:4]
	}
	for _, c := range cases {
		for _, workers := range []int{1, 3} {
			rng := rand.New(rand.NewPCG(11, 12))
			var params [][]H
			for _, n := range sizes {
				params = append(params, lowValues[H](rng, n, 1))
			}
			copies := make([][]H, len(params))
			for i := range params {
				copies[i] = slices.Clone(params[i])
			}
			owned := splitLow(t, c.rule, c.opts, workers, params...)
			passed := splitLow(t, c.rule, c.opts, workers, copies...)
			for s := range 4 {
				owned.ZeroGrad()
				grads := make([][]H, len(params))
				for i, p := range params {
					if (i+s)%3 == 1 {
						continue // no gradient at this step
					}
					grads[i] = lowValues[H](rng, len(p), 0.1)
					buf, err := owned.Grad(i)
					if err != nil {
						t.Fatal(err)
					}
					if j := slices.IndexFunc(buf, func(h H) bool { return h != 0 }); j >= 0 {
						t.Fatalf("%s: step %d: Grad(%d) after ZeroGrad is not zero at [%d]", c.name, s, i, j)
					}
					copy(buf, grads[i])
				}
				if err := owned.Step(); err != nil {
					t.Fatal(err)
				}
				if err := passed.Step(grads...); err != nil {
					t.Fatal(err)
				}
			}
			for i := range params {
				if !slices.Equal(params[i], copies[i]) {
					t.Errorf("%s, %d workers: param %d: owned gradients give other bits than passed ones", c.name, workers, i)
				}
			}
			if lowFingerprint(owned) != lowFingerprint(passed) {
				t.Errorf("%s, %d workers: the state differs between owned and passed gradients", c.name, workers)
			}
			owned.Close()
			passed.Close()
		}
	}
}

// TestLowGradKeepsItsValuesUntilZeroGrad: a buffer keeps what was written
// into it across Grad calls and steps; ZeroGrad unsets it (Step() skips
// its parameter), and the next Grad returns it zeroed, the same memory.
func TestLowGradKeepsItsValuesUntilZeroGrad(t *testing.T) {
	o, _ := namedLow[BFloat16](t, LowOptions{})
	gradKeepsValues(t, o, BFloat16From(7), func(i int) int64 { st, _ := o.State(i); return st.Step })
	if err := o.Step(); err != nil {
		t.Fatal(err)
	}
	if st, _ := o.State(0); st.Step != 0 {
		t.Errorf("Step() stepped param 0, whose buffer was never asked for")
	}
	var ie *IndexError
	if _, err := o.Grad(3); !errors.As(err, &ie) {
		t.Errorf("Grad(3): %v, want an *IndexError", err)
	}
	if _, err := o.Grad(-1); !errors.As(err, &ie) {
		t.Errorf("Grad(-1): %v, want an *IndexError", err)
	}
	var ne *NameError
	if _, err := o.GradOf("fc.weights"); !errors.As(err, &ne) || !strings.Contains(err.Error(), `"fc.weights"`) {
		t.Errorf("GradOf of an unknown name: %v, want a *NameError naming it", err)
	}
	unnamed, _ := NewLow(DefaultSGD(), LowOptions{}, make([]BFloat16, 2))
	if _, err := unnamed.GradOf("w"); !errors.As(err, &ne) || !strings.Contains(err.Error(), "LowGroup.Names") {
		t.Errorf("GradOf on an unnamed optimizer: %v, want a *NameError", err)
	}
}

// lowSpecials are values of every class for H: zeros, the smallest and a
// large subnormal, the smallest normal, ones, the largest finite,
// infinities and NaNs of several payloads (the bits, as H).
func lowSpecials[H BFloat16 | Float16]() []H {
	if formatOf[H]() == formatOf[BFloat16]() {
		return []H{0x0000, 0x8000, 0x0001, 0x807F, 0x0080, 0x3F80, 0xBF80, 0x7F7F, 0xFF7F, 0x7F80, 0xFF80, 0x7FC0, 0xFFC1, 0x7F81, 0x3EAB, 0x0040}
	}
	return []H{0x0000, 0x8000, 0x0001, 0x83FF, 0x0400, 0x3C00, 0xBC00, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00, 0x7E00, 0xFE01, 0x7C01, 0x3555, 0x0200}
}

// lowAccumulateRef is torch's p.grad += s * g on 16-bit tensors, element
// by element in plain Go: t = round(s·widen(g)), buf = round(widen(buf) +
// widen(t)), each product and sum in float32 and each round to nearest
// even by the package's conversions.
func lowAccumulateRef[H BFloat16 | Float16](buf, g []H, s float32) {
	round := func(x float32) H {
		if formatOf[H]() == formatOf[BFloat16]() {
			return H(BFloat16From(x))
		}
		return H(Float16From(x))
	}
	widen := func(h H) float32 {
		if formatOf[H]() == formatOf[BFloat16]() {
			return BFloat16(h).Float32()
		}
		return Float16(h).Float32()
	}
	for j := range buf {
		t := round(float32(s * widen(g[j])))
		buf[j] = round(float32(widen(buf[j]) + widen(t)))
	}
}

// TestLowAccumulateGrad: AccumulateGrad has the bits of the plain Go
// reference, for both formats, on every kernel set and for 1 and 3
// workers, special values included (subnormals, infinities, NaNs, which
// the narrowing makes canonical, overflow of the sum), into a set buffer
// and into an unset one (from zero), and with g the buffer itself.
func TestLowAccumulateGrad(t *testing.T) {
	for _, set := range SupportedSets() {
		t.Run(set.Name(), func(t *testing.T) {
			withKernelSet(t, set)
			t.Run("bfloat16", func(t *testing.T) { lowAccumulateBits[BFloat16](t) })
			t.Run("float16", func(t *testing.T) { lowAccumulateBits[Float16](t) })
		})
	}
}

func lowAccumulateBits[H BFloat16 | Float16](t *testing.T) {
	// Longer than three of the passes' blocks: split into four pieces,
	// each of two halves of the accumulation's blocks, and a tail.
	const n = 3*4096 + 123
	rng := rand.New(rand.NewPCG(21, 22))
	sp := lowSpecials[H]()
	mixed := func(scale float64) []H {
		x := lowValues[H](rng, n, scale)
		for k := range n / 7 {
			x[rng.IntN(n)] = sp[k%len(sp)]
		}
		return x
	}
	// Every pair of special values somewhere, at both ends of the slice.
	a, b := mixed(1), mixed(1)
	for i, x := range sp {
		for j, y := range sp {
			a[i*len(sp)+j], b[i*len(sp)+j] = x, y
			a[n-1-(i*len(sp)+j)], b[n-1-(i*len(sp)+j)] = y, x
		}
	}
	adds := []struct {
		g []H
		s float32
	}{
		{a, 1}, {b, 1.0 / 3}, {mixed(100), -2.5}, {mixed(1e-3), 1e-3}, {mixed(1), 0}, {mixed(1), 3e4}, {mixed(1), float32(math.Inf(1))},
	}
	for _, workers := range []int{1, 3} {
		o := splitLow(t, DefaultSGD(), LowOptions{}, workers, make([]H, 3), make([]H, n))
		want := make([]H, n)
		for k, c := range adds {
			if err := o.AccumulateGrad(1, c.g, c.s); err != nil {
				t.Fatal(err)
			}
			lowAccumulateRef(want, c.g, c.s)
			got, _ := o.Grad(1)
			if j := firstBitDiff(got, want); j >= 0 {
				t.Fatalf("%d workers, add %d (s = %v): [%d] = %#04x, the reference %#04x (g %#04x)", workers, k, c.s, j, got[j], want[j], c.g[j])
			}
		}
		// g the buffer itself: buf + s·buf.
		got, _ := o.Grad(1)
		lowAccumulateRef(want, slices.Clone(want), 0.5)
		if err := o.AccumulateGrad(1, got, 0.5); err != nil {
			t.Fatal(err)
		}
		if j := firstBitDiff(got, want); j >= 0 {
			t.Fatalf("%d workers, the buffer added to itself: [%d] = %#04x, the reference %#04x", workers, j, got[j], want[j])
		}
		// Into an unset buffer, from zero.
		o.ZeroGrad()
		clear(want)
		if err := o.AccumulateGrad(1, b, 1.0/3); err != nil {
			t.Fatal(err)
		}
		lowAccumulateRef(want, b, 1.0/3)
		if got, _ := o.Grad(1); firstBitDiff(got, want) >= 0 {
			t.Fatalf("%d workers: AccumulateGrad into an unset buffer did not start from zero", workers)
		}
		o.Close()
	}
}

// firstBitDiff is the first index at which a and b differ, -1 if none.
func firstBitDiff[H BFloat16 | Float16](a, b []H) int {
	for j := range a {
		if a[j] != b[j] {
			return j
		}
	}
	return -1
}

// TestLowAccumulateGradErrors: AccumulateGrad refuses an index out of
// range and a g of another length, naming the parameter, and changes
// nothing (an unset buffer stays unset, a set one keeps its values); a g
// that partly overlaps the buffer is refused by the check it runs first
// (such a g of the right length cannot be made without unsafe).
func TestLowAccumulateGradErrors(t *testing.T) {
	o, _ := namedLow[Float16](t, LowOptions{})
	g1, _ := o.Grad(1)
	g1[0] = Float16From(1)
	before := lowSnapshot(o)
	var ie *IndexError
	if err := o.AccumulateGrad(3, make([]Float16, 5), 1); !errors.As(err, &ie) {
		t.Errorf("index 3: %v, want an *IndexError", err)
	}
	if err := o.AccumulateGrad(-1, make([]Float16, 5), 1); !errors.As(err, &ie) {
		t.Errorf("index -1: %v, want an *IndexError", err)
	}
	var se *ShapeError
	err := o.AccumulateGrad(1, make([]Float16, 5), 1)
	if !errors.As(err, &se) {
		t.Errorf("short g: %v, want a *ShapeError", err)
	}
	wantError(t, "short g", err, "AccumulateGrad", "has length 5", `"fc.weight"`, "33")
	wantError(t, "nil g", o.AccumulateGrad(0, nil, 1), "has length 0", `"emb.weight"`)
	wantError(t, "part of the buffer", o.AccumulateGrad(1, g1[1:], 1), "has length 32")
	if lowSnapshot(o) != before {
		t.Error("a refused AccumulateGrad changed the optimizer")
	}
	if err := o.Step(); err != nil {
		t.Fatal(err)
	}
	if st, _ := o.State(0); st.Step != 0 {
		t.Error("a refused AccumulateGrad set param 0's buffer")
	}
	// The overlap rule: g may be the buffer, or memory apart from it.
	mem := make([]uint16, 20)
	var b gradBuffers[uint16]
	b.grow(1)
	b.buf[0] = mem[:10]
	params := [][]uint16{make([]uint16, 10)}
	var oe *OverlapError
	if err := b.checkAdd("AccumulateGrad", 0, mem[5:15], params, &o.names); !errors.As(err, &oe) {
		t.Errorf("g partly over the buffer: %v, want an *OverlapError", err)
	}
	if err := b.checkAdd("AccumulateGrad", 0, mem[:10], params, &o.names); err != nil {
		t.Errorf("g the buffer itself: %v", err)
	}
	if err := b.checkAdd("AccumulateGrad", 0, mem[10:], params, &o.names); err != nil {
		t.Errorf("g beside the buffer: %v", err)
	}
	// Another parameter's buffer is memory apart: allowed, as Optimizer's.
	g2, _ := o.Grad(2)
	if err := o.AccumulateGrad(1, g2[:33], 1); err != nil {
		t.Errorf("another param's buffer as g: %v", err)
	}
}

// TestLowReductionsOnOwnedGrads: with no gradients, the norms, clipping,
// the non-finite check, StepIfFinite, UnscaleLow and ScaledStepLow act on
// the buffers that are set, skipping the unset ones (torch's grads that
// are None): the same bits as the set buffers passed explicitly, nothing
// written to or stepped for an unset one.
func TestLowReductionsOnOwnedGrads(t *testing.T) {
	for _, workers := range []int{1, 3} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) { lowReductionsOnOwned(t, workers) })
	}
}

func lowReductionsOnOwned(t *testing.T, workers int) {
	rng := rand.New(rand.NewPCG(31, 32))
	params := [][]BFloat16{lowValues[BFloat16](rng, 9000, 1), lowValues[BFloat16](rng, 40, 1), lowValues[BFloat16](rng, 5000, 1)}
	o := splitLow(t, DefaultAdamW(), LowOptions{}, workers, params...)
	defer o.Close()
	g0, _ := o.Grad(0)
	g2, _ := o.Grad(2)
	copy(g0, lowValues[BFloat16](rng, len(g0), 3))
	copy(g2, lowValues[BFloat16](rng, len(g2), 3))
	c0, c2 := slices.Clone(g0), slices.Clone(g2)
	for _, p := range []float64{1, 2, 3, math.Inf(1)} {
		owned, err1 := o.GradNorm(p)
		passed, err2 := o.GradNorm(p, c0, nil, c2)
		if err1 != nil || err2 != nil || math.Float64bits(owned) != math.Float64bits(passed) {
			t.Errorf("GradNorm(%v) over owned buffers %v (%v), of the set ones passed %v (%v)", p, owned, err1, passed, err2)
		}
	}
	n1, err1 := o.ClipGradNorm(0.5, 2, false)
	n2, err2 := o.ClipGradNorm(0.5, 2, false, c0, nil, c2)
	if err1 != nil || err2 != nil || n1 != n2 || !slices.Equal(g0, c0) || !slices.Equal(g2, c2) {
		t.Errorf("ClipGradNorm() over owned buffers differs from the set ones passed: %v %v, %v %v", n1, err1, n2, err2)
	}
	if err := o.ClipGradValue(1e-3); err != nil {
		t.Fatal(err)
	}
	if err := o.ClipGradValue(1e-3, c0, nil, c2); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(g0, c0) || !slices.Equal(g2, c2) {
		t.Error("ClipGradValue() over owned buffers differs from the set ones passed")
	}
	if o.NonFinite() {
		t.Error("NonFinite() over finite owned buffers")
	}
	// An Inf in the unset buffer's memory is not looked at; in a set one, it is.
	g1, _ := o.Grad(1)
	g1[7] = BFloat16(0x7F80)
	o.ZeroGrad()
	g0, _ = o.Grad(0)
	g2, _ = o.Grad(2)
	copy(g0, c0)
	copy(g2, c2)
	if o.NonFinite() {
		t.Error("NonFinite() looked at an unset buffer")
	}
	g2[4000] = BFloat16(0x7F80)
	if !o.NonFinite() {
		t.Error("NonFinite() misses the Inf in an owned buffer")
	}
	if skipped, err := o.StepIfFinite(); err != nil || !skipped {
		t.Errorf("StepIfFinite() over an Inf: skipped %v, %v", skipped, err)
	}
	if o.Steps() != 0 {
		t.Error("a skipped step stepped")
	}
	g2[4000] = c2[4000]
	if skipped, err := o.StepIfFinite(); err != nil || skipped {
		t.Errorf("StepIfFinite() over finite buffers: skipped %v, %v", skipped, err)
	}
	if st, _ := o.State(1); st.Step != 0 || st.ExpAvg != nil {
		t.Errorf("an unset buffer's param stepped: %+v", st)
	}
	if st, _ := o.State(2); st.Step != 1 {
		t.Errorf("a set buffer's param did not step: %+v", st.Step)
	}
	// The scaler: UnscaleLow and ScaledStepLow with no grads use the set
	// owned buffers, with the bits of the same buffers passed.
	s, err := NewGradScaler(DefaultGradScalerConfig())
	if err != nil {
		t.Fatal(err)
	}
	scale := float32(s.Scale())
	for j := range g0 {
		g0[j] = BFloat16From(c0[j].Float32() * scale)
	}
	c0 = slices.Clone(g0)
	if found, err := UnscaleLow(s, o); err != nil || found {
		t.Fatalf("UnscaleLow(s, o): %v, %v", found, err)
	}
	s2, _ := NewGradScaler(DefaultGradScalerConfig())
	if found, err := UnscaleLow(s2, o, c0, nil, c2); err != nil || found {
		t.Fatalf("UnscaleLow with the set buffers passed: %v, %v", found, err)
	}
	if !slices.Equal(g0, c0) || !slices.Equal(g2, c2) {
		t.Error("UnscaleLow(s, o) differs from the set buffers passed")
	}
	if skipped, err := ScaledStepLow(s, o); err != nil || skipped {
		t.Errorf("ScaledStepLow(s, o): %v, %v", skipped, err)
	}
	s.Update()
	if st, _ := o.State(1); st.Step != 0 {
		t.Error("ScaledStepLow stepped a param whose buffer is unset")
	}
	if st, _ := o.State(0); st.Step != 2 {
		t.Errorf("ScaledStepLow() did not step param 0: %d steps", st.Step)
	}
}

// TestLowOwnedGradsCannotBeSwapped: buffers reached by name belong to
// their parameter whatever the order they are filled in; an owned buffer
// passed at another parameter's position is refused (*OverlapError,
// naming both), and so is a param added inside an owned buffer, before
// anything changes.
func TestLowOwnedGradsCannotBeSwapped(t *testing.T) {
	o, params := namedLow[BFloat16](t, LowOptions{})
	ref, refParams := namedLow[BFloat16](t, LowOptions{})
	rng := rand.New(rand.NewPCG(41, 42))
	values := map[string][]BFloat16{"emb.weight": lowValues[BFloat16](rng, 5, 0.1), "fc.weight": lowValues[BFloat16](rng, 33, 0.1), "fc.bias": lowValues[BFloat16](rng, 64, 0.1)}
	stepByName(t, o, ref, values)
	for i := range params {
		if !slices.Equal(params[i], refParams[i]) {
			t.Errorf("param %d (%s) differs from the positional step", i, o.Name(i))
		}
	}
	two, err := NewLowGroups(LowOptions{}, LowGroup[Float16]{Rule: DefaultSGD(), Params: [][]Float16{make([]Float16, 8), make([]Float16, 8)}, Names: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := two.Grad(0)
	b, _ := two.Grad(1)
	before := lowSnapshot(two)
	for _, c := range []struct {
		name string
		err  error
	}{
		{"Step", two.Step(b, a)},
		{"StepIfFinite", func() error { _, err := two.StepIfFinite(b, a); return err }()},
	} {
		var oe *OverlapError
		if !errors.As(c.err, &oe) {
			t.Fatalf("%s with the owned gradients swapped: %v, want an *OverlapError", c.name, c.err)
		}
		wantError(t, "swapped owned gradients", c.err, `grad 0 ("a")`, `gradient buffer of param 1 ("b")`)
	}
	if lowSnapshot(two) != before {
		t.Error("a refused step changed the optimizer")
	}
	err = two.AddGroup(LowGroup[Float16]{Rule: DefaultSGD(), Params: [][]Float16{b[2:5]}, Names: []string{"head"}})
	var oe *OverlapError
	if !errors.As(err, &oe) {
		t.Fatalf("AddGroup of a param inside an owned gradient: %v, want an *OverlapError", err)
	}
	wantError(t, "param inside an owned gradient", err, `param 2 ("head")`, `the gradient buffer of param 1 ("b")`)
	if lowSnapshot(two) != before || two.Len() != 2 {
		t.Error("a refused AddGroup changed the optimizer")
	}
}

// TestLowStepAllocatesNothingWithOwnedGrads: Step() over owned buffers, on
// one worker and split, and ZeroGrad, AccumulateGrad, ClipGradNorm and
// Step() together, allocate nothing once the buffers exist.
func TestLowStepAllocatesNothingWithOwnedGrads(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	params := [][]BFloat16{lowValues[BFloat16](rng, 5000, 1), lowValues[BFloat16](rng, 7, 1), lowValues[BFloat16](rng, 3000, 1)}
	o := splitLow(t, DefaultAdamW(), LowOptions{}, 1, params...)
	defer o.Close()
	g := lowValues[BFloat16](rng, 5000, 0.1)
	for _, workers := range []int{1, 2} {
		if err := o.SetWorkers(workers); err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{0, 2} {
			if err := o.AccumulateGrad(i, g[:len(params[i])], 1); err != nil {
				t.Fatal(err)
			}
		}
		if err := o.Step(); err != nil { // the first step may start the workers
			t.Fatal(err)
		}
		ownedAllocs(t, fmt.Sprintf("%d workers: ", workers), o, func() error { return o.AccumulateGrad(0, g, 0.5) }, true)
	}
}

package kernels

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"testing"
	"unsafe"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/ir"
	"github.com/simdoptim/optim/internal/testvals"
)

// FuzzRules takes every rule from the registry: the fuzzer picks a rule, a
// length, an alignment offset and 1 to 4 steps, and for each step one of
// the rule's variants (generic.RuleDesc.Variants) and the raw bits of every
// coefficient that variant reads, so that any value, NaN, infinity and
// subnormal included, can reach the kernels; raw bytes also become the
// parameters, the state and each step's gradient. Each step runs through
// every supported set and through generic, which must agree bit for bit,
// with every guard intact. Raw coefficients are a stronger check than
// coefficient functions: whatever the coefficients, every set must compute
// generic's bits. The seeds hold realistic runs, made with the rules'
// coefficient functions (realisticCases), and a run of special values for
// every rule.
//
// Sign alone is drawn as +0 or -0, from the low bit of the step's variant
// byte: the reference tests only its sign bit while the assembly XORs all
// its bits into the gradient, so the two agree only on +0 and -0, the only
// values Coeffs defines and the validated layer accepts (checkCoeffs).
//
// The inputs: rule picks generic.Rules()[rule % KindCount]; the length is
// n%301, the alignment offset off%16, and there are 1+steps%4 steps. Byte
// b of variants picks step s's variant, Variants()[(b>>1) % len], and Sign
// -0 (maximizing) when b&1 is set. coeffs32 and coeffs64 hold the
// coefficients of the float32 and of the float64 run, step after step:
// the fields that the step's program reads (Sign excepted), in the order
// of Coeffs, as little-endian bits. data holds the bits of p, the state
// slices and the gradients. Each byte input is cycled when short (zeros
// when empty).
//
//	go test -run '^$' -fuzz '^FuzzRules$' -fuzztime 10s ./kernels
func FuzzRules(f *testing.F) {
	c32, c64 := realisticCases[float32](), realisticCases[float64]()
	for i, rc := range c32 {
		variants, coeffs32, err := encodeSteps(rc.kind, rc.run())
		if err != nil {
			f.Fatalf("seed %d: %v", i, err)
		}
		variants64, coeffs64, err := encodeSteps(rc.kind, c64[i].run())
		if err != nil {
			f.Fatalf("seed %d: %v", i, err)
		}
		if !slices.Equal(variants, variants64) {
			f.Fatalf("seed %d (%v): float32 and float64 runs take different variants", i, rc.kind)
		}
		f.Add(uint8(rc.kind), rc.n, rc.off, rc.steps, variants, coeffs32, coeffs64, rc.data)
	}
	seed := testvals.FuzzSeed()
	for k := range kindCount {
		f.Add(uint8(k), uint16(33), uint8(5), uint8(3), []byte{0, 3, 4, 7}, seed, seed[11:], seed)
	}
	f.Fuzz(func(t *testing.T, rule uint8, n uint16, off, steps uint8, variants, coeffs32, coeffs64, data []byte) {
		kind := Kind(int(rule) % int(kindCount))
		count := 1 + int(steps)%4
		fuzzKernels(t, kind, int(n)%301, int(off)%16, data,
			decodeSteps[float32](kind, count, variants, coeffs32), decodeSteps[float64](kind, count, variants, coeffs64))
	})
}

// fuzzStep is one step of a fuzzed run: its variant and coefficients.
type fuzzStep[T Float] struct {
	v Variant
	c Coeffs[T]
}

// readCoeffs returns the indices, in the order of Coeffs, of the fields
// that kind's program under v reads, Sign excepted.
func readCoeffs(kind Kind, v Variant) []int {
	names := ir.CoeffNames()
	read := make([]bool, len(names))
	for _, in := range ir.Build(int(kind), uint32(v)).Body {
		if in.Op == ir.OpCoeff && names[in.Coeff] != "Sign" {
			read[in.Coeff] = true
		}
	}
	var out []int
	for i, r := range read {
		if r {
			out = append(out, i)
		}
	}
	return out
}

// coeffFields views c as the array of its fields, which it is: package
// generic checks when it initializes that field k lies at offset
// k*sizeof(T), which the assembly relies on.
func coeffFields[T Float](c *Coeffs[T]) []T {
	return unsafe.Slice((*T)(unsafe.Pointer(c)), len(ir.CoeffNames()))
}

// decodeSteps turns the fuzzer's bytes into count steps of kind (see
// FuzzRules for the encoding).
func decodeSteps[T Float](kind Kind, count int, variants, coeffs []byte) []fuzzStep[T] {
	vs := generic.Rules()[kind].Variants()
	in := &testvals.FuzzInput[T]{Data: coeffs}
	out := make([]fuzzStep[T], count)
	for s := range out {
		var b byte
		if len(variants) > 0 {
			b = variants[s%len(variants)]
		}
		st := &out[s]
		st.v = vs[int(b>>1)%len(vs)]
		if b&1 != 0 {
			st.c.Sign = T(math.Copysign(0, -1))
		}
		fields := coeffFields(&st.c)
		for _, i := range readCoeffs(kind, st.v) {
			fields[i] = in.Next()
		}
	}
	return out
}

// encodeSteps returns the variant and coefficient bytes that decodeSteps
// turns into steps, which must have Sign +0 or -0; the fields a step's
// program does not read are dropped.
func encodeSteps[T Float](kind Kind, steps []fuzzStep[T]) (variants, coeffs []byte, err error) {
	vs := generic.Rules()[kind].Variants()
	for _, st := range steps {
		i := slices.Index(vs, st.v)
		if i < 0 || i > math.MaxUint8>>1 || st.c.Sign != 0 {
			return nil, nil, fmt.Errorf("%v: variant %s (index %d) or Sign %v cannot be encoded", kind, variantName(st.v), i, st.c.Sign)
		}
		b := byte(i << 1)
		if math.Signbit(float64(st.c.Sign)) {
			b |= 1
		}
		variants = append(variants, b)
		fields := coeffFields(&st.c)
		for _, f := range readCoeffs(kind, st.v) {
			if sizeOf[T]() == 4 {
				coeffs = binary.LittleEndian.AppendUint32(coeffs, uint32(rawBits(fields[f])))
			} else {
				coeffs = binary.LittleEndian.AppendUint64(coeffs, rawBits(fields[f]))
			}
		}
	}
	return variants, coeffs, nil
}

// fuzzKernels runs the steps of kind, for both element types, on a
// parameter of length n at alignment offset off in every supported set and
// compares with generic.
func fuzzKernels(t *testing.T, kind Kind, n, off int, data []byte, s32 []fuzzStep[float32], s64 []fuzzStep[float64]) {
	fuzzKernelsT(t, kind, n, off, data, s32)
	fuzzKernelsT(t, kind, n, off, data, s64)
}

func fuzzKernelsT[T Float](t *testing.T, kind Kind, n, off int, data []byte, steps []fuzzStep[T]) {
	in := &testvals.FuzzInput[T]{Data: data}
	used := [5]bool{true, true} // every slice some step reads or writes
	for _, st := range steps {
		u := generic.Rules()[kind].Uses(st.v)
		for k := range u {
			used[2+k] = used[2+k] || u[k]
		}
	}
	var start, want [5][]T
	for k := range start {
		if used[k] && k != 1 {
			start[k] = make([]T, n)
			in.Fill(start[k])
			want[k] = append([]T(nil), start[k]...)
		}
	}
	grads := make([][]T, len(steps))
	for s := range grads {
		grads[s] = make([]T, n)
		in.Fill(grads[s])
	}
	ref := Kernel[T](Generic(), kind)
	for s, st := range steps {
		ref(st.v, &st.c, want[0], grads[s], want[2], want[3], want[4])
	}
	var bufs [5]*guardedBuf[T]
	for k := range bufs {
		bufs[k] = newGuardedBuf[T](k, n+16)
	}
	for _, set := range append(testedSets(t), Generic()) {
		var args [5][]T
		var offs [5]int
		for k := range args {
			if used[k] && k != 1 {
				offs[k] = (off + 5*k) % 16
				args[k] = bufs[k].place(offs[k], n)
				copy(args[k], start[k])
			}
		}
		kernel := Kernel[T](set, kind)
		for s, st := range steps {
			offs[1] = (off + s) % 16
			args[1] = bufs[1].place(offs[1], n)
			copy(args[1], grads[s])
			kernel(st.v, &st.c, args[0], args[1], args[2], args[3], args[4])
			if i := firstDiff(args[1], grads[s]); i >= 0 {
				t.Fatalf("%s %s: kernel wrote g[%d]", set.name, dtypeName[T](), i)
			}
		}
		for k := range args {
			if !used[k] {
				continue
			}
			if err := bufs[k].check(offs[k], n); err != nil {
				t.Fatalf("%s %s: %v", set.name, dtypeName[T](), err)
			}
			if k != 1 {
				if i := firstDiff(args[k], want[k]); i >= 0 {
					t.Fatalf("%s %s %v %s[%d] = %#x, generic gives %#x (offset %d, %d steps)",
						set.name, dtypeName[T](), kind, streamNames[k], i, rawBits(args[k][i]), rawBits(want[k][i]), offs[k], len(steps))
				}
			}
		}
	}
}

// coeffsFunc returns the coefficients of 1-based step number step.
type coeffsFunc[T Float] func(step int64) (Coeffs[T], Variant)

// realisticCase is a seed of FuzzRules stated with a rule's coefficient
// function: a run with torch's defaults, with common options, or with
// extreme hyperparameters.
type realisticCase[T Float] struct {
	kind       Kind
	n          uint16
	off, steps uint8 // as FuzzRules takes them
	data       []byte
	coeffs     coeffsFunc[T]
}

// run returns the case's steps.
func (rc realisticCase[T]) run() []fuzzStep[T] {
	out := make([]fuzzStep[T], 1+rc.steps%4)
	for s := range out {
		out[s].c, out[s].v = rc.coeffs(int64(s + 1))
	}
	return out
}

// withScalars returns the coefficient function of a rule with scalar state
// (NAdam, ASGD): the coefficients of step number step come from the state
// that steps 1 to step-1 left, replayed once from init.
func withScalars[T Float](init generic.Scalars, f func(step int64, sc generic.Scalars) (Coeffs[T], Variant, generic.Scalars)) coeffsFunc[T] {
	states := []generic.Scalars{init} // states[s]: what steps 1 to s left
	return func(step int64) (Coeffs[T], Variant) {
		for int64(len(states)) < step {
			_, _, next := f(int64(len(states)), states[len(states)-1])
			states = append(states, next)
		}
		c, v, _ := f(step, states[step-1])
		return c, v
	}
}

// from shifts f's steps: step s of the result is step first+s of f, so
// that the steps whose coefficients change with the step number (bias
// corrections, RAdam's rectification from about step 6 on, NAdam's
// momentum schedule) are reached too.
func (f coeffsFunc[T]) from(first int64) coeffsFunc[T] {
	return func(step int64) (Coeffs[T], Variant) { return f(first + step) }
}

// realisticCases are the seeds of FuzzRules that a rule's coefficient
// function makes, for element type T.
func realisticCases[T Float]() []realisticCase[T] {
	seed := testvals.FuzzSeed()
	sgd := func(lr, momentum, dampening, wd float64, nesterov, maximize bool) coeffsFunc[T] {
		return func(step int64) (Coeffs[T], Variant) {
			return generic.SGDCoeffs[T](lr, momentum, dampening, wd, nesterov, maximize, step == 1)
		}
	}
	adagrad := func(lr, lrDecay, wd, eps float64, maximize bool) coeffsFunc[T] {
		return func(step int64) (Coeffs[T], Variant) {
			return generic.AdagradCoeffs[T](lr, lrDecay, wd, eps, maximize, step)
		}
	}
	rmsprop := func(lr, alpha, eps, wd, momentum float64, centered, maximize bool) coeffsFunc[T] {
		return func(int64) (Coeffs[T], Variant) {
			return generic.RMSPropCoeffs[T](lr, alpha, eps, wd, momentum, centered, maximize)
		}
	}
	adam := func(lr, beta1, beta2, eps, wd float64, amsgrad, decoupled, maximize bool) coeffsFunc[T] {
		return func(step int64) (Coeffs[T], Variant) {
			return generic.AdamCoeffs[T](lr, beta1, beta2, eps, wd, amsgrad, decoupled, maximize, step)
		}
	}
	nadam := func(lr, beta1, beta2, eps, wd, momentumDecay float64, decoupled, maximize bool, first int64) coeffsFunc[T] {
		return withScalars(generic.Scalars{1}, func(step int64, sc generic.Scalars) (Coeffs[T], Variant, generic.Scalars) {
			return generic.NAdamCoeffs[T](lr, beta1, beta2, eps, wd, momentumDecay, decoupled, maximize, step, sc)
		}).from(first)
	}
	radam := func(lr, beta1, beta2, eps, wd float64, decoupled, maximize bool, first int64) coeffsFunc[T] {
		return func(step int64) (Coeffs[T], Variant) {
			return generic.RAdamCoeffs[T](lr, beta1, beta2, eps, wd, decoupled, maximize, first+step)
		}
	}
	adamax := func(lr, beta1, beta2, eps, wd float64, maximize bool, first int64) coeffsFunc[T] {
		return func(step int64) (Coeffs[T], Variant) {
			return generic.AdamaxCoeffs[T](lr, beta1, beta2, eps, wd, maximize, first+step)
		}
	}
	adadelta := func(lr, rho, eps, wd float64, maximize bool) coeffsFunc[T] {
		return func(int64) (Coeffs[T], Variant) { return generic.AdadeltaCoeffs[T](lr, rho, eps, wd, maximize) }
	}
	rprop := func(lr, etaMinus, etaPlus, stepMin, stepMax float64, maximize bool) coeffsFunc[T] {
		return func(step int64) (Coeffs[T], Variant) {
			return generic.RpropCoeffs[T](lr, etaMinus, etaPlus, stepMin, stepMax, maximize, step == 1)
		}
	}
	asgd := func(lr, lambd, alpha, t0, wd float64, maximize bool) coeffsFunc[T] {
		return withScalars(generic.ASGDInit(lr), func(step int64, sc generic.Scalars) (Coeffs[T], Variant, generic.Scalars) {
			return generic.ASGDCoeffs[T](lr, lambd, alpha, t0, wd, maximize, step, sc)
		})
	}
	lion := func(lr, beta1, beta2, wd float64, maximize bool) coeffsFunc[T] {
		return func(int64) (Coeffs[T], Variant) { return generic.LionCoeffs[T](lr, beta1, beta2, wd, maximize) }
	}
	short := []byte{0x01, 0x00, 0x80}
	high := []byte{0xff, 0x7f}
	nan, inf := math.NaN(), math.Inf(1)
	return []realisticCase[T]{
		{KindSGD, 17, 3, 2, seed, sgd(1e-3, 0, 0, 0, false, false)},
		{KindSGD, 300, 15, 3, seed, sgd(0.1, 0.9, 0, 0.01, true, false)},
		{KindSGD, 33, 1, 3, seed[7:], sgd(0.5, 0.9, 0.5, 1e-4, false, true)},
		{KindSGD, 8, 0, 1, seed, sgd(nan, 0.5, 0, 0, false, false)},
		{KindSGD, 0, 0, 1, []byte{}, sgd(1e300, 0.5, 1, 1e300, false, true)},

		{KindAdagrad, 17, 3, 3, seed, adagrad(1e-2, 0, 0, 1e-10, false)},
		{KindAdagrad, 300, 9, 3, seed[3:], adagrad(0.1, 0.01, 0.1, 1e-8, true)},
		{KindAdagrad, 64, 4, 2, high, adagrad(1e300, 1e300, 1e300, 0, false)},

		{KindRMSProp, 17, 3, 3, seed, rmsprop(1e-2, 0.99, 1e-8, 0, 0, false, false)},
		{KindRMSProp, 300, 11, 3, seed[5:], rmsprop(1e-2, 0.3, 1e-8, 0.1, 0.9, true, true)},
		{KindRMSProp, 100, 2, 2, seed, rmsprop(1e-2, 0.99, 1e-8, 0, 0.5, true, false)},

		{KindAdam, 17, 3, 3, seed, adam(1e-3, 0.9, 0.999, 1e-8, 0, false, false, false)},
		{KindAdam, 300, 13, 3, seed[1:], adam(1e-3, 0.9, 0.999, 1e-8, 1e-2, true, true, false)},
		{KindAdam, 129, 7, 3, seed, adam(0.5, 0.25, 0.5, 0, 0.5, true, false, true)},
		{KindAdam, 31, 1, 3, short, adam(1e300, 0, 0, 1e300, 1e300, true, true, true)},

		{KindNAdam, 17, 3, 3, seed, nadam(2e-3, 0.9, 0.999, 1e-8, 0, 4e-3, false, false, 0)},
		{KindNAdam, 300, 13, 3, seed[1:], nadam(2e-3, 0.9, 0.999, 1e-8, 1e-2, 4e-3, true, true, 40)},
		{KindNAdam, 129, 7, 2, seed, nadam(0.5, 0.25, 0.5, 0, 0.5, 0.5, false, false, 7)},
		{KindNAdam, 31, 1, 3, short, nadam(1e300, 0, 0, 1e300, 1e300, 1e300, true, true, 1)},

		{KindRAdam, 17, 3, 3, seed, radam(1e-3, 0.9, 0.999, 1e-8, 0, false, false, 0)},
		{KindRAdam, 300, 13, 3, seed[1:], radam(1e-3, 0.9, 0.999, 1e-8, 1e-2, true, true, 4)},
		{KindRAdam, 129, 7, 3, seed, radam(0.5, 0.25, 0.9, 0, 0.5, false, false, 30)},
		{KindRAdam, 31, 1, 3, short, radam(1e300, 0, 0, 1e300, 1e300, true, true, 2)},

		{KindAdamax, 17, 3, 3, seed, adamax(2e-3, 0.9, 0.999, 1e-8, 0, false, 0)},
		{KindAdamax, 300, 13, 3, seed[1:], adamax(2e-3, 0.3, 0.999, 1e-8, 1e-2, true, 9)},
		{KindAdamax, 31, 1, 3, short, adamax(1e300, 0, 0, 1e300, 1e300, true, 1)},

		{KindAdadelta, 17, 3, 3, seed, adadelta(1, 0.9, 1e-6, 0, false)},
		{KindAdadelta, 300, 9, 3, seed[3:], adadelta(0.5, 0.3, 1e-6, 1e-2, true)},
		{KindAdadelta, 64, 4, 2, high, adadelta(1e300, 1e300, 0, 1e300, false)},

		{KindRprop, 17, 3, 3, seed, rprop(1e-2, 0.5, 1.2, 1e-6, 50, false)},
		{KindRprop, 300, 11, 3, seed[5:], rprop(1e-2, 0.5, 1.2, 1e-6, 50, true)},
		{KindRprop, 100, 2, 2, seed, rprop(0.5, 0.25, 2, 0, 1, false)},
		{KindRprop, 33, 1, 3, short, rprop(nan, 0, inf, nan, 0, true)},

		{KindASGD, 17, 3, 3, seed, asgd(1e-2, 1e-4, 0.75, 1e6, 0, false)},
		{KindASGD, 300, 11, 3, seed[5:], asgd(1e-2, 1e-4, 0.75, 1, 1e-2, true)},
		{KindASGD, 100, 2, 4, seed, asgd(0.5, 0.5, 0.5, 0, 0.5, false)},
		{KindASGD, 64, 4, 2, high, asgd(1e300, 1e300, 1e300, nan, 1e300, true)},

		{KindLion, 17, 3, 3, seed, lion(1e-4, 0.9, 0.99, 0, false)},
		{KindLion, 300, 13, 3, seed[1:], lion(1e-4, 0.9, 0.99, 1e-2, true)},
		{KindLion, 31, 1, 3, short, lion(1e300, 0, 1e300, 1e300, true)},
	}
}

// TestFuzzStepEncoding checks that decodeSteps gives back every realistic
// case that encodeSteps encoded: its variants, its Sign and the bits of
// every coefficient its programs read, so that the seeds of FuzzRules are
// the runs the coefficient functions make.
func TestFuzzStepEncoding(t *testing.T) {
	testStepEncoding[float32](t)
	testStepEncoding[float64](t)
}

func testStepEncoding[T Float](t *testing.T) {
	for i, rc := range realisticCases[T]() {
		want := rc.run()
		variants, coeffs, err := encodeSteps(rc.kind, want)
		if err != nil {
			t.Fatalf("%s case %d: %v", dtypeName[T](), i, err)
		}
		got := decodeSteps[T](rc.kind, len(want), variants, coeffs)
		for s := range want {
			if got[s].v != want[s].v || rawBits(got[s].c.Sign) != rawBits(want[s].c.Sign) {
				t.Errorf("%s case %d step %d: variant %s sign %v, want %s %v", dtypeName[T](), i, s,
					variantName(got[s].v), got[s].c.Sign, variantName(want[s].v), want[s].c.Sign)
			}
			g, w := coeffFields(&got[s].c), coeffFields(&want[s].c)
			for _, f := range readCoeffs(rc.kind, want[s].v) {
				if rawBits(g[f]) != rawBits(w[f]) {
					t.Errorf("%s case %d step %d: %s = %#x, want %#x", dtypeName[T](), i, s, ir.CoeffNames()[f], rawBits(g[f]), rawBits(w[f]))
				}
			}
		}
	}
}

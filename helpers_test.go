package optim

import (
	"bytes"
	"math"
	"reflect"
	"unsafe"

	"github.com/simdoptim/optim/internal/testvals"
	"github.com/simdoptim/optim/kernels"
)

// Helpers shared by this package's tests: the element type of the public
// API, bit comparison with canonical NaNs, special values, and the rule
// behind a pointer. Kernel equivalence is tested in package kernels.

// testFloat is the element type of the public API.
type testFloat interface{ float32 | float64 }

// canonicalNaN replaces every NaN (any sign, any payload) when comparing:
// the specification fixes the bits of every non-NaN result but not NaN
// payloads.
const canonicalNaN = 0x7ff8_0000_0000_0000

// bits returns x's bit pattern, widened to 64 bits, with NaNs canonicalized.
func bits[T testFloat](x T) uint64 {
	if x != x {
		return canonicalNaN
	}
	return rawBits(x)
}

// rawBits returns x's exact bit pattern, NaN payload included.
func rawBits[T testFloat](x T) uint64 {
	if unsafe.Sizeof(x) == 4 {
		return uint64(math.Float32bits(float32(x)))
	}
	return math.Float64bits(float64(x))
}

// firstDiff returns the first index where got and want differ in
// canonicalized bits, or -1.
func firstDiff[T testFloat](got, want []T) int {
	if len(got) != len(want) {
		return min(len(got), len(want))
	}
	if bytes.Equal(asBytes(got), asBytes(want)) {
		return -1 // the common case, without a per-element loop (slow under -race)
	}
	for i := range got {
		if bits(got[i]) != bits(want[i]) {
			return i
		}
	}
	return -1
}

// asBytes views s's memory as bytes.
func asBytes[T testFloat](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(s[0])))
}

func dtypeName[T testFloat]() string {
	var zero T
	if unsafe.Sizeof(zero) == 4 {
		return "float32"
	}
	return "float64"
}

// specialValues are values that every update must carry through exactly as
// generic does: zeros, infinities, NaNs with payloads, subnormals, the
// extremes of the normal range, and values near 1.
func specialValues[T testFloat]() []T { return testvals.Specials[T]() }

func supportedNames() []string {
	var out []string
	for _, s := range SupportedSets() {
		out = append(out, s.Name())
	}
	return out
}

func ruleKind(r Rule) kernels.Kind { return derefRule(r).kind() }

// derefRule returns the value behind a pointer rule.
func derefRule(r Rule) Rule {
	if v := reflect.ValueOf(r); v.Kind() == reflect.Pointer && !v.IsNil() {
		return v.Elem().Interface().(Rule)
	}
	return r
}

// stateSlices returns every slice field of st, in a fixed order.
func stateSlices[T testFloat](st State[T]) [][]T {
	return [][]T{st.MomentumBuffer, st.Sum, st.SquareAvg, st.GradAvg, st.ExpAvg, st.ExpAvgSq, st.MaxExpAvgSq,
		st.ExpInf, st.AccDelta, st.Prev, st.StepSize, st.AX}
}

package optim

import (
	"bytes"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"unicode"
	"unsafe"

	"github.com/simdoptim/optim/internal/testvals"
)

// Helpers shared by this package's tests: the element type of the public
// API, bit comparison with canonical NaNs, special values, and the fields of
// a State. Kernel equivalence is tested in package kernels.

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
func asBytes[T testFloat | BFloat16 | Float16](s []T) []byte {
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

// stateByKey maps the torch state-dict key of every slice field of st to
// the field. The key is the field's name in snake case (ExpAvgSq:
// exp_avg_sq), as torch names the state.
func stateByKey[T testFloat](st *State[T]) map[string]*[]T { return fieldsByKey[*[]T](st) }

// scalarByKey maps the torch state-dict key of every scalar field of st
// (MuProduct: mu_product) to the field.
func scalarByKey[T testFloat](st *State[T]) map[string]*float32 { return fieldsByKey[*float32](st) }

// fieldsByKey maps the snake-case names of the fields of *st whose
// pointers are P to those pointers.
func fieldsByKey[P any, T testFloat](st *State[T]) map[string]P {
	out := map[string]P{}
	v := reflect.ValueOf(st).Elem()
	for i := range v.NumField() {
		if p, ok := v.Field(i).Addr().Interface().(P); ok {
			out[snakeCase(v.Type().Field(i).Name)] = p
		}
	}
	return out
}

// snakeCase writes a Go name as torch writes its keys: ExpAvgSq is
// exp_avg_sq, AX is ax.
func snakeCase(name string) string {
	var b strings.Builder
	for i, r := range name {
		if i > 0 && unicode.IsUpper(r) && unicode.IsLower(rune(name[i-1])) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// stateSlices returns every slice field of st, in the order of their keys.
func stateSlices[T testFloat](st State[T]) [][]T {
	fields := stateByKey(&st)
	var out [][]T
	for _, key := range slices.Sorted(maps.Keys(fields)) {
		out = append(out, *fields[key])
	}
	return out
}

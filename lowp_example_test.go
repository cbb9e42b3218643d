package optim_test

import (
	"fmt"
	"math"

	"github.com/simdoptim/optim"
)

// Bfloat16 and float16 values are stored as their bits; conversions round
// to nearest even and widen exactly, with torch's bits, and every NaN
// narrows to one canonical NaN.
func ExampleBFloat16From() {
	b := optim.BFloat16From(3.14159)
	h := optim.Float16From(3.14159)
	fmt.Printf("bfloat16 %#04x = %v, float16 %#04x = %v\n", uint16(b), b.Float32(), uint16(h), h.Float32())
	fmt.Printf("65520 in float16: %v; -NaN: %#04x %#04x\n", optim.Float16From(65520).Float32(),
		uint16(optim.BFloat16From(float32(math.Copysign(math.NaN(), -1)))), uint16(optim.Float16From(float32(math.NaN()))))

	// Whole slices, with the kernel set in use.
	params := []float32{1, 0.1, -2.5e-8, 70000}
	stored := make([]optim.BFloat16, len(params))
	if err := optim.NarrowBFloat16(stored, params); err != nil {
		panic(err)
	}
	back := make([]float32, len(stored))
	if err := optim.WidenBFloat16(back, stored); err != nil {
		panic(err)
	}
	fmt.Println(back)
	// Output:
	// bfloat16 0x4049 = 3.140625, float16 0x4248 = 3.140625
	// 65520 in float16: +Inf; -NaN: 0x7fc0 0x7e00
	// [1 0.100097656 -2.5029294e-08 70144]
}

package detmath

import (
	"math"
	"testing"
)

var (
	inf  = math.Inf(1)
	nan  = math.NaN()
	negZ = math.Copysign(0, -1)
)

// same reports whether a and b are the same value: NaN equals NaN, and +0
// differs from -0.
func same(a, b float64) bool {
	if a != a || b != b {
		return a != a && b != b
	}
	return a == b && math.Signbit(a) == math.Signbit(b)
}

func TestSpecialValues(t *testing.T) {
	one := []struct {
		name string
		f    func(float64) float64
		x    float64
		want float64
	}{
		{"Cos", Cos, 0, 1}, {"Cos", Cos, negZ, 1}, {"Cos", Cos, inf, nan},
		{"Cos", Cos, -inf, nan}, {"Cos", Cos, nan, nan},
		{"Sin", Sin, 0, 0}, {"Sin", Sin, negZ, negZ}, {"Sin", Sin, inf, nan},
		{"Sin", Sin, -inf, nan}, {"Sin", Sin, nan, nan},
		{"Sin", Sin, 0x1p-1074, 0x1p-1074}, {"Sin", Sin, -0x1p-1074, -0x1p-1074},
		{"Exp", Exp, 0, 1}, {"Exp", Exp, negZ, 1}, {"Exp", Exp, inf, inf},
		{"Exp", Exp, -inf, 0}, {"Exp", Exp, nan, nan}, {"Exp", Exp, 710, inf},
		{"Exp", Exp, 709.79, inf}, {"Exp", Exp, -746, 0}, {"Exp", Exp, -745.2, 0},
		{"Exp", Exp, -745.1, 0x1p-1074}, {"Exp", Exp, 1, math.E},
		{"Exp", Exp, 709.78, 1.7928227943945155e308},
		{"Log", Log, 1, 0}, {"Log", Log, 0, -inf}, {"Log", Log, negZ, -inf},
		{"Log", Log, -1, nan}, {"Log", Log, -inf, nan}, {"Log", Log, inf, inf},
		{"Log", Log, nan, nan}, {"Log", Log, math.E, 1}, {"Log", Log, 2, math.Ln2},
		{"Log", Log, 0x1p-1074, -744.4400719213812},
		{"Log", Log, math.MaxFloat64, 709.782712893384},
	}
	for _, c := range one {
		if got := c.f(c.x); !same(got, c.want) {
			t.Errorf("%s(%v) = %v, want %v", c.name, c.x, got, c.want)
		}
	}

	// Pow: every case math.Pow documents, in its order.
	pow := []struct{ x, y, want float64 }{
		{3, 0, 1}, {nan, 0, 1}, {-inf, negZ, 1}, // Pow(x, ±0) = 1
		{1, nan, 1}, {1, inf, 1}, {1, -3.5, 1}, // Pow(1, y) = 1
		{-7.5, 1, -7.5}, {nan, 1, nan}, {negZ, 1, negZ}, // Pow(x, 1) = x
		{nan, 2, nan}, {2, nan, nan}, // NaN
		{0, -3, inf}, {negZ, -3, -inf}, // Pow(±0, odd y < 0)
		{0, -inf, inf}, {negZ, -inf, inf}, // Pow(±0, -Inf)
		{0, inf, 0}, {negZ, inf, 0}, // Pow(±0, +Inf)
		{0, -2, inf}, {negZ, -2, inf}, {negZ, -0.5, inf}, {negZ, -0x1p60, inf},
		{0, 3, 0}, {negZ, 3, negZ}, // Pow(±0, odd y > 0)
		{0, 2, 0}, {negZ, 2, 0}, {negZ, 0.5, 0}, {negZ, 0x1p60, 0},
		{-1, inf, 1}, {-1, -inf, 1},
		{1.5, inf, inf}, {-1.5, inf, inf},
		{1.5, -inf, 0}, {-1.5, -inf, 0},
		{0.5, inf, 0}, {-0.5, inf, 0},
		{0.5, -inf, inf}, {-0.5, -inf, inf},
		{inf, 0.5, inf}, {inf, -0.5, 0},
		{-inf, 3, -inf}, {-inf, 2, inf}, {-inf, 0.5, inf}, // Pow(-0, -y)
		{-inf, -3, negZ}, {-inf, -2, 0}, {-inf, -0.5, 0},
		{-2, 0.5, nan}, {-2, -1.5, nan}, // negative x, non-integer y
		// Negative x, integer y; large and tiny results.
		{-2, 3, -8}, {-2, 2, 4}, {-2, -1, -0.5}, {-1, 0x1p64 + 2, 1}, {-1, 0x1p53 - 1, -1},
		{2, 1023, 0x1p1023}, {2, 1024, inf}, {2, -1074, 0x1p-1074}, {2, -1075, 0},
		{-2, 1025, -inf}, {-2, -1075, negZ}, {10, 308, 1e308}, {10, 400, inf},
		{1 + 0x1p-52, 0x1p70, inf}, {1 + 0x1p-52, -0x1p70, 0},
		{1 - 0x1p-53, 0x1p70, 0}, {1 - 0x1p-53, -0x1p70, inf},
		{4, 0.5, 2}, {4, -0.5, 0.5}, {0.96, 0, 1},
	}
	for _, c := range pow {
		if got := Pow(c.x, c.y); !same(got, c.want) {
			t.Errorf("Pow(%v, %v) = %v, want %v", c.x, c.y, got, c.want)
		}
	}
}

// TestAgainstMathSpecials checks every combination of awkward arguments
// against math for the cases where math's answer is exact (NaN, ±Inf, ±0,
// ±1): they must agree bit for bit.
func TestAgainstMathSpecials(t *testing.T) {
	vals := []float64{nan, inf, -inf, 0, negZ, 1, -1, 2, -2, 0.5, -0.5, 3, -3,
		0x1p-1074, -0x1p-1074, math.MaxFloat64, -math.MaxFloat64, 0x1p53, -0x1p53,
		0x1p53 + 2, 1e300, -1e300, 2.5, -2.5}
	exact := func(v float64) bool {
		return v != v || math.IsInf(v, 0) || v == 0 || math.Abs(v) == 1
	}
	for _, x := range vals {
		for _, y := range vals {
			if want := math.Pow(x, y); exact(want) {
				if got := Pow(x, y); !same(got, want) {
					t.Errorf("Pow(%v, %v) = %v, math.Pow %v", x, y, got, want)
				}
			}
		}
		for _, f := range []struct {
			name string
			f, m func(float64) float64
		}{{"Cos", Cos, math.Cos}, {"Sin", Sin, math.Sin}, {"Exp", Exp, math.Exp}, {"Log", Log, math.Log}} {
			if want := f.m(x); exact(want) {
				if got := f.f(x); !same(got, want) {
					t.Errorf("%s(%v) = %v, math: %v", f.name, x, got, want)
				}
			}
		}
	}
}

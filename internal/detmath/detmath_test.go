package detmath

import (
	"math"
	"math/big"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// rng is splitmix64: a fixed, architecture-independent argument stream.
type rng uint64

func (r *rng) next() uint64 {
	*r += 0x9e3779b97f4a7c15
	z := uint64(*r)
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// unit returns a uniform float64 in [0, 1).
func (r *rng) unit() float64 { return float64(r.next()>>11) * 0x1p-53 }

// in returns a uniform float64 in [a, b].
func (r *rng) in(a, b float64) float64 { return a + float64((b-a)*r.unit()) }

// logUniform returns a float64 whose magnitude is log-uniform in
// [2^lo, 2^hi], with random mantissa bits.
func (r *rng) logUniform(lo, hi int) float64 {
	e := lo + int(r.next()%uint64(hi-lo))
	return math.Ldexp(1+r.unit(), e)
}

// An argument set: a name and a generator for one argument pair (the second
// is ignored by the one-argument functions).
type argSet struct {
	name string
	gen  func(r *rng) (x, y float64)
}

func one(f func(r *rng) float64) func(r *rng) (float64, float64) {
	return func(r *rng) (float64, float64) { return f(r), 0 }
}

var (
	trigArgs = []argSet{
		{"[0,π]", one(func(r *rng) float64 { return r.in(0, math.Pi) })},
		{"[-2^20π,2^20π]", one(func(r *rng) float64 { return r.in(-0x1p20*math.Pi, 0x1p20*math.Pi) })},
		{"|x| log-uniform 2^-30..2^1023", one(func(r *rng) float64 {
			return math.Copysign(r.logUniform(-30, 1023), r.in(-1, 1))
		})},
		// Where the reduction cancels most: the float64s nearest k·π/2.
		{"k·π/2 ± 4 ulp, k < 2^22", one(func(r *rng) float64 {
			x := float64(float64(r.next()%(1<<22)) * (math.Pi / 2))
			return math.Float64frombits(math.Float64bits(x) + r.next()%9 - 4)
		})},
	}
	expArgs = []argSet{
		{"[-745.2,709.8]", one(func(r *rng) float64 { return r.in(-745.2, 709.8) })},
		{"[-1,1]", one(func(r *rng) float64 { return r.in(-1, 1) })},
		{"[-745.2,-708.3] (subnormal results)", one(func(r *rng) float64 { return r.in(-745.2, -708.3) })},
		{"|x| log-uniform 2^-60..2^0", one(func(r *rng) float64 {
			return math.Copysign(r.logUniform(-60, 0), r.in(-1, 1))
		})},
	}
	logArgs = []argSet{
		{"any positive float64", one(func(r *rng) float64 {
			return math.Float64frombits(r.next()%0x7ff0000000000000 + 1)
		})},
		{"(0,1e300]", one(func(r *rng) float64 { return r.in(0x1p-1074, 1e300) })},
		{"1±2^-10", one(func(r *rng) float64 { return 1 + r.in(-0x1p-10, 0x1p-10) })},
		{"1+k·2^-53, |k|<2^20", one(func(r *rng) float64 {
			return 1 + float64(float64(int64(r.next()%(1<<21))-1<<20)*0x1p-53)
		})},
	}
	powArgs = []argSet{
		{"x(0,2] y[-1e6,1e6]", func(r *rng) (float64, float64) {
			return r.in(0x1p-1074, 2), r.in(-1e6, 1e6)
		}},
		{"x(0,2] y[-1e6,1e6] |y·ln x|<=745", func(r *rng) (float64, float64) {
			x := r.in(0x1p-1074, 2)
			l := math.Abs(Log(x)) // only shapes the arguments: not math.Log, whose bits vary
			m := math.Min(1e6, 745/l)
			return x, r.in(-m, m)
		}},
		{"x(0,2] y integer |y|<=64", func(r *rng) (float64, float64) {
			return r.in(0x1p-1074, 2), float64(int64(r.next()%129) - 64)
		}},
		{"x(0,2] y half-integer |y|<=64", func(r *rng) (float64, float64) {
			return r.in(0x1p-1074, 2), float64(int64(r.next()%129)-64) + 0.5
		}},
		{"0.96^(t·0.004) t<=1e7", func(r *rng) (float64, float64) {
			return 0.96, float64(float64(r.next()%10_000_001) * 0.004)
		}},
		// NAdam's μ_t with other momentum decays ψ.
		{"0.96^(t·ψ) ψ[0,0.1] t<=1e6", func(r *rng) (float64, float64) {
			return 0.96, float64(float64(r.next()%1_000_001) * r.in(0, 0.1))
		}},
		// ASGD's (1 + λ·lr·t)^α, λ·lr log-uniform 2^-30..2^-5, α in (0, 1].
		{"(1+λ·lr·t)^α t<=1e7", func(r *rng) (float64, float64) {
			t := float64(r.next()%10_000_001 + 1)
			return 1 + float64(r.logUniform(-30, -5)*t), r.in(0x1p-10, 1)
		}},
		{"x log-uniform 2^-1074..2^1023 |y·ln x|<=745", func(r *rng) (float64, float64) {
			x := r.logUniform(-1074, 1023)
			l := math.Abs(Log(x))
			return x, r.in(-745/l, 745/l)
		}},
	}
)

// sweepSize is the number of arguments per argument set in the accuracy
// test. The default keeps `go test` to a few seconds (and -short or qemu to
// well under one); DETMATH_SWEEP=n runs the large sweep, e.g.
// DETMATH_SWEEP=100000 for 300,000 to 600,000 arguments per function.
func sweepSize() int {
	if s := os.Getenv("DETMATH_SWEEP"); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			return n
		}
	}
	switch {
	case testing.Short() || runtime.GOARCH != "amd64":
		return 300
	}
	return 2000
}

type fn struct {
	name string
	f    func(x, y float64) float64
	ref  func(x, y float64) *big.Float
	args []argSet
}

var fns = []fn{
	{"Cos", func(x, _ float64) float64 { return Cos(x) },
		func(x, _ float64) *big.Float { _, c := bigSinCos(x); return c }, trigArgs},
	{"Sin", func(x, _ float64) float64 { return Sin(x) },
		func(x, _ float64) *big.Float { s, _ := bigSinCos(x); return s }, trigArgs},
	{"Exp", func(x, _ float64) float64 { return Exp(x) },
		func(x, _ float64) *big.Float { return bigExp(bf(x)) }, expArgs},
	{"Log", func(x, _ float64) float64 { return Log(x) },
		func(x, _ float64) *big.Float { return bigLog(bf(x)) }, logArgs},
	{"Pow", Pow,
		func(x, y float64) *big.Float { return bigExp(newF(refPrec+64).Mul(bf(y), bigLog(bf(x)))) }, powArgs},
}

// TestAccuracy fails on an error of 1 ulp or more and logs, per argument
// set, the largest error and how many results were not the correctly
// rounded one (error above 1/2 ulp).
func TestAccuracy(t *testing.T) {
	n := sweepSize()
	for _, f := range fns {
		t.Run(f.name, func(t *testing.T) {
			worst, total, misrounded := 0.0, 0, 0
			for si, set := range f.args {
				r := rng(1000 + si)
				setWorst, wx, wy, setMis := 0.0, 0.0, 0.0, 0
				for i := 0; i < n; i++ {
					x, y := set.gen(&r)
					e := ulpErr(f.f(x, y), f.ref(x, y))
					if e > 0.5 {
						setMis++
					}
					if e > setWorst {
						setWorst, wx, wy = e, x, y
					}
				}
				t.Logf("%-42s %d args: max error %.6f ulp at (%v, %v), %d not correctly rounded",
					set.name, n, setWorst, wx, wy, setMis)
				if setWorst >= 1 {
					t.Errorf("%s(%v, %v): error %.6f ulp", f.name, wx, wy, setWorst)
				}
				worst = math.Max(worst, setWorst)
				total += n
				misrounded += setMis
			}
			t.Logf("%s: %d args, max error %.6f ulp, %d not correctly rounded", f.name, total, worst, misrounded)
		})
	}
}

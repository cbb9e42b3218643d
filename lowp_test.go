package optim

import (
	"encoding/json"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/simdoptim/optim/kernels"
)

// lowpGolden is a file of testdata/torch-lowp/conversions*.json.gz: float32
// inputs (bits) and torch's bfloat16 and float16 results (bits).
type lowpGolden struct {
	Torch    string   `json:"torch"`
	Input    []uint32 `json:"input"`
	BFloat16 []uint16 `json:"bfloat16"`
	Float16  []uint16 `json:"float16"`
}

// TestTorchLowpConversions replays every conversions file of
// testdata/torch-lowp, as a subtest named after the file, through the
// scalar conversions and the bulk ones of every supported kernel set:
// every output must have torch's bits, except that a NaN output is
// compared by NaN-ness only (torch gives 0xFFFF or 0x7FC0 for bfloat16,
// and keeps the sign for float16) and must be the canonical NaN. Each
// output also widens back exactly: narrowing it again gives its bits.
func TestTorchLowpConversions(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "torch-lowp", "conversions*.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/torch-lowp/conversions*.json.gz")
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".json.gz"), func(t *testing.T) {
			var g lowpGolden
			if err := json.Unmarshal(readGzip(t, path), &g); err != nil {
				t.Fatal(err)
			}
			n := len(g.Input)
			if n == 0 || len(g.BFloat16) != n || len(g.Float16) != n {
				t.Fatalf("%d inputs, %d bfloat16, %d float16", n, len(g.BFloat16), len(g.Float16))
			}
			x := make([]float32, n)
			for i, b := range g.Input {
				x[i] = math.Float32frombits(b)
			}
			var nans int
			for i := range x {
				if x[i] != x[i] {
					nans++
				}
				checkBF16(t, "BFloat16From", g.Input[i], BFloat16From(x[i]), BFloat16(g.BFloat16[i]))
				checkF16(t, "Float16From", g.Input[i], Float16From(x[i]), Float16(g.Float16[i]))
			}
			for _, s := range SupportedSets() {
				bf := make([]uint16, n)
				half := make([]uint16, n)
				if err := kernels.NarrowBF16(s, bf, x); err != nil {
					t.Fatal(err)
				}
				if err := kernels.NarrowF16(s, half, x); err != nil {
					t.Fatal(err)
				}
				for i := range x {
					checkBF16(t, kernels.ConvKernels(s)+" NarrowBF16", g.Input[i], BFloat16(bf[i]), BFloat16(g.BFloat16[i]))
					checkF16(t, kernels.ConvKernels(s)+" NarrowF16", g.Input[i], Float16(half[i]), Float16(g.Float16[i]))
				}
				if t.Failed() {
					return
				}
			}
			t.Logf("%d inputs from torch %s (%d NaNs), through %d kernel sets", n, g.Torch, nans, len(SupportedSets()))
		})
	}
}

func checkBF16(t *testing.T, what string, in uint32, got, want BFloat16) {
	t.Helper()
	switch {
	case want.IsNaN():
		if got != BFloat16NaN {
			t.Fatalf("%s(%#08x) = %#04x, want the canonical NaN (torch: %#04x)", what, in, got, want)
		}
	case got != want:
		t.Fatalf("%s(%#08x) = %#04x, torch gives %#04x", what, in, got, want)
	case BFloat16From(got.Float32()) != got:
		t.Fatalf("bfloat16 %#04x does not widen exactly", got)
	}
}

func checkF16(t *testing.T, what string, in uint32, got, want Float16) {
	t.Helper()
	switch {
	case want.IsNaN():
		if got != Float16NaN {
			t.Fatalf("%s(%#08x) = %#04x, want the canonical NaN (torch: %#04x)", what, in, got, want)
		}
	case got != want:
		t.Fatalf("%s(%#08x) = %#04x, torch gives %#04x", what, in, got, want)
	case Float16From(got.Float32()) != got:
		t.Fatalf("float16 %#04x does not widen exactly", got)
	}
}

// TestLowpBulk: the bulk conversions agree with the scalar ones on every
// length around the kernels' units, and widening inverts narrowing.
func TestLowpBulk(t *testing.T) {
	for n := range 70 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(math.Ldexp(float64(i)-33.3, i%40-20))
		}
		bf, half := make([]BFloat16, n), make([]Float16, n)
		if err := NarrowBFloat16(bf, x); err != nil {
			t.Fatal(err)
		}
		if err := NarrowFloat16(half, x); err != nil {
			t.Fatal(err)
		}
		wb, wh := make([]float32, n), make([]float32, n)
		if err := WidenBFloat16(wb, bf); err != nil {
			t.Fatal(err)
		}
		if err := WidenFloat16(wh, half); err != nil {
			t.Fatal(err)
		}
		for i := range x {
			if bf[i] != BFloat16From(x[i]) || half[i] != Float16From(x[i]) {
				t.Fatalf("n=%d: element %d: %#04x, %#04x; scalar %#04x, %#04x", n, i, bf[i], half[i], BFloat16From(x[i]), Float16From(x[i]))
			}
			if wb[i] != bf[i].Float32() || math.Float32bits(wh[i]) != math.Float32bits(half[i].Float32()) {
				t.Fatalf("n=%d: element %d widens to %v, %v", n, i, wb[i], wh[i])
			}
		}
	}
}

// TestLowpErrors: unequal lengths are a *ShapeError and overlap an
// *OverlapError, before anything is written.
func TestLowpErrors(t *testing.T) {
	dst := []BFloat16{7, 7}
	err := NarrowBFloat16(dst, []float32{1})
	var se *ShapeError
	if !errors.As(err, &se) || se.Got != 1 || se.Want != 2 || err.Error() != "optim: NarrowBFloat16: src has length 1, dst has length 2" {
		t.Errorf("NarrowBFloat16 with unequal lengths: %v", err)
	}
	if dst[0] != 7 {
		t.Error("NarrowBFloat16 wrote before refusing")
	}
	if err := WidenFloat16(make([]float32, 3), make([]Float16, 4)); !errors.As(err, &se) {
		t.Errorf("WidenFloat16 with unequal lengths: %v", err)
	}
	buf := make([]float32, 8)
	half := unsafe.Slice((*Float16)(unsafe.Pointer(&buf[3])), 4)
	var oe *OverlapError
	if err := NarrowFloat16(half, buf[:4]); !errors.As(err, &oe) || err.Error() != "optim: NarrowFloat16: dst and src overlap in memory" {
		t.Errorf("NarrowFloat16 on overlapping slices: %v", err)
	}
	bf := unsafe.Slice((*BFloat16)(unsafe.Pointer(&buf[0])), 4)
	if err := WidenBFloat16(buf[1:5], bf); !errors.As(err, &oe) {
		t.Errorf("WidenBFloat16 on overlapping slices: %v", err)
	}
	if err := NarrowBFloat16(nil, nil); err != nil {
		t.Errorf("empty slices: %v", err)
	}
	if BFloat16NaN != 0x7FC0 || Float16NaN != 0x7E00 || !BFloat16NaN.IsNaN() || !Float16NaN.IsNaN() ||
		BFloat16(0x7F80).IsNaN() || Float16(0xFC00).IsNaN() {
		t.Error("canonical NaNs")
	}
}

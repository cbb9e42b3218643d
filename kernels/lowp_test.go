package kernels

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/cpufeat"
	"github.com/simdoptim/optim/internal/ir"
)

// convUnderTest is one conversion kernel to test: a path (a set, with or
// without an extension's form) that runs it.
type convUnderTest struct {
	name string // the path's name: "avx512", "avx512+bf16"
	path *convPath
}

// convKernelsUnderTest returns, for conversion kind, every distinct
// assembly kernel of every compiled set this CPU supports, each with a
// path that runs it. A path whose extension this CPU lacks is skipped, and
// logged: the tests run both forms where the CPU has the extension.
func convKernelsUnderTest(t *testing.T, kind ir.ConvKind) []convUnderTest {
	var out []convUnderTest
	seen := map[uintptr]bool{}
	for _, s := range archSets() {
		if !s.Supported() {
			t.Logf("this CPU does not support %s", s.name)
			continue
		}
		for _, p := range convPaths(s) {
			if p.k[kind] == nil {
				continue
			}
			if _, ext, ok := strings.Cut(p.name, "+"); ok {
				if e, known := extOf(ext); !known || !e.Supported() {
					t.Logf("this CPU lacks %s: %s not tested", ext, p.name)
					continue
				}
			}
			f := reflect.ValueOf(p.k[kind]).Pointer()
			if seen[f] {
				continue
			}
			seen[f] = true
			out = append(out, convUnderTest{p.name, &p})
		}
	}
	return out
}

// exhaustive reports whether the narrowing sweep covers all 2^32 float32
// inputs: natively on amd64, once per `make test`, in the plain native
// step. With -short or -race, under qemu (arm64 in CI), with OPTIM_ISA set
// (which these tests do not read) and at GOAMD64=v3 (which changes no
// assembly, and no floating-point operation of the integer reference) it
// samples (sampledInputs).
func exhaustive() bool {
	return runtime.GOARCH == "amd64" && !testing.Short() && !underRace && os.Getenv("OPTIM_ISA") == "" && !goamd64v3
}

// sampledInputs is the deterministic sample of float32 bit patterns that
// the narrowing sweep takes when it is not exhaustive: for both signs and
// every exponent field (0 to 255: zeros, subnormals, every binade,
// infinities and NaNs), every mantissa whose low 16 bits are one of the
// bfloat16 and float16 rounding boundaries (a tie, either side of it, and
// the ends) combined with a range of upper bits, and every 1009th mantissa
// besides. The float16 ties at every subnormal position (bits 12 to 22 of
// the mantissa) and the overflow threshold fall among them, as a test
// checks.
func sampledInputs() []uint32 {
	// With the upper bits 0x7F, 0xE000 to 0xF001 are float16's largest
	// finite value (65504), its overflow threshold (65520) and their
	// neighbours, in the exponent field 142.
	lows := []uint32{0, 1, 0x7FFF, 0x8000, 0x8001, 0xFFFF, 0xE000, 0xEFFF, 0xF000, 0xF001}
	for b := 12; b <= 22; b++ { // float16's ties, normal (bit 12) and subnormal (up to 22)
		lows = append(lows, 1<<b-1, 1<<b, 1<<b+1, 3<<b)
	}
	var out []uint32
	for e := uint32(0); e < 256; e++ {
		for _, sign := range []uint32{0, 1 << 31} {
			for _, hi := range []uint32{0, 1, 2, 3, 0x55, 0x7E, 0x7F} {
				for _, lo := range lows {
					m := (hi<<16 | lo) & 0x7FFFFF
					out = append(out, sign|e<<23|m)
				}
			}
			for m := uint32(0); m < 1<<23; m += 1009 {
				out = append(out, sign|e<<23|m)
			}
		}
	}
	return out
}

// TestConvNarrowExhaustive compares every narrowing kernel of every
// supported set (both forms where the CPU has an extension) with the
// reference, bit for bit, on all 2^32 float32 inputs (natively) or on
// sampledInputs.
func TestConvNarrowExhaustive(t *testing.T) {
	kinds := []ir.ConvKind{ir.ConvNarrowBF16, ir.ConvNarrowF16}
	refs := map[ir.ConvKind]func([]uint16, []float32){ir.ConvNarrowBF16: generic.NarrowBF16, ir.ConvNarrowF16: generic.NarrowF16}
	under := map[ir.ConvKind][]convUnderTest{}
	for _, k := range kinds {
		under[k] = convKernelsUnderTest(t, k)
		if len(under[k]) == 0 {
			t.Skipf("no assembly conversion kernel runs on this CPU and build")
		}
	}
	// The reference is evaluated on the inputs with the sign bit clear
	// only: the expected bits of -x are those of x with the sign bit set,
	// but for a NaN, which gives the canonical NaN whatever its sign. That
	// is a symmetry of generic's code (the sign is carried apart from the
	// rounding), which TestLowpSignSymmetry in package generic checks, and
	// it halves the sweep's time, most of which the reference takes.
	var sample []uint32
	total := uint64(1) << 31
	if !exhaustive() {
		sample = sampledInputs()
		total = uint64(len(sample))
	}
	// Batches of inputs go to one worker per CPU (at most 4), each with
	// its own buffers; the first mismatch stops them all.
	const batch = 1 << 20
	var next atomic.Uint64
	var failed atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	for range max(1, min(runtime.GOMAXPROCS(0), 4)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := make([]float32, batch)
			got := make([]uint16, batch)
			wants := map[ir.ConvKind][]uint16{}
			for _, k := range kinds {
				wants[k] = make([]uint16, batch)
			}
			check := func(k ir.ConvKind, n int) {
				want := wants[k]
				for _, c := range under[k] {
					runNarrow(c.path, k, got[:n], src[:n])
					if bytes.Equal(u16Bytes(got[:n]), u16Bytes(want[:n])) {
						continue
					}
					for i := range got[:n] {
						if got[i] != want[i] && !failed.Swap(true) {
							t.Errorf("%s %s(%#08x) = %#04x, generic gives %#04x", c.name, ir.ConvPrograms()[k].Name, math.Float32bits(src[i]), got[i], want[i])
						}
					}
				}
			}
			for !failed.Load() {
				lo := next.Add(batch) - batch
				if lo >= total {
					return
				}
				n := int(min(batch, total-lo))
				for i := range src[:n] {
					if sample != nil {
						src[i] = math.Float32frombits(sample[lo+uint64(i)])
					} else {
						src[i] = math.Float32frombits(uint32(lo) + uint32(i))
					}
				}
				for _, k := range kinds {
					refs[k](wants[k][:n], src[:n])
					check(k, n)
				}
				if sample != nil {
					continue
				}
				// The negative inputs.
				bits := unsafe.Slice((*uint32)(unsafe.Pointer(&src[0])), n)
				for i := range bits {
					bits[i] |= 1 << 31
				}
				for _, k := range kinds {
					want := wants[k]
					words := unsafe.Slice((*uint64)(unsafe.Pointer(&want[0])), n/4)
					for i := range words {
						words[i] |= 0x8000800080008000
					}
					if lo+uint64(n) > 0x7F800001 { // the batch holds NaNs
						for i, b := range bits {
							if b&0x7FFFFFFF > 0x7F800000 {
								want[i] &^= 0x8000
							}
						}
					}
					check(k, n)
				}
			}
		}()
	}
	wg.Wait()
	if exhaustive() {
		total *= 2 // both signs
	}
	var names []string
	for _, k := range kinds {
		for _, c := range under[k] {
			names = append(names, ir.ConvPrograms()[k].Name+"/"+c.name)
		}
	}
	t.Logf("%d inputs (exhaustive: %v), kernels %s: %v", total, exhaustive(), strings.Join(names, ", "), time.Since(start).Round(time.Millisecond))
}

// TestConvWidenExhaustive compares every widening kernel with the
// reference on all 2^16 inputs, bit for bit (NaNs included).
func TestConvWidenExhaustive(t *testing.T) {
	src := make([]uint16, 1<<16)
	for i := range src {
		src[i] = uint16(i)
	}
	want, got := make([]float32, len(src)), make([]float32, len(src))
	for _, k := range []ir.ConvKind{ir.ConvWidenBF16, ir.ConvWidenF16} {
		ref := map[ir.ConvKind]func([]float32, []uint16){ir.ConvWidenBF16: generic.WidenBF16, ir.ConvWidenF16: generic.WidenF16}[k]
		ref(want, src)
		for _, c := range convKernelsUnderTest(t, k) {
			runWiden(c.path, k, got, src)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s %s(%#04x) = %#08x, generic gives %#08x", c.name, ir.ConvPrograms()[k].Name, src[i], math.Float32bits(got[i]), math.Float32bits(want[i]))
				}
			}
		}
	}
}

func u16Bytes(x []uint16) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), 2*len(x))
}

// convInputs returns n float32 inputs for the narrowings (special values,
// ties and random bits) and n 16-bit inputs for the widenings.
func convInputs(r *rand.Rand, n int) ([]float32, []uint16) {
	specials := []uint32{0, 1 << 31, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFFFFFFF, 0x7F800001, 0x7F7FFFFF,
		0x477FF000, 0x477FEFFF, 0x33000000, 0x00008000, 0x3F808000, 0x3F818000, 0x387FE000}
	f := make([]float32, n)
	h := make([]uint16, n)
	for i := range f {
		b := r.Uint32()
		if r.IntN(4) == 0 {
			b = specials[r.IntN(len(specials))]
		}
		f[i] = math.Float32frombits(b)
		h[i] = uint16(r.Uint32())
	}
	return f, h
}

// convLengths are the lengths of the guard tests: every length to 70,
// which covers the unrolled loop (64 elements), the unit loop (16) and the
// reference's tail of every set, and a few longer.
func convLengths() []int {
	var out []int
	for n := 0; n <= 70; n++ {
		out = append(out, n)
	}
	return append(out, 127, 128, 129, 255, 1000)
}

// TestConvGuardValues runs every conversion of every path on every length
// of convLengths at element offsets 0 to 3, with guard values around dst,
// and compares the result with the reference and the guards with their
// original bits.
func TestConvGuardValues(t *testing.T) {
	const guard = 8
	r := rand.New(rand.NewPCG(5, 6))
	for _, prog := range ir.ConvPrograms() {
		k := prog.Kind
		for _, c := range convKernelsUnderTest(t, k) {
			for _, n := range convLengths() {
				for off := 0; off < 4; off++ {
					f, h := convInputs(r, n+off)
					f, h = f[off:], h[off:]
					if prog.Narrow {
						buf := make([]uint16, off+n+2*guard)
						for i := range buf {
							buf[i] = 0xA5A5
						}
						want := make([]uint16, n)
						ref := map[ir.ConvKind]func([]uint16, []float32){ir.ConvNarrowBF16: generic.NarrowBF16, ir.ConvNarrowF16: generic.NarrowF16}[k]
						ref(want, f)
						dst := buf[off+guard : off+guard+n]
						runNarrow(c.path, k, dst, f)
						for i := range buf {
							if i >= off+guard && i < off+guard+n {
								if got := buf[i]; got != want[i-off-guard] {
									t.Fatalf("%s %s n=%d off=%d: dst[%d] = %#04x, want %#04x", c.name, prog.Name, n, off, i-off-guard, got, want[i-off-guard])
								}
							} else if buf[i] != 0xA5A5 {
								t.Fatalf("%s %s n=%d off=%d: guard %d overwritten", c.name, prog.Name, n, off, i-off-guard)
							}
						}
						continue
					}
					buf := make([]float32, off+n+2*guard)
					g := math.Float32frombits(0x7FA5A5A5)
					for i := range buf {
						buf[i] = g
					}
					want := make([]float32, n)
					ref := map[ir.ConvKind]func([]float32, []uint16){ir.ConvWidenBF16: generic.WidenBF16, ir.ConvWidenF16: generic.WidenF16}[k]
					ref(want, h)
					dst := buf[off+guard : off+guard+n]
					runWiden(c.path, k, dst, h)
					for i := range buf {
						if i >= off+guard && i < off+guard+n {
							if got := math.Float32bits(buf[i]); got != math.Float32bits(want[i-off-guard]) {
								t.Fatalf("%s %s n=%d off=%d: dst[%d] = %#08x, want %#08x", c.name, prog.Name, n, off, i-off-guard, got, math.Float32bits(want[i-off-guard]))
							}
						} else if math.Float32bits(buf[i]) != 0x7FA5A5A5 {
							t.Fatalf("%s %s n=%d off=%d: guard %d overwritten", c.name, prog.Name, n, off, i-off-guard)
						}
					}
				}
			}
		}
	}
}

// TestConvValidation: the validated functions refuse unequal lengths,
// overlap, a nil set and an unsupported set, before writing anything, and
// pick the extension's form as cpufeat says.
func TestConvValidation(t *testing.T) {
	s := Generic()
	dst := []uint16{1, 2, 3}
	if err := NarrowBF16(s, dst, make([]float32, 2)); err == nil || !strings.Contains(err.Error(), "len(src) = 2, want len(dst) = 3") {
		t.Errorf("NarrowBF16 with unequal lengths: %v", err)
	}
	if dst[0] != 1 {
		t.Error("NarrowBF16 wrote before refusing")
	}
	if err := WidenF16(nil, nil, nil); err == nil {
		t.Error("WidenF16 accepted a nil set")
	}
	buf := make([]float32, 8)
	alias := unsafe.Slice((*uint16)(unsafe.Pointer(&buf[2])), 4)
	if err := NarrowF16(s, alias, buf[:4]); err == nil || !strings.Contains(err.Error(), "overlap") {
		t.Errorf("NarrowF16 on overlapping slices: %v", err)
	}
	if err := WidenBF16(s, buf[:4], alias); err == nil || !strings.Contains(err.Error(), "overlap") {
		t.Errorf("WidenBF16 on overlapping slices: %v", err)
	}
	if err := NarrowBF16(s, nil, nil); err != nil {
		t.Errorf("NarrowBF16 on empty slices: %v", err)
	}
	for _, set := range archSets() {
		if !set.Supported() {
			if err := NarrowBF16(set, dst, make([]float32, 3)); err == nil {
				t.Errorf("NarrowBF16 ran on %s, which this CPU does not support", set.name)
			}
			continue
		}
		name := ConvKernels(set)
		_, ext, withExt := strings.Cut(name, "+")
		for _, e := range cpufeat.Exts() {
			if e.Set().String() == set.name {
				if e.Enabled() != (withExt && ext == e.String()) {
					t.Errorf("%s runs %s, but %v is enabled: %v", set.name, name, e, e.Enabled())
				}
			}
		}
		t.Logf("%s converts with %s", set.name, name)
	}
	if ConvKernels(Generic()) != "generic" {
		t.Errorf("generic converts with %s", ConvKernels(Generic()))
	}
}

// TestConvEveryKernelListed: every form of every compiled set has a kernel
// of the right type for each kind it lists, and every set's own form has
// every kind.
func TestConvEveryKernelListed(t *testing.T) {
	for _, f := range convForms {
		for kind, k := range f.k {
			if k == nil {
				if f.ext == "" {
					t.Errorf("%s has no %s kernel", f.set.name, ir.ConvPrograms()[kind].Name)
				}
				continue
			}
			var ok bool
			if ir.ConvPrograms()[kind].Narrow {
				_, ok = k.(narrowFunc)
			} else {
				_, ok = k.(widenFunc)
			}
			if !ok {
				t.Errorf("%s%s: the %s kernel has type %T", f.set.name, f.ext, ir.ConvPrograms()[kind].Name, k)
			}
		}
		if f.ext != "" {
			if _, ok := extOf(f.ext); !ok {
				t.Errorf("%s: no extension %q in internal/cpufeat", f.set.name, f.ext)
			}
		}
	}
}

// TestSampledInputsCover: the sample holds the boundaries it promises.
func TestSampledInputsCover(t *testing.T) {
	have := map[uint32]bool{}
	for _, b := range sampledInputs() {
		have[b] = true
	}
	for _, b := range []uint32{0x477FE000, 0x477FEFFF, 0x477FF000, 0xC77FF000, 0x7F7F8000, 0x7F7FFFFF,
		0x33000000, 0x33000001, 0x387FE000, 0x00008000, 0x00018000, 0x7F800000, 0xFF800000, 0x7FC00000,
		0x7F800001, 0x80000000, 0x3F808000, 0x3F801000} {
		if !have[b] {
			t.Errorf("the sample lacks %#08x", b)
		}
	}
}

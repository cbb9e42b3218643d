package optim

import (
	"bytes"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/simdoptim/optim/internal/safetensors"
)

// toTorchLayout rewrites one of our checkpoints as torch's converters
// write one: our optim.* metadata dropped, the tensors and data kept.
func toTorchLayout(t testing.TB, data []byte) []byte {
	t.Helper()
	h, err := safetensors.ReadHeader(bytes.NewReader(data), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var meta []safetensors.Meta
	keys := make([]string, 0, len(h.Metadata))
	for k := range h.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !strings.HasPrefix(k, ours) {
			meta = append(meta, safetensors.Meta{Key: k, Value: h.Metadata[k]})
		}
	}
	header, _, err := safetensors.Encode(meta, h.Tensors)
	if err != nil {
		t.Fatal(err)
	}
	return append(header, data[len(h.Raw):]...)
}

// TestCheckpointAsTorchFile: one of our files without our entries loads as
// a torch file, with the same state (SGD's step counts, which torch does
// not keep, become 0).
func TestCheckpointAsTorchFile(t *testing.T) {
	o, data := smallCheckpoint(t)
	r := freshSmall(t)
	if err := r.Load(bytes.NewReader(toTorchLayout(t, data))); err != nil {
		t.Fatal(err)
	}
	o.steps[1], o.steps[2] = 0, 0 // the SGD group's
	if fingerprint(t, r) != fingerprint(t, o) {
		t.Fatal("the torch-layout file loads another state")
	}
}

// loadAllocBound is what Load may allocate for o, whatever the input: the
// header it reads (at most headerLimit, grown as bytes arrive, then parsed)
// and scratch the size of the state.
func loadAllocBound[T testFloat](o *Optimizer[T]) uint64 {
	var state uint64
	for i := range o.params {
		state += 3 * uint64(len(o.params[i])) * 8
	}
	return 8*uint64(o.headerLimit()) + 2*state + 1<<20
}

// FuzzLoad: Load never panics, never changes anything when it fails, never
// allocates more than loadAllocBound, and what it accepts saves and loads
// back to the same state.
//
// The input is an edit of a valid file (which: ours or its torch layout;
// patch written at offset at, the file then cut by cut bytes) or, for
// which%3 == 2, patch alone. Edits keep inputs small, so that the fuzzer's
// minimization of each new input (a minute at most, per input, for a
// whole 2 KB file) does not take the fuzzing time.
func FuzzLoad(f *testing.F) {
	_, ours := smallCheckpoint(f)
	torch := toTorchLayout(f, ours)
	f.Add(uint8(0), uint16(0), []byte(nil), uint16(0))
	f.Add(uint8(1), uint16(0), []byte(nil), uint16(0))
	f.Add(uint8(0), uint16(0), []byte{0, 0, 0, 0, 0, 1}, uint16(0))
	f.Add(uint8(0), uint16(40), []byte(`"state.0.exp_avg"`), uint16(9))
	f.Add(uint8(1), uint16(30), []byte(`{"lr":1e-3,`), uint16(1))
	f.Add(uint8(2), uint16(0), ours[:64], uint16(0))
	f.Fuzz(func(t *testing.T, which uint8, at uint16, patch []byte, cut uint16) {
		var in []byte
		switch which % 3 {
		case 0:
			in = slices.Clone(ours)
		case 1:
			in = slices.Clone(torch)
		default:
			in = patch
		}
		if which%3 != 2 {
			k := int(at) % len(in)
			in = append(in[:k], append(patch, in[min(k+len(patch), len(in)):]...)...)
			in = in[:len(in)-int(cut)%len(in)]
		}
		o := freshSmall(t)
		before := fingerprint(t, o)
		bound := loadAllocBound(o)
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		err := o.Load(bytes.NewReader(in))
		runtime.ReadMemStats(&m1)
		if got := m1.TotalAlloc - m0.TotalAlloc; got > bound {
			t.Fatalf("Load of %d bytes allocated %d bytes, more than the bound %d", len(in), got, bound)
		}
		if err != nil {
			if fingerprint(t, o) != before {
				t.Fatalf("a failed Load (%v) changed the optimizer", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := o.Save(&buf); err != nil {
			t.Fatal(err)
		}
		r := freshSmall(t)
		if err := r.Load(&buf); err != nil {
			t.Fatalf("what Load accepted saves to a file it rejects: %v", err)
		}
		if fingerprint(t, r) != fingerprint(t, o) {
			t.Fatal("what Load accepted does not round-trip")
		}
	})
}

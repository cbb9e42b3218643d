package optim

import (
	"bytes"
	"encoding/binary"
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
	h, err := safetensors.ReadHeader(bytes.NewReader(data), safetensors.Unlimited(1<<20), nil)
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
	return append(header, data[h.Len:]...)
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

// FuzzLoad: Load never panics, never changes anything when it fails, never
// adds more memory than loadMemoryBound, and what it accepts saves and
// loads back to the same state.
//
// The input is an edit of a valid file (which%3: ours or its torch
// layout; patch, repeated 1+16*reps times up to 1 MiB, written over the
// file from offset at or, for which/3 odd, inserted there, the header
// length then counting it if at is in the header; the file then cut by cut
// bytes) or, for which%3 == 2, the repeated patch alone. Repetition makes
// headers of up to a megabyte (the small optimizer's header limit) of many
// entries from a short patch; edits keep the fuzzer's inputs small, so
// that its minimization of each new input (a minute at most, per input,
// for a whole 2 KB file) does not take the fuzzing time.
func FuzzLoad(f *testing.F) {
	_, ours := smallCheckpoint(f)
	torch := toTorchLayout(f, ours)
	groups := bytes.Index(torch, []byte(`"[{`)) + 2 // inside param_groups
	tensors := bytes.Index(ours, []byte(`"state.0.exp_avg"`))
	f.Add(uint8(0), uint16(0), []byte(nil), uint16(0), uint16(0))
	f.Add(uint8(1), uint16(0), []byte(nil), uint16(0), uint16(0))
	f.Add(uint8(0), uint16(0), []byte{0, 0, 0, 0, 0, 1}, uint16(0), uint16(0))
	f.Add(uint8(0), uint16(40), []byte(`"state.0.exp_avg"`), uint16(0), uint16(9))
	f.Add(uint8(1), uint16(30), []byte(`{"lr":1e-3,`), uint16(0), uint16(1))
	f.Add(uint8(2), uint16(0), ours[:64], uint16(0), uint16(0))
	f.Add(uint8(4), uint16(groups), []byte(`{},`), uint16(20000), uint16(0))
	f.Add(uint8(4), uint16(groups+1), []byte(`\"lr\":1,`), uint16(20000), uint16(0))
	f.Add(uint8(3), uint16(tensors), []byte(`"state.9.x":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},`), uint16(20000), uint16(0))
	f.Add(uint8(4), uint16(groups), []byte(`[`), uint16(20000), uint16(0))
	f.Fuzz(func(t *testing.T, which uint8, at uint16, patch []byte, reps, cut uint16) {
		if len(patch) > 0 {
			patch = bytes.Repeat(patch, max(1, min(1+16*int(reps), 1<<20/len(patch))))
		}
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
			if which/3%2 == 0 {
				in = append(in[:k], append(patch, in[min(k+len(patch), len(in)):]...)...)
			} else {
				in = append(in[:k], append(patch, in[k:]...)...)
				if n := binary.LittleEndian.Uint64(in); k >= safetensors.PrefixLen && uint64(k) < safetensors.PrefixLen+n {
					binary.LittleEndian.PutUint64(in, n+uint64(len(patch)))
				}
			}
			in = in[:len(in)-int(cut)%len(in)]
		}
		o := freshSmall(t)
		before := fingerprint(t, o)
		allocs, err := loadAllocs(o, in)
		if bound := loadMemoryBound(o, len(in)); allocs > bound {
			t.Fatalf("Load of %d bytes allocated %d bytes, more than the bound %d", len(in), allocs, bound)
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

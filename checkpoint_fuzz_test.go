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

// FuzzLoad: Load and Training.Load never panic, never change anything
// when they fail, never add more memory than loadMemoryBound and
// trainingMemoryBound, and what they accept saves and loads back to the
// same state. Every input goes to both: the optimizer's Load meets
// training files, Training.Load optimizer files.
//
// The input is an edit of a valid file (which%4: ours, its torch layout,
// or, for 3, a training file; patch, repeated 1+16*reps times up to 1 MiB,
// written over the file from offset at or, for which/4 odd, inserted
// there, the header length then counting it if at is in the header; the
// file then cut by cut bytes) or, for which%4 == 2, the repeated patch
// alone. Repetition makes headers of up to a megabyte (the small
// optimizer's header limit) of many entries from a short patch; edits keep
// the fuzzer's inputs small, so that its minimization of each new input (a
// minute at most, per input, for a whole 2 KB file) does not take the
// fuzzing time.
func FuzzLoad(f *testing.F) {
	_, ours := smallCheckpoint(f)
	torch := toTorchLayout(f, ours)
	_, training := trainedFixture[float32](f, 3)
	groups := bytes.Index(torch, []byte(`"[{`)) + 2 // inside param_groups
	tensors := bytes.Index(ours, []byte(`"state.0.exp_avg"`))
	model := bytes.Index(training, []byte(`"fc.weight"`))
	sched := bytes.Index(training, []byte(`"scheduler.lr"`))
	f.Add(uint8(0), uint16(0), []byte(nil), uint16(0), uint16(0))
	f.Add(uint8(1), uint16(0), []byte(nil), uint16(0), uint16(0))
	f.Add(uint8(3), uint16(0), []byte(nil), uint16(0), uint16(0))
	f.Add(uint8(0), uint16(0), []byte{0, 0, 0, 0, 0, 1}, uint16(0), uint16(0))
	f.Add(uint8(0), uint16(40), []byte(`"state.0.exp_avg"`), uint16(0), uint16(9))
	f.Add(uint8(1), uint16(30), []byte(`{"lr":1e-3,`), uint16(0), uint16(1))
	f.Add(uint8(2), uint16(0), ours[:64], uint16(0), uint16(0))
	f.Add(uint8(5), uint16(groups), []byte(`{},`), uint16(20000), uint16(0))
	f.Add(uint8(5), uint16(groups+1), []byte(`\"lr\":1,`), uint16(20000), uint16(0))
	f.Add(uint8(4), uint16(tensors), []byte(`"state.9.x":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},`), uint16(20000), uint16(0))
	f.Add(uint8(5), uint16(groups), []byte(`[`), uint16(20000), uint16(0))
	f.Add(uint8(7), uint16(model), []byte(`"fc.w":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},`), uint16(20000), uint16(0))
	f.Add(uint8(7), uint16(model), []byte(`"optimizer.state.9.x":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},`), uint16(100), uint16(0))
	f.Add(uint8(7), uint16(sched), []byte(`"extra.x":"[[[[",`), uint16(20000), uint16(0))
	f.Add(uint8(3), uint16(sched+16), []byte(`{"kind":"StepLR"}`), uint16(0), uint16(0))
	f.Add(uint8(3), uint16(len(training)-8), []byte{1, 2, 3, 4}, uint16(0), uint16(0))
	f.Fuzz(func(t *testing.T, which uint8, at uint16, patch []byte, reps, cut uint16) {
		if len(patch) > 0 {
			patch = bytes.Repeat(patch, max(1, min(1+16*int(reps), 1<<20/len(patch))))
		}
		var in []byte
		switch which % 4 {
		case 0:
			in = slices.Clone(ours)
		case 1:
			in = slices.Clone(torch)
		case 2:
			in = patch
		default:
			in = slices.Clone(training)
		}
		if which%4 != 2 {
			k := int(at) % len(in)
			if which/4%2 == 0 {
				in = append(in[:k], append(patch, in[min(k+len(patch), len(in)):]...)...)
			} else {
				in = append(in[:k], append(patch, in[k:]...)...)
				if n := binary.LittleEndian.Uint64(in); k >= safetensors.PrefixLen && uint64(k) < safetensors.PrefixLen+n {
					binary.LittleEndian.PutUint64(in, n+uint64(len(patch)))
				}
			}
			in = in[:len(in)-int(cut)%len(in)]
		}
		fuzzOptimizerLoad(t, in)
		fuzzTrainingLoad(t, in)
	})
}

// fuzzOptimizerLoad is FuzzLoad's check of Optimizer.Load.
func fuzzOptimizerLoad(t *testing.T, in []byte) {
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
}

// fuzzTrainingLoad is FuzzLoad's check of Training.Load.
func fuzzTrainingLoad(t *testing.T, in []byte) {
	f := newTrainingFixture[float32](t, 3, 0.5)
	before := f.snapshot(t)
	allocs, err := trainingLoadAllocs(f.tr, in)
	if bound := trainingMemoryBound(f.tr, len(in)); allocs > bound {
		t.Fatalf("Training.Load of %d bytes allocated %d bytes, more than the bound %d", len(in), allocs, bound)
	}
	if err != nil {
		if f.snapshot(t) != before {
			t.Fatalf("a failed Training.Load (%v) changed the training state", err)
		}
		return
	}
	data := f.save(t)
	r := newTrainingFixture[float32](t, 5, 0.1)
	if err := r.tr.Load(bytes.NewReader(data)); err != nil {
		t.Fatalf("what Training.Load accepted saves to a file it rejects: %v", err)
	}
	if r.snapshot(t) != f.snapshot(t) {
		t.Fatal("what Training.Load accepted does not round-trip")
	}
}

package optim

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"
)

// trainingMemoryBound is the most memory Load may add to read a file
// whose header (the length field excluded) takes headerLen bytes into tr:
// three times the header's size (a metadata value the Training admits
// takes up to twice its length while it is decoded, and its length once
// kept), twice the data of the model and the extra tensors, twice the
// state the optimizer's rules can keep, and 8 MiB, whatever the file
// holds.
func trainingMemoryBound[T testFloat](tr *Training[T], headerLen int) uint64 {
	var data uint64
	for _, ms := range [][]Tensor[T]{tr.Model, tr.ExtraTensors} {
		for _, m := range ms {
			data += uint64(len(m.Data)) * uint64(unsafe.Sizeof(T(0)))
		}
	}
	if tr.Optimizer != nil {
		data += stateCapacity(tr.Optimizer)
	}
	return 3*uint64(headerLen) + 2*data + 8<<20
}

// trainingLoadAllocs runs Load of data into tr and returns the bytes it
// allocated, garbage included, and its error.
func trainingLoadAllocs[T testFloat](tr *Training[T], data []byte) (uint64, error) {
	return allocsOf(func() error { return tr.Load(bytes.NewReader(data)) })
}

// hostileTrainingHeaders returns headers of about size bytes in each shape
// that could cost a training file's reader memory or time out of
// proportion to its bytes, or that claims more than the file holds: many
// tensors where the Training expects few, in each component's namespace;
// long names, deep shapes, huge shapes and offsets; many metadata keys,
// long values for the keys the Training admits (a scheduler's, an extra)
// and for those it does not.
func hostileTrainingHeaders(size int) []hostileHeader {
	ours := `{"__metadata__":{"optim.checksum":"00000000","optim.format":"` + trainingFormat + `","optim.version":"1","optim.dtype":"F32"`
	ourMeta := func(key string, value []byte) []byte {
		return []byte(ours + `,` + quote([]byte(key)) + `:` + quote(value) + `}}`)
	}
	tensor := func(name string) func(i int) string {
		return func(i int) string {
			return fmt.Sprintf(`"%s%d":{"dtype":"F32","shape":[1],"data_offsets":[%d,%d]}`, name, i, 4*i, 4*i+4)
		}
	}
	long := bytes.Repeat([]byte("x"), size)
	nest := strings.Repeat("[", size/2) + strings.Repeat("]", size/2)
	return []hostileHeader{
		{name: "model tensors", file: repeatTo(size, `{`, `}`, tensor("layer"), ",")},
		{name: "extra tensors", file: repeatTo(size, `{`, `}`, tensor("extra.t"), ",")},
		{name: "optimizer tensors", file: repeatTo(size, `{`, `}`, tensor("optimizer.state.9.exp_avg"), ",")},
		{name: "optimizer state of many params", file: repeatTo(size, `{`, `}`, func(i int) string {
			return fmt.Sprintf(`"optimizer.state.%d.exp_avg":{"dtype":"F32","shape":[1],"data_offsets":[%d,%d]}`, i+4, 4*i, 4*i+4)
		}, ",")},
		{name: "long tensor name", file: []byte(`{` + quote(long) + `:{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`)},
		{name: "tensor shape of many dimensions", file: repeatTo(size, `{"fc.bias":{"dtype":"F32","data_offsets":[0,12],"shape":[3`, `]}}`, func(int) string { return "1" }, ",")},
		{name: "tensor shape nested deep", file: []byte(`{"fc.bias":{"dtype":"F32","data_offsets":[0,12],"shape":` + nest + `}}`)},
		{name: "huge model tensor", file: []byte(`{"fc.weight":{"dtype":"F32","shape":[1073741824,4],"data_offsets":[0,17179869184]}}`)},
		{name: "huge extra tensor", file: []byte(ours + `},"extra.teacher.fc.bias":{"dtype":"F32","shape":[3000000000000],"data_offsets":[0,12000000000000]}}`)},
		{name: "overflowing shape", file: []byte(`{"fc.weight":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`)},
		{name: "offsets far beyond the data", file: []byte(`{"fc.bias":{"dtype":"F32","shape":[3],"data_offsets":[9000000000000000000,9000000000000000012]}}`)},
		{name: "metadata keys", file: repeatTo(size, `{"__metadata__":{`, `}}`, func(i int) string { return fmt.Sprintf(`"k%d":""`, i) }, ",")},
		{name: "scheduler value", file: ourMeta("scheduler.lr", long)},
		{name: "extra value", file: ourMeta("extra.order", long)},
		{name: "scaler value", file: ourMeta("scaler", long)},
		{name: "optimizer value", file: ourMeta("optimizer.param_groups", long)},
		{name: "unknown value", file: ourMeta("notes", long)},
		{name: "unknown scheduler value", file: ourMeta("scheduler.warmup", long)},
		{name: "long metadata key", file: ourMeta("extra."+string(long), nil)},
		{name: "whitespace", file: []byte(`{"__metadata__":` + strings.Repeat("\n", size) + `{"format":"pt"}}`)},
	}
}

// TestTrainingHostileHeaders: each crafted header is refused, adding at
// most trainingMemoryBound while it is read, and nothing changes, both in
// a Training of every component and in one of tensors only (which a file
// without our metadata may fill, so that the tensors' checks are reached).
func TestTrainingHostileHeaders(t *testing.T) {
	r := newTrainingFixture[float32](t, 3, 0.5)
	tensorsOnly := withTraining(r, func(tr *Training[float32]) { tr.Schedulers, tr.Scaler, tr.Extra = nil, nil, nil })
	before := r.snapshot(t)
	sizes := []int{64 << 10}
	if !testing.Short() {
		// 8 MiB, where the bound's 8 MiB no longer hides a factor of the
		// header's length, for the values the Training admits.
		sizes = append(sizes, 1<<20, 8<<20)
	}
	for _, size := range sizes {
		for _, h := range hostileTrainingHeaders(size) {
			if size > 1<<20 && !strings.HasSuffix(h.name, " value") {
				continue
			}
			for _, tr := range []*Training[float32]{r.tr, tensorsOnly} {
				allocs, err := trainingLoadAllocs(tr, withLength(h.file))
				if err == nil {
					t.Errorf("%s: loaded", h.name)
					continue
				}
				t.Logf("%s: %d bytes: allocated %.2f times its size (%v)", h.name, len(h.file), float64(allocs)/float64(len(h.file)), err)
				if bound := trainingMemoryBound(tr, len(h.file)); allocs > bound {
					t.Errorf("%s: a header of %d bytes: Load allocated %d bytes, more than the bound %d", h.name, len(h.file), allocs, bound)
				}
			}
		}
	}
	if r.snapshot(t) != before {
		t.Fatal("a failed Load changed the training state")
	}
}

// TestTrainingLoadFileBoundedBySize: LoadFile bounds the header by the
// file's size before reading it, and the data too before it allocates
// anything for it: a small file claiming a long header or more data than
// it has costs nothing of what it claims.
func TestTrainingLoadFileBoundedBySize(t *testing.T) {
	f, data := trainedFixture[float32](t, 2)
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		file []byte
		want string
	}{
		{"header longer than the file", append(binary.LittleEndian.AppendUint64(nil, 50<<20), `{}`...), "exceeds the limit"},
		{"a byte short", data[:len(data)-1], "the file has"},
		{"a byte more", append(append([]byte(nil), data...), 0), "the file has"},
	} {
		path := filepath.Join(dir, "f")
		if err := os.WriteFile(path, c.file, 0o600); err != nil {
			t.Fatal(err)
		}
		allocs, err := allocsOf(func() error { return f.tr.LoadFile(path) })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error that mentions %q", c.name, err, c.want)
		}
		if allocs > 1<<20 {
			t.Errorf("%s: LoadFile allocated %d bytes", c.name, allocs)
		}
	}
}

// TestTrainingLargeExtras: extras far beyond an optimizer checkpoint's 1
// MiB of JSON round-trip: a tensor of 4 MiB, and a JSON value of about 2
// MB; and Load stays within trainingMemoryBound.
func TestTrainingLargeExtras(t *testing.T) {
	big := make([]float32, 1<<20)
	for i := range big {
		big[i] = float32(i) * 0.5
	}
	history := make([]float64, 120_000)
	for i := range history {
		history[i] = 1 / float64(i+3)
	}
	path := filepath.Join(t.TempDir(), "big.safetensors")
	saved := Training[float32]{ExtraTensors: []Tensor[float32]{{Name: "teacher", Data: big}}, Extra: map[string]any{"loss_history": history}}
	if err := saved.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	var js []byte
	js, _ = json.Marshal(history)
	if len(js) <= maxExtra {
		t.Fatalf("the JSON extra takes %d bytes, not more than an optimizer checkpoint's %d", len(js), maxExtra)
	}
	var gotHistory []float64
	loaded := Training[float32]{ExtraTensors: []Tensor[float32]{{Name: "teacher", Data: make([]float32, len(big))}}, Extra: map[string]any{"loss_history": &gotHistory}}
	if err := loaded.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	if string(asBytes(loaded.ExtraTensors[0].Data)) != string(asBytes(big)) || len(gotHistory) != len(history) || gotHistory[7] != history[7] {
		t.Fatal("the extras did not round-trip")
	}
	data := readFile(t, path)
	allocs, err := trainingLoadAllocs(&loaded, data)
	if err != nil {
		t.Fatal(err)
	}
	// The JSON value is decoded in the header's bytes and again as a
	// []float64 of its own.
	if bound := trainingMemoryBound(&loaded, len(data)) + 8*uint64(len(history)); allocs > bound {
		t.Errorf("Load of %d bytes allocated %d, more than the bound %d", len(data), allocs, bound)
	}
}

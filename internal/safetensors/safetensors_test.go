package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"
)

func sample(t testing.TB) ([]byte, []Tensor) {
	t.Helper()
	tensors := []Tensor{
		{Name: "state.0.exp_avg", DType: F32, Shape: []int64{3}},
		{Name: "state.0.step", DType: F32, Shape: []int64{}},
		{Name: "w", DType: F64, Shape: []int64{2, 0}},
		{Name: "n", DType: I64, Shape: []int64{1, 2}},
	}
	h, n, err := Encode([]Meta{{"b", "x\"<y>"}, {"a", "z"}}, tensors)
	if err != nil {
		t.Fatal(err)
	}
	if n != 12+4+0+16 {
		t.Fatalf("data length %d", n)
	}
	return append(h, make([]byte, n)...), tensors
}

func TestRoundTrip(t *testing.T) {
	file, tensors := sample(t)
	if (binary.LittleEndian.Uint64(file)+PrefixLen)%8 != 0 {
		t.Fatal("data not aligned to 8 bytes")
	}
	h, err := ReadHeader(bytes.NewReader(file), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if h.Metadata["b"] != "x\"<y>" || h.Metadata["a"] != "z" || len(h.Metadata) != 2 {
		t.Fatalf("metadata %q", h.Metadata)
	}
	if h.DataLen != 32 || len(h.Tensors) != len(tensors) {
		t.Fatalf("header %+v", h)
	}
	off := int64(0)
	for i, tt := range h.Tensors {
		// Zero-size tensors sort by offset with the others; names and
		// shapes come back as written.
		k := slices.IndexFunc(tensors, func(x Tensor) bool { return x.Name == tt.Name })
		if k < 0 || tensors[k].DType != tt.DType || !slices.Equal(tensors[k].Shape, tt.Shape) || tt.Begin != off {
			t.Fatalf("tensor %d: %+v", i, tt)
		}
		off = tt.End
	}
	if !bytes.Equal(h.Raw, file[:len(h.Raw)]) {
		t.Fatal("Raw is not the file's start")
	}
}

func TestEncodeErrors(t *testing.T) {
	if _, _, err := Encode([]Meta{{"a", "1"}, {"a", "2"}}, nil); err == nil {
		t.Error("duplicate metadata key")
	}
	if _, _, err := Encode(nil, []Tensor{{Name: "x", DType: F32}, {Name: "x", DType: F32}}); err == nil {
		t.Error("duplicate tensor")
	}
	if _, _, err := Encode(nil, []Tensor{{Name: MetadataKey, DType: F32}}); err == nil {
		t.Error("reserved name")
	}
	if _, _, err := Encode(nil, []Tensor{{Name: "x", DType: "BF16"}}); err == nil {
		t.Error("unknown dtype")
	}
	if _, _, err := Encode(nil, []Tensor{{Name: "x", DType: F64, Shape: []int64{1 << 40, 1 << 40}}}); err == nil {
		t.Error("size overflow")
	}
}

func header(js string) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(js)))
	return append(out, js...)
}

func TestDecodeErrors(t *testing.T) {
	cases := map[string]string{
		"not an object":       `[]`,
		"leading space":       ` {}`,
		"trailing garbage":    `{}x`,
		"trailing NUL":        "{}\x00",
		"unterminated":        `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}`,
		"duplicate tensor":    `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`,
		"duplicate field":     `{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}`,
		"duplicate metadata":  `{"__metadata__":{"k":"1","k":"2"}}`,
		"metadata not string": `{"__metadata__":{"k":1}}`,
		"unknown field":       `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`,
		"case of a field":     `{"a":{"DType":"F32","shape":[1],"data_offsets":[0,4]}}`,
		"missing field":       `{"a":{"dtype":"F32","shape":[1]}}`,
		"unknown dtype":       `{"a":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]}}`,
		"null shape":          `{"a":{"dtype":"F32","shape":null,"data_offsets":[0,4]}}`,
		"negative dim":        `{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`,
		"fractional dim":      `{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`,
		"overflowing shape":   `{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`,
		"three offsets":       `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`,
		"bytes against shape": `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`,
		"reversed offsets":    `{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}`,
		"gap at start":        `{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`,
		"gap":                 `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`,
		"overlap":             `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`,
		"same range":          `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`,
	}
	for name, js := range cases {
		_, err := ReadHeader(bytes.NewReader(header(js)), 1<<20)
		if !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v, want an ErrFormat", name, err)
		}
	}
	// Header length beyond the input, beyond the limit, absurd.
	if _, err := ReadHeader(bytes.NewReader(header(`{}`)[:9]), 1<<20); err == nil {
		t.Error("truncated header")
	}
	if _, err := ReadHeader(bytes.NewReader(header(`{}`)), 1); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("over the limit: %v", err)
	}
	if _, err := ReadHeader(bytes.NewReader(binary.LittleEndian.AppendUint64(nil, ^uint64(0))), 1<<62); err == nil {
		t.Error("2^64-1")
	}
	if _, err := ReadHeader(bytes.NewReader(nil), 1); err == nil {
		t.Error("empty file")
	}
}

// FuzzDecode: Decode never panics; what it accepts has contiguous offsets
// and encodes back to a header that decodes to the same tensors.
func FuzzDecode(f *testing.F) {
	file, _ := sample(f)
	f.Add(file[PrefixLen : binary.LittleEndian.Uint64(file)+PrefixLen])
	f.Add([]byte(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`))
	f.Add([]byte(`{"__metadata__":{"k":"v"}}`))
	f.Fuzz(func(t *testing.T, js []byte) {
		h, err := Decode(js)
		if err != nil {
			return
		}
		off := int64(0)
		for _, tt := range h.Tensors {
			if tt.Begin != off || tt.End < tt.Begin {
				t.Fatalf("offsets not contiguous: %+v", h.Tensors)
			}
			off = tt.End
		}
		var meta []Meta
		for k, v := range h.Metadata {
			meta = append(meta, Meta{k, v})
		}
		sort.Slice(meta, func(i, j int) bool { return meta[i].Key < meta[j].Key })
		enc, n, err := Encode(meta, h.Tensors)
		if err != nil {
			t.Fatalf("re-encoding an accepted header: %v", err)
		}
		if n != h.DataLen {
			t.Fatalf("data length %d, decoded %d", n, h.DataLen)
		}
		h2, err := Decode(enc[PrefixLen:])
		if err != nil {
			t.Fatalf("re-encoded header rejected: %v", err)
		}
		if len(h2.Tensors) != len(h.Tensors) || len(h2.Metadata) != len(h.Metadata) {
			t.Fatal("round trip changed the header")
		}
		for i := range h.Tensors {
			a, b := h.Tensors[i], h2.Tensors[i]
			if a.Name != b.Name || a.DType != b.DType || !slices.Equal(a.Shape, b.Shape) || a.Begin != b.Begin || a.End != b.End {
				t.Fatalf("tensor %d: %+v became %+v", i, a, b)
			}
		}
	})
}

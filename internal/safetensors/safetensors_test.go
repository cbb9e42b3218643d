package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"reflect"
	"runtime"
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
		{Name: "h", DType: BF16, Shape: []int64{3}},
		{Name: "f", DType: F16, Shape: []int64{1}},
	}
	h, n, err := Encode([]Meta{{"b", "x\"<y>"}, {"a", "z"}}, tensors)
	if err != nil {
		t.Fatal(err)
	}
	if n != 12+4+0+16+6+2 {
		t.Fatalf("data length %d", n)
	}
	return append(h, make([]byte, n)...), tensors
}

func TestRoundTrip(t *testing.T) {
	file, tensors := sample(t)
	if (binary.LittleEndian.Uint64(file)+PrefixLen)%8 != 0 {
		t.Fatal("data not aligned to 8 bytes")
	}
	h, err := ReadHeader(bytes.NewReader(file), Unlimited(1<<20), nil)
	if err != nil {
		t.Fatal(err)
	}
	if h.Metadata["b"] != "x\"<y>" || h.Metadata["a"] != "z" || len(h.Metadata) != 2 {
		t.Fatalf("metadata %q", h.Metadata)
	}
	if h.DataLen != 40 || len(h.Tensors) != len(tensors) {
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
	if h.Len != int64(PrefixLen+binary.LittleEndian.Uint64(file)) {
		t.Fatalf("Len %d: not the data's offset", h.Len)
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
	if _, _, err := Encode(nil, []Tensor{{Name: "x", DType: "F8_E4M3"}}); err == nil {
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
		"unknown dtype":       `{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`,
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
		"null metadata value": `{"__metadata__":{"k":null}}`,
		"metadata not object": `{"__metadata__":["k"]}`,
		"two metadata":        `{"__metadata__":{},"__metadata__":{}}`,
		"leading zero":        `{"a":{"dtype":"F32","shape":[01],"data_offsets":[0,4]}}`,
		"exponent":            `{"a":{"dtype":"F32","shape":[1e0],"data_offsets":[0,4]}}`,
		"minus alone":         `{"a":{"dtype":"F32","shape":[-],"data_offsets":[0,4]}}`,
		"space after minus":   `{"a":{"dtype":"F32","shape":[- 1],"data_offsets":[0,4]}}`,
		"beyond int64":        `{"a":{"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,4]}}`,
		"nested shape":        `{"a":{"dtype":"F32","shape":[[1]],"data_offsets":[0,4]}}`,
		"string dimension":    `{"a":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}`,
		"trailing comma":      `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},}`,
		"comma in array":      `{"a":{"dtype":"F32","shape":[1,],"data_offsets":[0,4]}}`,
		"key not a string":    `{a:{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`,
		"missing colon":       `{"a" {"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`,
		"bad escape":          `{"__metadata__":{"k":"\q"}}`,
		"short \\u":           `{"__metadata__":{"k":"\u12"}}`,
		"control character":   "{\"__metadata__\":{\"k\":\"\n\"}}",
		"unterminated string": `{"__metadata__":{"k":"v}}`,
		"tensor not object":   `{"a":[]}`,
		"dtype not string":    `{"a":{"dtype":32,"shape":[1],"data_offsets":[0,4]}}`,
		"long dtype":          `{"a":{"dtype":"F32F32F32","shape":[1],"data_offsets":[0,4]}}`,
	}
	for name, js := range cases {
		_, err := ReadHeader(bytes.NewReader(header(js)), Unlimited(1<<20), nil)
		if !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v, want an ErrFormat", name, err)
		}
	}
	// Header length beyond the input, beyond the limit, absurd.
	if _, err := ReadHeader(bytes.NewReader(header(`{}`)[:9]), Unlimited(1<<20), nil); err == nil {
		t.Error("truncated header")
	}
	if _, err := ReadHeader(bytes.NewReader(header(`{}`)), Unlimited(1), nil); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("over the limit: %v", err)
	}
	if _, err := ReadHeader(bytes.NewReader(binary.LittleEndian.AppendUint64(nil, ^uint64(0))), Unlimited(1<<62), nil); err == nil {
		t.Error("2^64-1")
	}
	if _, err := ReadHeader(bytes.NewReader(nil), Unlimited(1), nil); err == nil {
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
	f.Add([]byte(`{"__metadata__":{"\u00e9\ud83d\ude00\ud800x":"\u0041\\\/\b\f\n\r\t\"\xff\xe2\x82"}}`))
	f.Fuzz(func(t *testing.T, js []byte) {
		h, err := Decode(js)
		// The header streamed through the smallest buffers decodes the same.
		for _, size := range []int64{6, 7, 13} {
			hs, errs := readHeader(bytes.NewReader(header(string(js))), Unlimited(int64(len(js))), nil, size)
			if (err == nil) != (errs == nil) {
				t.Fatalf("through a buffer of %d: %v, in memory: %v", size, errs, err)
			}
			if err == nil && (!reflect.DeepEqual(hs.Metadata, h.Metadata) || !reflect.DeepEqual(hs.Tensors, h.Tensors) || hs.DataLen != h.DataLen) {
				t.Fatalf("through a buffer of %d: %+v, in memory: %+v", size, hs, h)
			}
		}
		if err != nil {
			return
		}
		// encoding/json reads the same metadata from it.
		var std struct {
			Metadata map[string]string `json:"__metadata__"`
		}
		if err := json.Unmarshal(bytes.TrimRight(js, " "), &std); err != nil || !reflect.DeepEqual(std.Metadata, h.Metadata) {
			t.Fatalf("encoding/json: %v, %q; decoded %q", err, std.Metadata, h.Metadata)
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

// recorder is a Sink that keeps the names and spans of the tensors.
type recorder struct {
	names []string
	spans []Span
}

func (r *recorder) sink(name []byte, t Tensor) error {
	r.spans = append(r.spans, Span{t.Begin, t.End, len(r.names)})
	r.names = append(r.names, string(name))
	return nil
}

func (r *recorder) name(id int) string { return r.names[id] }

// TestReadHeaderLimits: within its limits the sample decodes, its tensors
// going to the sink, and tiling their spans; one byte, tensor, name byte,
// dimension or metadata byte less is an ErrFormat, and the Meta and Sink
// errors are returned as they are.
func TestReadHeaderLimits(t *testing.T) {
	file, tensors := sample(t)
	n := int64(binary.LittleEndian.Uint64(file))
	within := Limits{Bytes: n, Tensors: 6, Name: len("state.0.exp_avg"), Dims: 2, Meta: func(string) (int, error) { return 5, nil }}
	var r recorder
	h, err := ReadHeader(bytes.NewReader(file), within, r.sink)
	if err != nil {
		t.Fatal(err)
	}
	if h.Tensors != nil || len(r.names) != len(tensors) || h.Metadata["b"] != "x\"<y>" {
		t.Fatalf("header %+v", h)
	}
	if end, err := Tile(r.spans, r.name); err != nil || end != 40 {
		t.Fatalf("Tile: %d, %v", end, err)
	}
	stop := errors.New("stop")
	for name, change := range map[string]func(*Limits){
		"bytes":      func(l *Limits) { l.Bytes-- },
		"tensors":    func(l *Limits) { l.Tensors-- },
		"name":       func(l *Limits) { l.Name-- },
		"dimensions": func(l *Limits) { l.Dims-- },
		"value":      func(l *Limits) { l.Meta = func(string) (int, error) { return 4, nil } },
	} {
		lim := within
		change(&lim)
		if _, err := ReadHeader(bytes.NewReader(file), lim, (&recorder{}).sink); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v, want an ErrFormat", name, err)
		}
	}
	lim := within
	lim.Meta = func(k string) (int, error) {
		if k == "a" {
			return 0, stop
		}
		return 5, nil
	}
	if _, err := ReadHeader(bytes.NewReader(file), lim, (&recorder{}).sink); err != stop {
		t.Errorf("Meta's error: %v", err)
	}
	if _, err := ReadHeader(bytes.NewReader(file), within, func([]byte, Tensor) error { return stop }); err != stop {
		t.Errorf("the sink's error: %v", err)
	}
	// Tile names the tensor of an error.
	r = recorder{}
	js := `{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`
	if _, err := ReadHeader(bytes.NewReader(header(js)), Unlimited(1<<10), r.sink); err != nil {
		t.Fatal(err)
	}
	if _, err := Tile(r.spans, r.name); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), `tensor "a"`) {
		t.Errorf("gap: %v", err)
	}
}

// TestReadHeaderStreams: what a header costs does not grow with its
// length: padding, whitespace and a length field beyond the input cost the
// buffer they stream through and nothing more.
func TestReadHeaderStreams(t *testing.T) {
	const size = 4 << 20
	for name, file := range map[string][]byte{
		"padding":         header(`{}` + strings.Repeat(" ", size)),
		"whitespace":      header(`{` + strings.Repeat("\n", size) + `}`),
		"length too long": binary.LittleEndian.AppendUint64(nil, size)[:8:8],
	} {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		_, err := ReadHeader(bytes.NewReader(file), Unlimited(size+2), (&recorder{}).sink)
		runtime.ReadMemStats(&m1)
		if got := m1.TotalAlloc - m0.TotalAlloc; got > 2*readBuffer {
			t.Errorf("%s: allocated %d bytes (%v)", name, got, err)
		}
	}
}

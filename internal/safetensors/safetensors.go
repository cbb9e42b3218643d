// Package safetensors encodes and decodes the header of a safetensors file:
// an 8-byte little-endian header length, a JSON object that maps each
// tensor's name to {dtype, shape, data_offsets} (and "__metadata__" to a
// map of strings), padded with spaces, then the raw little-endian data.
//
// Only the header is handled here, so that callers stream the data
// straight from and into their own memory: the header is computable from
// the shapes alone, before any data is written, and a reader learns every
// tensor's size before it allocates anything for the data.
//
// The decoder trusts nothing in the file: the header length is bounded by
// the caller before anything is allocated for it (and the allocation only
// grows as bytes actually arrive), duplicate keys at any level, unknown
// dtypes, unknown fields, negative dimensions, sizes that overflow, byte
// lengths that disagree with the shape, and data_offsets that overlap or
// leave gaps are all errors.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
)

// DType is a tensor's element type, spelled as in the file.
type DType string

// The element types this package knows. Others are rejected.
const (
	F32 DType = "F32"
	F64 DType = "F64"
	I64 DType = "I64"
)

// Size returns the size of one element in bytes (0 for an unknown dtype).
func (d DType) Size() int64 {
	switch d {
	case F32:
		return 4
	case F64, I64:
		return 8
	}
	return 0
}

// MetadataKey is the header entry that holds the string-to-string metadata.
const MetadataKey = "__metadata__"

// Meta is one metadata entry. Entries are written in the order given.
type Meta struct {
	Key, Value string
}

// Tensor describes one tensor: its name, dtype and shape, and, in a decoded
// header, the byte range [Begin, End) of its data relative to the start of
// the data section.
type Tensor struct {
	Name       string
	DType      DType
	Shape      []int64
	Begin, End int64
}

// Elems returns the number of elements of shape, and false if a dimension
// is negative or the product overflows int64.
func Elems(shape []int64) (int64, bool) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		hi, lo := bits.Mul64(uint64(n), uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, false
		}
		n = int64(lo)
	}
	return n, true
}

// byteLen is the number of bytes of a tensor's data, false on overflow or
// an unknown dtype.
func byteLen(d DType, shape []int64) (int64, bool) {
	n, ok := Elems(shape)
	size := d.Size()
	if !ok || size == 0 || n > math.MaxInt64/size {
		return 0, false
	}
	return n * size, true
}

// PrefixLen is the length of the header-length field that starts the file.
const PrefixLen = 8

// Encode returns the start of a safetensors file up to its data: the
// header length, the JSON header (metadata first, in the order given, then
// the tensors in the order given, their data laid out contiguously in that
// order) and the space padding that aligns the data to 8 bytes. It also
// returns the length of the data section. Begin and End of the tensors
// given are ignored.
func Encode(meta []Meta, tensors []Tensor) (header []byte, dataLen int64, err error) {
	var b bytes.Buffer
	b.Write(make([]byte, PrefixLen))
	b.WriteByte('{')
	first := true
	sep := func() {
		if !first {
			b.WriteByte(',')
		}
		first = false
	}
	if len(meta) > 0 {
		sep()
		writeString(&b, MetadataKey)
		b.WriteString(":{")
		seen := make(map[string]bool, len(meta))
		for i, m := range meta {
			if seen[m.Key] {
				return nil, 0, fmt.Errorf("safetensors: duplicate metadata key %q", m.Key)
			}
			seen[m.Key] = true
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(&b, m.Key)
			b.WriteByte(':')
			writeString(&b, m.Value)
		}
		b.WriteByte('}')
	}
	seen := make(map[string]bool, len(tensors))
	for _, t := range tensors {
		if t.Name == MetadataKey || seen[t.Name] {
			return nil, 0, fmt.Errorf("safetensors: duplicate or reserved tensor name %q", t.Name)
		}
		seen[t.Name] = true
		n, ok := byteLen(t.DType, t.Shape)
		if !ok || dataLen > math.MaxInt64-n {
			return nil, 0, fmt.Errorf("safetensors: tensor %q: dtype %q, shape %v: unknown dtype or size overflow", t.Name, t.DType, t.Shape)
		}
		sep()
		writeString(&b, t.Name)
		b.WriteString(`:{"dtype":`)
		writeString(&b, string(t.DType))
		b.WriteString(`,"shape":[`)
		for i, d := range t.Shape {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatInt(d, 10))
		}
		fmt.Fprintf(&b, `],"data_offsets":[%d,%d]}`, dataLen, dataLen+n)
		dataLen += n
	}
	b.WriteByte('}')
	for (b.Len()-PrefixLen)%8 != 0 {
		b.WriteByte(' ')
	}
	header = b.Bytes()
	binary.LittleEndian.PutUint64(header, uint64(len(header)-PrefixLen))
	return header, dataLen, nil
}

func writeString(b *bytes.Buffer, s string) {
	// json.Marshal of a string cannot fail; it escapes what JSON requires
	// (and <, >, & as \u00XX, which every JSON reader accepts).
	q, _ := json.Marshal(s)
	b.Write(q)
}

// Header is a decoded header. Tensors are sorted by their data offsets,
// which are contiguous from 0 to DataLen.
type Header struct {
	Metadata map[string]string // nil without a __metadata__ entry
	Tensors  []Tensor
	DataLen  int64
	// Raw is the file's first bytes up to the data: the header length and
	// the JSON header with its padding, as read.
	Raw []byte
}

// ErrFormat is wrapped by every error that reports a malformed file.
var ErrFormat = errors.New("safetensors: malformed file")

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
}

// ReadHeader reads and validates the header at the start of r, which must
// be at most limit bytes long (the 8-byte length excluded): a longer one
// is an error before anything is allocated for it. Memory for the header
// grows only as its bytes arrive, so a length field larger than the input
// costs no more than the input. r is left at the start of the data.
func ReadHeader(r io.Reader, limit int64) (*Header, error) {
	var prefix [PrefixLen]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return nil, formatErr("reading the header length: %v", unexpected(err))
	}
	n := binary.LittleEndian.Uint64(prefix[:])
	if n > uint64(limit) || n > math.MaxInt64-PrefixLen {
		return nil, formatErr("header length %d exceeds the limit of %d bytes", n, limit)
	}
	var b bytes.Buffer
	b.Write(prefix[:])
	if got, err := io.CopyN(&b, r, int64(n)); err != nil {
		return nil, formatErr("header of %d bytes: only %d present: %v", n, got, unexpected(err))
	}
	h, err := Decode(b.Bytes()[PrefixLen:])
	if err != nil {
		return nil, err
	}
	h.Raw = b.Bytes()
	return h, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Decode parses and validates a JSON header (without the length prefix).
func Decode(js []byte) (*Header, error) {
	if len(js) == 0 || js[0] != '{' {
		return nil, formatErr("the header does not start with '{'")
	}
	keys, vals, end, err := object(js)
	if err != nil {
		return nil, err
	}
	for _, c := range js[end:] {
		if c != ' ' {
			return nil, formatErr("header: byte %q after the JSON object (only space padding may follow)", c)
		}
	}
	h := &Header{}
	for i, k := range keys {
		if k == MetadataKey {
			mk, mv, _, err := object(vals[i])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", MetadataKey, err)
			}
			h.Metadata = make(map[string]string, len(mk))
			for j, key := range mk {
				var s string
				if err := json.Unmarshal(mv[j], &s); err != nil {
					return nil, formatErr("%s[%q]: not a string", MetadataKey, key)
				}
				h.Metadata[key] = s
			}
			continue
		}
		t, err := tensor(k, vals[i])
		if err != nil {
			return nil, err
		}
		h.Tensors = append(h.Tensors, t)
	}
	// Data offsets must tile [0, DataLen) exactly: sorted, no overlap, no gap.
	slices.SortFunc(h.Tensors, func(a, b Tensor) int {
		if a.Begin != b.Begin {
			if a.Begin < b.Begin {
				return -1
			}
			return 1
		}
		if a.End != b.End {
			if a.End < b.End {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name) // zero-size tensors at one offset
	})
	for _, t := range h.Tensors {
		if t.Begin != h.DataLen {
			return nil, formatErr("tensor %q: data_offsets [%d, %d]: the data before it ends at %d (offsets overlap or leave a gap)", t.Name, t.Begin, t.End, h.DataLen)
		}
		h.DataLen = t.End
	}
	return h, nil
}

func tensor(name string, raw []byte) (Tensor, error) {
	t := Tensor{Name: name}
	keys, vals, _, err := object(raw)
	if err != nil {
		return t, fmt.Errorf("tensor %q: %w", name, err)
	}
	var have [3]bool
	var offsets []int64
	for i, k := range keys {
		var err error
		switch k {
		case "dtype":
			have[0] = true
			var s string
			err = json.Unmarshal(vals[i], &s)
			t.DType = DType(s)
		case "shape":
			have[1] = true
			err = json.Unmarshal(vals[i], &t.Shape)
		case "data_offsets":
			have[2] = true
			err = json.Unmarshal(vals[i], &offsets)
		default:
			return t, formatErr("tensor %q: unknown field %q", name, k)
		}
		if err != nil {
			return t, formatErr("tensor %q: field %q: %v", name, k, err)
		}
	}
	if have != [3]bool{true, true, true} {
		return t, formatErr("tensor %q: dtype, shape and data_offsets are required", name)
	}
	if t.DType.Size() == 0 {
		return t, formatErr("tensor %q: unknown dtype %q", name, t.DType)
	}
	if t.Shape == nil { // "shape": null; [] decodes to an empty, non-nil slice
		return t, formatErr("tensor %q: shape is not an array", name)
	}
	if len(offsets) != 2 {
		return t, formatErr("tensor %q: data_offsets has %d entries, want 2", name, len(offsets))
	}
	t.Begin, t.End = offsets[0], offsets[1]
	n, ok := byteLen(t.DType, t.Shape)
	if !ok || t.Begin < 0 || t.End < t.Begin {
		return t, formatErr("tensor %q: shape %v or data_offsets %v invalid", name, t.Shape, offsets)
	}
	if t.End-t.Begin != n {
		return t, formatErr("tensor %q: data_offsets [%d, %d] hold %d bytes, shape %v of %s needs %d", name, t.Begin, t.End, t.End-t.Begin, t.Shape, t.DType, n)
	}
	return t, nil
}

// object splits a JSON object into its keys and raw values, in order,
// rejecting duplicate keys (encoding/json would silently keep the last),
// and returns the offset just past the object.
func object(js []byte) (keys []string, vals []json.RawMessage, end int, err error) {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, nil, 0, formatErr("not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, 0, formatErr("malformed JSON: %v", err)
		}
		k, ok := tok.(string)
		if !ok {
			return nil, nil, 0, formatErr("malformed JSON: key %v", tok)
		}
		if seen[k] {
			return nil, nil, 0, formatErr("duplicate key %q", k)
		}
		seen[k] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, 0, formatErr("malformed JSON at key %q: %v", k, err)
		}
		keys, vals = append(keys, k), append(vals, v)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, nil, 0, formatErr("malformed JSON: unterminated object")
	}
	return keys, vals, int(dec.InputOffset()), nil
}

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
// The decoder trusts nothing in the file. It streams the header through a
// small buffer and decodes only the safetensors schema, so it never skips
// or builds a value it does not keep; the reader's Limits bound the
// header's length, the number of tensors, the length of names and keys,
// the dimensions of shapes, and which metadata keys are admitted with how
// long a value, and the decoder stops at the first excess, before it
// allocates anything for it. Duplicate keys at any level, unknown dtypes,
// unknown fields, values of the wrong type, numbers that are not int64
// integers, negative dimensions, sizes that overflow, byte lengths that
// disagree with the shape, and data_offsets that overlap or leave gaps are
// all errors.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"strconv"
)

// DType is a tensor's element type, spelled as in the file.
type DType string

// The element types this package knows. Others are rejected.
const (
	F32 DType = "F32"
	F64 DType = "F64"
	I64 DType = "I64"
	// BF16 and F16 are bfloat16 and IEEE 754 binary16, torch.bfloat16
	// and torch.float16: 2 bytes an element, stored as their bits.
	BF16 DType = "BF16"
	F16  DType = "F16"
)

// Size returns the size of one element in bytes (0 for an unknown dtype).
func (d DType) Size() int64 {
	switch d {
	case F32:
		return 4
	case F64, I64:
		return 8
	case BF16, F16:
		return 2
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

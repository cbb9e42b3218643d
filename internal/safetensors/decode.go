package safetensors

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"unicode/utf16"
	"unicode/utf8"
)

// Header is a decoded header.
type Header struct {
	Metadata map[string]string // nil without a __metadata__ entry
	// Tensors, sorted by their data offsets, which are contiguous from 0
	// to DataLen; nil when a Sink took them, and DataLen 0.
	Tensors []Tensor
	DataLen int64
	// Len is the length of the file's start up to the data: the header
	// length field, the JSON header and its padding.
	Len int64
}

// Limits bound a header and what decoding builds from it: the decoder
// checks each as it reads and stops at the first excess, before it
// allocates anything for it, so that what a header costs is bounded by
// what its reader expects, not by what the header claims.
type Limits struct {
	// Bytes bounds the header's length (the length field excluded).
	Bytes int64
	// Tensors bounds the number of tensors.
	Tensors int
	// Name bounds the length of a tensor's name and of a metadata key,
	// in bytes, decoded.
	Name int
	// Dims bounds the number of dimensions of a tensor.
	Dims int
	// Meta, if not nil, is called with each metadata key before its value
	// is read. It returns the most bytes the value may take, decoded, or
	// an error, which the decoding returns as it is. Without it, every key
	// is admitted, with values of any length.
	Meta func(key string) (int, error)
}

// Unlimited admits any header of up to bytes bytes.
func Unlimited(bytes int64) Limits {
	return Limits{Bytes: bytes, Tensors: math.MaxInt, Name: math.MaxInt, Dims: math.MaxInt}
}

// A Sink takes each tensor as it is decoded, in place of Header.Tensors,
// so that its reader keeps what it needs of each, in its own form, and
// checks the data offsets with Tile. name and t.Shape are valid only
// during the call, and t.Name is empty. The sink rejects a name it was
// given before (the decoder keeps no names); its error ends the decoding,
// which returns it as it is.
type Sink func(name []byte, t Tensor) error

// ErrFormat is wrapped by every error that reports a malformed file.
var ErrFormat = errors.New("safetensors: malformed file")

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
}

// ReadHeader reads and validates the header at the start of r within lim.
// A header longer than lim.Bytes is an error before anything is read of
// it. The header streams through a small buffer: memory grows only with
// what the decoder keeps (the metadata, and the tensors unless sink takes
// them), never with the header's length, so a length field larger than
// the input costs nothing. With a sink, Header.Tensors is nil and sink
// receives each tensor; their data offsets are the sink's to check with
// Tile. r is left at the start of the data: nothing beyond the header is
// read.
func ReadHeader(r io.Reader, lim Limits, sink Sink) (*Header, error) {
	return readHeader(r, lim, sink, readBuffer)
}

// readBuffer is the size of the buffer a header streams through.
const readBuffer = 16 << 10

// readHeader is ReadHeader through a buffer of bufSize bytes, at least 6
// (the longest look-ahead, an escape \uXXXX).
func readHeader(r io.Reader, lim Limits, sink Sink, bufSize int64) (*Header, error) {
	var prefix [PrefixLen]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return nil, formatErr("reading the header length: %v", unexpected(err))
	}
	n := binary.LittleEndian.Uint64(prefix[:])
	if n > uint64(lim.Bytes) || n > math.MaxInt64-PrefixLen {
		return nil, formatErr("header length %d exceeds the limit of %d bytes", n, lim.Bytes)
	}
	s := &scanner{r: r, buf: make([]byte, 0, min(int64(n), bufSize)), size: int64(n), left: int64(n)}
	return s.header(lim, sink)
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Decode parses and validates a JSON header (without the length prefix),
// with no limits.
func Decode(js []byte) (*Header, error) {
	s := &scanner{buf: js, size: int64(len(js))}
	return s.header(Unlimited(int64(len(js))), nil)
}

// Span is the data range of a tensor, identified by the caller's ID.
type Span struct {
	Begin, End int64
	ID         int
}

// Tile sorts spans by their data offsets (zero-size ones at one offset
// keeping their order) and checks that they cover [0, n) exactly, without
// overlap or gap; it returns n. name names the tensor of an ID in errors.
func Tile(spans []Span, name func(id int) string) (int64, error) {
	slices.SortStableFunc(spans, func(a, b Span) int {
		if a.Begin != b.Begin {
			return cmp.Compare(a.Begin, b.Begin)
		}
		return cmp.Compare(a.End, b.End)
	})
	n := int64(0)
	for _, t := range spans {
		if t.Begin != n {
			return 0, formatErr("tensor %q: data_offsets [%d, %d]: the data before it ends at %d (offsets overlap or leave a gap)", name(t.ID), t.Begin, t.End, n)
		}
		n = t.End
	}
	return n, nil
}

// header decodes the whole header: the JSON object, then its padding.
func (s *scanner) header(lim Limits, sink Sink) (*Header, error) {
	h := &Header{Len: PrefixLen + s.size}
	var seen map[string]bool
	if sink == nil {
		seen = map[string]bool{}
		sink = func(name []byte, t Tensor) error {
			if seen[string(name)] {
				return formatErr("duplicate key %q", name)
			}
			t.Name = string(name)
			seen[t.Name] = true
			t.Shape = slices.Clone(t.Shape) // [] stays an empty, non-nil slice
			h.Tensors = append(h.Tensors, t)
			return nil
		}
	}
	if c, ok := s.next(); !ok || c != '{' {
		if s.err != nil {
			return nil, s.err
		}
		return nil, formatErr("the header does not start with '{'")
	}
	tensors := 0
	keyMax := max(lim.Name, len(MetadataKey))
	err := s.object(&s.name, keyMax, "a tensor name", func(key []byte) error {
		if string(key) == MetadataKey {
			if h.Metadata != nil {
				return formatErr("duplicate key %q", MetadataKey)
			}
			h.Metadata = map[string]string{}
			return s.metadata(h.Metadata, lim)
		}
		if len(key) > lim.Name {
			return formatErr("a tensor name longer than %d bytes", lim.Name)
		}
		if tensors == lim.Tensors {
			return formatErr("more than %d tensors", lim.Tensors)
		}
		tensors++
		t, err := s.tensor(key, lim)
		if err != nil {
			return err
		}
		return sink(key, t)
	})
	if err != nil {
		return nil, err
	}
	if err := s.padding(); err != nil {
		return nil, err
	}
	if seen == nil {
		return h, nil
	}
	spans := make([]Span, len(h.Tensors))
	for i, t := range h.Tensors {
		spans[i] = Span{t.Begin, t.End, i}
	}
	if h.DataLen, err = Tile(spans, func(i int) string { return h.Tensors[i].Name }); err != nil {
		return nil, err
	}
	sorted := make([]Tensor, len(spans))
	for i, t := range spans {
		sorted[i] = h.Tensors[t.ID]
	}
	h.Tensors = sorted
	return h, nil
}

// metadata decodes the __metadata__ object into m, within lim.
func (s *scanner) metadata(m map[string]string, lim Limits) error {
	if !s.consume('{') {
		return formatErr("%s: not a JSON object", MetadataKey)
	}
	return s.object(&s.field, lim.Name, "a metadata key", func(k []byte) error {
		if _, dup := m[string(k)]; dup {
			return formatErr("%s: duplicate key %q", MetadataKey, k)
		}
		key := string(k)
		most := math.MaxInt
		if lim.Meta != nil {
			var err error
			if most, err = lim.Meta(key); err != nil {
				return err
			}
		}
		if !s.consume('"') {
			return formatErr("%s[%q]: not a string", MetadataKey, key)
		}
		v, err := s.str(s.value[:0], most)
		s.value = v[:0]
		if err == errLong {
			return formatErr("%s[%q]: longer than %d bytes", MetadataKey, key, most)
		}
		if err != nil {
			return fmt.Errorf("%s[%q]: %w", MetadataKey, key, err)
		}
		m[key] = string(v)
		return nil
	})
}

// tensor decodes the entry of the tensor named name. The shape it returns
// is the scanner's, valid until the next tensor.
func (s *scanner) tensor(name []byte, lim Limits) (Tensor, error) {
	var t Tensor
	if !s.consume('{') {
		return t, formatErr("tensor %q: not a JSON object", name)
	}
	var have [3]bool
	var offsets [2]int64
	err := s.object(&s.field, len("data_offsets"), "a field name", func(k []byte) error {
		field := -1
		for i, f := range [...]string{"dtype", "shape", "data_offsets"} {
			if string(k) == f {
				field = i
			}
		}
		if field < 0 {
			return formatErr("tensor %q: unknown field %q", name, k)
		}
		if have[field] {
			return formatErr("tensor %q: duplicate key %q", name, k)
		}
		have[field] = true
		switch field {
		case 0:
			if !s.consume('"') {
				return formatErr("tensor %q: field \"dtype\": not a string", name)
			}
			b, err := s.str(s.dtype[:0], 8)
			s.dtype = b[:0]
			if err != nil && err != errLong {
				return fmt.Errorf("tensor %q: field \"dtype\": %w", name, err)
			}
			for _, d := range [...]DType{F32, F64, I64, BF16, F16} {
				if err == nil && string(b) == string(d) {
					t.DType = d
				}
			}
			if t.DType == "" {
				return formatErr("tensor %q: unknown dtype %q", name, b)
			}
		case 1:
			if s.literal("null") {
				return formatErr("tensor %q: shape is not an array", name)
			}
			shape, err := s.ints(s.shape[:0], lim.Dims)
			s.shape = shape
			if err == errLong {
				return formatErr("tensor %q: shape has more than %d dimensions", name, lim.Dims)
			}
			if err != nil {
				return fmt.Errorf("tensor %q: field \"shape\": %w", name, err)
			}
			t.Shape = shape
		case 2:
			o, err := s.ints(offsets[:0], 2)
			if err == errLong {
				return formatErr("tensor %q: data_offsets has more than 2 entries", name)
			}
			if err != nil {
				return fmt.Errorf("tensor %q: field \"data_offsets\": %w", name, err)
			}
			if len(o) != 2 {
				return formatErr("tensor %q: data_offsets has %d entries, want 2", name, len(o))
			}
		}
		return nil
	})
	if err != nil {
		return t, err
	}
	if have != [3]bool{true, true, true} {
		return t, formatErr("tensor %q: dtype, shape and data_offsets are required", name)
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

// scanner reads a JSON header from a buffer that it refills from r,
// never past the header's end; with r nil, buf is the whole header. It
// decodes what the safetensors header holds (objects, strings, integer
// arrays) and nothing else, so that nothing is ever skipped: any other
// value is an error where it starts.
type scanner struct {
	r          io.Reader
	buf        []byte // buf[pos:] is read and not yet decoded
	pos        int
	size, left int64 // the header's length; its bytes not yet in buf
	err        error // why r stopped early, once it has
	// Scratch space, reused: a tensor's name, a key inside an entry, a
	// metadata value, a dtype and a shape.
	name, field, value, dtype []byte
	shape                     []int64
}

// errLong reports a string or array beyond its limit.
var errLong = errors.New("too long")

// more makes at least k bytes available at buf[pos:], reading from r as
// needed, and reports whether it could.
func (s *scanner) more(k int) bool {
	if len(s.buf)-s.pos >= k {
		return true
	}
	if s.r == nil || s.err != nil || s.left == 0 {
		return false
	}
	n := copy(s.buf[:cap(s.buf)], s.buf[s.pos:])
	want := int(min(int64(cap(s.buf)-n), s.left))
	got, err := io.ReadFull(s.r, s.buf[n:n+want])
	s.buf, s.pos = s.buf[:n+got], 0
	s.left -= int64(got)
	if err != nil {
		s.err = formatErr("header of %d bytes: only %d present: %v", s.size, s.size-s.left, unexpected(err))
	}
	return len(s.buf) >= k
}

// end is the error of a header that ends where more JSON must follow.
func (s *scanner) end() error {
	if s.err != nil {
		return s.err
	}
	return formatErr("malformed JSON: the header ends inside its object")
}

func (s *scanner) peek() (byte, bool) {
	if s.pos == len(s.buf) && !s.more(1) {
		return 0, false
	}
	return s.buf[s.pos], true
}

func (s *scanner) next() (byte, bool) {
	c, ok := s.peek()
	if ok {
		s.pos++
	}
	return c, ok
}

// space skips JSON whitespace.
func (s *scanner) space() {
	for {
		c, ok := s.peek()
		if !ok || c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return
		}
		s.pos++
	}
}

// consume skips whitespace and then c, reporting whether c was there.
func (s *scanner) consume(c byte) bool {
	s.space()
	if b, ok := s.peek(); ok && b == c {
		s.pos++
		return true
	}
	return false
}

// literal skips whitespace and then word, reporting whether word was
// there (nothing else is consumed if it was not).
func (s *scanner) literal(word string) bool {
	s.space()
	if !s.more(len(word)) || string(s.buf[s.pos:s.pos+len(word)]) != word {
		return false
	}
	s.pos += len(word)
	return true
}

// malformed reports unexpected input, or the header's end.
func (s *scanner) malformed(what string) error {
	c, ok := s.peek()
	if !ok {
		return s.end()
	}
	return formatErr("malformed JSON: %s, found %q", what, c)
}

// object decodes the members of a JSON object whose '{' has been read:
// each key, decoded into *scratch and at most keyMax bytes long (what
// names the key in the error otherwise), is passed to member, which
// decodes the value. Duplicate keys are the caller's to find.
func (s *scanner) object(scratch *[]byte, keyMax int, what string, member func(key []byte) error) error {
	if s.consume('}') {
		return nil
	}
	for {
		if !s.consume('"') {
			return s.malformed("want a key")
		}
		key, err := s.str((*scratch)[:0], keyMax)
		*scratch = key[:0]
		if err == errLong {
			return formatErr("%s longer than %d bytes", what, keyMax)
		}
		if err != nil {
			return err
		}
		if !s.consume(':') {
			return s.malformed("want ':' after a key")
		}
		s.space()
		if err := member(key); err != nil {
			return err
		}
		if s.consume('}') {
			return nil
		}
		if !s.consume(',') {
			return s.malformed("want ',' or '}' after a value")
		}
	}
}

// str decodes a JSON string whose opening quote has been read, appending
// it to dst as encoding/json does (invalid UTF-8 and lone surrogates
// become U+FFFD), and returns errLong as soon as it exceeds most bytes.
func (s *scanner) str(dst []byte, most int) ([]byte, error) {
	// A string decodes to at most its encoded length, but for an invalid
	// byte or a lone surrogate (3 bytes of U+FFFD each): its buffer grows
	// to the rest of the header at most, then on if it must.
	a := appender{dst: dst, most: most, expect: int64(len(s.buf)-s.pos) + s.left}
	var r [utf8.UTFMax]byte
	for {
		if s.pos == len(s.buf) && !s.more(1) {
			return a.dst, s.end()
		}
		// The run of bytes that stand for themselves.
		run := s.buf[s.pos:]
		i := 0
		for i < len(run) && run[i] >= 0x20 && run[i] != '"' && run[i] != '\\' && run[i] < utf8.RuneSelf {
			i++
		}
		if err := a.add(run[:i]); err != nil {
			return a.dst, err
		}
		s.pos += i
		if i == len(run) {
			continue
		}
		var err error
		switch c := run[i]; {
		case c == '"':
			s.pos++
			return a.dst, nil
		case c == '\\':
			err = s.escape(&a)
		case c < 0x20:
			return a.dst, formatErr("malformed JSON: control character %q in a string", c)
		default:
			s.more(utf8.UTFMax)
			c, size := utf8.DecodeRune(s.buf[s.pos:]) // RuneError for an invalid byte
			s.pos += size
			err = a.add(utf8.AppendRune(r[:0], c))
		}
		if err != nil {
			return a.dst, err
		}
	}
}

// appender collects a decoded string of at most most bytes. Its buffer
// grows by doubling, to most at most, and straight to expect once it nears
// it: a string that fits in expect costs twice its length at most.
type appender struct {
	dst    []byte
	most   int
	expect int64
}

func (a *appender) add(b []byte) error {
	n := len(a.dst) + len(b)
	if n > a.most {
		return errLong
	}
	if n > cap(a.dst) {
		size := max(2*cap(a.dst), n, 64)
		if int64(n) <= a.expect && a.expect <= int64(a.most) && int64(size) > a.expect/2 {
			// The last growth: the string fits in expect.
			size = int(a.expect)
		}
		size = min(size, a.most)
		grown := make([]byte, len(a.dst), size)
		copy(grown, a.dst)
		a.dst = grown
	}
	a.dst = append(a.dst, b...)
	return nil
}

// escape decodes the escape sequence at buf[pos] into a.
func (s *scanner) escape(a *appender) error {
	if !s.more(2) {
		return s.end()
	}
	c := s.buf[s.pos+1]
	if c != 'u' {
		s.pos += 2
		switch c {
		case '"', '\\', '/':
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		default:
			return formatErr("malformed JSON: escape \\%c in a string", c)
		}
		return a.add([]byte{c})
	}
	r := s.hex4()
	if r < 0 {
		return formatErr("malformed JSON: \\u without 4 hex digits in a string")
	}
	s.pos += 6
	if utf16.IsSurrogate(r) {
		// A pair, or a lone surrogate, which becomes U+FFFD.
		if d := utf16.DecodeRune(r, s.hex4()); d != utf8.RuneError {
			s.pos += 6
			r = d
		} else {
			r = utf8.RuneError
		}
	}
	var b [utf8.UTFMax]byte
	return a.add(utf8.AppendRune(b[:0], r))
}

// hex4 returns the code of the \uXXXX at buf[pos:], or -1.
func (s *scanner) hex4() rune {
	if !s.more(6) || s.buf[s.pos] != '\\' || s.buf[s.pos+1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s.buf[s.pos+2 : s.pos+6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// ints decodes a JSON array of integers, appending them to dst, and
// returns errLong as soon as there are more than most.
func (s *scanner) ints(dst []int64, most int) ([]int64, error) {
	if !s.consume('[') {
		return dst, s.malformed("want an array of integers")
	}
	if s.consume(']') {
		return dst, nil
	}
	for {
		if len(dst) == most {
			return dst, errLong
		}
		n, err := s.integer()
		if err != nil {
			return dst, err
		}
		dst = append(dst, n)
		if s.consume(']') {
			return dst, nil
		}
		if !s.consume(',') {
			return dst, s.malformed("want ',' or ']' in an array of integers")
		}
	}
}

// integer decodes a JSON number that must be an integer an int64 holds,
// stopping at the first digit too many.
func (s *scanner) integer() (int64, error) {
	s.space()
	neg := s.consume('-')
	limit := uint64(math.MaxInt64)
	if neg {
		limit++
	}
	var n uint64
	digits := 0
	for {
		c, ok := s.peek()
		if !ok || c < '0' || c > '9' {
			if digits == 0 {
				return 0, s.malformed("want an integer")
			}
			if ok && (c == '.' || c == 'e' || c == 'E') {
				return 0, formatErr("malformed JSON: a number that is not an integer")
			}
			if neg {
				return int64(-n), nil
			}
			return int64(n), nil
		}
		if digits == 1 && n == 0 {
			return 0, formatErr("malformed JSON: a number with a leading zero")
		}
		d := uint64(c - '0')
		if n > (limit-d)/10 {
			return 0, formatErr("an integer beyond int64")
		}
		n = n*10 + d
		digits++
		s.pos++
	}
}

// padding checks that only spaces follow the JSON object.
func (s *scanner) padding() error {
	for s.more(1) {
		for _, c := range s.buf[s.pos:] {
			if c != ' ' {
				return formatErr("header: byte %q after the JSON object (only space padding may follow)", c)
			}
		}
		s.pos = len(s.buf)
	}
	return s.err
}

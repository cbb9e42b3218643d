package ir

// This file describes the conversion kernels between float32 and the 16-bit
// storage formats (generic/lowp.go) as operation lists, once, for the
// generators, as grad.go does for the gradient kernels. Their one new
// operation each, OpNarrow and OpExpand, is what the update rules will use
// to step parameters stored in bfloat16 or float16: the generators render
// it from this one description in every kernel set.
//
// A conversion program is the loop body for element i: it loads src[i]
// (StreamG, never written) and stores dst[i] (StreamP, never read). Its
// kernel runs the program on whole vectors only; the caller runs the few
// elements left over with the reference (kernels/lowp.go).

// Format is a 16-bit storage format of float32 values.
type Format int

const (
	BF16 Format = iota // bfloat16: float32's upper 16 bits
	F16                // IEEE 754 binary16
	FormatCount
)

var formatNames = [...]string{"bf16", "f16"}

// String is the format's short name: "bf16" or "f16".
func (f Format) String() string { return formatNames[f] }

// ConvKind names a conversion kernel.
type ConvKind int

// The conversion kernels, in the order of ConvPrograms().
const (
	ConvNarrowBF16 ConvKind = iota // float32 to bfloat16
	ConvWidenBF16                  // bfloat16 to float32
	ConvNarrowF16                  // float32 to float16
	ConvWidenF16                   // float16 to float32
	ConvKindCount
)

// ConvProgram is one conversion kernel's description.
type ConvProgram struct {
	Kind ConvKind
	// Name is the lower-case symbol name of generated code: "narrowbf16".
	Name string
	// GoName is the reference's name in package generic: "NarrowBF16".
	GoName string
	Format Format
	// Narrow reports the direction: float32 to Format (src is float32, dst
	// 16-bit), or else Format to float32.
	Narrow bool
	Body   []Instr
	Values int
}

// SrcSize and DstSize are the bytes of one element of src and dst.
func (p *ConvProgram) SrcSize() int {
	if p.Narrow {
		return 4
	}
	return 2
}

// DstSize is the bytes of one element of dst.
func (p *ConvProgram) DstSize() int { return 6 - p.SrcSize() }

// Narrow is the bits of x rounded to format f (OpNarrow).
func (b *Builder) Narrow(x Value, f Format) Value {
	return b.emit(Instr{Op: OpNarrow, A: x, Format: f})
}

// Expand is the float32 value of the format-f bits x (OpExpand).
func (b *Builder) Expand(x Value, f Format) Value {
	return b.emit(Instr{Op: OpExpand, A: x, Format: f})
}

// ConvPrograms returns every conversion kernel's description, indexed by
// ConvKind.
func ConvPrograms() []ConvProgram {
	out := make([]ConvProgram, ConvKindCount)
	for k := range out {
		f, narrow := Format(k/2), k%2 == 0
		b := NewBuilder(nil)
		x := b.Load(StreamG)
		name := "Widen"
		if narrow {
			name = "Narrow"
			b.Store(StreamP, b.Narrow(x, f))
		} else {
			b.Store(StreamP, b.Expand(x, f))
		}
		goName := name + map[Format]string{BF16: "BF16", F16: "F16"}[f]
		out[k] = ConvProgram{Kind: ConvKind(k), Name: map[bool]string{true: "narrow", false: "widen"}[narrow] + f.String(),
			GoName: goName, Format: f, Narrow: narrow, Body: b.p.Body, Values: b.p.Values}
	}
	return out
}

package kernelgen

import (
	"bytes"
	"fmt"
	"go/format"
	"math"
	"strconv"
	"strings"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/ir"
)

// ParamNames are the assembly functions' stream parameters, in the order of
// generic's streams. The gradient is not "g", which names the goroutine
// register in arm64 assembly and is reserved by the amd64 assembler. Only
// the master kernels have the last, copy (ir.StreamCopy).
var ParamNames = [ir.NumStreams]string{"p", "grad", "s0", "s1", "s2", "copy"}

// Set is one kernel set in a generated file.
type Set struct {
	Name  string // kernels.Set's name: "avx2", "neon"
	Title string // for comments: "AVX2", "NEON"
	Doc   string // the set variable's doc comment, without "// "
	// Grad reports that the set has assembly gradient kernels
	// (ir.GradPrograms); without them, package kernels gives the set
	// the references.
	Grad bool
	// Fused lists the families of fused kernels on 16-bit storage that
	// the set has (Families), each for every rule, variant and format;
	// without one, package kernels composes those steps from the set's
	// float32 kernels and conversions.
	Fused []*Family
	// LowpExt names an optional extension of the set (internal/cpufeat.Ext,
	// as OPTIM_ISA spells it: "bf16") with which the set has a second form
	// of its fused kernels that round to bfloat16 (ExtBackend), "" for
	// none. Package kernels runs that form where the extension is enabled
	// (its variable ExtVar(LowpExt)), with the same bits.
	LowpExt string
}

// ExtVar is the variable of package kernels that reports whether
// extension ext is enabled: "extBF16".
func ExtVar(ext string) string { return "ext" + strings.ToUpper(ext) }

// FuncName is the assembly function of program p in set s for element d,
// e.g. "adam_v41_avx2_f32".
func FuncName(p ir.Program, set string, d Elem) string {
	return fmt.Sprintf("%s_%s_%s", p.Name(), set, d.Name)
}

// GlueName is the generic.Kernel of rule r in set s for element d, which
// switches on the variant, e.g. "adam_avx2_f32".
func GlueName(r generic.RuleDesc, set string, d Elem) string {
	return fmt.Sprintf("%s_%s_%s", r.Name, set, d.Name)
}

// Programs returns every rule's program for every variant, in the order of
// generic.Rules() and RuleDesc.Variants(): the order of the functions in
// every generated file.
func Programs() []ir.Program {
	var out []ir.Program
	for _, r := range generic.Rules() {
		for _, v := range r.Variants() {
			out = append(out, ir.Build(int(r.Kind), uint32(v)))
		}
	}
	return out
}

// Family is a kind of fused kernel on 16-bit storage beside the float32 and
// float64 update kernels: every rule's program under every variant,
// transformed for each 16-bit format (Transform), compiled for float32.
type Family struct {
	// Field is the family's field in kernels.Set, an array by format of
	// Rules, its per-Kind type; Suffix follows the format in its glue's
	// names ("adam_avx2_bf16copy").
	Field, Rules, Suffix string
	// Transform makes a family's program from a rule's float32 program.
	Transform func(ir.Program, ir.Format) ir.Program
	// P, State and Copy are the Go element types of the kernels'
	// parameters and gradients, of their state and of their copy ("" for
	// none).
	P, State, Copy string
	// Ref is the reference the glue falls back on, a format string of the
	// rule's Go name and the format's ("BF16").
	Ref string
	// Doc says, after the kernel's name, what it does to its streams.
	Doc string
}

// The families, in the order of every generated file.
var (
	// Lowp: every stream stored in the format (ir.Lowp), generic.StepLowp
	// with state in the parameters' format.
	Lowp = &Family{Field: "lowp", Rules: "lowpRules", Transform: ir.Lowp, P: "uint16", State: "uint16",
		Ref: "generic.StepLowp(generic.Kind%s, generic.Format%s, v, c, p, g, s0, s1, s2)", Doc: "each stream stored in"}
	// LowpState32: parameters and gradients stored in the format, state in
	// float32 (ir.LowpState32), generic.StepLowp with float32 state.
	LowpState32 = &Family{Field: "lowp32", Rules: "lowp32Rules", Suffix: "s32", Transform: ir.LowpState32, P: "uint16", State: "float32",
		Ref: "generic.StepLowp(generic.Kind%s, generic.Format%s, v, c, p, g, s0, s1, s2)", Doc: "the state in float32, the parameters and gradients stored in"}
	// Master: the float32 step that also writes the parameters rounded to
	// the format (ir.Master), generic.StepMaster from float32 gradients.
	Master = &Family{Field: "master", Rules: "masterRules", Suffix: "copy", Transform: ir.Master, P: "float32", State: "float32", Copy: "uint16",
		Ref: "generic.StepMaster(generic.Kind%s, generic.Format%s, v, c, p, g, s0, s1, s2, copy)", Doc: "writing the new parameters' copy in"}
	Families = []*Family{Lowp, LowpState32, Master}
)

// Programs returns the family's programs: every rule's program for every
// variant, for each 16-bit format, in the order of Programs() for each
// format.
func (f *Family) Programs() []ir.Program {
	var out []ir.Program
	for fm := range ir.FormatCount {
		for _, p := range Programs() {
			out = append(out, f.Transform(p, fm))
		}
	}
	return out
}

// ExtPrograms returns the programs of set s's second form of the family's
// kernels (Set.LowpExt): every bfloat16 one of Programs, none if s has no
// such form or not the family.
func (f *Family) ExtPrograms(s Set) []ir.Program {
	var out []ir.Program
	if s.LowpExt == "" || !s.Has(f) {
		return nil
	}
	for _, p := range f.Programs() {
		if p.Format == ir.BF16 {
			out = append(out, p)
		}
	}
	return out
}

// Has reports whether set s has fused kernels of family f.
func (s Set) Has(f *Family) bool {
	for _, g := range s.Fused {
		if g == f {
			return true
		}
	}
	return false
}

// GlueName is the family's kernel of rule r in set s for format fm, which
// switches on the variant, e.g. "adam_avx2_bf16copy".
func (f *Family) GlueName(r generic.RuleDesc, set string, fm ir.Format) string {
	return fmt.Sprintf("%s_%s_%s%s", r.Name, set, fm, f.Suffix)
}

// params is the glue's parameter list after v and c.
func (f *Family) params() string {
	out := fmt.Sprintf("p, g, s0, s1, s2 []%s", f.State)
	if f.P != f.State {
		out = fmt.Sprintf("p, g []%s, s0, s1, s2 []%s", f.P, f.State)
	}
	if f.Copy != "" {
		out += fmt.Sprintf(", copy []%s", f.Copy)
	}
	return out
}

// args is the assembly kernel's argument list.
func (f *Family) args() string {
	out := "c, len(p), unsafe.SliceData(p), unsafe.SliceData(g), unsafe.SliceData(s0), unsafe.SliceData(s1), unsafe.SliceData(s2)"
	if f.Copy != "" {
		out += ", unsafe.SliceData(copy)"
	}
	return out
}

// GoFile returns the Go file of package kernels that goes with a generated
// assembly file: one kernels.Set per set, whose kernel for each rule and
// element type switches on the variant, calling the assembly function of
// every variant the rule's description lists and the reference for any
// other; then the declarations of the assembly functions. Each refers to
// its program by name; ProgramsFile documents every program once, for
// every set and element type. generator names the command in the header;
// the file is built unless the noasm tag is given.
func GoFile(generator string, sets []Set) ([]byte, error) {
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	header(p, generator, "unsafe", "github.com/simdoptim/optim/generic")
	rules := generic.Rules()
	for _, s := range sets {
		p("\n// %sSet %s\n", s.Name, strings.ReplaceAll(s.Doc, "\n", "\n// "))
		p("var %sSet = Set{\n\tname: %q,\n", s.Name, s.Name)
		for _, d := range Elems {
			p("\t%s: rules[%s]{\n", d.Name, d.Go)
			for _, r := range rules {
				p("\t\tKind%s: %s,\n", r.GoName, GlueName(r, s.Name, d))
			}
			p("\t},\n")
		}
		if s.Grad {
			gradSetFields(p, s)
		}
		for _, fam := range s.Fused {
			p("\t%s: [generic.FormatCount]%s{\n", fam.Field, fam.Rules)
			for f := range ir.FormatCount {
				p("\t\t{\n")
				for _, r := range rules {
					p("\t\t\tKind%s: %s,\n", r.GoName, fam.GlueName(r, s.Name, f))
				}
				p("\t\t},\n")
			}
			p("\t},\n")
		}
		p("}\n")
	}
	for _, s := range sets {
		for _, d := range Elems {
			for _, r := range rules {
				ref := fmt.Sprintf("generic.%s[%s]", r.GoName, d.Go)
				p("\n// %s runs %s with %s: the assembly kernel of\n", GlueName(r, s.Name, d), ref, s.Title)
				p("// every variant in the rule's description, the reference for any other.\n")
				p("func %s(v generic.Variant, c *generic.Coeffs[%s], p, g, s0, s1, s2 []%s) {\n", GlueName(r, s.Name, d), d.Go, d.Go)
				p("\tswitch v {\n")
				for _, v := range r.Variants() {
					prog := ir.Build(int(r.Kind), uint32(v))
					p("\tcase %s:\n", prog.Name())
					p("\t\t%s(c, len(p), unsafe.SliceData(p), unsafe.SliceData(g), unsafe.SliceData(s0), unsafe.SliceData(s1), unsafe.SliceData(s2))\n",
						FuncName(prog, s.Name, d))
				}
				p("\tdefault:\n\t\t%s(v, c, p, g, s0, s1, s2)\n\t}\n}\n", ref)
			}
		}
	}
	for _, s := range sets {
		for _, fam := range s.Fused {
			fusedGlue(p, s, fam)
		}
	}
	for _, s := range sets {
		if s.Grad {
			gradDecls(p, s)
		}
	}
	for _, s := range sets {
		for _, d := range Elems {
			for _, prog := range Programs() {
				p("\n// %s runs [%s] with %s on %s elements.\n//\n//go:noescape\n", FuncName(prog, s.Name, d), prog.Name(), s.Title, d.Go)
				p("func %s%s\n", FuncName(prog, s.Name, d), Signature(d))
			}
			if d != F32 {
				continue
			}
			for _, fam := range s.Fused {
				for _, prog := range fam.Programs() {
					p("\n// %s runs [%s] with %s on %s elements, %s %s.\n//\n//go:noescape\n",
						FuncName(prog, s.Name, d), ir.Build(prog.Kind, prog.Variant).Name(), s.Title, d.Go, fam.Doc, prog.Format)
					p("func %s%s\n", FuncName(prog, s.Name, d), ProgramSignature(prog, d))
				}
				for _, prog := range fam.ExtPrograms(s) {
					p("\n// %s runs [%s] with %s and its extension %s on %s elements,\n// %s %s.\n//\n//go:noescape\n",
						FuncName(prog, s.Name+s.LowpExt, d), ir.Build(prog.Kind, prog.Variant).Name(), s.Title, s.LowpExt, d.Go, fam.Doc, prog.Format)
					p("func %s%s\n", FuncName(prog, s.Name+s.LowpExt, d), ProgramSignature(prog, d))
				}
			}
		}
	}
	return formatted(b.Bytes())
}

// fusedGlue writes set s's kernel of family fam for every rule and
// format: a switch on the variant that calls the fused assembly kernel of
// every variant in the rule's description (its form with the set's
// extension first, where that is enabled and the format bfloat16), the
// reference for any other.
func fusedGlue(p func(string, ...any), s Set, fam *Family) {
	for f := range ir.FormatCount {
		for _, r := range generic.Rules() {
			name := fam.GlueName(r, s.Name, f)
			ref := fmt.Sprintf(fam.Ref, r.GoName, strings.ToUpper(f.String()))
			p("\n// %s runs %s for Kind%s with %s,\n// %s %s: the fused assembly kernel of every variant in the rule's\n// description, the reference for any other.\n",
				name, ref[:strings.Index(ref, "(")], r.GoName, s.Title, fam.Doc, f)
			p("func %s(v generic.Variant, c *generic.Coeffs[float32], %s) {\n", name, fam.params())
			if s.LowpExt != "" && f == ir.BF16 {
				p("\tif %s {\n\t\tswitch v {\n", ExtVar(s.LowpExt))
				for _, v := range r.Variants() {
					prog := ir.Build(int(r.Kind), uint32(v))
					p("\t\tcase %s:\n", prog.Name())
					p("\t\t\t%s(%s)\n\t\t\treturn\n", FuncName(fam.Transform(prog, f), s.Name+s.LowpExt, F32), fam.args())
				}
				p("\t\t}\n\t}\n")
			}
			p("\tswitch v {\n")
			for _, v := range r.Variants() {
				prog := ir.Build(int(r.Kind), uint32(v))
				p("\tcase %s:\n", prog.Name())
				p("\t\t%s(%s)\n", FuncName(fam.Transform(prog, f), s.Name, F32), fam.args())
			}
			p("\tdefault:\n\t\t%s\n\t}\n}\n", ref)
		}
	}
}

// ProgramsFile returns the Go file of package kernels that documents every
// program of the assembly kernels once, whatever the set and element type:
// a constant per program, named as the prefix of its kernels' names and
// documented with the program's operations. An update program's constant
// is the variant it runs, on which the rule's kernel switches (GoFile); a
// gradient program's is its ir.GradKind, which indexes a set's gradient
// kernels. generator names the command in the header.
func ProgramsFile(generator string) ([]byte, error) {
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	header(p, generator, "github.com/simdoptim/optim/generic", "github.com/simdoptim/optim/internal/ir")
	p("\n// The programs of the assembly kernels. A kernel's name is its program's,\n")
	p("// then its set's and its element type's: adam_v41_avx2_f32 runs adam_v41\n")
	p("// with AVX2 on float32. Every kernel of a program computes exactly the\n")
	p("// operations listed here, lane by lane.\n")
	rules := generic.Rules()
	for _, prog := range Programs() {
		v := generic.Variant(prog.Variant)
		p("\n// %s is generic.%s under variant %s:\n", prog.Name(), rules[prog.Kind].GoName, v.Expr(""))
		p("// for each i < n, in this order and without fusing any two operations,\n//\n")
		for _, line := range Listing(prog) {
			p("//\t%s\n", line)
		}
		p("const %s generic.Variant = %s\n", prog.Name(), v.Expr("generic."))
	}
	gradConsts(p)
	return formatted(b.Bytes())
}

// header writes the head of a generated Go file of package kernels, built
// unless the noasm tag is given, importing imports.
func header(p func(string, ...any), generator string, imports ...string) {
	p("// Code generated by %s. DO NOT EDIT.\n\n//go:build !noasm\n\npackage kernels\n\nimport (\n", generator)
	for i, path := range imports {
		if i > 0 && !strings.Contains(imports[i-1], ".") && strings.Contains(path, ".") {
			p("\n") // the standard library first, in a group of its own
		}
		p("\t%q\n", path)
	}
	p(")\n")
}

// formatted is src as gofmt formats it.
func formatted(src []byte) ([]byte, error) {
	out, err := format.Source(src)
	if err != nil {
		return nil, fmt.Errorf("formatting the Go file: %v", err)
	}
	return out, nil
}

// Signature is the Go signature of every assembly kernel of element d.
func Signature(d Elem) string {
	return fmt.Sprintf("(c *generic.Coeffs[%s], n int, %s *%s)", d.Go, strings.Join(ParamNames[:ir.StreamCopy], ", "), d.Go)
}

// FamilyOf returns the family of program p, nil for a float32 or float64
// update program.
func FamilyOf(p ir.Program) *Family {
	switch {
	case p.Master():
		return Master
	case p.State32:
		return LowpState32
	case p.Lowp():
		return Lowp
	}
	return nil
}

// ProgramSignature is the Go signature of the kernel of program p with
// element d: Signature(d), or its family's (Family.Signature).
func ProgramSignature(p ir.Program, d Elem) string {
	if f := FamilyOf(p); f != nil {
		return f.Signature()
	}
	return Signature(d)
}

// Signature is the Go signature of every kernel of the family: float32
// coefficients, and the streams of the family's types.
func (f *Family) Signature() string {
	pg, st := strings.Join(ParamNames[:ir.StreamS0], ", "), strings.Join(ParamNames[ir.StreamS0:ir.StreamCopy], ", ")
	out := fmt.Sprintf("(c *generic.Coeffs[float32], n int, %s, %s *%s", pg, st, f.State)
	if f.P != f.State {
		out = fmt.Sprintf("(c *generic.Coeffs[float32], n int, %s *%s, %s *%s", pg, f.P, st, f.State)
	}
	if f.Copy != "" {
		out += fmt.Sprintf(", %s *%s", ParamNames[ir.StreamCopy], f.Copy)
	}
	return out + ")"
}

// Listing renders a program body as Go-like statements.
func Listing(prog ir.Program) []string {
	var out []string
	v := func(x ir.Value) string { return fmt.Sprintf("v%d", x) }
	for _, in := range prog.Body {
		var rhs string
		switch in.Op {
		case ir.OpLoad:
			rhs = ParamNames[in.Stream] + "[i]"
		case ir.OpStore:
			out = append(out, fmt.Sprintf("%s[i] = %s", ParamNames[in.Stream], v(in.A)))
			continue
		case ir.OpCoeff:
			rhs = "c." + ir.CoeffNames()[in.Coeff]
		case ir.OpAdd:
			rhs = v(in.A) + " + " + v(in.B)
		case ir.OpSub:
			rhs = v(in.A) + " - " + v(in.B)
		case ir.OpMul:
			rhs = v(in.A) + " * " + v(in.B)
		case ir.OpDiv:
			rhs = v(in.A) + " / " + v(in.B)
		case ir.OpSqrt:
			rhs = "sqrt(" + v(in.A) + ")"
		case ir.OpXor:
			rhs = v(in.A) + " ^ " + v(in.B) + " (bits)"
		case ir.OpMaxNaN:
			rhs = "generic.MaxNaN(" + v(in.A) + ", " + v(in.B) + ")"
		case ir.OpConst:
			rhs = constLiteral(in.Imm)
		case ir.OpAbs, ir.OpRaise, ir.OpLower:
			rhs = shared(in)
		case ir.OpSelect:
			rhs = fmt.Sprintf("%s if %s < %s, else %s", v(in.X), v(in.A), v(in.B), v(in.Y))
		default:
			panic("kernelgen: unexpected op in an update program: " + in.Op.String())
		}
		out = append(out, v(in.Dst)+" = "+rhs)
	}
	return out
}

// constLiteral renders a constant so that -0 shows its sign.
func constLiteral(x float64) string {
	if x == 0 && math.Signbit(x) {
		return "-0"
	}
	return strconv.FormatFloat(x, 'g', -1, 64)
}

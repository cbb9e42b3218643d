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
	// Lowp reports that the set has fused low-precision update kernels
	// (LowpPrograms) for every rule and format; without them, package
	// kernels composes the low-precision steps from the set's float32
	// kernels and conversions.
	Lowp bool
	// LowpExt names an optional extension of the set (internal/cpufeat.Ext,
	// as OPTIM_ISA spells it: "bf16") with which the set has a second form
	// of its bfloat16 low-precision kernels (ExtBackend), "" for none.
	// Package kernels runs that form where the extension is enabled
	// (its variable ExtVar(LowpExt)), with the same bits.
	LowpExt string
	// Master reports that the set has fused master kernels
	// (MasterPrograms) for every rule and format: the float32 step from
	// float32 gradients that writes the parameters' 16-bit copy in the
	// same pass. Without them, package kernels composes that step from
	// the set's float32 kernels and conversions.
	Master bool
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

// LowpPrograms returns every rule's program for every variant stored in
// each 16-bit format (ir.Lowp): the fused low-precision kernels of the sets
// that have them (Set.Lowp), in the order of Programs() for each format.
func LowpPrograms() []ir.Program {
	var out []ir.Program
	for f := range ir.FormatCount {
		for _, p := range Programs() {
			out = append(out, ir.Lowp(p, f))
		}
	}
	return out
}

// LowpExtPrograms returns the programs of set s's second form of its
// low-precision kernels (Set.LowpExt): every bfloat16 one of
// LowpPrograms, none if s has no such form.
func LowpExtPrograms(s Set) []ir.Program {
	var out []ir.Program
	for _, p := range LowpPrograms() {
		if s.LowpExt != "" && p.Format == ir.BF16 {
			out = append(out, p)
		}
	}
	return out
}

// MasterPrograms returns every rule's program for every variant with a copy
// of the parameters in each 16-bit format (ir.Master): the fused master
// kernels of the sets that have them (Set.Master), in the order of
// Programs() for each format.
func MasterPrograms() []ir.Program {
	var out []ir.Program
	for f := range ir.FormatCount {
		for _, p := range Programs() {
			out = append(out, ir.Master(p, f))
		}
	}
	return out
}

// MasterExtPrograms returns the programs of set s's second form of its
// master kernels (Set.LowpExt): every one of MasterPrograms with a
// bfloat16 copy, none if s has no such form.
func MasterExtPrograms(s Set) []ir.Program {
	var out []ir.Program
	for _, p := range MasterPrograms() {
		if s.LowpExt != "" && p.Format == ir.BF16 {
			out = append(out, p)
		}
	}
	return out
}

// MasterGlueName is the master kernel of rule r in set s with a copy in
// format f, which switches on the variant, e.g. "adam_avx2_bf16copy".
func MasterGlueName(r generic.RuleDesc, set string, f ir.Format) string {
	return fmt.Sprintf("%s_%s_%scopy", r.Name, set, f)
}

// LowpGlueName is the low-precision kernel of rule r in set s for format f,
// which switches on the variant, e.g. "adam_avx2_bf16".
func LowpGlueName(r generic.RuleDesc, set string, f ir.Format) string {
	return fmt.Sprintf("%s_%s_%s", r.Name, set, f)
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
		if s.Lowp {
			p("\tlowp: [generic.FormatCount]lowpRules{\n")
			for f := range ir.FormatCount {
				p("\t\t{\n")
				for _, r := range rules {
					p("\t\t\tKind%s: %s,\n", r.GoName, LowpGlueName(r, s.Name, f))
				}
				p("\t\t},\n")
			}
			p("\t},\n")
		}
		if s.Master {
			p("\tmaster: [generic.FormatCount]masterRules{\n")
			for f := range ir.FormatCount {
				p("\t\t{\n")
				for _, r := range rules {
					p("\t\t\tKind%s: %s,\n", r.GoName, MasterGlueName(r, s.Name, f))
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
		if s.Lowp {
			lowpGlue(p, s)
		}
	}
	for _, s := range sets {
		if s.Master {
			masterGlue(p, s)
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
			if s.Lowp && d == F32 {
				for _, prog := range LowpPrograms() {
					p("\n// %s runs [%s] with %s on %s elements, each stream stored in %s.\n//\n//go:noescape\n",
						FuncName(prog, s.Name, d), ir.Build(prog.Kind, prog.Variant).Name(), s.Title, d.Go, prog.Format)
					p("func %s%s\n", FuncName(prog, s.Name, d), LowpSignature())
				}
				for _, prog := range LowpExtPrograms(s) {
					p("\n// %s runs [%s] with %s and its extension %s on %s elements, each stream\n// stored in %s.\n//\n//go:noescape\n",
						FuncName(prog, s.Name+s.LowpExt, d), ir.Build(prog.Kind, prog.Variant).Name(), s.Title, s.LowpExt, d.Go, prog.Format)
					p("func %s%s\n", FuncName(prog, s.Name+s.LowpExt, d), LowpSignature())
				}
			}
			if s.Master && d == F32 {
				for _, prog := range MasterPrograms() {
					p("\n// %s runs [%s] with %s on %s elements, and writes the new\n// parameters rounded to %s to copy.\n//\n//go:noescape\n",
						FuncName(prog, s.Name, d), ir.Build(prog.Kind, prog.Variant).Name(), s.Title, d.Go, prog.Format)
					p("func %s%s\n", FuncName(prog, s.Name, d), MasterSignature())
				}
				for _, prog := range MasterExtPrograms(s) {
					p("\n// %s runs [%s] with %s and its extension %s on %s elements, and\n// writes the new parameters rounded to %s to copy.\n//\n//go:noescape\n",
						FuncName(prog, s.Name+s.LowpExt, d), ir.Build(prog.Kind, prog.Variant).Name(), s.Title, s.LowpExt, d.Go, prog.Format)
					p("func %s%s\n", FuncName(prog, s.Name+s.LowpExt, d), MasterSignature())
				}
			}
		}
	}
	return formatted(b.Bytes())
}

// lowpGlue writes set s's low-precision kernel of every rule for every
// format: a switch on the variant that calls the fused assembly kernel of
// every variant in the rule's description, the reference for any other.
func lowpGlue(p func(string, ...any), s Set) {
	for f := range ir.FormatCount {
		for _, r := range generic.Rules() {
			name := LowpGlueName(r, s.Name, f)
			p("\n// %s runs generic.StepLowp for Kind%s in %s with %s: the fused\n", name, r.GoName, f, s.Title)
			p("// assembly kernel of every variant in the rule's description, the\n// reference for any other.\n")
			p("func %s(v generic.Variant, c *generic.Coeffs[float32], p, g, s0, s1, s2 []uint16) {\n", name)
			if s.LowpExt != "" && f == ir.BF16 {
				p("\tif %s {\n\t\tswitch v {\n", ExtVar(s.LowpExt))
				for _, v := range r.Variants() {
					prog := ir.Build(int(r.Kind), uint32(v))
					p("\t\tcase %s:\n", prog.Name())
					p("\t\t\t%s(c, len(p), unsafe.SliceData(p), unsafe.SliceData(g), unsafe.SliceData(s0), unsafe.SliceData(s1), unsafe.SliceData(s2))\n\t\t\treturn\n",
						FuncName(ir.Lowp(prog, f), s.Name+s.LowpExt, F32))
				}
				p("\t\t}\n\t}\n")
			}
			p("\tswitch v {\n")
			for _, v := range r.Variants() {
				prog := ir.Build(int(r.Kind), uint32(v))
				p("\tcase %s:\n", prog.Name())
				p("\t\t%s(c, len(p), unsafe.SliceData(p), unsafe.SliceData(g), unsafe.SliceData(s0), unsafe.SliceData(s1), unsafe.SliceData(s2))\n",
					FuncName(ir.Lowp(prog, f), s.Name, F32))
			}
			p("\tdefault:\n\t\tgeneric.StepLowp(generic.Kind%s, generic.Format%s, v, c, p, g, s0, s1, s2)\n\t}\n}\n", r.GoName, strings.ToUpper(f.String()))
		}
	}
}

// masterGlue writes set s's master kernel of every rule for every format: a
// switch on the variant that calls the fused assembly kernel of every
// variant in the rule's description, the reference for any other.
func masterGlue(p func(string, ...any), s Set) {
	for f := range ir.FormatCount {
		for _, r := range generic.Rules() {
			name := MasterGlueName(r, s.Name, f)
			p("\n// %s runs generic.StepMaster for Kind%s with float32 gradients and a\n", name, r.GoName)
			p("// copy in %s with %s: the fused assembly kernel of every variant in the\n// rule's description, the reference for any other.\n", f, s.Title)
			p("func %s(v generic.Variant, c *generic.Coeffs[float32], p, g, s0, s1, s2 []float32, copy []uint16) {\n", name)
			if s.LowpExt != "" && f == ir.BF16 {
				p("\tif %s {\n\t\tswitch v {\n", ExtVar(s.LowpExt))
				for _, v := range r.Variants() {
					prog := ir.Build(int(r.Kind), uint32(v))
					p("\t\tcase %s:\n", prog.Name())
					p("\t\t\t%s(c, len(p), unsafe.SliceData(p), unsafe.SliceData(g), unsafe.SliceData(s0), unsafe.SliceData(s1), unsafe.SliceData(s2), unsafe.SliceData(copy))\n\t\t\treturn\n",
						FuncName(ir.Master(prog, f), s.Name+s.LowpExt, F32))
				}
				p("\t\t}\n\t}\n")
			}
			p("\tswitch v {\n")
			for _, v := range r.Variants() {
				prog := ir.Build(int(r.Kind), uint32(v))
				p("\tcase %s:\n", prog.Name())
				p("\t\t%s(c, len(p), unsafe.SliceData(p), unsafe.SliceData(g), unsafe.SliceData(s0), unsafe.SliceData(s1), unsafe.SliceData(s2), unsafe.SliceData(copy))\n",
					FuncName(ir.Master(prog, f), s.Name, F32))
			}
			p("\tdefault:\n\t\tgeneric.StepMaster(generic.Kind%s, generic.Format%s, v, c, p, g, s0, s1, s2, copy)\n\t}\n}\n", r.GoName, strings.ToUpper(f.String()))
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

// LowpSignature is the Go signature of every fused low-precision kernel:
// float32 coefficients, and every stream 16-bit.
func LowpSignature() string {
	return fmt.Sprintf("(c *generic.Coeffs[float32], n int, %s *uint16)", strings.Join(ParamNames[:ir.StreamCopy], ", "))
}

// MasterSignature is the Go signature of every fused master kernel:
// float32 coefficients and streams, and the 16-bit copy.
func MasterSignature() string {
	return fmt.Sprintf("(c *generic.Coeffs[float32], n int, %s *float32, %s *uint16)",
		strings.Join(ParamNames[:ir.StreamCopy], ", "), ParamNames[ir.StreamCopy])
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

package kernelgen

import (
	"fmt"
	"strings"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/ir"
)

// GradFuncName is the assembly function of gradient program p in set s for
// element d, e.g. "sumsquares_avx2_f32".
func GradFuncName(p ir.GradProgram, set string, d Elem) string {
	return fmt.Sprintf("%s_%s_%s", p.Name, set, d.Name)
}

// GradStreams are the streams a gradient program may touch, in the order
// of their pointer parameters, each with its parameter's name: x, the slice
// the kernel passes over (read, and written by a pass that stores), and y,
// the second slice of a pass that combines two (read only). A kernel never
// dereferences the pointer of a stream its program does not touch.
var GradStreams = []struct {
	Stream int
	Param  string
}{{ir.StreamP, "x"}, {ir.StreamG, "y"}}

// GradParamOf is the name of stream s's pointer parameter (GradStreams).
func GradParamOf(s int) string {
	for _, gs := range GradStreams {
		if gs.Stream == s {
			return gs.Param
		}
	}
	panic(fmt.Sprintf("kernelgen: stream %d is not a gradient kernel's", s))
}

// GradParam is one parameter of every gradient kernel's Go declaration.
type GradParam struct {
	Name string
	Go   string // its Go type: "int", "*float32", "float64", ...
	Size int    // bytes, which is also its alignment
}

// GradParams are the parameters of every gradient kernel of element d, in
// order: the element count, a pointer per stream of GradStreams, and the
// scalar arguments of ir.GradArgNames (s is float64, the others are T):
//
//	n int, x, y *T, s float64, a, b T
//
// The kernel's one result is acc [generic.ReduceLanes]float64. The Go
// declaration (GradSignature), the amd64 signature and the arm64 frame
// offsets (GradFrame) all derive from this list.
func GradParams(d Elem) []GradParam {
	params := []GradParam{{Name: "n", Go: "int", Size: 8}}
	for _, s := range GradStreams {
		params = append(params, GradParam{Name: s.Param, Go: "*" + d.Go, Size: 8})
	}
	for arg, name := range ir.GradArgNames {
		if arg == ir.GradArgS {
			params = append(params, GradParam{Name: name, Go: "float64", Size: 8})
		} else {
			params = append(params, GradParam{Name: name, Go: d.Go, Size: d.Size})
		}
	}
	return params
}

// GradFrame lays out the gradient kernels' arguments on the stack as the Go
// ABI0 does on a 64-bit architecture: each parameter at the next multiple
// of its size, then the result at the next multiple of 8. It returns each
// parameter's offset from FP by name, the result's offset and the size of
// the arguments and result together.
func GradFrame(d Elem) (offsets map[string]int, result, size int) {
	offsets = map[string]int{}
	off := 0
	for _, p := range GradParams(d) {
		off = (off + p.Size - 1) / p.Size * p.Size
		offsets[p.Name] = off
		off += p.Size
	}
	result = (off + 7) / 8 * 8
	return offsets, result, result + 8*generic.ReduceLanes
}

// GradSignature is the Go signature of every gradient kernel of element d,
// from GradParams: consecutive parameters of one type share it.
func GradSignature(d Elem) string {
	var list []string
	params := GradParams(d)
	for i, p := range params {
		if i+1 < len(params) && params[i+1].Go == p.Go {
			list = append(list, p.Name)
			continue
		}
		list = append(list, p.Name+" "+p.Go)
	}
	return "(" + strings.Join(list, ", ") + ") (acc [generic.ReduceLanes]float64)"
}

// gradSetFields writes the gradient kernels of set s into its Set literal:
// one gradAsm table per element type, indexed by each program's constant
// (ProgramsFile), its ir.GradKind.
func gradSetFields(p func(string, ...any), s Set) {
	for _, d := range Elems {
		p("\tg%s: gradKernels(&gradAsm[%s]{\n", d.Name, d.Go)
		for _, prog := range ir.GradPrograms() {
			p("\t\t%s: %s,\n", prog.Name, GradFuncName(prog, s.Name, d))
		}
		p("\t}),\n")
	}
}

// gradDecls writes the declarations of set s's gradient kernels.
func gradDecls(p func(string, ...any), s Set) {
	for _, d := range Elems {
		for _, prog := range ir.GradPrograms() {
			name := GradFuncName(prog, s.Name, d)
			p("\n// %s runs [%s] with %s on %s elements.\n//\n//go:noescape\n", name, prog.Name, s.Title, d.Go)
			p("func %s%s\n", name, GradSignature(d))
		}
	}
}

// gradConsts writes the constant of every gradient program, documented
// with its operations (see ProgramsFile).
func gradConsts(p func(string, ...any)) {
	accs := map[ir.Acc]string{
		ir.AccNone:  "nothing is accumulated: acc is +0",
		ir.AccLanes: "accumulate adds into acc[j mod 32], j = i, in float64, from +0 (n a multiple of 32)",
		ir.AccMax:   "accumulate is acc[lane] = MaxNaN(acc[lane], term), acc viewed as []T, from +0",
		ir.AccFlag:  "accumulate is acc[lane] += term, acc viewed as []T, from +0",
	}
	forms := map[string]int{}
	for _, prog := range ir.GradPrograms() {
		forms[prog.GoName]++
	}
	for _, prog := range ir.GradPrograms() {
		loop := "generic." + prog.GoName
		switch {
		case forms[prog.GoName] > 1 && prog.Form == "":
			loop += " in its first form"
		case forms[prog.GoName] > 1:
			loop += " in its " + prog.Form + " form"
		}
		p("\n// %s is the loop of %s: for each i < n\n", prog.Name, loop)
		p("// (n a multiple of every vector's lanes), without fusing any two operations,\n//\n")
		for _, line := range GradListing(prog) {
			p("//\t%s\n", line)
		}
		p("//\n// where %s.\n", accs[prog.Acc])
		p("const %s = ir.Grad%s%s\n", prog.Name, prog.GoName, prog.Form)
	}
}

// GradListing renders a gradient program body as Go-like statements.
func GradListing(prog ir.GradProgram) []string {
	var out []string
	v := func(x ir.Value) string { return fmt.Sprintf("v%d", x) }
	for _, in := range prog.Body {
		var rhs string
		switch in.Op {
		case ir.OpLoad:
			rhs = GradParamOf(in.Stream) + "[i]"
		case ir.OpStore:
			out = append(out, GradParamOf(in.Stream)+"[i] = "+v(in.A))
			continue
		case ir.OpAccum:
			out = append(out, "accumulate "+v(in.A))
			continue
		case ir.OpCoeff:
			rhs = ir.GradArgNames[in.Coeff]
		case ir.OpAdd, ir.OpSub, ir.OpMul:
			sym := map[ir.Op]string{ir.OpAdd: "+", ir.OpSub: "-", ir.OpMul: "*"}[in.Op]
			rhs = strings.Join([]string{v(in.A), sym, v(in.B)}, " ")
		case ir.OpWiden:
			rhs = "float64(" + v(in.A) + ")"
		case ir.OpAbs, ir.OpRaise, ir.OpLower:
			rhs = shared(in)
		default:
			panic("kernelgen: unexpected op in a gradient program: " + in.Op.String())
		}
		out = append(out, v(in.Dst)+" = "+rhs)
	}
	return out
}

// shared renders the operations that update and gradient programs share
// beyond arithmetic.
func shared(in ir.Instr) string {
	v := func(x ir.Value) string { return fmt.Sprintf("v%d", x) }
	switch in.Op {
	case ir.OpAbs:
		return "|" + v(in.A) + "|"
	case ir.OpRaise:
		return fmt.Sprintf("%s if %s < %s, else %s", v(in.B), v(in.A), v(in.B), v(in.A))
	case ir.OpLower:
		return fmt.Sprintf("%s if %s > %s, else %s", v(in.B), v(in.A), v(in.B), v(in.A))
	}
	panic("kernelgen: not a shared op: " + in.Op.String())
}

package kernelgen

import (
	"fmt"
	"strings"

	"github.com/simdoptim/optim/internal/ir"
)

// GradFuncName is the assembly function of gradient program p in set s for
// element d, e.g. "sumsquares_avx2_f32".
func GradFuncName(p ir.GradProgram, set string, d Elem) string {
	return fmt.Sprintf("%s_%s_%s", p.Name, set, d.Name)
}

// GradSignature is the Go signature of every gradient kernel of element d.
func GradSignature(d Elem) string {
	return fmt.Sprintf("(n int, x *%s, s float64, a, b %s) (acc [generic.ReduceLanes]float64)", d.Go, d.Go)
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
	for _, prog := range ir.GradPrograms() {
		p("\n// %s is the loop of generic.%s: for each i < n\n", prog.Name, prog.GoName)
		p("// (n a multiple of every vector's lanes), without fusing any two operations,\n//\n")
		for _, line := range GradListing(prog) {
			p("//\t%s\n", line)
		}
		p("//\n// where %s.\n", accs[prog.Acc])
		p("const %s = ir.Grad%s\n", prog.Name, prog.GoName)
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
			rhs = "x[i]"
		case ir.OpStore:
			out = append(out, "x[i] = "+v(in.A))
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

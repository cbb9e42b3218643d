package x86

import (
	"fmt"
	"go/token"
	"go/types"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/gotypes"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/simdoptim/optim/asm/internal/rules"
)

// FuncName is the assembly function of kernel k for isa and d.
func FuncName(k rules.Kernel, isa ISA, d DType) string {
	return fmt.Sprintf("%s_%s_%s", k.Name(), isa.Name, d.Name)
}

// Fixed general-purpose registers. BP, SP and R14/R15 (the ABIInternal g
// register and the dynamic-linking GOT register) are left alone.
var (
	coeffPtr = reg.RAX // *Coeffs, only read before the loop
	count    = reg.RCX // n
	index    = reg.RDX // element index i
	limit    = reg.RBX // end of the current loop
	maskBits = reg.R11 // tail mask
	streams  = [rules.NumStreams]reg.GPPhysical{reg.RSI, reg.RDI, reg.R8, reg.R9, reg.R10}
)

// The k registers of the AVX-512 tail: K1 selects the valid lanes, K2 marks
// NaN lanes in OpMaxNaN.
var tailMask, nanMask = reg.K1, reg.K2

// paramNames are the assembly functions' stream parameters. They differ
// from rules.StreamNames only where the assembler reserves a name (g).
var paramNames = [rules.NumStreams]string{"p", "grad", "s0", "s1", "s2"}

// form is how one copy of the body is emitted.
type form int

const (
	fullVector   form = iota // a whole vector, unmasked
	maskedVector             // a vector whose lanes beyond n are masked off (AVX-512)
	scalarElem               // one element in the low lane (AVX2 tail)
)

// compiler emits one kernel for one ISA and element type.
type compiler struct {
	ctx   *build.Context
	k     rules.Kernel
	isa   ISA
	d     DType
	vec   arith
	one   arith
	coeff map[int]int // coefficient index -> vector register holding it
	order []int       // coefficient indices in order of first use
	first int         // first vector register not holding a coefficient
}

// Compile adds the assembly function for kernel k to ctx.
//
// Register use: each coefficient the body reads is broadcast once, before
// the loop, into its own register; the body's values share the remaining
// registers, assigned by a linear scan over the straight-line schedule.
func Compile(ctx *build.Context, k rules.Kernel, isa ISA, d DType) error {
	c := newCompiler(ctx, k, isa, d)

	// Plan every loop before emitting anything, so that an unroll that
	// does not fit the registers is an error here, not in avo.
	lanes := isa.Lanes(d)
	main, group, err := c.plan(isa.Unroll)
	if err != nil {
		return err
	}
	single, _, err := c.plan(1)
	if err != nil {
		return err
	}

	ctx.Function(FuncName(k, isa, d))
	ctx.Attributes(attr.NOSPLIT)
	ctx.Signature(Signature(d))

	ctx.Load(ctx.Param("c"), coeffPtr)
	ctx.Load(ctx.Param("n"), count)
	for s, used := range k.Streams {
		if used {
			ctx.Load(ctx.Param(paramNames[s]), streams[s])
		}
	}
	bcast := broadcast(ctx, d)
	for r, field := range c.order {
		ctx.Commentf("c.%s, loop-invariant", rules.Coeffs[field].Name)
		bcast(operand.Mem{Base: coeffPtr, Disp: field * d.Size}, c.reg(r, fullVector))
	}
	ctx.XORL(index.As32(), index.As32())

	// Main loop: Unroll vectors per iteration.
	step := isa.Unroll * lanes
	ctx.MOVQ(count, limit)
	ctx.ANDQ(operand.I32(-step), limit)
	ctx.JZ(operand.LabelRef("single"))
	ctx.Label("unrolled")
	ctx.Commentf("%d vectors per iteration, interleaved %d at a time.", isa.Unroll, group)
	c.emit(main, fullVector)
	ctx.ADDQ(operand.U32(step), index)
	ctx.CMPQ(index, limit)
	ctx.JB(operand.LabelRef("unrolled"))

	// Whole vectors left over.
	ctx.Label("single")
	ctx.MOVQ(count, limit)
	ctx.ANDQ(operand.I32(-lanes), limit)
	ctx.CMPQ(index, limit)
	ctx.JAE(operand.LabelRef("tail"))
	ctx.Label("vector")
	c.emit(single, fullVector)
	ctx.ADDQ(operand.U32(lanes), index)
	ctx.CMPQ(index, limit)
	ctx.JB(operand.LabelRef("vector"))

	// Fewer than lanes elements left.
	ctx.Label("tail")
	ctx.CMPQ(index, count)
	ctx.JAE(operand.LabelRef("done"))
	if isa.Masked {
		ctx.Comment("Lanes n-i and up are masked off: never loaded, never stored.")
		ctx.MOVQ(count, limit)
		ctx.SUBQ(index, limit)
		ctx.MOVL(operand.U32(0xffffffff), maskBits.As32())
		ctx.BZHIL(limit.As32(), maskBits.As32(), maskBits.As32())
		ctx.KMOVW(maskBits.As32(), tailMask)
		c.emit(single, maskedVector)
	} else {
		ctx.Comment("One element at a time, in the low lane.")
		ctx.Label("scalar")
		c.emit(single, scalarElem)
		ctx.INCQ(index)
		ctx.CMPQ(index, count)
		ctx.JB(operand.LabelRef("scalar"))
	}
	ctx.Label("done")
	ctx.VZEROUPPER()
	ctx.RET()
	return nil
}

func newCompiler(ctx *build.Context, k rules.Kernel, isa ISA, d DType) *compiler {
	c := &compiler{ctx: ctx, k: k, isa: isa, d: d, vec: packed(ctx, isa, d), one: scalar(ctx, d), coeff: map[int]int{}}
	for _, in := range k.Body {
		if in.Op == rules.OpCoeff {
			if _, ok := c.coeff[in.Coeff]; !ok {
				c.coeff[in.Coeff] = len(c.order)
				c.order = append(c.order, in.Coeff)
			}
		}
	}
	c.first = len(c.coeff)
	return c
}

// reg returns vector register r in the width of form f.
func (c *compiler) reg(r int, f form) reg.Register {
	spec := reg.S128
	if f != scalarElem {
		spec = reg.S256
		if c.isa.Bits == 512 {
			spec = reg.S512
		}
	}
	return reg.Vector.Lookup(reg.Index(r), spec)
}

// ref names one SSA value of one unrolled copy.
type ref struct {
	copy  int
	value rules.Value
}

// step is one instruction of one copy, with its registers assigned.
type step struct {
	copy    int
	in      rules.Instr
	dst     int // vector register of in.Dst; -1 for stores
	a, b    int // vector registers of the operands
	scratch int // OpMaxNaN's NaN mask register without AVX-512
}

// plan schedules copies of the body and assigns registers. Copies are
// interleaved instruction by instruction in groups as large as the
// registers allow, so that independent long-latency operations (divisions,
// square roots) overlap; a copy's values are freed at their last use.
// Out-of-order execution overlaps the groups anyway: moving coefficients
// to memory operands to interleave all four vectors of AVX2's Adam and
// RMSProp measured no faster on Zen 5, so coefficients stay in registers.
func (c *compiler) plan(copies int) (steps []step, group int, err error) {
	for group := copies; group >= 1; group-- {
		if copies%group != 0 {
			continue
		}
		if steps, ok := c.allocate(copies, group); ok {
			return steps, group, nil
		}
	}
	return nil, 0, fmt.Errorf("%s: %s %s: body does not fit %d vector registers", c.k.Name(), c.isa.Name, c.d.Name, c.isa.Regs)
}

func (c *compiler) allocate(copies, group int) ([]step, bool) {
	var steps []step
	for g := 0; g < copies; g += group {
		for _, in := range c.k.Body {
			if in.Op == rules.OpCoeff {
				continue
			}
			for cp := g; cp < g+group; cp++ {
				steps = append(steps, step{copy: cp, in: in, dst: -1, scratch: -1})
			}
		}
	}
	last := map[ref]int{}
	for i, s := range steps {
		for _, v := range s.in.Operands() {
			last[ref{s.copy, v}] = i
		}
	}
	var free []int // ascending, so the assignment is deterministic
	for r := c.first; r < c.isa.Regs; r++ {
		free = append(free, r)
	}
	take := func() (int, bool) {
		if len(free) == 0 {
			return 0, false
		}
		r := free[0]
		free = free[1:]
		return r, true
	}
	give := func(r int) {
		i := 0
		for i < len(free) && free[i] < r {
			i++
		}
		free = append(free[:i], append([]int{r}, free[i:]...)...)
	}
	where := map[ref]int{}
	lookup := func(cp int, v rules.Value) int {
		if r, ok := where[ref{cp, v}]; ok {
			return r
		}
		return c.coeffOf(v)
	}
	release := func(i int, s step) {
		seen := map[rules.Value]bool{}
		for _, v := range s.in.Operands() {
			if _, mine := where[ref{s.copy, v}]; mine && last[ref{s.copy, v}] == i && !seen[v] {
				seen[v] = true
				give(where[ref{s.copy, v}])
				delete(where, ref{s.copy, v})
			}
		}
	}
	for i := range steps {
		s := &steps[i]
		ops := s.in.Operands()
		if len(ops) > 0 {
			s.a = lookup(s.copy, ops[0])
		}
		if len(ops) > 1 {
			s.b = lookup(s.copy, ops[1])
		}
		if s.in.Op == rules.OpStore {
			release(i, *s)
			continue
		}
		// OpMaxNaN reads B after writing its result, so its result must
		// not share a register with its operands; every other operation
		// may overwrite an operand that dies with it.
		if s.in.Op != rules.OpMaxNaN {
			release(i, *s)
		}
		var ok bool
		if s.dst, ok = take(); !ok {
			return nil, false
		}
		if s.in.Op == rules.OpMaxNaN {
			if !c.isa.Masked {
				if s.scratch, ok = take(); !ok {
					return nil, false
				}
				give(s.scratch)
			}
			release(i, *s)
		}
		if _, used := last[ref{s.copy, s.in.Dst}]; used {
			where[ref{s.copy, s.in.Dst}] = s.dst
		} else {
			give(s.dst)
		}
	}
	return steps, true
}

// coeffOf returns the register holding coefficient value v.
func (c *compiler) coeffOf(v rules.Value) int {
	in := c.k.Body[c.defIndex(v)]
	if in.Op != rules.OpCoeff {
		panic("x86: value used before it is defined")
	}
	return c.coeff[in.Coeff]
}

func (c *compiler) defIndex(v rules.Value) int {
	for i, in := range c.k.Body {
		if in.Op != rules.OpStore && in.Dst == v {
			return i
		}
	}
	panic("x86: undefined value")
}

// unordered is the VCMPPx predicate that is true when an operand is NaN.
const unordered = 3

// emit writes the scheduled steps in form f.
func (c *compiler) emit(steps []step, f form) {
	ar := c.vec
	if f == scalarElem {
		ar = c.one
	}
	vecBytes := c.isa.Bits / 8
	for _, s := range steps {
		mem := operand.Mem{Base: streams[s.in.Stream], Index: index, Scale: uint8(c.d.Size), Disp: s.copy * vecBytes}
		a, b := c.reg(s.a, f), c.reg(s.b, f)
		dst := c.reg(s.dst, f)
		switch s.in.Op {
		case rules.OpLoad:
			if f == maskedVector {
				ar.loadz(mem, tailMask, dst)
			} else {
				ar.mov(mem, dst)
			}
		case rules.OpStore:
			if f == maskedVector {
				ar.mov(a, tailMask, mem)
			} else {
				ar.mov(a, mem)
			}
		// Go assembler order: "VSUBPS B, A, D" computes D = A - B.
		case rules.OpAdd:
			ar.add(b, a, dst)
		case rules.OpSub:
			ar.sub(b, a, dst)
		case rules.OpMul:
			ar.mul(b, a, dst)
		case rules.OpDiv:
			ar.div(b, a, dst)
		case rules.OpXor:
			ar.xor(b, a, dst)
		case rules.OpSqrt:
			if f == scalarElem {
				ar.sqrt(a, a, dst)
			} else {
				ar.sqrt(a, dst)
			}
		case rules.OpMaxNaN:
			c.maxNaN(ar, f, a, b, dst, s.scratch)
		default:
			panic("x86: unexpected op " + s.in.Op.String())
		}
	}
}

// maxNaN emits D = generic.MaxNaN(A, B): NaN if either is NaN, else B if
// A < B, else A. VMAXPS with B as its first (Intel) source returns B if
// B > A and A otherwise, which is right except when B is NaN (it returns A);
// those lanes are then replaced by B. D never aliases A or B.
func (c *compiler) maxNaN(ar arith, f form, a, b, dst reg.Register, scratch int) {
	ar.max(a, b, dst)
	if c.isa.Masked && f != scalarElem {
		ar.cmp(operand.U8(unordered), b, b, nanMask)
		ar.blendm(b, dst, nanMask, dst)
		return
	}
	t := c.reg(scratch, f)
	ar.cmp(operand.U8(unordered), b, b, t)
	ar.blendv(t, b, dst, dst)
}

// Signature is the Go signature of every kernel of element type d:
//
//	func(c *generic.Coeffs[T], n int, p, grad, s0, s1, s2 *T)
func Signature(d DType) *gotypes.Signature {
	genericPkg := types.NewPackage("github.com/simdoptim/optim/generic", "generic")
	tname := types.NewTypeName(token.NoPos, genericPkg, "T", nil)
	tparam := types.NewTypeParam(tname, types.NewInterfaceType(nil, nil))
	coeffs := types.NewNamed(types.NewTypeName(token.NoPos, genericPkg, "Coeffs", nil), nil, nil)
	coeffs.SetTypeParams([]*types.TypeParam{tparam})
	var fields []*types.Var
	for _, f := range rules.Coeffs {
		fields = append(fields, types.NewField(token.NoPos, genericPkg, f.Name, tparam, false))
	}
	coeffs.SetUnderlying(types.NewStruct(fields, nil))
	inst, err := types.Instantiate(nil, coeffs, []types.Type{types.Typ[d.Kind]}, false)
	if err != nil {
		panic(err)
	}
	elem := types.NewPointer(types.Typ[d.Kind])
	params := []*types.Var{
		types.NewParam(token.NoPos, nil, "c", types.NewPointer(inst)),
		types.NewParam(token.NoPos, nil, "n", types.Typ[types.Int]),
	}
	for _, name := range paramNames {
		params = append(params, types.NewParam(token.NoPos, nil, name, elem))
	}
	return gotypes.NewSignature(nil, types.NewSignatureType(nil, nil, nil, types.NewTuple(params...), nil, false))
}

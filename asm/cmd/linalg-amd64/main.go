// Command linalg-amd64 generates the AVX2+FMA GEMM micro-kernel of package
// linalg (linalg/gemm_amd64.s and its Go declarations).
//
// The kernel keeps a 6×8 tile of C in twelve YMM accumulators. Each step of
// k loads one row of the packed B micro-panel (8 doubles, two vectors),
// broadcasts each of the 6 packed A values and issues 12 VFMADD231PD, so
// every element of the tile is one FMA chain in increasing k starting from
// +0: exactly what linalg's portable kernel computes with math.FMA. At the
// end each row of C is loaded, the accumulators subtracted, and stored back.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

const (
	mr = 6 // rows of the tile: broadcasts per k
	nr = 8 // columns of the tile: two YMM vectors of doubles
)

func main() {
	ConstraintExpr("!noasm")

	emitGemm(gemmKernel{
		name:      "gemmAVX2",
		signature: "func(k int, a, b, c *float64, ldc int)",
		doc: []string{
			fmt.Sprintf("gemmAVX2 computes c[i*ldc+j] −= Σ_p a[p*%d+i]·b[p*%d+j] for i < %d, j < %d,", mr, nr, mr, nr),
			"p < k, each sum one FMA chain in increasing p from +0. k must be at least 1.",
		},
		loop:     "loop",
		vec:      YMM,
		zero:     VXORPD,
		vecBytes: 32,
		panels:   []string{"b"},
		perPanel: 2,
	})
	gemm512()
	gemm512x2()
	trsm("trsmAVX2", 4, YMM)
	trsmPairs("trsmAVX512", 8, ZMM)
	potrf("potrfAVX2", 4, YMM)
	potrf("potrfAVX512", 8, ZMM)
	matmulKernels()
	Generate()
}

// lanes is the number of rows the triangular-solve kernel solves at once:
// eight YMM vectors, so eight independent FMA chains hide the FMA latency.
const lanes = 32

// trsm emits trsmAVX2 (YMM) or trsmAVX512 (ZMM), which solve X·Lᵀ = B for a
// packed panel of 32 rows
// of B stored column after column (x[j*32+r] is row r, column j). Column j
// of every row is one vector chain: v = b_j, then v = −L[j][k]·x_k + v for
// k = 0..j−1 with VFNMADD231PD, then x_j = v·inv[j] with inv[j] = 1/L[j][j]:
// the same operations in the same order as linalg's portable leaf kernel.
func trsm(name string, width int, vec func() VecVirtual) {
	lbl := func(label string) string { return label + name }
	TEXT(name, NOSPLIT, "func(n int, l *float64, ldl int, inv *float64, x *float64)")
	Doc(
		fmt.Sprintf(name+" solves X·Lᵀ = B in place for a panel of %d rows packed by column", lanes),
		fmt.Sprintf("(x[j*%d+r]), with L n×n lower triangular (row stride ldl) and inv[j] = 1/L[j][j].", lanes),
	)
	n := Load(Param("n"), GP64())
	l := Load(Param("l"), GP64())
	ldl := Load(Param("ldl"), GP64())
	inv := Load(Param("inv"), GP64())
	x := Load(Param("x"), GP64())
	SHLQ(U8(3), ldl)

	vecs := lanes / width
	xj := GP64() // column j of the panel
	MOVQ(x, xj)
	j := GP64()
	XORQ(j, j)

	Label(lbl("column"))
	v := make([]VecVirtual, vecs)
	for i := range v {
		v[i] = vec()
		VMOVUPD(Mem{Base: xj, Disp: 8 * width * i}, v[i])
	}
	k := GP64()
	MOVQ(j, k)
	lk := GP64() // &L[j][k]
	MOVQ(l, lk)
	xk := GP64() // column k of the panel
	MOVQ(x, xk)
	TESTQ(k, k)
	JZ(LabelRef(lbl("scale")))
	Label(lbl("inner"))
	t := vec()
	VBROADCASTSD(Mem{Base: lk}, t)
	for i := range v {
		VFNMADD231PD(Mem{Base: xk, Disp: 8 * width * i}, t, v[i])
	}
	ADDQ(U8(8), lk)
	ADDQ(U32(8*lanes), xk)
	DECQ(k)
	JNZ(LabelRef(lbl("inner")))

	Label(lbl("scale"))
	s := vec()
	VBROADCASTSD(Mem{Base: inv, Index: j, Scale: 8}, s)
	for i := range v {
		VMULPD(s, v[i], v[i])
		VMOVUPD(v[i], Mem{Base: xj, Disp: 8 * width * i})
	}
	ADDQ(U32(8*lanes), xj)
	ADDQ(ldl, l)
	INCQ(j)
	CMPQ(j, n)
	JNE(LabelRef(lbl("column")))
	VZEROUPPER()
	RET()
}

// trsmPairs emits a kernel with trsm's contract and bits that solves two
// columns at a time: the chains of columns j and j+1 share each x_k load and
// run side by side over k < j (twice the independent FMA chains, which hides
// the FMA latency that bounds trsm with only four ZMM vectors per column),
// then column j is scaled and stored, and column j+1 takes its last term
// −L[j+1][j]·x_j before its own scaling, so every chain keeps its order.
// An odd last column goes alone. It needs 2·lanes/width + 3 vector
// registers, which only the 32 ZMM registers of AVX-512 have.
func trsmPairs(name string, width int, vec func() VecVirtual) {
	lbl := func(label string) string { return label + name }
	TEXT(name, NOSPLIT, "func(n int, l *float64, ldl int, inv *float64, x *float64)")
	Doc(
		fmt.Sprintf(name+" solves X·Lᵀ = B in place for a panel of %d rows packed by column", lanes),
		fmt.Sprintf("(x[j*%d+r]), with L n×n lower triangular (row stride ldl) and inv[j] = 1/L[j][j].", lanes),
	)
	n := Load(Param("n"), GP64())
	l := Load(Param("l"), GP64())
	ldl := Load(Param("ldl"), GP64())
	inv := Load(Param("inv"), GP64())
	x := Load(Param("x"), GP64())
	SHLQ(U8(3), ldl)

	vecs := lanes / width
	xj := GP64() // column j of the panel
	MOVQ(x, xj)
	j := GP64()
	XORQ(j, j)

	Label(lbl("pair"))
	left := GP64()
	MOVQ(n, left)
	SUBQ(j, left)
	CMPQ(left, U8(2))
	JL(LabelRef(lbl("single")))
	v := make([]VecVirtual, vecs)
	u := make([]VecVirtual, vecs)
	for i := range v {
		v[i], u[i] = vec(), vec()
		VMOVUPD(Mem{Base: xj, Disp: 8 * width * i}, v[i])
		VMOVUPD(Mem{Base: xj, Disp: 8*lanes + 8*width*i}, u[i])
	}
	k := GP64()
	MOVQ(j, k)
	l0 := GP64() // &L[j][k]
	MOVQ(l, l0)
	l1 := GP64() // &L[j+1][k]
	MOVQ(l, l1)
	ADDQ(ldl, l1)
	xk := GP64() // column k of the panel
	MOVQ(x, xk)
	TESTQ(k, k)
	JZ(LabelRef(lbl("pairscale")))
	Label(lbl("pairinner"))
	t0, t1 := vec(), vec()
	VBROADCASTSD(Mem{Base: l0}, t0)
	VBROADCASTSD(Mem{Base: l1}, t1)
	for i := range v {
		xv := vec()
		VMOVUPD(Mem{Base: xk, Disp: 8 * width * i}, xv)
		VFNMADD231PD(xv, t0, v[i])
		VFNMADD231PD(xv, t1, u[i])
	}
	ADDQ(U8(8), l0)
	ADDQ(U8(8), l1)
	ADDQ(U32(8*lanes), xk)
	DECQ(k)
	JNZ(LabelRef(lbl("pairinner")))

	Label(lbl("pairscale"))
	s0 := vec()
	VBROADCASTSD(Mem{Base: inv, Index: j, Scale: 8}, s0)
	t := vec()
	VBROADCASTSD(Mem{Base: l1}, t) // L[j+1][j]
	for i := range v {
		VMULPD(s0, v[i], v[i])
		VMOVUPD(v[i], Mem{Base: xj, Disp: 8 * width * i})
		VFNMADD231PD(v[i], t, u[i])
	}
	s1 := vec()
	VBROADCASTSD(Mem{Base: inv, Index: j, Scale: 8, Disp: 8}, s1)
	for i := range u {
		VMULPD(s1, u[i], u[i])
		VMOVUPD(u[i], Mem{Base: xj, Disp: 8*lanes + 8*width*i})
	}
	ADDQ(U32(16*lanes), xj)
	ADDQ(ldl, l)
	ADDQ(ldl, l)
	ADDQ(U8(2), j)
	CMPQ(j, n)
	JNE(LabelRef(lbl("pair")))
	VZEROUPPER()
	RET()

	// The odd last column: its chain over every earlier column alone.
	Label(lbl("single"))
	w := make([]VecVirtual, vecs)
	for i := range w {
		w[i] = vec()
		VMOVUPD(Mem{Base: xj, Disp: 8 * width * i}, w[i])
	}
	k1 := GP64()
	MOVQ(j, k1)
	lk := GP64()
	MOVQ(l, lk)
	xk1 := GP64()
	MOVQ(x, xk1)
	TESTQ(k1, k1)
	JZ(LabelRef(lbl("scale")))
	Label(lbl("inner"))
	b := vec()
	VBROADCASTSD(Mem{Base: lk}, b)
	for i := range w {
		VFNMADD231PD(Mem{Base: xk1, Disp: 8 * width * i}, b, w[i])
	}
	ADDQ(U8(8), lk)
	ADDQ(U32(8*lanes), xk1)
	DECQ(k1)
	JNZ(LabelRef(lbl("inner")))
	Label(lbl("scale"))
	s := vec()
	VBROADCASTSD(Mem{Base: inv, Index: j, Scale: 8}, s)
	for i := range w {
		VMULPD(s, w[i], w[i])
		VMOVUPD(w[i], Mem{Base: xj, Disp: 8 * width * i})
	}
	VZEROUPPER()
	RET()
}

// potrf emits potrfAVX2 (YMM, width 4) or potrfAVX512 (ZMM, width 8), the
// unblocked factorization of a small matrix packed with rows in lanes:
// column j of the lower triangle is x[j*ld .. j*ld+ld-1] (x[j*ld+i] =
// A[i][j], ld a multiple of the width). The lane ranges below start at a
// multiple of the width (j&^3 for AVX2, j&^7 for AVX-512); only lanes on
// or below the diagonal matter, and those see the same operations.
//
// Mathematically it is right-looking over columns. Column j: if the pivot
// d = x[j*ld+j] is not positive (or is NaN) return j; else divide lanes
// j&^3 .. ld-1 of the column by s = sqrt(d) (VDIVPD, exact as Go's /),
// subtract L[k][j]·(column j) from lanes k&^3 .. ld-1 of each later column k
// with one VFNMADD231PD per element, and store s as the diagonal.
//
// For speed the columns go in blocks of four: the block is factored as
// above among itself, then each later column k takes the four updates in a
// row (j0, j0+1, j0+2, j0+3) per load and store, so the loop is bound by
// FMAs rather than stores. Every element still sees its updates in
// increasing j, so the bits equal linalg's one-column-at-a-time potrfGeneric.
func potrf(name string, width int, vec func() VecVirtual) {
	l := func(label string) string { return label + name }
	TEXT(name, NOSPLIT, "func(n int, x *float64, ld int) int")
	Doc(
		name+" factors the n×n lower triangle packed column by column with rows in lanes",
		fmt.Sprintf("(x[j*ld+i] = A[i][j], ld a multiple of %d) in place; it returns the first", width),
		"non-positive pivot or -1.",
	)
	n := Load(Param("n"), GP64())
	colj := Load(Param("x"), GP64()) // first column of the current block
	ldb := Load(Param("ld"), GP64())
	SHLQ(U8(3), ldb) // bytes per column
	j := GP64()      // first column of the block
	XORQ(j, j)
	zero := XMM()
	VXORPD(zero, zero, zero)

	Label(l("pblock"))
	jend := GP64() // min(j+4, n)
	MOVQ(j, jend)
	ADDQ(U8(4), jend)
	CMPQ(jend, n)
	CMOVQGT(n, jend)
	jj := GP64()
	MOVQ(j, jj)
	coljj := GP64()
	MOVQ(colj, coljj)
	lane0 := GP64() // byte offset of lane j&^(width-1) (the same for every column of the block)
	MOVQ(j, lane0)
	ANDQ(I8(int8(-width)), lane0)
	SHLQ(U8(3), lane0)

	Label(l("pcolumn"))
	d := XMM()
	VMOVSD(Mem{Base: coljj, Index: jj, Scale: 8}, d)
	VUCOMISD(zero, d)
	JA(LabelRef(l("positive")))
	Store(jj, ReturnIndex(0))
	VZEROUPPER()
	RET()

	Label(l("positive"))
	sq := XMM()
	VSQRTSD(d, d, sq)
	sv := vec()
	VBROADCASTSD(sq, sv)
	q := GP64()
	MOVQ(lane0, q)
	Label(l("pscale"))
	v := vec()
	VMOVUPD(Mem{Base: coljj, Index: q, Scale: 1}, v)
	VDIVPD(sv, v, v)
	VMOVUPD(v, Mem{Base: coljj, Index: q, Scale: 1})
	ADDQ(U8(uint8(8*width)), q)
	CMPQ(q, ldb)
	JB(LabelRef(l("pscale")))

	// Rank-1 updates of the block's later columns.
	k := GP64()
	MOVQ(jj, k)
	colk := GP64()
	MOVQ(coljj, colk)
	Label(l("pinner"))
	INCQ(k)
	ADDQ(ldb, colk)
	CMPQ(k, jend)
	JAE(LabelRef(l("pdiag")))
	t := vec()
	VBROADCASTSD(Mem{Base: coljj, Index: k, Scale: 8}, t)
	MOVQ(lane0, q)
	Label(l("paxpy"))
	u := vec()
	VMOVUPD(Mem{Base: colk, Index: q, Scale: 1}, u)
	VFNMADD231PD(Mem{Base: coljj, Index: q, Scale: 1}, t, u)
	VMOVUPD(u, Mem{Base: colk, Index: q, Scale: 1})
	ADDQ(U8(uint8(8*width)), q)
	CMPQ(q, ldb)
	JB(LabelRef(l("paxpy")))
	JMP(LabelRef(l("pinner")))

	Label(l("pdiag"))
	VMOVSD(sq, Mem{Base: coljj, Index: jj, Scale: 8})
	ADDQ(ldb, coljj)
	INCQ(jj)
	CMPQ(jj, jend)
	JB(LabelRef(l("pcolumn")))
	CMPQ(jj, n)
	JAE(LabelRef(l("pdone")))

	// Rank-4 update of every column after the block: jj = j+4 < n here,
	// and coljj points at column j+4.
	c1, c2, c3 := GP64(), GP64(), GP64()
	LEAQ(Mem{Base: colj, Index: ldb, Scale: 1}, c1)
	LEAQ(Mem{Base: colj, Index: ldb, Scale: 2}, c2)
	LEAQ(Mem{Base: c1, Index: ldb, Scale: 2}, c3)
	MOVQ(jj, k)
	MOVQ(coljj, colk)
	Label(l("ptrail"))
	t0, t1, t2, t3 := vec(), vec(), vec(), vec()
	VBROADCASTSD(Mem{Base: colj, Index: k, Scale: 8}, t0)
	VBROADCASTSD(Mem{Base: c1, Index: k, Scale: 8}, t1)
	VBROADCASTSD(Mem{Base: c2, Index: k, Scale: 8}, t2)
	VBROADCASTSD(Mem{Base: c3, Index: k, Scale: 8}, t3)
	MOVQ(k, q)
	ANDQ(I8(int8(-width)), q)
	SHLQ(U8(3), q)
	Label(l("ptlane"))
	w := vec()
	VMOVUPD(Mem{Base: colk, Index: q, Scale: 1}, w)
	VFNMADD231PD(Mem{Base: colj, Index: q, Scale: 1}, t0, w)
	VFNMADD231PD(Mem{Base: c1, Index: q, Scale: 1}, t1, w)
	VFNMADD231PD(Mem{Base: c2, Index: q, Scale: 1}, t2, w)
	VFNMADD231PD(Mem{Base: c3, Index: q, Scale: 1}, t3, w)
	VMOVUPD(w, Mem{Base: colk, Index: q, Scale: 1})
	ADDQ(U8(uint8(8*width)), q)
	CMPQ(q, ldb)
	JB(LabelRef(l("ptlane")))
	ADDQ(ldb, colk)
	INCQ(k)
	CMPQ(k, n)
	JB(LabelRef(l("ptrail")))

	MOVQ(jj, j)
	MOVQ(coljj, colj)
	JMP(LabelRef(l("pblock")))

	Label(l("pdone"))
	MOVQ(I64(-1), j)
	Store(j, ReturnIndex(0))
	VZEROUPPER()
	RET()
}

// gemm512 emits gemmAVX512, the same 6×8 tile with AVX-512: each row of the
// tile is one ZMM accumulator, each step of k one ZMM load of B, six
// broadcasts of A and six VFMADD231PD. The chains and the final subtraction
// are those of gemmAVX2, so the bits are the same. It has six independent
// chains (not enough to fill two 512-bit FMA pipes, but half the
// instructions of gemmAVX2 per flop) and keeps the packing of the other
// kernels.
func gemm512() {
	emitGemm(gemmKernel{
		name:      "gemmAVX512",
		signature: "func(k int, a, b, c *float64, ldc int)",
		doc: []string{
			fmt.Sprintf("gemmAVX512 computes c[i*ldc+j] −= Σ_p a[p*%d+i]·b[p*%d+j] for i < %d, j < %d,", mr, nr, mr, nr),
			"p < k, each sum one FMA chain in increasing p from +0. k must be at least 1.",
		},
		loop:     "loop512",
		vec:      ZMM,
		zero:     VPXORQ,
		vecBytes: 64,
		panels:   []string{"b"},
		perPanel: 1,
	})
}

// gemm512x2 emits gemmAVX512x2, two adjacent 6×8 tiles at once (6×16): B
// comes from two packed micro-panels, and twelve ZMM accumulators give
// twelve independent FMA chains. Every element is the same chain as in
// gemmAVX512.
func gemm512x2() {
	emitGemm(gemmKernel{
		name:      "gemmAVX512x2",
		signature: "func(k int, a, b0, b1, c *float64, ldc int)",
		doc: []string{
			"gemmAVX512x2 is gemmAVX512 on the 6×16 tile at c, with columns 0..7 from the",
			"packed panel b0 and columns 8..15 from b1.",
		},
		loop:     "loop512x2",
		vec:      ZMM,
		zero:     VPXORQ,
		vecBytes: 64,
		panels:   []string{"b0", "b1"},
		perPanel: 1,
	})
}

// gemmKernel describes one register-tiled GEMM micro-kernel: the mr-row tile
// at c loses Σ_p a_p·b_p over k, each row held in len(panels)·perPanel
// accumulators. Every element is one FMA chain in increasing p from +0.
type gemmKernel struct {
	name, signature string
	doc             []string
	loop            string            // label of the k loop
	vec             func() VecVirtual // YMM or ZMM
	zero            func(ops ...Op)   // clears a vector register: zero(x, x, x)
	vecBytes        int               // bytes per vector
	panels          []string          // parameters naming the packed B micro-panels
	perPanel        int               // vectors of B per panel row
}

// emitGemm emits g's kernel. The order of register allocation and of the
// instructions is part of the generated file: keep it when changing this.
func emitGemm(g gemmKernel) {
	TEXT(g.name, NOSPLIT, g.signature)
	Doc(g.doc...)
	k := Load(Param("k"), GP64())
	a := Load(Param("a"), GP64())
	var bp []Register
	for _, name := range g.panels {
		bp = append(bp, Load(Param(name), GP64()))
	}
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())

	cols := len(g.panels) * g.perPanel
	acc := make([][]VecVirtual, mr)
	for i := range acc {
		acc[i] = make([]VecVirtual, cols)
		for j := range acc[i] {
			acc[i][j] = g.vec()
			g.zero(acc[i][j], acc[i][j], acc[i][j])
		}
	}
	Label(g.loop)
	bv := make([]VecVirtual, cols)
	for j := range bv {
		bv[j] = g.vec()
	}
	for j := range bv {
		VMOVUPD(Mem{Base: bp[j/g.perPanel], Disp: g.vecBytes * (j % g.perPanel)}, bv[j])
	}
	for i := range mr {
		ai := g.vec()
		VBROADCASTSD(Mem{Base: a, Disp: 8 * i}, ai)
		for j := range cols {
			VFMADD231PD(bv[j], ai, acc[i][j])
		}
	}
	ADDQ(U32(8*mr), a)
	for _, b := range bp {
		ADDQ(U32(8*nr), b)
	}
	DECQ(k)
	JNZ(LabelRef(g.loop))

	SHLQ(U8(3), ldc)
	for i := range mr {
		for j := range cols {
			t := g.vec()
			VMOVUPD(Mem{Base: c, Disp: g.vecBytes * j}, t)
			VSUBPD(acc[i][j], t, t)
			VMOVUPD(t, Mem{Base: c, Disp: g.vecBytes * j})
		}
		if i < mr-1 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()
}

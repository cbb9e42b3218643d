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

	TEXT("gemmAVX2", NOSPLIT, "func(k int, a, b, c *float64, ldc int)")
	Doc(
		fmt.Sprintf("gemmAVX2 computes c[i*ldc+j] −= Σ_p a[p*%d+i]·b[p*%d+j] for i < %d, j < %d,", mr, nr, mr, nr),
		"p < k, each sum one FMA chain in increasing p from +0. k must be at least 1.",
	)
	k := Load(Param("k"), GP64())
	a := Load(Param("a"), GP64())
	b := Load(Param("b"), GP64())
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())

	var acc [mr][2]VecVirtual
	for i := range acc {
		for j := range acc[i] {
			acc[i][j] = YMM()
			VXORPD(acc[i][j], acc[i][j], acc[i][j])
		}
	}

	Label("loop")
	b0, b1 := YMM(), YMM()
	VMOVUPD(Mem{Base: b}, b0)
	VMOVUPD(Mem{Base: b, Disp: 32}, b1)
	for i := range mr {
		ai := YMM()
		VBROADCASTSD(Mem{Base: a, Disp: 8 * i}, ai)
		VFMADD231PD(b0, ai, acc[i][0])
		VFMADD231PD(b1, ai, acc[i][1])
	}
	ADDQ(U32(8*mr), a)
	ADDQ(U32(8*nr), b)
	DECQ(k)
	JNZ(LabelRef("loop"))

	SHLQ(U8(3), ldc)
	for i := range mr {
		for j := range 2 {
			t := YMM()
			VMOVUPD(Mem{Base: c, Disp: 32 * j}, t)
			VSUBPD(acc[i][j], t, t)
			VMOVUPD(t, Mem{Base: c, Disp: 32 * j})
		}
		if i < mr-1 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()

	trsm()
	potrf()
	Generate()
}

// lanes is the number of rows the triangular-solve kernel solves at once:
// eight YMM vectors, so eight independent FMA chains hide the FMA latency.
const lanes = 32

// trsm emits trsmAVX2, which solves X·Lᵀ = B for a packed panel of 32 rows
// of B stored column after column (x[j*32+r] is row r, column j). Column j
// of every row is one vector chain: v = b_j, then v = −L[j][k]·x_k + v for
// k = 0..j−1 with VFNMADD231PD, then x_j = v·inv[j] with inv[j] = 1/L[j][j]:
// the same operations in the same order as linalg's portable leaf kernel.
func trsm() {
	TEXT("trsmAVX2", NOSPLIT, "func(n int, l *float64, ldl int, inv *float64, x *float64)")
	Doc(
		fmt.Sprintf("trsmAVX2 solves X·Lᵀ = B in place for a panel of %d rows packed by column", lanes),
		fmt.Sprintf("(x[j*%d+r]), with L n×n lower triangular (row stride ldl) and inv[j] = 1/L[j][j].", lanes),
	)
	n := Load(Param("n"), GP64())
	l := Load(Param("l"), GP64())
	ldl := Load(Param("ldl"), GP64())
	inv := Load(Param("inv"), GP64())
	x := Load(Param("x"), GP64())
	SHLQ(U8(3), ldl)

	const vecs = lanes / 4
	xj := GP64() // column j of the panel
	MOVQ(x, xj)
	j := GP64()
	XORQ(j, j)

	Label("column")
	var v [vecs]VecVirtual
	for i := range v {
		v[i] = YMM()
		VMOVUPD(Mem{Base: xj, Disp: 32 * i}, v[i])
	}
	k := GP64()
	MOVQ(j, k)
	lk := GP64() // &L[j][k]
	MOVQ(l, lk)
	xk := GP64() // column k of the panel
	MOVQ(x, xk)
	TESTQ(k, k)
	JZ(LabelRef("scale"))
	Label("inner")
	t := YMM()
	VBROADCASTSD(Mem{Base: lk}, t)
	for i := range v {
		VFNMADD231PD(Mem{Base: xk, Disp: 32 * i}, t, v[i])
	}
	ADDQ(U8(8), lk)
	ADDQ(U32(8*lanes), xk)
	DECQ(k)
	JNZ(LabelRef("inner"))

	Label("scale")
	s := YMM()
	VBROADCASTSD(Mem{Base: inv, Index: j, Scale: 8}, s)
	for i := range v {
		VMULPD(s, v[i], v[i])
		VMOVUPD(v[i], Mem{Base: xj, Disp: 32 * i})
	}
	ADDQ(U32(8*lanes), xj)
	ADDQ(ldl, l)
	INCQ(j)
	CMPQ(j, n)
	JNE(LabelRef("column"))
	VZEROUPPER()
	RET()
}

// potrf emits potrfAVX2, the unblocked factorization of a diagonal block of
// at most 32 rows packed as one panel (x[j*32+i] = A[i][j]), right-looking
// over columns with rows in lanes. Column j: if the pivot d = x[j*32+j] is
// not positive (or is NaN) it returns j; else it divides the column by
// s = sqrt(d) (VDIVPD, exact as Go's /), subtracts L[k][j]·column j from
// each later column k with VFNMADD231PD, and finally stores s as the
// diagonal. Lanes above the diagonal hold garbage that is never unpacked.
// It returns -1 on success. linalg's portable potrfPanel does the same.
func potrf() {
	TEXT("potrfAVX2", NOSPLIT, "func(n int, x *float64) int")
	Doc(
		"potrfAVX2 factors the n×n (n ≤ 32) lower triangle packed column by column in",
		"x (x[j*32+i] = A[i][j]) in place; it returns the first non-positive pivot or -1.",
	)
	n := Load(Param("n"), GP64())
	x := Load(Param("x"), GP64())
	const vecs = lanes / 4
	colj := GP64()
	MOVQ(x, colj)
	j := GP64()
	XORQ(j, j)
	zero := XMM()
	VXORPD(zero, zero, zero)

	Label("pcolumn")
	d := XMM()
	VMOVSD(Mem{Base: colj, Index: j, Scale: 8}, d)
	VUCOMISD(zero, d)
	JA(LabelRef("positive"))
	Store(j, ReturnIndex(0))
	VZEROUPPER()
	RET()

	Label("positive")
	sq := XMM()
	VSQRTSD(d, d, sq)
	sv := YMM()
	VBROADCASTSD(sq, sv)
	var v [vecs]VecVirtual
	for i := range v {
		v[i] = YMM()
		VMOVUPD(Mem{Base: colj, Disp: 32 * i}, v[i])
		VDIVPD(sv, v[i], v[i])
		VMOVUPD(v[i], Mem{Base: colj, Disp: 32 * i})
	}
	k := GP64()
	MOVQ(j, k)
	colk := GP64()
	MOVQ(colj, colk)
	Label("pupdate")
	INCQ(k)
	ADDQ(U32(8*lanes), colk)
	CMPQ(k, n)
	JAE(LabelRef("pdiag"))
	t := YMM()
	VBROADCASTSD(Mem{Base: colj, Index: k, Scale: 8}, t)
	for i := range v {
		u := YMM()
		VMOVUPD(Mem{Base: colk, Disp: 32 * i}, u)
		VFNMADD231PD(v[i], t, u)
		VMOVUPD(u, Mem{Base: colk, Disp: 32 * i})
	}
	JMP(LabelRef("pupdate"))

	Label("pdiag")
	VMOVSD(sq, Mem{Base: colj, Index: j, Scale: 8})
	ADDQ(U32(8*lanes), colj)
	INCQ(j)
	CMPQ(j, n)
	JNE(LabelRef("pcolumn"))
	MOVQ(I64(-1), j)
	Store(j, ReturnIndex(0))
	VZEROUPPER()
	RET()
}

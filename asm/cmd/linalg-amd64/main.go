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

	Generate()
}

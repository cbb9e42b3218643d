package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// matmulKernel describes one micro-kernel of linalg.Gemm:
//
//	c[i*ldc+j] = fma(alpha, s, c[i*ldc+j]),  s = Σ_p a[p*mr+i]·b[p*nr+j]
//
// or, with over set, c[i*ldc+j] = fma(alpha, s, +0) without reading C (the
// first k block of a product with beta = 0: Gemm then need not clear C
// first, nor read it back)
// for i < mr, j < nr, each s one FMA chain in increasing p from +0 (the
// accumulator starts at zero and every step of k is one VFMADD231 per
// vector), then alpha applied with one VFMADD213 per vector against the
// loaded C: exactly what linalg's portable kernels compute with math.FMA
// and fma32.
type matmulKernel struct {
	name     string
	single   bool              // float32 (else float64)
	vec      func() VecVirtual // YMM or ZMM
	vecBytes int
	mr       int // rows of the tile: broadcasts of A per k
	cols     int // vectors per row of the tile
	// pairs: float32 on ZMM only. Instead of one VBROADCASTSS of A per
	// row (a shuffle that takes an FP pipe from the FMAs on Zen 5, where
	// a VBROADCASTSD load does not), each step broadcasts the pair
	// a[2r], a[2r+1] with one VBROADCASTSD and multiplies it by B with its
	// even and its odd elements duplicated (VMOVSLDUP, VMOVSHDUP of the
	// loaded row): lane 2t of the first product is a[2r]·b[2t], lane 2t+1
	// is a[2r+1]·b[2t], and so on. Every lane is still one element's FMA
	// chain; three masked moves per pair of accumulators put the rows of
	// C back together before alpha is applied.
	pairs bool
}

func (g matmulKernel) elem() int {
	if g.single {
		return 4
	}
	return 8
}

func (g matmulKernel) nr() int { return g.cols * g.vecBytes / g.elem() }

func matmulKernels() {
	for _, g := range []matmulKernel{
		{"gemmF64AVX2", false, YMM, 32, 6, 2, false},
		{"gemmF32AVX2", true, YMM, 32, 6, 2, false},
		{"gemmF64AVX512", false, ZMM, 64, 12, 2, false},
		{"gemmF32AVX512", true, ZMM, 64, 12, 2, true},
	} {
		emitMatmul(g)
	}
	emitPackRows12F32()
}

// emitPackRows12F32 emits packRows12F32, which packs a panel of 12 rows of
// float32 for the AVX-512 kernel 16 columns at a time: the 12 rows' next
// 16 values (12 loads; 4 more rows taken as zero) are transposed as a
// 16×16 block in four rounds of shuffles, and column p of it, the 12
// values of index p, is stored with a 12-lane mask at dst[p*12]. The
// scalar copy it replaces moved one value per instruction pair.
func emitPackRows12F32() {
	TEXT("packRows12F32", NOSPLIT, "func(dst, src *float32, ld, k int)")
	Doc(
		"packRows12F32 sets dst[p*12+i] = src[i*ld+p] for i < 12, p < k; k must be a",
		"positive multiple of 16.",
	)
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	ld := Load(Param("ld"), GP64())
	k := Load(Param("k"), GP64())
	SHLQ(U8(2), ld)
	SHRQ(U8(4), k)
	mask := K()
	m := GP32()
	MOVL(U32(0x0FFF), m)
	KMOVW(m, mask)
	z := ZMM()
	VPXORD(z, z, z)
	Label("loopPackRows12F32")
	row := GP64()
	MOVQ(src, row)
	r := make([]Op, 16)
	for i := range 12 {
		v := ZMM()
		VMOVUPS(Mem{Base: row}, v)
		r[i] = v
		if i < 11 {
			ADDQ(ld, row)
		}
	}
	for i := 12; i < 16; i++ {
		r[i] = z
	}
	// Round 1: interleave the elements of pairs of rows.
	t := make([]Op, 16)
	for i := 0; i < 16; i += 2 {
		if i >= 12 {
			t[i], t[i+1] = z, z
			continue
		}
		lo, hi := ZMM(), ZMM()
		VUNPCKLPS(r[i+1], r[i], lo)
		VUNPCKHPS(r[i+1], r[i], hi)
		t[i], t[i+1] = lo, hi
	}
	// Round 2: interleave pairs of elements (as float64) of pairs of
	// those.
	for q := 0; q < 16; q += 4 {
		if q >= 12 {
			r[q], r[q+1], r[q+2], r[q+3] = z, z, z, z
			continue
		}
		a, b, c, d := ZMM(), ZMM(), ZMM(), ZMM()
		VUNPCKLPD(t[q+2], t[q], a)
		VUNPCKHPD(t[q+2], t[q], b)
		VUNPCKLPD(t[q+3], t[q+1], c)
		VUNPCKHPD(t[q+3], t[q+1], d)
		r[q], r[q+1], r[q+2], r[q+3] = a, b, c, d
	}
	// Rounds 3 and 4: move 128-bit lanes.
	for h := 0; h < 16; h += 8 {
		for j := range 4 {
			x, y := ZMM(), ZMM()
			VSHUFF32X4(U8(0x88), r[h+j+4], r[h+j], x)
			VSHUFF32X4(U8(0xdd), r[h+j+4], r[h+j], y)
			t[h+j], t[h+j+4] = x, y
		}
	}
	for j := range 8 {
		x, y := ZMM(), ZMM()
		VSHUFF32X4(U8(0x88), t[j+8], t[j], x)
		VSHUFF32X4(U8(0xdd), t[j+8], t[j], y)
		VMOVUPS(x, mask, Mem{Base: dst, Disp: 48 * j})
		VMOVUPS(y, mask, Mem{Base: dst, Disp: 48 * (j + 8)})
	}
	ADDQ(U32(64), src)
	ADDQ(U32(16*48), dst)
	DECQ(k)
	JNZ(LabelRef("loopPackRows12F32"))
	VZEROUPPER()
	RET()
}

func emitMatmul(g matmulKernel) {
	typ := "float64"
	load, bcast, fma231, fma213 := VMOVUPD, VBROADCASTSD, VFMADD231PD, VFMADD213PD
	if g.single {
		typ = "float32"
		load, bcast, fma231, fma213 = VMOVUPS, VBROADCASTSS, VFMADD231PS, VFMADD213PS
	}
	zero := func(x Op) { VXORPS(x, x, x) }
	if g.vecBytes == 64 {
		zero = func(x Op) { VPXORD(x, x, x) }
	}
	mr, nr, es := g.mr, g.nr(), g.elem()
	TEXT(g.name, NOSPLIT, fmt.Sprintf("func(k int, alpha %s, a, b, c *%s, ldc int, over bool)", typ, typ))
	Doc(
		fmt.Sprintf("%s sets c[i*ldc+j] = fma(alpha, Σ_p a[p*%d+i]·b[p*%d+j], c[i*ldc+j])", g.name, mr, nr),
		fmt.Sprintf("for i < %d, j < %d, p < k, each sum one FMA chain in increasing p from +0;", mr, nr),
		"with over set, C is not read and the fma adds +0. k must be at least 1.",
	)
	k := Load(Param("k"), GP64())
	a := Load(Param("a"), GP64())
	b := Load(Param("b"), GP64())
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(map[int]uint8{4: 2, 8: 3}[es]), ldc)

	// Prefetch the tile of C, whose rows are a stride apart (the same L1
	// set when the stride is a multiple of 4 KiB), while the sums run.
	pc := GP64()
	MOVQ(c, pc)
	for i := range mr {
		for off := 0; off < g.cols*g.vecBytes; off += 64 {
			PREFETCHT0(Mem{Base: pc, Disp: off})
		}
		if i < mr-1 {
			ADDQ(ldc, pc)
		}
	}

	acc := make([][]VecVirtual, mr)
	for i := range acc {
		acc[i] = make([]VecVirtual, g.cols)
		for j := range acc[i] {
			acc[i][j] = g.vec()
			zero(acc[i][j])
		}
	}
	loop := "loop" + g.name
	Label(loop)
	if g.pairs {
		// acc[2r][j] and acc[2r+1][j] hold, until the loop ends, the
		// products of the pair of rows 2r, 2r+1 with the even and the
		// odd elements of B's vector j.
		bd := make([]VecVirtual, 2*g.cols)
		for j := range g.cols {
			bd[2*j], bd[2*j+1] = g.vec(), g.vec()
			VMOVSLDUP(Mem{Base: b, Disp: g.vecBytes * j}, bd[2*j])
			VMOVSHDUP(Mem{Base: b, Disp: g.vecBytes * j}, bd[2*j+1])
		}
		for r := range mr / 2 {
			ap := g.vec()
			VBROADCASTSD(Mem{Base: a, Disp: 8 * r}, ap)
			for j := range g.cols {
				fma231(bd[2*j], ap, acc[2*r][j])
				fma231(bd[2*j+1], ap, acc[2*r+1][j])
			}
		}
	} else {
		bv := make([]VecVirtual, g.cols)
		for j := range bv {
			bv[j] = g.vec()
			load(Mem{Base: b, Disp: g.vecBytes * j}, bv[j])
		}
		for i := range mr {
			ai := g.vec()
			bcast(Mem{Base: a, Disp: es * i}, ai)
			for j := range bv {
				fma231(bv[j], ai, acc[i][j])
			}
		}
	}
	ADDQ(U32(es*mr), a)
	ADDQ(U32(es*nr), b)
	DECQ(k)
	JNZ(LabelRef(loop))

	if g.pairs {
		// X = acc[2r][j] has C[2r][2t] in lane 2t and C[2r+1][2t] in
		// lane 2t+1 (columns of vector j); Y = acc[2r+1][j] the same for
		// the odd columns 2t+1. Row 2r is X with its odd lanes from Y's
		// even lanes, row 2r+1 is Y with its even lanes from X's odd ones.
		odd, even := K(), K()
		m := GP32()
		MOVL(U32(0xAAAA), m)
		KMOVW(m, odd)
		MOVL(U32(0x5555), m)
		KMOVW(m, even)
		for r := range mr / 2 {
			for j := range g.cols {
				x, y, t := acc[2*r][j], acc[2*r+1][j], g.vec()
				VMOVSHDUP(x, t)
				VMOVSLDUP(y, odd, x)
				VMOVAPS(t, even, y)
			}
		}
	}

	al, err := Param("alpha").Resolve()
	if err != nil {
		panic(err)
	}
	alpha := g.vec()
	bcast(al.Addr, alpha)
	over := Load(Param("over"), GP8())
	TESTB(over, over)
	overLabel := "over" + g.name
	JNZ(LabelRef(overLabel))
	for i := range mr {
		for j := range g.cols {
			fma213(Mem{Base: c, Disp: g.vecBytes * j}, alpha, acc[i][j])
			load(acc[i][j], Mem{Base: c, Disp: g.vecBytes * j})
		}
		if i < mr-1 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()

	// C is not read: each sum takes fma(alpha, s, +0).
	Label(overLabel)
	z := g.vec()
	zero(z)
	for i := range mr {
		for j := range g.cols {
			fma213(z, alpha, acc[i][j])
			load(acc[i][j], Mem{Base: c, Disp: g.vecBytes * j})
		}
		if i < mr-1 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()
}

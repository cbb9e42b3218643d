package linalg

import "math"

// Tile and block sizes of the packed update C −= A·Bᵀ. A micro-kernel keeps
// an mr×nr tile of C in registers (6×8 doubles is twelve 256-bit
// accumulators, leaving room for two B vectors and one broadcast A value).
// A kc-deep micro-panel of B (kc·nr·8 = 16 KiB) stays in L1 while the kernel
// sweeps the packed mc×kc block of A (192 KiB) held in L2.
const (
	mr = 6
	nr = 8
	kc = 256
	mc = 96 // a multiple of mr
	nc = 2048
)

// microKernel computes, for i < mr and j < nr,
//
//	c[i*ldc+j] -= Σ_p a[p*mr+i]·b[p*nr+j]   (p = 0..k-1)
//
// with the sum formed as one FMA chain in increasing p from +0. a and b are
// packed micro-panels of length k·mr and k·nr; k ≥ 1.
type microKernel func(k int, a, b, c []float64, ldc int)

// microKernel2 is a double-width micro-kernel: the mr×2nr tile at c against
// the two adjacent packed B micro-panels b0 (columns 0..nr-1) and b1
// (columns nr..2nr-1), each element the same chain as microKernel's.
type microKernel2 func(k int, a, b0, b1, c []float64, ldc int)

// workspace holds the packing buffers. It grows on first use and is reused.
type workspace struct {
	pa, pb []float64
	xa     packedX   // the solution of the last trsm, for the updates' A
	panel  []float64 // the base block, rows in lanes
	tile   [mr * nr]float64
	tile2  [mr * 2 * nr]float64
	leaf   [trsmBase * lanes]float64 // one packed panel for the leaf solve
	inv    [trsmBase]float64
}

func grow(buf []float64, n int) []float64 {
	if cap(buf) < n {
		return make([]float64, n)
	}
	return buf[:n]
}

// update computes C −= A·Bᵀ where C is m×n (row stride ldc), A is m×k (row
// stride lda) and B is n×k (row stride ldb). With lower set, C must be square
// (m == n) and only the elements on and below its diagonal are touched.
//
// If pre is not nil, A is columns col0.. of pre, and each kc-deep block of
// it that lies within one of pre's slabs is read there instead of packed.
func (w *workspace) update(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int, lower bool, pre *packedX, col0 int) {
	if m <= 0 || n <= 0 || k <= 0 {
		return
	}
	kern := kernel
	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		i0 := 0
		if lower {
			// Rows above jc lie wholly above the diagonal; start on a
			// micro-panel boundary so that pre's panels line up (the rows
			// in between are masked).
			i0 = jc / mr * mr
		}
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			w.pb = grow(w.pb, kb*roundUp(nb, nr))
			pack(w.pb, b[jc*ldb+pc:], ldb, nb, kb, nr)
			for ic := i0; ic < m; ic += mc {
				mb := min(mc, m-ic)
				var pa []float64
				var pstride int
				ok := false
				if pre != nil {
					pa, pstride, ok = pre.panels(col0+pc, kb)
					if ok {
						pa = pa[ic/mr*pstride:]
					}
				}
				if !ok {
					w.pa = grow(w.pa, kb*roundUp(mb, mr))
					pack(w.pa, a[ic*lda+pc:], lda, mb, kb, mr)
					pa, pstride = w.pa, kb*mr
				}
				diag := math.MinInt / 2 // every tile wholly below the diagonal; j+diag cannot overflow
				if lower {
					diag = jc - ic
				}
				w.macro(kern, pa, pstride, mb, nb, kb, c[ic*ldc+jc:], ldc, diag)
			}
		}
	}
}

// macro runs the micro-kernel over an mb×nb block of C against packed A and B
// blocks of depth kb. Element (i, j) of the block is written only if
// j+diag ≤ i, which keeps a lower update below the diagonal of C. Where the
// set has a double-width kernel (two adjacent B micro-panels, twice the
// accumulators), full pairs of tiles go through it.
func (w *workspace) macro(kern microKernel, pa []float64, pstride, mb, nb, kb int, c []float64, ldc, diag int) {
	kern2 := kernel2
	for jr := 0; jr < nb; {
		if kern2 != nil && jr+2*nr <= nb {
			pb0 := w.pb[jr*kb : (jr+nr)*kb]
			pb1 := w.pb[(jr+nr)*kb : (jr+2*nr)*kb]
			for ir := 0; ir < mb; ir += mr {
				if ir+mr <= mb && jr+2*nr-1+diag <= ir {
					kern2(kb, pa[ir/mr*pstride:ir/mr*pstride+kb*mr], pb0, pb1, c[ir*ldc+jr:], ldc)
					continue
				}
				if ir+mr <= mb && jr+nr+diag <= ir+mr-1 {
					// A tile pair across the diagonal, both halves partly
					// below it: one double-width call on a copy beats two
					// single-width ones.
					w.diagPair(kern2, kb, pa[ir/mr*pstride:ir/mr*pstride+kb*mr], pb0, pb1, c, ldc, diag, ir, jr)
					continue
				}
				w.tileAt(kern, pa[ir/mr*pstride:ir/mr*pstride+kb*mr], mb, nb, kb, c, ldc, diag, ir, jr)
				w.tileAt(kern, pa[ir/mr*pstride:ir/mr*pstride+kb*mr], mb, nb, kb, c, ldc, diag, ir, jr+nr)
			}
			jr += 2 * nr
			continue
		}
		for ir := 0; ir < mb; ir += mr {
			w.tileAt(kern, pa[ir/mr*pstride:ir/mr*pstride+kb*mr], mb, nb, kb, c, ldc, diag, ir, jr)
		}
		jr += nr
	}
}

// diagPair runs the double-width kernel on a copy of the full mr×2nr tile
// pair at (ir, jr) and writes back the elements on or below the diagonal;
// each still sees c − chain, so the bits are those of two tileAt calls.
func (w *workspace) diagPair(kern2 microKernel2, kb int, pa, pb0, pb1, c []float64, ldc, diag, ir, jr int) {
	t := &w.tile2
	for i := range mr {
		copy(t[i*2*nr:(i+1)*2*nr], c[(ir+i)*ldc+jr:(ir+i)*ldc+jr+2*nr])
	}
	kern2(kb, pa, pb0, pb1, t[:], 2*nr)
	for i := range mr {
		cols := min(2*nr, ir+i-jr-diag+1)
		if cols > 0 {
			copy(c[(ir+i)*ldc+jr:(ir+i)*ldc+jr+cols], t[i*2*nr:i*2*nr+cols])
		}
	}
}

// tileAt runs the micro-kernel on the tile at (ir, jr) of the block.
func (w *workspace) tileAt(kern microKernel, pa []float64, mb, nb, kb int, c []float64, ldc, diag, ir, jr int) {
	if jr+diag > ir+mr-1 {
		return // the whole tile lies above the diagonal
	}
	pb := w.pb[jr*kb : (jr+nr)*kb]
	if ir+mr <= mb && jr+nr <= nb && jr+nr-1+diag <= ir {
		kern(kb, pa, pb, c[ir*ldc+jr:], ldc)
		return
	}
	// Edge or diagonal tile: run the kernel on a copy and write back only
	// the elements that exist and lie on or below the diagonal. Each
	// element still sees c − chain, so the bits do not change.
	rows, cols := min(mr, mb-ir), min(nr, nb-jr)
	t := &w.tile
	for i := range mr {
		for j := range nr {
			if i < rows && j < cols {
				t[i*nr+j] = c[(ir+i)*ldc+jr+j]
			} else {
				t[i*nr+j] = 0
			}
		}
	}
	kern(kb, pa, pb, t[:], nr)
	for i := range rows {
		for j := range min(cols, ir+i-jr-diag+1) {
			c[(ir+i)*ldc+jr+j] = t[i*nr+j]
		}
	}
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// pack copies the rows×k matrix src (row stride ld) into dst as panels of w
// rows: panel q holds rows q·w .. q·w+w−1 column after column, so the kernel
// reads w consecutive values per k. Rows past the end are zero. Full panels
// of the kernels' widths go through unrolled copies that write dst in order.
func pack(dst, src []float64, ld, rows, k, w int) {
	for r0 := 0; r0 < rows; r0 += w {
		panel := dst[r0*k : (r0+w)*k]
		h := min(w, rows-r0)
		switch {
		case h == 8 && w == 8:
			pack8(panel, src[r0*ld:], ld, k)
			continue
		case h == 6 && w == 6:
			pack6(panel, src[r0*ld:], ld, k)
			continue
		}
		// A partial panel, or the leaf's width: eight, then four rows at a
		// time, each step writing 64 or 32 bytes of one column of the
		// panel; padding rows are zero.
		i0 := 0
		for ; i0+8 <= h; i0 += 8 {
			s := src[(r0+i0)*ld:]
			s0, s1, s2, s3 := s[:k], s[ld:ld+k], s[2*ld:2*ld+k], s[3*ld:3*ld+k]
			s4, s5, s6, s7 := s[4*ld:4*ld+k], s[5*ld:5*ld+k], s[6*ld:6*ld+k], s[7*ld:7*ld+k]
			for p := range s0 {
				d := panel[p*w+i0 : p*w+i0+8 : p*w+i0+8]
				d[0], d[1], d[2], d[3] = s0[p], s1[p], s2[p], s3[p]
				d[4], d[5], d[6], d[7] = s4[p], s5[p], s6[p], s7[p]
			}
		}
		for ; i0+4 <= h; i0 += 4 {
			s0 := src[(r0+i0)*ld : (r0+i0)*ld+k]
			s1 := src[(r0+i0+1)*ld : (r0+i0+1)*ld+k]
			s2 := src[(r0+i0+2)*ld : (r0+i0+2)*ld+k]
			s3 := src[(r0+i0+3)*ld : (r0+i0+3)*ld+k]
			for p := range s0 {
				d := panel[p*w+i0 : p*w+i0+4 : p*w+i0+4]
				d[0], d[1], d[2], d[3] = s0[p], s1[p], s2[p], s3[p]
			}
		}
		for ; i0 < h; i0++ {
			row := src[(r0+i0)*ld : (r0+i0)*ld+k]
			for p, v := range row {
				panel[p*w+i0] = v
			}
		}
		if h < w {
			for p := range k {
				clear(panel[p*w+h : (p+1)*w])
			}
		}
	}
}

func pack8(panel, src []float64, ld, k int) {
	r0, r1, r2, r3 := src[:k], src[ld:ld+k], src[2*ld:2*ld+k], src[3*ld:3*ld+k]
	r4, r5, r6, r7 := src[4*ld:4*ld+k], src[5*ld:5*ld+k], src[6*ld:6*ld+k], src[7*ld:7*ld+k]
	panel = panel[:8*k]
	for p := range r0 {
		d := panel[p*8 : p*8+8 : p*8+8]
		d[0], d[1], d[2], d[3] = r0[p], r1[p], r2[p], r3[p]
		d[4], d[5], d[6], d[7] = r4[p], r5[p], r6[p], r7[p]
	}
}

func pack6(panel, src []float64, ld, k int) {
	r0, r1, r2 := src[:k], src[ld:ld+k], src[2*ld:2*ld+k]
	r3, r4, r5 := src[3*ld:3*ld+k], src[4*ld:4*ld+k], src[5*ld:5*ld+k]
	panel = panel[:6*k]
	for p := range r0 {
		d := panel[p*6 : p*6+6 : p*6+6]
		d[0], d[1], d[2] = r0[p], r1[p], r2[p]
		d[3], d[4], d[5] = r3[p], r4[p], r5[p]
	}
}

// kernelGeneric is the portable micro-kernel. It walks the tile in 2×4
// sub-tiles so the eight chains stay in registers; the order within each
// chain is the one every kernel uses.
func kernelGeneric(k int, a, b, c []float64, ldc int) {
	a = a[:k*mr]
	b = b[:k*nr]
	_ = c[(mr-1)*ldc+nr-1]
	for i := 0; i < mr; i += 2 {
		for j := 0; j < nr; j += 4 {
			var s00, s01, s02, s03, s10, s11, s12, s13 float64
			for p := range k {
				ap := a[p*mr+i : p*mr+i+2 : p*mr+i+2]
				bp := b[p*nr+j : p*nr+j+4 : p*nr+j+4]
				a0, a1 := ap[0], ap[1]
				b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
				s00 = math.FMA(a0, b0, s00)
				s01 = math.FMA(a0, b1, s01)
				s02 = math.FMA(a0, b2, s02)
				s03 = math.FMA(a0, b3, s03)
				s10 = math.FMA(a1, b0, s10)
				s11 = math.FMA(a1, b1, s11)
				s12 = math.FMA(a1, b2, s12)
				s13 = math.FMA(a1, b3, s13)
			}
			r0 := c[i*ldc+j : i*ldc+j+4 : i*ldc+j+4]
			r1 := c[(i+1)*ldc+j : (i+1)*ldc+j+4 : (i+1)*ldc+j+4]
			r0[0] -= s00
			r0[1] -= s01
			r0[2] -= s02
			r0[3] -= s03
			r1[0] -= s10
			r1[1] -= s11
			r1[2] -= s12
			r1[3] -= s13
		}
	}
}

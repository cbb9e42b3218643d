package linalg

import (
	"errors"
	"fmt"
	"math"
	"sync"
)

// Below these orders the recursion stops: a diagonal block of order up to
// potrfBase is factored by the panel kernel, and a triangular solve with at
// most trsmBase columns runs on the leaf kernel. (Measured on a
// Zen-5-class CPU: a 256 base loses 3% at n = 500 and 64 or 96 lose a
// quarter at n = 100. A 32-column leaf beats 16 by 1.5% at n = 500 with the
// avx512 set, whose leaf solves two columns at a time, and ties with avx2;
// 64 gains another 1.5% with avx512 but loses 3% with avx2, and the bits
// require one value for every set. On Zen 3 with avx2, larger bases gained
// little at n = 500.)
const (
	potrfBase = 128
	trsmBase  = 32
)

var pool = sync.Pool{New: func() any { return new(workspace) }}

// Cholesky factors the symmetric positive definite n×n matrix in a
// (row-major, only the lower triangle read) in place into the lower
// triangular L with A = L·Lᵀ. The strict upper triangle is not touched.
//
// It returns *NotPositiveDefiniteError if a pivot is not positive, and an
// error wrapping ErrNonFinite if a pivot is NaN or ±Inf, which happens when
// the lower triangle holds NaN or ±Inf or its products overflow; a is then
// partly overwritten. It returns an error without touching a if n ≤ 0 or a
// is shorter than n·n. (Non-finite input is not searched for up front: that
// pass would cost a tenth of the factorization at n = 500, and such input
// always surfaces as a non-finite pivot.)
func Cholesky(a []float64, n int) error {
	w := pool.Get().(*workspace)
	defer pool.Put(w)
	return w.cholesky(a, n)
}

func (w *workspace) cholesky(a []float64, n int) error {
	if err := checkSize(a, n, "a"); err != nil {
		return err
	}
	if fail, d := w.potrf(a[:n*n], n, n, 0); fail >= 0 {
		return pivotError(fail, d)
	}
	return nil
}

func checkSize[T float32 | float64](a []T, n int, name string) error {
	if n <= 0 {
		return fmt.Errorf("linalg: order n = %d must be positive", n)
	}
	if n > math.MaxInt32 || len(a)/n < n {
		return fmt.Errorf("linalg: %s has %d elements, fewer than n·n for n = %d", name, len(a), n)
	}
	return nil
}

// ErrNonFinite is wrapped when a pivot is NaN or ±Inf: the matrix holds NaN
// or ±Inf, or its entries are too large for float64 products.
var ErrNonFinite = errors.New("linalg: non-finite pivot (NaN or ±Inf in the matrix, or overflow)")

// potrf factors the n×n block at a (row stride lda) in place; off is the
// block's position in the whole matrix. It returns fail = −1 on success,
// else the index (plus off) and value d of the first pivot that is not
// positive and finite. Errors are built by the callers so that failed
// attempts of the damped solver do not allocate.
//
// It splits A = [A11 ·; A21 A22], factors A11 = L11·L11ᵀ, solves
// L21 = A21·L11⁻ᵀ, updates A22 −= L21·L21ᵀ on the packed micro-kernel, and
// factors A22. The split is a multiple of nr so that most kernel tiles are
// full.
func (w *workspace) potrf(a []float64, lda, n, off int) (fail int, d float64) {
	if n <= potrfBase {
		return w.potrfUnblocked(a, lda, n, off)
	}
	n1 := roundUp(n/2, nr)
	n2 := n - n1
	if fail, d := w.potrf(a, lda, n1, off); fail >= 0 {
		return fail, d
	}
	a21 := a[n1*lda:]
	w.trsm(a21, lda, n2, a, lda, n1)
	// The solve left L21 packed in w.xa, which is the update's A.
	w.update(n2, n2, n1, a21, lda, a21, lda, a21[n1:], lda, true, &w.xa, 0)
	return w.potrf(a21[n1:], lda, n2, off+n1)
}

// potrfUnblocked factors a block of at most potrfBase rows: its lower
// triangle is packed with rows in lanes (column j at panel[j*ld:], ld = n
// rounded up to 8), factored right-looking by the panel kernel, and
// unpacked (also after a failure, so that the rows before and the row of
// the failing pivot hold their L).
func (w *workspace) potrfUnblocked(a []float64, lda, n, off int) (fail int, pivot float64) {
	ld := roundUp(n, 8) // a whole number of vectors for every panel kernel
	w.panel = grow(w.panel, n*ld)
	panel := w.panel
	packLowerLanes(panel, ld, a, lda, n)
	fail = potrfPanel(n, panel, ld)
	unpackLowerLanes(a, lda, panel, ld, n)
	// A pivot that overflowed to +Inf passed the kernel's d > 0 test; it is
	// reported as such, before any failure it caused further on.
	last := n
	if fail >= 0 {
		last = fail
		pivot = panel[fail*ld+fail]
	}
	for j := range last {
		if math.IsInf(panel[j*ld+j], 1) {
			return off + j, math.Inf(1)
		}
	}
	if fail >= 0 {
		return off + fail, pivot
	}
	return -1, 0
}

// packLowerLanes transposes the lower triangle of the n×n matrix a (row
// stride lda) into panel with rows in lanes (panel[j*ld+i] = a[i][j]), eight
// or four rows at a time so that panel is written in 64- or 32-byte runs.
// The kernels read lanes j&^3 .. ld-1 of column j only, and lanes never
// mix, so the upper lanes of each 4×4 diagonal block and the padding lanes
// are set to zero and the lanes below j&^3 are left as they are (a kernel
// may compute on them, lanes never mix, and they are never unpacked).
func packLowerLanes(panel []float64, ld int, a []float64, lda, n int) {
	for i0 := 0; i0 < n; i0 += 4 {
		h := min(4, n-i0)
		if i0%8 == 0 && i0+8 <= n {
			// Eight rows at once, a 64-byte run per column, for the
			// columns left of their diagonal blocks (both 4×4 blocks are
			// packed below as usual).
			r := a[i0*lda:]
			r0, r1, r2, r3 := r[:i0], r[lda:lda+i0], r[2*lda:2*lda+i0], r[3*lda:3*lda+i0]
			r4, r5, r6, r7 := r[4*lda:4*lda+i0], r[5*lda:5*lda+i0], r[6*lda:6*lda+i0], r[7*lda:7*lda+i0]
			for j := range r0 {
				d := panel[j*ld+i0 : j*ld+i0+8 : j*ld+i0+8]
				d[0], d[1], d[2], d[3] = r0[j], r1[j], r2[j], r3[j]
				d[4], d[5], d[6], d[7] = r4[j], r5[j], r6[j], r7[j]
			}
			packDiagLanes(panel, ld, a, lda, n, i0, 4)
			// The second four rows: columns i0 .. i0+3 left of their block.
			for j := i0; j < i0+4; j++ {
				d := panel[j*ld+i0+4 : j*ld+i0+8 : j*ld+i0+8]
				d[0], d[1], d[2], d[3] = r4[:i0+4][j], r5[:i0+4][j], r6[:i0+4][j], r7[:i0+4][j]
			}
			packDiagLanes(panel, ld, a, lda, n, i0+4, 4)
			i0 += 4
			continue
		}
		if h == 4 {
			r0 := a[i0*lda : i0*lda+i0+1]
			r1 := a[(i0+1)*lda : (i0+1)*lda+i0+2]
			r2 := a[(i0+2)*lda : (i0+2)*lda+i0+3]
			r3 := a[(i0+3)*lda : (i0+3)*lda+i0+4]
			for j := range i0 {
				d := panel[j*ld+i0 : j*ld+i0+4 : j*ld+i0+4]
				d[0], d[1], d[2], d[3] = r0[j], r1[j], r2[j], r3[j]
			}
		} else {
			for j := range i0 {
				d := panel[j*ld+i0 : j*ld+i0+4 : j*ld+i0+4]
				for q := range 4 {
					d[q] = 0
					if q < h {
						d[q] = a[(i0+q)*lda+j]
					}
				}
			}
		}
		packDiagLanes(panel, ld, a, lda, n, i0, h)
	}
}

// packDiagLanes packs the 4×4 diagonal block at row and column i0 (h rows
// of it exist), zeroing its upper and padding lanes.
func packDiagLanes(panel []float64, ld int, a []float64, lda, n, i0, h int) {
	for j := i0; j < i0+h; j++ {
		d := panel[j*ld+i0 : j*ld+i0+4 : j*ld+i0+4]
		for q := range 4 {
			d[q] = 0
			if i := i0 + q; i >= j && i < n {
				d[q] = a[i*lda+j]
			}
		}
	}
}

// unpackLowerLanes copies the lower triangle back from the panel into a,
// eight or four rows at a time.
func unpackLowerLanes(a []float64, lda int, panel []float64, ld, n int) {
	for i0 := 0; i0 < n; i0 += 4 {
		h := min(4, n-i0)
		if i0%8 == 0 && i0+8 <= n {
			// Eight rows at once for the columns left of both diagonal
			// blocks; the rest as for four rows.
			r := a[i0*lda:]
			r0, r1, r2, r3 := r[:i0], r[lda:lda+i0], r[2*lda:2*lda+i0], r[3*lda:3*lda+i0]
			r4, r5, r6, r7 := r[4*lda:4*lda+i0], r[5*lda:5*lda+i0], r[6*lda:6*lda+i0], r[7*lda:7*lda+i0]
			for j := range r0 {
				d := panel[j*ld+i0 : j*ld+i0+8 : j*ld+i0+8]
				r0[j], r1[j], r2[j], r3[j] = d[0], d[1], d[2], d[3]
				r4[j], r5[j], r6[j], r7[j] = d[4], d[5], d[6], d[7]
			}
			for j := i0; j < i0+4; j++ {
				for i := j; i < i0+8; i++ {
					a[i*lda+j] = panel[j*ld+i]
				}
			}
			for j := i0 + 4; j < i0+8; j++ {
				for i := j; i < i0+8; i++ {
					a[i*lda+j] = panel[j*ld+i]
				}
			}
			i0 += 4
			continue
		}
		if h == 4 {
			r0 := a[i0*lda : i0*lda+i0+1]
			r1 := a[(i0+1)*lda : (i0+1)*lda+i0+2]
			r2 := a[(i0+2)*lda : (i0+2)*lda+i0+3]
			r3 := a[(i0+3)*lda : (i0+3)*lda+i0+4]
			for j := range i0 {
				d := panel[j*ld+i0 : j*ld+i0+4 : j*ld+i0+4]
				r0[j], r1[j], r2[j], r3[j] = d[0], d[1], d[2], d[3]
			}
		} else {
			for j := range i0 {
				for q := range h {
					a[(i0+q)*lda+j] = panel[j*ld+i0+q]
				}
			}
		}
		for j := i0; j < i0+h; j++ {
			for i := j; i < i0+h; i++ {
				a[i*lda+j] = panel[j*ld+i]
			}
		}
	}
}

// panelKernel factors the n×n lower triangle packed in x with rows in lanes
// (x[j*ld+i] = A[i][j], ld ≥ n a multiple of 4); see potrfGeneric for the
// exact operations. It returns the index of the first pivot that is not
// positive (or NaN), or -1.
type panelKernel func(n int, x []float64, ld int) int

// potrfGeneric is the portable panel kernel. For each column j: fail if the
// pivot d is not positive; divide lanes j&^3.. of the column by
// s = sqrt(d); subtract L[k][j]·(column j) from lanes k&^3.. of each later
// column k, one FMA per element; set the diagonal to s. So every element of
// L is its own chain over j in increasing order, exactly as in potrfAVX2.
func potrfGeneric(n int, x []float64, ld int) int {
	x = x[:n*ld]
	for j := range n {
		colj := x[j*ld : (j+1)*ld]
		d := colj[j]
		if !(d > 0) {
			return j
		}
		s := math.Sqrt(d)
		for i := j &^ 3; i < ld; i++ {
			colj[i] /= s
		}
		for k := j + 1; k < n; k++ {
			t := colj[k]
			colk := x[k*ld : (k+1)*ld]
			for i := k &^ 3; i < ld; i++ {
				colk[i] = math.FMA(-t, colj[i], colk[i])
			}
		}
		colj[j] = s
	}
	return -1
}

func pivotError(index int, d float64) error {
	if math.IsNaN(d) || math.IsInf(d, 0) {
		return fmt.Errorf("%w: pivot %d is %v", ErrNonFinite, index, d)
	}
	return &NotPositiveDefiniteError{Index: index, Pivot: d}
}

// trsm overwrites the m×n matrix B (row stride ldb) with X solving
// X·Lᵀ = B, where L is the n×n lower triangle at l (row stride ldl).
// Splitting L = [La ·; Lb Lc] and X = [Xa Xb] gives Xa·Laᵀ = Ba and
// Xb·Lcᵀ = Bb − Xa·Lbᵀ, the middle term on the micro-kernel.
//
// Each solved column block is also stored in w.xa (see packedX), so that
// the updates here and the caller's trailing update read X without packing
// it again at every level.
func (w *workspace) trsm(b []float64, ldb, m int, l []float64, ldl, n int) {
	w.xa.reset(m, n)
	w.trsmRec(b, ldb, m, l, ldl, n, 0)
}

func (w *workspace) trsmRec(b []float64, ldb, m int, l []float64, ldl, n, col0 int) {
	if n <= trsmBase {
		w.trsmUnblocked(b, ldb, m, l, ldl, n)
		w.xa.store(b, ldb, m, n, col0)
		return
	}
	n1 := roundUp(n/2, nr)
	w.trsmRec(b, ldb, m, l, ldl, n1, col0)
	w.update(m, n-n1, n1, b, ldb, l[n1*ldl:], ldl, b[n1:], ldb, false, &w.xa, col0)
	w.trsmRec(b[n1:], ldb, m, l[n1*ldl+n1:], ldl, n-n1, col0+n1)
}

// trsmUnblocked solves X·Lᵀ = B for the m×n block B (n ≤ trsmBase) in
// panels of lanes rows: each panel is packed column after column, solved by
// the leaf kernel, and copied back. Rows past m are zero and stay zero.
func (w *workspace) trsmUnblocked(b []float64, ldb, m int, l []float64, ldl, n int) {
	inv := w.inv[:n]
	for j := range n {
		inv[j] = 1 / l[j*ldl+j]
	}
	leaf := leafKernel
	panel := w.leaf[:n*lanes]
	for r0 := 0; r0 < m; r0 += lanes {
		rows := min(lanes, m-r0)
		pack(panel, b[r0*ldb:], ldb, rows, n, lanes)
		leaf(n, l, ldl, inv, panel)
		i := 0
		for ; i+8 <= rows; i += 8 {
			x := b[(r0+i)*ldb:]
			x0, x1, x2, x3 := x[:n], x[ldb:ldb+n], x[2*ldb:2*ldb+n], x[3*ldb:3*ldb+n]
			x4, x5, x6, x7 := x[4*ldb:4*ldb+n], x[5*ldb:5*ldb+n], x[6*ldb:6*ldb+n], x[7*ldb:7*ldb+n]
			for j := range x0 {
				s := panel[j*lanes+i : j*lanes+i+8 : j*lanes+i+8]
				x0[j], x1[j], x2[j], x3[j] = s[0], s[1], s[2], s[3]
				x4[j], x5[j], x6[j], x7[j] = s[4], s[5], s[6], s[7]
			}
		}
		for ; i+4 <= rows; i += 4 {
			x0 := b[(r0+i)*ldb : (r0+i)*ldb+n]
			x1 := b[(r0+i+1)*ldb : (r0+i+1)*ldb+n]
			x2 := b[(r0+i+2)*ldb : (r0+i+2)*ldb+n]
			x3 := b[(r0+i+3)*ldb : (r0+i+3)*ldb+n]
			for j := range x0 {
				s := panel[j*lanes+i : j*lanes+i+4 : j*lanes+i+4]
				x0[j], x1[j], x2[j], x3[j] = s[0], s[1], s[2], s[3]
			}
		}
		for ; i < rows; i++ {
			row := b[(r0+i)*ldb : (r0+i)*ldb+n]
			for j := range row {
				row[j] = panel[j*lanes+i]
			}
		}
	}
}

// packedX holds an m×n matrix packed as update packs its A operand, so
// that update can use it in place: slab s holds columns s·kc .. s·kc+kc−1
// (fewer in the last) as micro-panels of mr rows, one after the other, each
// column after column. A kc-deep block of the update that lies within one
// slab then reads contiguous panels, exactly as if packed for it.
type packedX struct {
	buf        []float64
	rows, cols int // rows rounded up to mr
}

func (x *packedX) reset(m, n int) {
	x.rows, x.cols = roundUp(m, mr), n
	x.buf = grow(x.buf, x.rows*n)
	// Padding rows of a slab's last panel only meet padding rows of C,
	// which are never written back; they are zeroed to keep them finite.
	for c := 0; c < n; c += kc {
		width := min(kc, n-c)
		last := c*x.rows + (x.rows-mr)*width
		clear(x.buf[last : last+mr*width])
	}
}

// panels returns where columns c0 .. c0+kb−1 begin in the first panel and
// the distance between panels, or ok = false if they span two slabs.
func (x *packedX) panels(c0, kb int) (buf []float64, stride int, ok bool) {
	s := c0 / kc
	if (c0+kb-1)/kc != s {
		return nil, 0, false
	}
	width := min(kc, x.cols-s*kc)
	return x.buf[s*kc*x.rows+(c0-s*kc)*mr:], width * mr, true
}

// store packs the solved m×n block at b (row stride ldb) as columns col0..
func (x *packedX) store(b []float64, ldb, m, n, col0 int) {
	for c := col0; c < col0+n; {
		seg := min(col0+n, (c/kc+1)*kc) - c
		dst, stride, _ := x.panels(c, seg)
		src := b[c-col0:]
		for r0 := 0; r0 < m; r0 += mr {
			d := dst[r0/mr*stride:]
			if r0+mr <= m {
				pack6(d, src[r0*ldb:], ldb, seg)
				continue
			}
			for i := range m - r0 {
				for j, v := range src[(r0+i)*ldb : (r0+i)*ldb+seg] {
					d[j*mr+i] = v
				}
			}
		}
		c += seg
	}
}

// lanes is the number of rows a leaf kernel solves at once.
const lanes = 32

// trsmKernel solves X·Lᵀ = B in place for one packed panel x of lanes rows
// (x[j*lanes+r] is row r, column j), L n×n lower triangular with row stride
// ldl and inv[j] = 1/L[j][j]. Every element is the chain
// v = b_j; v = −L[j][k]·x_k + v (one FMA, k = 0..j−1); x_j = v·inv[j].
type trsmKernel func(n int, l []float64, ldl int, inv, x []float64)

// trsmGeneric is the portable leaf kernel.
func trsmGeneric(n int, l []float64, ldl int, inv, x []float64) {
	x = x[:n*lanes]
	for j := range n {
		lj := l[j*ldl : j*ldl+j]
		for r := range lanes {
			v := x[j*lanes+r]
			for k, ljk := range lj {
				v = math.FMA(-ljk, x[k*lanes+r], v)
			}
			x[j*lanes+r] = v * inv[j]
		}
	}
}

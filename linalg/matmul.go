package linalg

import (
	"fmt"
	"math"
	"sync"
	"unsafe"
)

// GemmKC is the depth of the k blocks of Gemm. It is part of the result:
// every element of C is summed over k in blocks of GemmKC (see Gemm), on
// every machine and with every kernel set, so it is a constant and not
// tuned to a cache.
const GemmKC = 256

// Gemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices, where
// op(X) is X, or Xᵀ when the matching trans flag is set. op(A) is m×k,
// op(B) is k×n and C is m×n. A is stored as an m×k matrix with row stride
// lda (k×m when transA), B as k×n with stride ldb (n×k when transB) and C
// as m×n with stride ldc; a stride must be at least its row length, and a
// slice must reach the last element of its matrix (no further).
//
// The result does not depend on the machine, the kernel set (OPTIM_ISA) or
// the number of workers: Gemm first scales C by beta, then, for each block
// of GemmKC consecutive indices of k in increasing order, forms for every
// element the sum s = Σ op(A)[i][p]·op(B)[p][j] over the block as one chain
// of fused multiply-adds in increasing p starting from +0, and adds it as
// C[i][j] = fma(alpha, s, C[i][j]). Every kernel set performs exactly these
// operations, so the bits are the same everywhere (up to the payload of a
// NaN, which the hardware chooses).
//
// As in the reference BLAS, beta = 0 sets C to zero without reading it (NaN
// or Inf in C is overwritten), and with alpha = 0 or k = 0 A and B are not
// read and C is only scaled. C must not share memory with A or B.
//
// Gemm checks every dimension, stride and slice length before writing
// anything and returns a *GemmError naming the first argument that is
// wrong. It runs on the caller's goroutine with a packing workspace taken
// from a pool, so it does not allocate once warm; GemmWorkspace holds a
// workspace explicitly and can split the work among goroutines.
func Gemm[T float32 | float64](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) error {
	pool := poolFor[T]()
	w := pool.Get().(*GemmWorkspace[T])
	err := w.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	pool.Put(w)
	return err
}

var gemmPool32 = sync.Pool{New: func() any { return new(GemmWorkspace[float32]) }}
var gemmPool64 = sync.Pool{New: func() any { return new(GemmWorkspace[float64]) }}

func poolFor[T float32 | float64]() *sync.Pool {
	var z T
	if _, ok := any(z).(float32); ok {
		return &gemmPool32
	}
	return &gemmPool64
}

// GemmWorkspace holds the packing buffers of Gemm so that repeated products
// (a Newton–Schulz iteration, say) reuse them: the buffers grow on the
// first call and are kept, and later calls of no larger shape do not
// allocate on the caller's goroutine. The zero value is ready to use. A
// GemmWorkspace must not be used by two goroutines at once.
type GemmWorkspace[T float32 | float64] struct {
	// Workers is the most goroutines a call may use: 0 or 1 runs on the
	// caller's goroutine only. Workers split the rows or the columns of C
	// (never k), so the result is the same for every value. Each worker
	// beyond the first keeps its own buffers, and starting the goroutines
	// allocates a little on every call.
	Workers int

	bufs []gemmBuffers[T]
}

// gemmBuffers are one worker's packed A block, packed B block and an edge
// tile of C.
type gemmBuffers[T float32 | float64] struct {
	pa, pb, tile []T
}

// Gemm computes C = alpha·op(A)·op(B) + beta·C as the function Gemm does,
// with w's buffers and up to w.Workers goroutines.
func (w *GemmWorkspace[T]) Gemm(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) error {
	return w.gemm(gemmSetFor[T](), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// GemmError reports an argument of Gemm that is out of range. Gemm wrote
// nothing.
type GemmError struct {
	// Arg names the argument: "m", "n", "k", "lda", "ldb", "ldc", "a",
	// "b", "c" or "Workers".
	Arg string
	// Value is the argument, or the slice's length for a, b and c.
	Value int
	// Reason says what was wrong, with the numbers that mattered.
	Reason string
}

func (e *GemmError) Error() string {
	return fmt.Sprintf("linalg: Gemm: %s = %d %s", e.Arg, e.Value, e.Reason)
}

// shape describes a stored matrix for an error message.
type shape struct {
	name       string // "A", "B" or "C"
	rows, cols int
	dims       string // "m×k", "k×m, transA", ...
}

func (s shape) String() string {
	return fmt.Sprintf("%s (%s = %d×%d)", s.name, s.dims, s.rows, s.cols)
}

// checkMatrix checks the stride and slice of the row-major matrix s held in
// x with stride ld; name and ldName are the arguments' names.
func checkMatrix[T float32 | float64](name, ldName string, x []T, ld int, s shape) error {
	rows, cols := s.rows, s.cols
	if ld < max(1, cols) {
		return &GemmError{ldName, ld, fmt.Sprintf("is less than max(1, %d), the row length of %v", cols, s)}
	}
	if rows == 0 || cols == 0 {
		return nil
	}
	// need = (rows−1)·ld + cols, without overflow.
	if rows-1 > (math.MaxInt-cols)/ld {
		return &GemmError{name, len(x), fmt.Sprintf("is too short: %v with stride %d overflows int", s, ld)}
	}
	if need := (rows-1)*ld + cols; len(x) < need {
		return &GemmError{name, len(x), fmt.Sprintf("is too short: %v with stride %d needs %d elements", s, ld, need)}
	}
	return nil
}

// check validates the arguments of a product; it returns nil or a
// *GemmError. With read set it also checks that C shares no memory with A
// or B.
func check[T float32 | float64](transA, transB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int, read bool) error {
	switch {
	case m < 0:
		return &GemmError{"m", m, "is negative"}
	case n < 0:
		return &GemmError{"n", n, "is negative"}
	case k < 0:
		return &GemmError{"k", k, "is negative"}
	}
	sa := shape{"A", m, k, "m×k"}
	if transA {
		sa = shape{"A", k, m, "k×m, transA"}
	}
	sb := shape{"B", k, n, "k×n"}
	if transB {
		sb = shape{"B", n, k, "n×k, transB"}
	}
	if err := checkMatrix("a", "lda", a, lda, sa); err != nil {
		return err
	}
	if err := checkMatrix("b", "ldb", b, ldb, sb); err != nil {
		return err
	}
	if err := checkMatrix("c", "ldc", c, ldc, shape{"C", m, n, "m×n"}); err != nil {
		return err
	}
	if read && m > 0 && n > 0 {
		cs := c[:(m-1)*ldc+n]
		if sharesMemory(cs, a[:(sa.rows-1)*lda+sa.cols]) {
			return &GemmError{"c", len(c), "shares memory with a"}
		}
		if sharesMemory(cs, b[:(sb.rows-1)*ldb+sb.cols]) {
			return &GemmError{"c", len(c), "shares memory with b"}
		}
	}
	return nil
}

// sharesMemory reports whether two non-empty slices share an element.
func sharesMemory[T float32 | float64](x, y []T) bool {
	x0 := uintptr(unsafe.Pointer(unsafe.SliceData(x)))
	y0 := uintptr(unsafe.Pointer(unsafe.SliceData(y)))
	size := unsafe.Sizeof(x[0])
	return x0 < y0+uintptr(len(y))*size && y0 < x0+uintptr(len(x))*size
}

// gemm is Gemm with the kernel set given.
func (w *GemmWorkspace[T]) gemm(set *gemmSet[T], transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) error {
	if w.Workers < 0 {
		return &GemmError{"Workers", w.Workers, "is negative"}
	}
	read := alpha != 0 && k > 0
	if err := check(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, read); err != nil {
		return err
	}
	if m == 0 || n == 0 {
		return nil
	}
	if !read {
		scale(m, n, beta, c, ldc)
		return nil
	}
	p := gemmProblem[T]{set, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc}
	workers := max(1, w.Workers)
	// Split the larger side of C in whole micro-tiles; small products
	// (under 32³ multiply-adds per worker) stay on fewer goroutines.
	split, unit := n, set.nr
	if m > n {
		split, unit = m, set.mr
	}
	tiles := (split + unit - 1) / unit
	workers = min(workers, tiles)
	if work := uint64(m) * uint64(n) * uint64(k) / (32 * 32 * 32); work < uint64(workers) {
		workers = max(1, int(work))
	}
	if len(w.bufs) < workers {
		w.bufs = append(w.bufs, make([]gemmBuffers[T], workers-len(w.bufs))...)
	}
	if workers == 1 {
		p.run(&w.bufs[0], 0, m, 0, n)
		return nil
	}
	p.parallel(w.bufs[:workers], split, unit, m > n)
	return nil
}

// parallel runs the product on len(bufs) goroutines (the caller's among
// them), each on a contiguous range of whole tiles of the rows (byRows) or
// the columns of C.
func (p gemmProblem[T]) parallel(bufs []gemmBuffers[T], split, unit int, byRows bool) {
	workers := len(bufs)
	tiles := (split + unit - 1) / unit
	var wg sync.WaitGroup
	for t := range workers {
		lo := tiles * t / workers * unit
		hi := min(split, tiles*(t+1)/workers*unit)
		run := func() {
			if byRows {
				p.run(&bufs[t], lo, hi, 0, p.n)
			} else {
				p.run(&bufs[t], 0, p.m, lo, hi)
			}
		}
		if t == workers-1 {
			run()
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			run()
		}()
	}
	wg.Wait()
}

// scale sets the m×n matrix c to beta·c, or to zero when beta is zero.
func scale[T float32 | float64](m, n int, beta T, c []T, ldc int) {
	if beta == 1 {
		return
	}
	for i := range m {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// gemmProblem is one validated product.
type gemmProblem[T float32 | float64] struct {
	set            *gemmSet[T]
	transA, transB bool
	m, n, k        int
	alpha          T
	a              []T
	lda            int
	b              []T
	ldb            int
	beta           T
	c              []T
	ldc            int
}

// run computes rows i0..i1−1, columns j0..j1−1 of C: scale by beta, then
// for each block of GemmKC indices of k pack the block of op(B), and for
// each block of set.mc rows the block of op(A), and run the micro-kernel
// over the tiles. Tiles at the edges, narrower than the kernel's, run on a
// copy (the packed panels are padded with zeros). With beta = 0, C is not
// cleared first: the first k block's kernels add their fma(alpha, s, ·) to
// +0 without reading C, the same operations as on a cleared C.
func (p *gemmProblem[T]) run(buf *gemmBuffers[T], i0, i1, j0, j1 int) {
	s := p.set
	m, n := i1-i0, j1-j0
	c := p.c[i0*p.ldc+j0:]
	over := p.beta == 0
	if !over {
		scale(m, n, p.beta, c, p.ldc)
	}
	buf.tile = growT(buf.tile, s.mr*s.nr)
	for jc := 0; jc < n; jc += s.nc {
		nb := min(s.nc, n-jc)
		for pc := 0; pc < p.k; pc += GemmKC {
			kb := min(GemmKC, p.k-pc)
			buf.pb = growT(buf.pb, kb*roundUp(nb, s.nr))
			if p.transB { // B is n×k: rows of the panel are rows of B
				packRows(buf.pb, p.b[(j0+jc)*p.ldb+pc:], p.ldb, nb, kb, s.nr)
			} else {
				packCols(buf.pb, p.b[pc*p.ldb+j0+jc:], p.ldb, nb, kb, s.nr)
			}
			for ic := 0; ic < m; ic += s.mc {
				mb := min(s.mc, m-ic)
				buf.pa = growT(buf.pa, kb*roundUp(mb, s.mr))
				if p.transA { // A is k×m
					packCols(buf.pa, p.a[pc*p.lda+i0+ic:], p.lda, mb, kb, s.mr)
				} else {
					pack := packRows[T]
					if s.packRows != nil {
						pack = s.packRows
					}
					pack(buf.pa, p.a[(i0+ic)*p.lda+pc:], p.lda, mb, kb, s.mr)
				}
				p.macro(buf, mb, nb, kb, c[ic*p.ldc+jc:], over && pc == 0)
			}
		}
	}
}

// macro runs the micro-kernel over the mb×nb block at c against the packed
// blocks: B micro-panel by micro-panel (each stays in L1 while the A block
// streams from L2). over is the kernels' flag (C not read).
func (p *gemmProblem[T]) macro(buf *gemmBuffers[T], mb, nb, kb int, c []T, over bool) {
	s, ldc, alpha := p.set, p.ldc, p.alpha
	mr, nr := s.mr, s.nr
	for jr := 0; jr < nb; jr += nr {
		pb := buf.pb[jr*kb : (jr+nr)*kb]
		cols := min(nr, nb-jr)
		for ir := 0; ir < mb; ir += mr {
			pa := buf.pa[ir*kb : (ir+mr)*kb]
			rows := min(mr, mb-ir)
			if rows == mr && cols == nr {
				s.kern(kb, alpha, pa, pb, c[ir*ldc+jr:], ldc, over)
				continue
			}
			// Edge tile: the kernel runs on a copy; each element sees the
			// same operations, and only those of C are written back.
			tile := buf.tile
			if !over {
				clear(tile)
				for i := range rows {
					copy(tile[i*nr:i*nr+cols], c[(ir+i)*ldc+jr:])
				}
			}
			s.kern(kb, alpha, pa, pb, tile, nr, over)
			for i := range rows {
				copy(c[(ir+i)*ldc+jr:(ir+i)*ldc+jr+cols], tile[i*nr:])
			}
		}
	}
}

func growT[T float32 | float64](buf []T, n int) []T {
	if cap(buf) < n {
		return make([]T, n)
	}
	return buf[:n]
}

// packRows packs rows×k of src (row stride ld) into panels of w rows: panel
// q holds rows q·w..q·w+w−1 with the w values of each index p of k
// together, dst[q·w·k + p·w + i] = src[(q·w+i)·ld + p]. Rows past the end
// are zero.
func packRows[T float32 | float64](dst, src []T, ld, rows, k, w int) {
	for r0 := 0; r0 < rows; r0 += w {
		panel := dst[r0*k : (r0+w)*k]
		h := min(w, rows-r0)
		i := 0
		for ; i+4 <= h; i += 4 {
			s := src[(r0+i)*ld:]
			s0, s1, s2, s3 := s[:k], s[ld:ld+k], s[2*ld:2*ld+k], s[3*ld:3*ld+k]
			for p := range s0 {
				d := panel[p*w+i : p*w+i+4 : p*w+i+4]
				d[0], d[1], d[2], d[3] = s0[p], s1[p], s2[p], s3[p]
			}
		}
		for ; i < h; i++ {
			row := src[(r0+i)*ld : (r0+i)*ld+k]
			for p, v := range row {
				panel[p*w+i] = v
			}
		}
		if h < w {
			for p := range k {
				clear(panel[p*w+h : (p+1)*w])
			}
		}
	}
}

// packCols packs k×cols of src (row stride ld) into panels of w columns:
// dst[q·w·k + p·w + j] = src[p·ld + q·w + j]. Columns past the end are zero.
//
// The full panels are filled row of src by row of src, so that src is read
// in order: column by column of panels, its rows (a stride apart) would be
// visited in short runs, one cache line or two at a time.
func packCols[T float32 | float64](dst, src []T, ld, cols, k, w int) {
	full := cols / w * w
	for p := range k {
		row := src[p*ld : p*ld+full]
		for c0 := 0; c0 < full; c0 += w {
			copy(dst[c0*k+p*w:c0*k+p*w+w], row[c0:c0+w])
		}
	}
	for c0 := full; c0 < cols; c0 += w {
		panel := dst[c0*k : (c0+w)*k]
		h := min(w, cols-c0)
		for p := range k {
			d := panel[p*w : (p+1)*w]
			copy(d[:h], src[p*ld+c0:p*ld+c0+h])
			clear(d[h:])
		}
	}
}

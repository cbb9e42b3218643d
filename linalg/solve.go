package linalg

// solveCholesky overwrites x, holding b on entry, with the solution of
// L·Lᵀ·x = b for the n×n lower triangular factor in l (row-major, as left by
// Cholesky). Lengths are not checked beyond the slice bounds.
func solveCholesky(l []float64, n int, x []float64) {
	forward(l, n, x)
	backwardStrided(l, n, n, x)
}

// forward solves L·y = b in place by rows: y_i is b_i minus the dot product
// of row i of L with the y found so far, over L_ii.
func forward(l []float64, n int, x []float64) {
	x = x[:n]
	for i := range n {
		row := l[i*n : i*n+i+1]
		x[i] = (x[i] - dot(row[:i], x[:i])) / row[i]
	}
}

// backwardStrided solves Lᵀ·x = y in place for the leading n×n block of L
// (row stride ld). Column i of Lᵀ is row i of L, so it
// goes column-oriented: once x_i is known, row i of L (contiguous) scaled by
// x_i is subtracted from the unknowns before it.
func backwardStrided(l []float64, ld, n int, x []float64) {
	x = x[:n]
	for i := n - 1; i >= 0; i-- {
		row := l[i*ld : i*ld+i+1]
		xi := x[i] / row[i]
		x[i] = xi
		axpy(-xi, row[:i], x[:i])
	}
}

// axpy adds alpha·x to y, four elements per iteration.
func axpy(alpha float64, x, y []float64) {
	y = y[:len(x)]
	i := 0
	for ; i+4 <= len(x); i += 4 {
		xs, ys := x[i:i+4:i+4], y[i:i+4:i+4]
		ys[0] += alpha * xs[0]
		ys[1] += alpha * xs[1]
		ys[2] += alpha * xs[2]
		ys[3] += alpha * xs[3]
	}
	for ; i < len(x); i++ {
		y[i] += alpha * x[i]
	}
}

// dot returns Σ x[i]·y[i] over len(x) with four independent sums, so the
// loop is bound by throughput rather than by the latency of one add chain.
func dot(x, y []float64) float64 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		xs, ys := x[i:i+4:i+4], y[i:i+4:i+4]
		s0 += xs[0] * ys[0]
		s1 += xs[1] * ys[1]
		s2 += xs[2] * ys[2]
		s3 += xs[3] * ys[3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}

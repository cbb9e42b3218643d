// Package openblas measures OpenBLAS's dpotrf next to linalg's Cholesky on
// the same matrices, single-threaded. It is a separate module so that the
// library never depends on cgo or OpenBLAS; it needs a C compiler and
// Debian's libopenblas-dev:
//
//	cd bench/openblas && go test -cpu 1 -bench . -count 6
package openblas

/*
#cgo LDFLAGS: -lopenblas
extern void dpotrf_(char *uplo, int *n, double *a, int *lda, int *info);
extern void openblas_set_num_threads(int);
*/
import "C"

import "unsafe"

func init() { C.openblas_set_num_threads(1) }

// Potrf factors the row-major n×n matrix a in place with OpenBLAS. A
// row-major lower triangle is a column-major upper one, so it asks dpotrf
// for U = Lᵀ; it reports whether the matrix was positive definite.
func Potrf(a []float64, n int) bool {
	uplo := C.char('U')
	cn, lda, info := C.int(n), C.int(n), C.int(0)
	C.dpotrf_(&uplo, &cn, (*C.double)(unsafe.Pointer(&a[0])), &lda, &info)
	return info == 0
}

// Package openblas measures OpenBLAS's dpotrf next to linalg's Cholesky,
// and its sgemm and dgemm next to linalg.Gemm, on the same matrices,
// single-threaded. It is a separate module so that the
// library never depends on cgo or OpenBLAS; it needs a C compiler and
// Debian's libopenblas-dev:
//
//	cd bench/openblas && go test -cpu 1 -bench . -count 6
//
// OpenBLAS picks its kernels by CPU; OPENBLAS_CORETYPE (SkylakeX,
// Haswell, Zen, ...) overrides the choice, and Corename reports it.
package openblas

/*
#cgo LDFLAGS: -lopenblas
extern void dpotrf_(char *uplo, int *n, double *a, int *lda, int *info);
extern void openblas_set_num_threads(int);
extern char* openblas_get_corename(void);
extern char* openblas_get_config(void);
extern void sgemm_(char *transa, char *transb, int *m, int *n, int *k, float *alpha, float *a, int *lda, float *b, int *ldb, float *beta, float *c, int *ldc);
extern void dgemm_(char *transa, char *transb, int *m, int *n, int *k, double *alpha, double *a, int *lda, double *b, int *ldb, double *beta, double *c, int *ldc);
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

// Corename returns the kernel set OpenBLAS chose, and its configuration.
func Corename() string {
	return C.GoString(C.openblas_get_corename()) + " (" + C.GoString(C.openblas_get_config()) + ")"
}

// Gemm computes C = alpha·A·B + beta·C for row-major n×n matrices with
// OpenBLAS's sgemm or dgemm: a row-major product is the column-major
// Cᵀ = Bᵀ·Aᵀ, so it passes B before A.
func Gemm[T float32 | float64](n int, alpha T, a, b []T, beta T, c []T) {
	tr := C.char('N')
	cn := C.int(n)
	switch a := any(a).(type) {
	case []float32:
		b, c := any(b).([]float32), any(c).([]float32)
		al, be := C.float(alpha), C.float(beta)
		C.sgemm_(&tr, &tr, &cn, &cn, &cn, &al, (*C.float)(unsafe.Pointer(&b[0])), &cn,
			(*C.float)(unsafe.Pointer(&a[0])), &cn, &be, (*C.float)(unsafe.Pointer(&c[0])), &cn)
	case []float64:
		b, c := any(b).([]float64), any(c).([]float64)
		al, be := C.double(alpha), C.double(beta)
		C.dgemm_(&tr, &tr, &cn, &cn, &cn, &al, (*C.double)(unsafe.Pointer(&b[0])), &cn,
			(*C.double)(unsafe.Pointer(&a[0])), &cn, &be, (*C.double)(unsafe.Pointer(&c[0])), &cn)
	}
}

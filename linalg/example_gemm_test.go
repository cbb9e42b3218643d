package linalg_test

import (
	"fmt"

	"github.com/simdoptim/optim/linalg"
)

// One Newton–Schulz step of Muon on a 2×3 matrix X (row-major): A = X·Xᵀ,
// B = b·A + c·A·A, X' = a·X + B·X. A GemmWorkspace keeps the packing
// buffers between the products, so the loop does not allocate.
func ExampleGemm() {
	const m, n = 2, 3
	const ca, cb, cc = 3.4445, -4.7750, 2.0315
	x := []float32{
		0.1, 0.2, 0.3,
		0.0, 0.4, 0.1,
	}
	a := make([]float32, m*m)
	b := make([]float32, m*m)
	next := make([]float32, m*n)
	var w linalg.GemmWorkspace[float32]
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	// A = X·Xᵀ (m×m): op(B) = Xᵀ, so transB.
	must(w.Gemm(false, true, m, m, n, 1, x, n, x, n, 0, a, m))
	// B = cb·A + cc·A·A: start from B = A, then B = cc·A·A + cb·B.
	copy(b, a)
	must(w.Gemm(false, false, m, m, m, cc, a, m, a, m, cb, b, m))
	// X' = B·X + ca·X, written to a new matrix (C must not overlap A or B).
	copy(next, x)
	must(w.Gemm(false, false, m, n, m, 1, b, m, x, n, ca, next, n))
	for i := range m {
		fmt.Printf("%.4f\n", next[i*n:(i+1)*n])
	}

	// Bad arguments are reported before anything is written.
	err := linalg.Gemm(false, false, 2, 2, 2, 1, x, 1, x, 2, 0, a, 2)
	fmt.Println(err)
	// Output:
	// [0.2840 0.3857 0.8065]
	// [-0.0456 0.9952 0.1348]
	// linalg: Gemm: lda = 1 is less than max(1, 2), the row length of A (m×k = 2×2)
}

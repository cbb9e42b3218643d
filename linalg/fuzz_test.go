package linalg

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

// FuzzCholesky factors matrices decoded from the fuzzer's bytes: byte 0 is
// the order (1..64 here, so the recursive path with its kernel runs too),
// byte 1 the construction (raw symmetric, or a Gram matrix MᵀM plus a
// diagonal, which is positive semidefinite), then float64s. A success must
// have a small backward error; a failure must be a clean error.
func FuzzCholesky(f *testing.F) {
	f.Add([]byte{3, 1, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f})
	f.Add([]byte{40, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		n := 1 + int(data[0])%64
		gram := data[1]&1 == 1
		vals := data[2:]
		next := func(i int) float64 {
			if len(vals) < 8 {
				return 0
			}
			j := (i * 8) % (len(vals) - len(vals)%8)
			v := math.Float64frombits(binary.LittleEndian.Uint64(vals[j:]))
			if gram && !(math.Abs(v) < 1e100) {
				v = float64(j%7) - 3 // keep Gram matrices finite
			}
			return v
		}
		a := make([]float64, n*n)
		if gram {
			m := make([]float64, n*n)
			for i := range m {
				m[i] = next(i)
			}
			for i := range n {
				for j := 0; j <= i; j++ {
					s := 0.0
					for k := range n {
						s += m[k*n+i] * m[k*n+j]
					}
					a[i*n+j], a[j*n+i] = s, s
				}
				a[i*n+i] += math.Abs(next(n*n + i))
			}
		} else {
			for i := range n {
				for j := 0; j <= i; j++ {
					v := next(i*n + j)
					a[i*n+j], a[j*n+i] = v, v
				}
			}
		}
		l := append([]float64(nil), a...)
		err := Cholesky(l, n)
		if err != nil {
			if errors.Is(err, ErrNonFinite) {
				return
			}
			var npd *NotPositiveDefiniteError
			if !errors.As(err, &npd) || npd.Index < 0 || npd.Index >= n || npd.Pivot > 0 || math.IsNaN(npd.Pivot) {
				t.Fatalf("unexpected error: %v", err)
			}
			return
		}
		// Elementwise backward error: |A − LLᵀ|_ij ≤ c·(n+1)·ε·sqrt(a_ii·a_jj),
		// with an absolute allowance for underflow.
		for i := range n {
			for j := 0; j <= i; j++ {
				s := 0.0
				for k := 0; k <= j; k++ {
					s += l[i*n+k] * l[j*n+k]
				}
				if math.IsNaN(s) || math.IsInf(s, 0) {
					t.Fatalf("n=%d: L·Lᵀ (%d,%d) is %v", n, i, j, s)
				}
				bound := 4*float64(n+1)*eps*math.Sqrt(a[i*n+i])*math.Sqrt(a[j*n+j]) + float64(n)*0x1p-1000
				if e := math.Abs(a[i*n+j] - s); e > bound {
					t.Fatalf("n=%d gram=%v: |A−LLᵀ| at (%d,%d) = %g > %g", n, gram, i, j, e, bound)
				}
			}
		}
	})
}

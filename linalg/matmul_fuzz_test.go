package linalg

import (
	"encoding/binary"
	"math"
	"testing"
)

// FuzzGemm decodes a product from the fuzzer's bytes: byte 0 the
// transposes and the choice of alpha and beta, bytes 1-3 m, n and k (k may
// cross GemmKC), byte 4 the strides' padding, then the elements' bits
// (any float32 or float64, NaN and Inf included). Every kernel set must
// give gemmReference's bits, NaNs counted equal, in both precisions, and
// leave C's surroundings alone.
func FuzzGemm(f *testing.F) {
	f.Add([]byte{0, 3, 4, 5, 0, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{0xff, 13, 17, 3, 0x5a, 0, 0, 0xc0, 0x7f, 0, 0, 0x80, 0x3f})
	f.Add([]byte{0x13, 1, 30, 0x81, 0x21, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 5 {
			return
		}
		fuzzGemm[float32](t, data)
		fuzzGemm[float64](t, data)
	})
}

func fuzzGemm[T float32 | float64](t *testing.T, data []byte) {
	flags := data[0]
	transA, transB := flags&1 != 0, flags&2 != 0
	m, n := int(data[1])%40, int(data[2])%40
	k := int(data[3]) % 64
	if data[3]&0x80 != 0 {
		k += GemmKC - 32 // 224..287: one or two blocks
	}
	padA, padB, padC := int(data[4])&3, int(data[4]>>2)&3, int(data[4]>>4)&7
	vals := data[5:]
	var z T
	size := 8
	if _, ok := any(z).(float32); ok {
		size = 4
	}
	usable := len(vals) - len(vals)%size
	next := func(i int) T {
		if usable == 0 {
			return T(i%5) - 2
		}
		j := (i * size) % usable
		if size == 4 {
			return T(math.Float32frombits(binary.LittleEndian.Uint32(vals[j:])))
		}
		return T(math.Float64frombits(binary.LittleEndian.Uint64(vals[j:])))
	}
	pick := func(sel byte, i int) T {
		switch sel & 3 {
		case 0:
			return 0
		case 1:
			return 1
		case 2:
			return -0.5
		}
		return next(i)
	}
	alpha, beta := pick(flags>>2, 7), pick(flags>>4, 11)

	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	lda, ldb, ldc := max(1, ac)+padA, max(1, bc)+padB, max(1, n)+padC
	fill := func(rows, cols, ld, seed int) []T {
		if rows == 0 || cols == 0 {
			return nil
		}
		x := make([]T, (rows-1)*ld+cols)
		for i := range x {
			x[i] = next(seed + i)
		}
		return x
	}
	a := fill(ar, ac, lda, 13)
	b := fill(br, bc, ldb, 101)
	c0 := fill(m, n, ldc, 7)
	for i := range c0 {
		if i%ldc >= n {
			c0[i] = guard // the gaps between C's rows must survive
		}
	}
	want := append([]T(nil), c0...)
	gemmReference(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, want, ldc)
	for _, s := range gemmSets[T]() {
		g := guarded[T]{m: m, n: n, ldc: ldc, off: 5}
		g.buf = make([]T, len(c0)+9)
		for i := range g.buf {
			g.buf[i] = guard
		}
		g.c = g.buf[g.off : g.off+len(c0) : g.off+len(c0)]
		copy(g.c, c0)
		var w GemmWorkspace[T]
		if err := w.gemm(s.set, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, g.c, ldc); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		g.checkGuards(t, s.name)
		for i := range g.c {
			if i%ldc < n && !sameBits(g.c[i], want[i]) {
				t.Fatalf("%s %T tA=%v tB=%v m=%d n=%d k=%d alpha=%v beta=%v: c[%d] = %v, reference %v",
					s.name, z, transA, transB, m, n, k, alpha, beta, i, g.c[i], want[i])
			}
		}
	}
}

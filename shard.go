package optim

import (
	"fmt"
	mathbits "math/bits"
	"unsafe"
)

// ShardBounds returns the half-open range [lo, hi) of a flat buffer of n
// elements of T that rank owns when world ranks share it, as a data-parallel
// job shards its optimizer (ZeRO stage 1): each rank builds an Optimizer
// (a LowOptimizer for a 16-bit model) over its range of the parameter and gradient buffers, steps it, and the
// training framework's all-gather gives every rank the updated parameters.
//
// The shards are balanced to within one cache line (64 bytes: 16 float32,
// 8 float64 or 32 bfloat16 or float16 elements) and every boundary is a multiple of a cache line
// from the buffer's start, so no two ranks' shards share a line of a
// line-aligned buffer. The result depends only on (n, world, rank): every
// rank computes every other rank's range identically, with no
// communication. A rank may get an empty shard when n is small.
func ShardBounds[T float32 | float64 | BFloat16 | Float16](n, world, rank int) (lo, hi int, err error) {
	switch {
	case n < 0:
		return 0, 0, argErr("ShardBounds", "n", float64(n), ">= 0")
	case world < 1:
		return 0, 0, argErr("ShardBounds", "world", float64(world), ">= 1")
	case rank < 0 || rank >= world:
		return 0, 0, argErr("ShardBounds", "rank", float64(rank), fmt.Sprintf("in [0, world = %d)", world))
	}
	line := cacheLine / int(unsafe.Sizeof(T(0)))
	lines := n/line + min(n%line, 1)
	// Rank r owns lines [r*lines/world, (r+1)*lines/world). The product
	// r*lines is formed in 128 bits, so no n or world overflows it; the
	// quotient is at most lines, which fits. A boundary past n's last
	// whole line is n itself, so k*line is formed only where it is <= n.
	at := func(r int) int {
		hi, lo := mathbits.Mul64(uint64(r), uint64(lines))
		k, _ := mathbits.Div64(hi, lo, uint64(world)) // hi < world because r <= world
		if k > uint64(n/line) {
			return n
		}
		return int(k) * line
	}
	return at(rank), at(rank + 1), nil
}

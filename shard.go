package optim

import (
	"fmt"
	"unsafe"
)

// ShardBounds returns the half-open range [lo, hi) of a flat buffer of n
// elements of T that rank owns when world ranks share it, as a data-parallel
// job shards its optimizer (ZeRO stage 1): each rank builds an Optimizer
// over its range of the parameter and gradient buffers, steps it, and the
// training framework's all-gather gives every rank the updated parameters.
//
// The shards are balanced to within one cache line (64 bytes: 16 float32
// or 8 float64 elements) and every boundary is a multiple of a cache line
// from the buffer's start, so no two ranks' shards share a line of a
// line-aligned buffer. The result depends only on (n, world, rank): every
// rank computes every other rank's range identically, with no
// communication. A rank may get an empty shard when n is small.
func ShardBounds[T float32 | float64](n, world, rank int) (lo, hi int, err error) {
	if n < 0 || world < 1 || rank < 0 || rank >= world {
		return 0, 0, fmt.Errorf("optim: ShardBounds(n=%d, world=%d, rank=%d): want n >= 0, world >= 1 and 0 <= rank < world", n, world, rank)
	}
	line := cacheLine / int(unsafe.Sizeof(T(0)))
	lines := n/line + min(n%line, 1)
	// Rank r owns lines [r*lines/world, (r+1)*lines/world), computed
	// without overflow for any int n.
	at := func(r int) int {
		q, m := lines/world, lines%world
		return min((q*r+m*r/world)*line, n)
	}
	return at(rank), at(rank + 1), nil
}

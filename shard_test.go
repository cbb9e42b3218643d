package optim

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

func TestShardBounds(t *testing.T) {
	for _, n := range []int{0, 1, 15, 16, 17, 1000, 1 << 20, 1<<20 + 3} {
		for world := 1; world <= 9; world++ {
			prev := 0
			for rank := range world {
				lo, hi, err := ShardBounds[float32](n, world, rank)
				if err != nil {
					t.Fatal(err)
				}
				if lo != prev || hi < lo || (lo%16 != 0 && lo != n) {
					t.Fatalf("n=%d world=%d rank=%d: [%d, %d) after %d", n, world, rank, lo, hi, prev)
				}
				if hi-lo > (n+15)/16/world*16+16 {
					t.Errorf("n=%d world=%d rank=%d: shard of %d is unbalanced", n, world, rank, hi-lo)
				}
				prev = hi
			}
			if prev != n {
				t.Fatalf("n=%d world=%d: shards end at %d", n, world, prev)
			}
		}
	}
	// The extremes of int: the shards still tile [0, n) in order, each
	// boundary a whole line or n.
	for _, c := range [][2]int{{math.MaxInt, 1}, {math.MaxInt, 2}, {math.MaxInt, 3}, {math.MaxInt, math.MaxInt},
		{math.MaxInt - 15, 7}, {1000, math.MaxInt}, {0, math.MaxInt}} {
		n, world := c[0], c[1]
		ranks := []int{0, 1, world / 2, world - 2, world - 1}
		for _, rank := range ranks {
			if rank < 0 || rank >= world {
				continue
			}
			lo, hi, err := ShardBounds[float32](n, world, rank)
			if err != nil || lo < 0 || hi < lo || hi > n || (lo%16 != 0 && lo != n) {
				t.Errorf("ShardBounds(%d, %d, %d) = [%d, %d), %v", n, world, rank, lo, hi, err)
			}
			if rank == 0 && lo != 0 || rank == world-1 && hi != n {
				t.Errorf("ShardBounds(%d, %d, %d) = [%d, %d): the shards do not cover [0, n)", n, world, rank, lo, hi)
			}
		}
	}
	// Lines of 32 16-bit elements, and of 8 float64 ones.
	for _, c := range []struct {
		bounds func(n, world, rank int) (int, int, error)
		line   int
	}{{ShardBounds[BFloat16], 32}, {ShardBounds[Float16], 32}, {ShardBounds[float64], 8}} {
		for _, n := range []int{31, 32, 33, 1000} {
			prev := 0
			for rank := range 3 {
				lo, hi, err := c.bounds(n, 3, rank)
				if err != nil || lo != prev || hi < lo || (lo%c.line != 0 && lo != n) || hi-lo > (n+c.line-1)/c.line/3*c.line+c.line {
					t.Fatalf("line %d, n=%d rank=%d: [%d, %d) after %d (%v)", c.line, n, rank, lo, hi, prev, err)
				}
				prev = hi
			}
			if prev != n {
				t.Fatalf("line %d, n=%d: shards end at %d", c.line, n, prev)
			}
		}
	}
	for _, bad := range [][3]int{{-1, 1, 0}, {10, 0, 0}, {10, 2, 2}, {10, 2, -1}} {
		var he *HyperparameterError
		if _, _, err := ShardBounds[float64](bad[0], bad[1], bad[2]); !errors.As(err, &he) || he.Func != "ShardBounds" {
			t.Errorf("ShardBounds%v: %v, want a *HyperparameterError", bad, err)
		}
	}
}

// ExampleShardBounds shards an optimizer over ranks as a ZeRO-1 data-
// parallel job does: each rank steps the slice of the flat parameter and
// gradient buffers it owns; the all-gather that follows is the training
// framework's.
func ExampleShardBounds() {
	const world = 4
	params := make([]float32, 1000) // the model's flat parameter buffer, on every rank
	grads := make([]float32, len(params))
	for rank := range world { // in a real job, each rank runs only its own iteration
		lo, hi, err := ShardBounds[float32](len(params), world, rank)
		if err != nil {
			panic(err)
		}
		opt, err := New(DefaultAdamW(), params[lo:hi]) // state for this shard only
		if err != nil {
			panic(err)
		}
		// Each step: all-reduce grads (framework), then step the own shard,
		// then all-gather params[lo:hi] from every rank (framework).
		if err := opt.Step(grads[lo:hi]); err != nil {
			panic(err)
		}
		fmt.Printf("rank %d owns [%d, %d)\n", rank, lo, hi)
	}
	// Output:
	// rank 0 owns [0, 240)
	// rank 1 owns [240, 496)
	// rank 2 owns [496, 752)
	// rank 3 owns [752, 1000)
}

package optim

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// BenchmarkSparseAdam times a SparseAdam step of an embedding table of 1M
// rows × 64 float32 whose gradient holds 1% of the rows (10,485 distinct
// rows, in sorted order as torch's coalesced gradient has them, or in
// random order; or as many lookups of half as many rows, about twice
// each, which Step coalesces), against a dense Adam step of the same table
// (Optimizer.Step with DefaultAdam), which is what the sparse step
// saves. SetBytes counts the parameter bytes each step updates (the
// gradient's rows, or the whole table), so MB/s is the rate at which
// parameters change; ns/op compares the steps. Not run under -short.
func BenchmarkSparseAdam(b *testing.B) {
	if testing.Short() {
		b.Skip("a 256 MB table: skipped under -short")
	}
	const rows, cols, hit = 1 << 20, 64, (1 << 20) / 100
	r := rand.New(rand.NewPCG(1, 2))
	picked := r.Perm(rows)[:hit]
	values := make([]float32, hit*cols)
	for i := range values {
		values[i] = float32(r.NormFloat64())
	}
	for _, order := range []string{"sorted", "random", "repeated"} {
		b.Run("sparse/rows="+order, func(b *testing.B) {
			table := make([]float32, rows*cols)
			o, err := NewSparseAdam(DefaultSparseAdam(), Table[float32]{Data: table, Cols: cols})
			if err != nil {
				b.Fatal(err)
			}
			g := SparseGrad[float32]{Rows: slices.Clone(picked), Values: values}
			switch order {
			case "sorted":
				slices.Sort(g.Rows)
			case "repeated":
				// As many lookups, of half as many rows: each row about
				// twice, in random order, which Step coalesces.
				for k := range g.Rows {
					g.Rows[k] = picked[r.IntN(hit/2)]
				}
			}
			// One step first: the rows' pages are touched (not faulted in
			// during the timing), as in a run's steady state.
			if err := o.Step(g); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(hit * cols * 4))
			b.ResetTimer()
			for range b.N {
				if err := o.Step(g); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("dense-adam", func(b *testing.B) {
		table := make([]float32, rows*cols)
		grad := make([]float32, rows*cols)
		for i, k := range picked {
			copy(grad[k*cols:(k+1)*cols], values[i*cols:(i+1)*cols])
		}
		o, err := New[float32](DefaultAdam(), table)
		if err != nil {
			b.Fatal(err)
		}
		defer o.Close()
		if err := o.Step(grad); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(rows * cols * 4))
		b.ResetTimer()
		for range b.N {
			if err := o.Step(grad); err != nil {
				b.Fatal(err)
			}
		}
	})
}

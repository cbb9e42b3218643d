package optim_test

import (
	"fmt"

	"github.com/simdoptim/optim"
)

// An embedding table trained with SparseAdam, as torch's
// nn.Embedding(sparse=True) with optim.SparseAdam: each step's gradient
// holds one row per token looked up, and only those rows change. A token
// that occurs twice in the batch gives its row twice; SparseAdam sums them
// (torch's coalesce).
func ExampleNewSparseAdam() {
	const vocab, dim = 6, 4
	embedding := make([]float32, vocab*dim) // row t is token t's vector
	for i := range embedding {
		embedding[i] = float32(i%dim) / 4
	}
	opt, err := optim.NewSparseAdam(optim.DefaultSparseAdam(), optim.Table[float32]{Data: embedding, Cols: dim})
	if err != nil {
		panic(err)
	}

	// Two batches of token ids. Your model's backward pass gives the
	// gradient of each looked-up vector; here, the vector itself (the
	// gradient of half its squared norm).
	for _, batch := range [][]int{{1, 4, 1}, {4, 5}} {
		grad := optim.SparseGrad[float32]{Rows: batch, Values: make([]float32, 0, len(batch)*dim)}
		for _, token := range batch {
			grad.Values = append(grad.Values, embedding[token*dim:(token+1)*dim]...)
		}
		if err := opt.Step(grad); err != nil {
			panic(err)
		}
	}

	// Tokens 0, 2 and 3 were not looked up: unchanged. Token 5's one step
	// used the bias corrections of the table's step 2 (lazy Adam, as in
	// torch), so it moved less than token 1 did at step 1.
	st, _ := opt.State(0)
	fmt.Println("steps:", st.Step)
	for token := range vocab {
		fmt.Printf("token %d: %.4f\n", token, embedding[token*dim:(token+1)*dim])
	}
	// Output:
	// steps: 2
	// token 0: [0.0000 0.2500 0.5000 0.7500]
	// token 1: [0.0000 0.2490 0.4990 0.7490]
	// token 2: [0.0000 0.2500 0.5000 0.7500]
	// token 3: [0.0000 0.2500 0.5000 0.7500]
	// token 4: [0.0000 0.2480 0.4980 0.7480]
	// token 5: [0.0000 0.2493 0.4993 0.7493]
}

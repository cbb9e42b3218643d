package optim_test

import (
	"fmt"

	"github.com/simdoptim/optim"
)

// Muon for the 2-D weight matrices and AdamW for the rest (biases,
// embeddings), in one optimizer, as torch's documentation of Muon advises:
// each weight gives its shape, rows × cols, in the group's Shapes.
func ExampleNewGroups_muon() {
	w1 := make([]float32, 4*3) // a 4×3 weight
	w2 := make([]float32, 2*4) // a 2×4 weight
	b1, b2 := make([]float32, 4), make([]float32, 2)
	for i := range w1 {
		w1[i] = float32(i%5) / 8
	}
	for i := range w2 {
		w2[i] = float32(i%3) / 4
	}
	muon := optim.DefaultMuon()
	muon.LR = 0.02
	opt, err := optim.NewGroups(
		optim.Group[float32]{Rule: muon, Params: [][]float32{w1, w2}, Shapes: []optim.Shape{{4, 3}, {2, 4}}},
		optim.Group[float32]{Rule: optim.DefaultAdamW(), Params: [][]float32{b1, b2}},
	)
	if err != nil {
		panic(err)
	}
	defer opt.Close()
	g1, g2 := make([]float32, len(w1)), make([]float32, len(w2))
	gb1, gb2 := make([]float32, len(b1)), make([]float32, len(b2))
	for range 3 {
		// The gradient of sum(w^2)/2 + sum(b^2)/2 is the parameters.
		copy(g1, w1)
		copy(g2, w2)
		copy(gb1, b1)
		copy(gb2, b2)
		if err := opt.Step(g1, g2, gb1, gb2); err != nil {
			panic(err)
		}
	}
	fmt.Println(opt.Shape(0), opt.Shape(2)) // a bias has no shape
	fmt.Printf("%.4f\n", w2)
	// Output:
	// [4, 3] []
	// [-0.0012 0.2232 0.4511 -0.0012 0.2249 0.4487 -0.0024 0.2249]
}

// Adafactor keeps the second moment of a matrix factored: one value per
// row and one per column, torch's row_var and col_var.
func ExampleAdafactor() {
	w := make([]float64, 3*4)
	for i := range w {
		w[i] = float64(i%4) - 1.5
	}
	opt, err := optim.NewGroups(optim.Group[float64]{Rule: optim.DefaultAdafactor(), Params: [][]float64{w}, Shapes: []optim.Shape{{3, 4}}})
	if err != nil {
		panic(err)
	}
	defer opt.Close()
	g := make([]float64, len(w))
	for range 2 {
		copy(g, w)
		if err := opt.Step(g); err != nil {
			panic(err)
		}
	}
	st, _ := opt.State(0)
	fmt.Println(len(st.RowVar), len(st.ColVar), st.Step)
	// Output: 3 4 2
}

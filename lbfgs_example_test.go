package optim_test

import (
	"fmt"

	"github.com/simdoptim/optim"
)

// ExampleNewLBFGS minimizes the Rosenbrock function
// (1-x)² + 100(y-x²)² from (-1.5, 2) with torch's LBFGS and a strong
// Wolfe line search. The closure computes the loss at the current
// parameters and writes the gradient into the optimizer's buffer.
func ExampleNewLBFGS() {
	xy := []float64{-1.5, 2}
	cfg := optim.DefaultLBFGS()
	cfg.LineSearch = optim.StrongWolfe
	opt, err := optim.NewLBFGS(cfg, xy)
	if err != nil {
		panic(err)
	}
	closure := func() (float64, error) {
		x, y := xy[0], xy[1]
		a, b := 1-x, y-x*x
		g := opt.Grad(0)
		g[0] = -2*a - 400*x*b
		g[1] = 200 * b
		return a*a + 100*b*b, nil
	}
	for step := range 3 {
		loss, err := opt.Step(closure)
		if err != nil {
			panic(err)
		}
		fmt.Printf("step %d: loss %.2g at its start\n", step, loss)
	}
	fmt.Printf("x = %.4f, y = %.4f\n", xy[0], xy[1])
	// Output:
	// step 0: loss 12 at its start
	// step 1: loss 1.3 at its start
	// step 2: loss 1.9e-07 at its start
	// x = 1.0000, y = 1.0000
}

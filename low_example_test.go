package optim_test

import (
	"fmt"

	"github.com/simdoptim/optim"
	"github.com/simdoptim/optim/schedule"
)

// A model held in bfloat16 is stepped in place: each element is widened to
// float32, the rule runs, and the results are rounded back. The state is
// bfloat16 too by default (torch's fused behaviour); LowOptions chooses
// float32 state or stochastic rounding. Schedulers, clipping and the
// other methods of Optimizer work the same way.
func ExampleNewLow() {
	weights := []optim.BFloat16{optim.BFloat16From(0.5), optim.BFloat16From(-1.25), optim.BFloat16From(2)}
	opt, err := optim.NewLow(optim.DefaultAdamW(), optim.LowOptions{Stochastic: true, Seed: 1}, weights)
	if err != nil {
		panic(err)
	}
	sched, err := schedule.New(opt, schedule.CosineAnnealingLR{TMax: 10})
	if err != nil {
		panic(err)
	}
	grads := make([]optim.BFloat16, len(weights))
	for step := 0; step < 10; step++ {
		for i, w := range weights {
			grads[i] = optim.BFloat16From(2 * w.Float32()) // the gradient of w²
		}
		if _, err := opt.ClipGradNorm(1, 2, false, grads); err != nil {
			panic(err)
		}
		if err := opt.Step(grads); err != nil {
			panic(err)
		}
		if err := sched.Step(); err != nil {
			panic(err)
		}
	}
	fmt.Printf("%.4f %.4f %.4f\n", weights[0].Float32(), weights[1].Float32(), weights[2].Float32())
	st, _ := opt.State(0)
	fmt.Println("steps:", st.Step, "exp_avg values:", len(st.ExpAvg))
	// Output:
	// 0.4941 -1.2344 2.0000
	// steps: 10 exp_avg values: 3
}

// Float32 master weights write their bfloat16 copy in the pass that
// updates them (DeepSpeed's step_plus_copy), and take bfloat16 gradients,
// widened in the same pass.
func ExampleSetCopies() {
	master := []float32{0.5, -1.25, 2}
	opt, err := optim.New(optim.DefaultAdam(), master)
	if err != nil {
		panic(err)
	}
	working := make([]optim.BFloat16, len(master)) // what the model computes with
	if err := optim.SetCopies(opt, working); err != nil {
		panic(err)
	}
	grads := make([]optim.BFloat16, len(master))
	for step := 0; step < 3; step++ {
		for i, w := range working {
			grads[i] = optim.BFloat16From(2 * w.Float32())
		}
		if err := optim.StepLowGrads(opt, grads); err != nil {
			panic(err)
		}
	}
	fmt.Printf("%.4f %.4f %.4f\n", master[0], master[1], master[2])
	fmt.Println(working[0].Float32(), working[1].Float32(), working[2].Float32())
	// Output:
	// 0.4970 -1.2470 1.9970
	// 0.49609375 -1.25 2
}

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

// A named bfloat16 model with owned gradients, as torch's p.grad on a
// model in torch.bfloat16: the backward pass writes into the buffer that
// GradOf returns (or adds micro-batch gradients with AccumulateGrad, each
// sum rounded to bfloat16 as torch's p.grad += s * g), Step() steps on
// the buffers that are set, and ZeroGrad unsets them for the next batch.
func ExampleLowOptimizer_GradOf() {
	w := []optim.BFloat16{optim.BFloat16From(0.5), optim.BFloat16From(-0.25), optim.BFloat16From(1)}
	b := []optim.BFloat16{optim.BFloat16From(0)}
	opt, err := optim.NewLowGroups(optim.LowOptions{}, optim.LowGroup[optim.BFloat16]{
		Rule:   optim.DefaultAdamW(),
		Params: [][]optim.BFloat16{w, b},
		Names:  []string{"fc.weight", "fc.bias"},
	})
	if err != nil {
		panic(err)
	}
	defer opt.Close()
	micro := make([]optim.BFloat16, len(w)) // a micro-batch's gradient of w
	for range 3 {
		opt.ZeroGrad()
		// The backward pass writes the gradient of w² into fc.weight's buffer.
		gw, err := opt.GradOf("fc.weight")
		if err != nil {
			panic(err)
		}
		for i := range w {
			gw[i] = optim.BFloat16From(2 * w[i].Float32())
		}
		// And adds two micro-batches' gradients of b, halved.
		for m := range 2 {
			micro[0] = optim.BFloat16From(2*b[0].Float32() - 1 + float32(m)/4)
			if err := opt.AccumulateGrad(1, micro[:1], 0.5); err != nil {
				panic(err)
			}
		}
		if err := opt.Step(); err != nil {
			panic(err)
		}
	}
	gb, _ := opt.GradOf("fc.bias") // set until ZeroGrad: the last batch's
	fmt.Printf("%.4f %.4f %.4f | %.4f | grad %.4f\n", w[0].Float32(), w[1].Float32(), w[2].Float32(), b[0].Float32(), gb[0].Float32())
	opt.ZeroGrad()
	gb, _ = opt.GradOf("fc.bias") // unset: zeroed when asked for
	i, _ := opt.Index("fc.bias")
	fmt.Println(opt.Name(i), gb[0].Float32())
	// Output:
	// 0.4941 -0.2471 1.0000 | 0.0030 | grad -0.8711
	// fc.bias 0
}

// A run moves from float32 to bfloat16 storage: the bfloat16 optimizer
// takes the float32 optimizer's state, parameter by parameter, rounded to
// bfloat16 as torch's load_state_dict casts it to the parameter's dtype.
func ExampleLowOptimizer_SetState() {
	w32 := []float32{0.5, -1.25, 2}
	opt32, err := optim.New(optim.DefaultAdam(), w32)
	if err != nil {
		panic(err)
	}
	for range 3 {
		g := []float32{2 * w32[0], 2 * w32[1], 2 * w32[2]} // the gradient of sum(w²)
		if err := opt32.Step(g); err != nil {
			panic(err)
		}
	}
	w16 := make([]optim.BFloat16, len(w32))
	for i, x := range w32 {
		w16[i] = optim.BFloat16From(x)
	}
	opt16, err := optim.NewLow(optim.DefaultAdam(), optim.LowOptions{}, w16)
	if err != nil {
		panic(err)
	}
	st, err := opt32.State(0)
	if err != nil {
		panic(err)
	}
	if err := opt16.SetState(0, st); err != nil {
		panic(err)
	}
	got, err := opt16.State(0)
	if err != nil {
		panic(err)
	}
	fmt.Println(got.Step, st.ExpAvg[1], got.ExpAvg[1])
	// Output:
	// 3 -0.67692 -0.67578125
}

// A bfloat16 model with Muon for its weight matrices and AdamW for the
// rest: the groups are NewGroups', with the weights' shapes. Each weight is
// stepped whole in float32 and rounded back to bfloat16 once per step.
func ExampleNewLowGroups_muon() {
	w := make([]optim.BFloat16, 4*3) // a 4×3 weight
	b := make([]optim.BFloat16, 4)
	for i := range w {
		w[i] = optim.BFloat16From(float32(i%5) / 8)
	}
	for i := range b {
		b[i] = optim.BFloat16From(0.5)
	}
	muon := optim.DefaultMuon()
	muon.LR = 0.02
	opt, err := optim.NewLowGroups(optim.LowOptions{},
		optim.LowGroup[optim.BFloat16]{Rule: muon, Params: [][]optim.BFloat16{w}, Shapes: []optim.Shape{{4, 3}}},
		optim.LowGroup[optim.BFloat16]{Rule: optim.DefaultAdamW(), Params: [][]optim.BFloat16{b}},
	)
	if err != nil {
		panic(err)
	}
	defer opt.Close()
	gw, gb := make([]optim.BFloat16, len(w)), make([]optim.BFloat16, len(b))
	for range 3 {
		// The gradient of sum(w^2)/2 + sum(b^2)/2 is the parameters.
		copy(gw, w)
		copy(gb, b)
		if err := opt.Step(gw, gb); err != nil {
			panic(err)
		}
	}
	st, _ := opt.State(0)
	fmt.Println(opt.Shape(0), len(st.MomentumBuffer))
	for _, x := range w[:4] {
		fmt.Printf("%.4f ", x.Float32())
	}
	fmt.Println()
	// Output:
	// [4, 3] 12
	// 0.0103 0.1108 0.2061 0.3398
}

package optim_test

import (
	"fmt"

	"github.com/simdoptim/optim"
	"github.com/simdoptim/optim/kernels"
	"github.com/simdoptim/optim/schedule"
)

// A training loop with one rule for every parameter.
func ExampleNew() {
	w := []float32{0.5, -0.25, 1}
	b := []float32{0}
	gw, gb := make([]float32, len(w)), make([]float32, len(b))

	opt, err := optim.New(optim.DefaultAdam(), w, b)
	if err != nil {
		panic(err)
	}
	defer opt.Close()
	for range 3 {
		// The model's backward pass fills gw and gb; here, the gradient of
		// sum(w^2) + b^2.
		for i := range w {
			gw[i] = 2 * w[i]
		}
		gb[0] = 2 * b[0]
		if err := opt.Step(gw, gb); err != nil {
			panic(err)
		}
	}
	fmt.Printf("%.4f %.4f\n", w, b)
	// Output: [0.4970 -0.2470 0.9970] [0.0000]
}

// Parameter groups, as torch's param_groups: AdamW with weight decay on the
// weight matrices and without it on the biases, and a group added later.
func ExampleNewGroups() {
	weights := [][]float32{make([]float32, 6), make([]float32, 4)}
	biases := [][]float32{make([]float32, 3), make([]float32, 2)}

	decay := optim.DefaultAdamW()
	noDecay := decay
	noDecay.WeightDecay = 0
	opt, err := optim.NewGroups(
		optim.Group[float32]{Rule: decay, Params: weights},
		optim.Group[float32]{Rule: noDecay, Params: biases},
	)
	if err != nil {
		panic(err)
	}
	defer opt.Close()
	// Gradients in group order, then parameter order.
	grads := [][]float32{make([]float32, 6), make([]float32, 4), make([]float32, 3), make([]float32, 2)}
	if err := opt.Step(grads...); err != nil {
		panic(err)
	}
	// torch's add_param_group: the new parameters' step counts start at 0,
	// so their first step is step 1.
	head := make([]float32, 5)
	if err := opt.AddGroup(optim.Group[float32]{Rule: optim.SGD{LR: 0.1, Momentum: 0.9}, Params: [][]float32{head}}); err != nil {
		panic(err)
	}
	if err := opt.Step(append(grads, make([]float32, 5))...); err != nil {
		panic(err)
	}
	first, _ := opt.State(0)
	last, _ := opt.State(4)
	fmt.Println(opt.Groups(), "groups;", first.Step, "steps and", last.Step, "step")
	// Output: 3 groups; 2 steps and 1 step
}

// A rule literal that leaves Eps (or the betas) at zero is an error that
// says where torch's defaults are.
func ExampleAdam() {
	_, err := optim.New(optim.Adam{LR: 1e-3}, make([]float32, 4))
	fmt.Println(err != nil)
	r := optim.DefaultAdam() // torch's defaults; change what you need
	r.LR = 3e-4
	_, err = optim.New(r, make([]float32, 4))
	fmt.Println(err)
	// Output:
	// true
	// <nil>
}

// The stateless layer, for a framework that keeps its own state: the
// per-step scalars from Coefficients, one kernel call per slice.
func ExampleCoefficients() {
	p := []float32{1, 2, 3, 4}
	g := []float32{0.5, 0.5, -0.5, -0.5}
	m, sq := make([]float32, len(p)), make([]float32, len(p)) // Adam's moments, the caller's
	for step := int64(1); step <= 2; step++ {
		c, v, err := optim.Coefficients[float32](optim.DefaultAdam(), step)
		if err != nil {
			panic(err)
		}
		if err := kernels.Adam(optim.Kernels(), v, &c, p, g, m, sq, nil); err != nil {
			panic(err)
		}
	}
	fmt.Printf("%.3f\n", p)
	// Output: [0.998 1.998 3.002 4.002]
}

// A torch-style training loop: parameter groups, and a learning-rate
// schedule (linear warmup, then cosine annealing) stepped after every
// optimizer step.
func Example_trainingLoop() {
	w, b := make([]float32, 8), make([]float32, 2)
	gw, gb := make([]float32, len(w)), make([]float32, len(b))
	decay := optim.DefaultAdamW()
	decay.LR = 1e-2
	noDecay := decay
	noDecay.WeightDecay = 0
	opt, err := optim.NewGroups(
		optim.Group[float32]{Rule: decay, Params: [][]float32{w}},
		optim.Group[float32]{Rule: noDecay, Params: [][]float32{b}},
	)
	if err != nil {
		panic(err)
	}
	defer opt.Close()
	const warmup, total = 3, 10
	sched, err := schedule.New(opt, schedule.SequentialLR{
		Schedulers: []schedule.Spec{
			schedule.LinearLR{StartFactor: 0.1, EndFactor: 1, TotalIters: warmup},
			schedule.CosineAnnealingLR{TMax: total - warmup},
		},
		Milestones: []int{warmup},
	})
	if err != nil {
		panic(err)
	}
	for step := range total {
		// backward(w, b, gw, gb): the model fills the gradients.
		if err := opt.Step(gw, gb); err != nil {
			panic(err)
		}
		if err := sched.Step(); err != nil {
			panic(err)
		}
		if step%3 == 0 {
			fmt.Printf("step %d: lr %.5f\n", step+1, opt.GroupLR(0))
		}
	}
	// Output:
	// step 1: lr 0.00400
	// step 4: lr 0.00950
	// step 7: lr 0.00389
	// step 10: lr 0.00000
}

// Owned gradients, as torch's p.grad, with 4-step gradient accumulation:
// each micro-batch's backward pass adds its gradient, divided by 4, into the
// optimizer's buffers, Step() steps on them, and ZeroGrad clears them for
// the next batch. Buffers are reached by index or by name.
func ExampleOptimizer_Grad() {
	w := []float32{0.5, -0.25, 1}
	b := []float32{0}
	opt, err := optim.NewGroups(optim.Group[float32]{
		Rule:   optim.DefaultAdamW(),
		Params: [][]float32{w, b},
		Names:  []string{"fc.weight", "fc.bias"},
	})
	if err != nil {
		panic(err)
	}
	defer opt.Close()
	const accumulation = 4
	micro := make([]float32, len(w)) // a micro-batch's gradient of w, computed elsewhere
	for range 3 {
		opt.ZeroGrad()
		for m := range accumulation {
			for i := range w {
				micro[i] = 2*w[i] + float32(m)/8
			}
			// torch's w.grad += micro / 4, with the same bits on every CPU.
			if err := opt.AccumulateGrad(0, micro, 1.0/accumulation); err != nil {
				panic(err)
			}
			// Or written by the backward pass into the buffer itself.
			gb, err := opt.GradOf("fc.bias")
			if err != nil {
				panic(err)
			}
			gb[0] += (2*b[0] - 1) / accumulation
		}
		if err := opt.Step(); err != nil {
			panic(err)
		}
	}
	fmt.Printf("%.4f %.4f\n", w, b)
	// Output: [0.4970 -0.2470 0.9970] [0.0030]
}

// A frozen parameter (torch's requires_grad_(False), whose grad is None) is
// a nil gradient: AdamW leaves it alone, weight decay included, and keeps no
// state for it. A zero gradient is not the same: the weights decay.
func ExampleOptimizer_Step_frozen() {
	emb, w := []float32{1, 1}, []float32{0.5}
	gw := make([]float32, 1)
	opt, err := optim.New(optim.DefaultAdamW(), emb, w)
	if err != nil {
		panic(err)
	}
	defer opt.Close()
	for range 3000 {
		gw[0] = 2 * w[0]
		if err := opt.Step(nil, gw); err != nil { // emb has no gradient
			panic(err)
		}
	}
	st, _ := opt.State(0)
	fmt.Println("frozen:", emb, "steps", st.Step, "state", st.ExpAvg != nil, "optimizer steps", opt.Steps())

	decayed := []float32{1, 1}
	zero, _ := optim.New(optim.DefaultAdamW(), decayed)
	for range 3000 {
		if err := zero.Step(make([]float32, 2)); err != nil {
			panic(err)
		}
	}
	fmt.Printf("zero gradient: %.4f\n", decayed)
	// Output:
	// frozen: [1 1] steps 0 state false optimizer steps 3000
	// zero gradient: [0.9704 0.9704]
}

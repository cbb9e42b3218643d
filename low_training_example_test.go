package optim_test

import (
	"bytes"
	"fmt"
	"log"
	"slices"

	"github.com/simdoptim/optim"
	"github.com/simdoptim/optim/schedule"
)

// A bfloat16 model's run saves its whole state in one file as a float32
// run's does: the model's tensors (BF16, in their shapes), the optimizer
// and its state (here in float32), a schedule and a bfloat16 EMA. A new
// process builds the same objects, with the same LowOptions, and loads
// the file into them.
func ExampleLowTraining() {
	type run struct {
		weight, bias []optim.BFloat16
		opt          *optim.LowOptimizer[optim.BFloat16]
		sched        *schedule.Scheduler
		ema          *optim.Averaged[optim.BFloat16]
		ckpt         *optim.LowTraining[optim.BFloat16]
	}
	build := func() *run {
		r := &run{weight: make([]optim.BFloat16, 6), bias: make([]optim.BFloat16, 2)}
		for i := range r.weight {
			r.weight[i] = optim.BFloat16From(float32(i)/4 - 0.5)
		}
		params, names := [][]optim.BFloat16{r.weight, r.bias}, []string{"fc.weight", "fc.bias"}
		var err error
		r.opt, err = optim.NewLowGroups(optim.LowOptions{StateFloat32: true}, optim.LowGroup[optim.BFloat16]{
			Rule: optim.DefaultAdamW(), Params: params, Names: names,
			Shapes: []optim.Shape{{2, 3}, {2}}, // torch's nn.Linear(3, 2)
		})
		if err != nil {
			log.Fatal(err)
		}
		if r.sched, err = schedule.New(r.opt, schedule.StepLR{StepSize: 2, Gamma: 0.5}); err != nil {
			log.Fatal(err)
		}
		if r.ema, err = optim.NewAveragedModel(optim.EMA(0.9), optim.Model[optim.BFloat16]{Params: params, Names: names}); err != nil {
			log.Fatal(err)
		}
		// No Model: the named parameters are the model, in their Shapes.
		r.ckpt = &optim.LowTraining[optim.BFloat16]{Optimizer: r.opt, Schedulers: map[string]optim.Stateful{"lr": r.sched}, Averaged: r.ema}
		return r
	}

	bf16 := func(xs ...float32) []optim.BFloat16 {
		out := make([]optim.BFloat16, len(xs))
		for i, x := range xs {
			out[i] = optim.BFloat16From(x)
		}
		return out
	}
	first := build()
	for range 3 {
		gradW, gradB := bf16(0.1, 0.2, -0.3, 0.4, -0.5, 0.6), bf16(0.05, -0.05)
		if err := first.opt.Step(gradW, gradB); err != nil {
			log.Fatal(err)
		}
		if err := first.ema.Update(); err != nil {
			log.Fatal(err)
		}
		if err := first.sched.Step(); err != nil {
			log.Fatal(err)
		}
	}
	var file bytes.Buffer // a file, in a real run: SaveFile, LoadFile
	if err := first.ckpt.Save(&file); err != nil {
		log.Fatal(err)
	}

	resumed := build()
	if err := resumed.ckpt.Load(&file); err != nil {
		log.Fatal(err)
	}
	fmt.Println("steps", resumed.opt.Steps(), "lr", resumed.opt.GroupLR(0), "averaged", resumed.ema.NAveraged())
	fmt.Println("the same weights:", slices.Equal(resumed.weight, first.weight))
	fmt.Println("the same average:", slices.Equal(resumed.ema.Params()[0], first.ema.Params()[0]))
	// Output:
	// steps 3 lr 0.0005 averaged 3
	// the same weights: true
	// the same average: true
}

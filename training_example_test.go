package optim_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"

	"github.com/simdoptim/optim"
	"github.com/simdoptim/optim/schedule"
)

// exampleRun is what a training process builds before its first step:
// the model's slices, the optimizer over them, a schedule, an EMA of the
// weights, an epoch counter, and the Training that saves them all.
type exampleRun struct {
	weight, bias []float32
	opt          *optim.Optimizer[float32]
	sched        *schedule.Scheduler
	ema          *optim.Averaged[float32]
	epoch        int
	ckpt         *optim.Training[float32]
}

func newExampleRun() *exampleRun {
	r := &exampleRun{weight: []float32{0.5, -0.25, 1, 0, 0.75, -1}, bias: []float32{0, 0.1}}
	params, names := [][]float32{r.weight, r.bias}, []string{"fc.weight", "fc.bias"}
	var err error
	if r.opt, err = optim.NewGroups(optim.Group[float32]{Rule: optim.DefaultAdamW(), Params: params, Names: names}); err != nil {
		log.Fatal(err)
	}
	if r.sched, err = schedule.New(r.opt, schedule.StepLR{StepSize: 2, Gamma: 0.5}); err != nil {
		log.Fatal(err)
	}
	if r.ema, err = optim.NewAveragedModel(optim.EMA(0.9), optim.Model[float32]{Params: params, Names: names}); err != nil {
		log.Fatal(err)
	}
	r.ckpt = &optim.Training[float32]{
		// torch's nn.Linear(3, 2).state_dict(): the weight in its shape.
		Model: []optim.Tensor[float32]{
			{Name: "fc.weight", Data: r.weight, Shape: []int{2, 3}},
			{Name: "fc.bias", Data: r.bias},
		},
		Optimizer:  r.opt,
		Schedulers: map[string]optim.Stateful{"lr": r.sched},
		Averaged:   r.ema,
		Extra:      map[string]any{"epoch": &r.epoch},
	}
	return r
}

// A training run saves its whole state in one file: the model's tensors
// under torch's state_dict names, the optimizer, a schedule, an EMA of the
// weights and an epoch counter. A new process builds the same objects and
// loads the file into them, verified before anything changes; the run
// then continues with the bits of an uninterrupted one. torch reads the
// file too (see Training).
func ExampleTraining() {
	dir, err := os.MkdirTemp("", "optim-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "ckpt.safetensors")

	first := newExampleRun()
	for epoch := range 3 {
		gradW, gradB := []float32{0.1, 0.2, -0.3, 0.4, -0.5, 0.6}, []float32{0.05, -0.05}
		if err := first.opt.Step(gradW, gradB); err != nil {
			log.Fatal(err)
		}
		if err := first.ema.Update(); err != nil {
			log.Fatal(err)
		}
		if err := first.sched.Step(); err != nil {
			log.Fatal(err)
		}
		first.epoch = epoch + 1
	}
	if err := first.ckpt.SaveFile(path); err != nil {
		log.Fatal(err)
	}

	// A new process.
	resumed := newExampleRun()
	if err := resumed.ckpt.LoadFile(path); err != nil {
		log.Fatal(err)
	}
	fmt.Println("epoch", resumed.epoch, "steps", resumed.opt.Steps(), "lr", resumed.opt.GroupLR(0), "averaged", resumed.ema.NAveraged())
	fmt.Println("the same weights:", slices.Equal(resumed.weight, first.weight))
	fmt.Println("the same average:", slices.Equal(resumed.ema.Params()[0], first.ema.Params()[0]))
	// Output:
	// epoch 3 steps 3 lr 0.0005 averaged 3
	// the same weights: true
	// the same average: true
}

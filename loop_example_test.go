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

// run is everything a training process builds before its first step: a
// tiny model (y = w·x + b, and an embedding that is frozen), AdamW in two
// groups, OneCycleLR, an EMA of the weights, and the file that holds it
// all.
type run struct {
	w, b, emb []float32
	opt       *optim.Optimizer[float32]
	sched     *schedule.Scheduler
	ema       *optim.Averaged[float32]
	state     *optim.Training[float32]
}

const (
	loopSteps = 20 // optimizer steps, each over 4 micro-batches
	microSize = 4
)

func newRun() *run {
	r := &run{w: []float32{0.1, -0.2, 0.3}, b: []float32{0}, emb: []float32{1, 1}}
	decay := optim.DefaultAdamW()
	noDecay := decay
	noDecay.WeightDecay = 0
	opt, err := optim.NewGroups(
		optim.Group[float32]{Rule: decay, Params: [][]float32{r.w}, Names: []string{"fc.weight"}},
		optim.Group[float32]{Rule: noDecay, Params: [][]float32{r.b, r.emb}, Names: []string{"fc.bias", "emb.weight"}},
	)
	if err != nil {
		log.Fatal(err)
	}
	cycle := schedule.DefaultOneCycleLR(0.05, loopSteps)
	cycle.AnnealStrategy, cycle.ThreePhase = "linear", true
	sched, err := schedule.New(opt, cycle)
	if err != nil {
		log.Fatal(err)
	}
	params, names := [][]float32{r.w, r.b, r.emb}, []string{"fc.weight", "fc.bias", "emb.weight"}
	ema, err := optim.NewAveragedModel(optim.EMA(0.9), optim.Model[float32]{Params: params, Names: names})
	if err != nil {
		log.Fatal(err)
	}
	r.opt, r.sched, r.ema = opt, sched, ema
	r.state = &optim.Training[float32]{Optimizer: opt, Schedulers: map[string]optim.Stateful{"onecycle": sched}, Averaged: ema}
	return r
}

// train runs steps [from, to): 4 micro-batches accumulated into the
// optimizer's gradients, clipping, a step, the EMA and the schedule. The
// embedding is frozen (torch's requires_grad_(False)): nothing writes its
// gradient, so every step skips it.
func (r *run) train(from, to int) {
	for step := from; step < to; step++ {
		r.opt.ZeroGrad()
		gw, _ := r.opt.GradOf("fc.weight")
		gb, _ := r.opt.GradOf("fc.bias")
		for micro := range microSize {
			x := [3]float32{float32(step%5) / 5, float32(micro) / 4, 1}
			target := 2*x[0] - x[1] + 0.5
			pred := r.w[0]*x[0] + r.w[1]*x[1] + r.w[2]*x[2] + r.b[0]
			d := (pred - target) / microSize // the loss divided by the accumulation steps
			for i := range gw {
				gw[i] += d * x[i]
			}
			gb[0] += d
		}
		if _, err := r.opt.ClipGradNorm(1, 2, false); err != nil {
			log.Fatal(err)
		}
		if err := r.opt.Step(); err != nil {
			log.Fatal(err)
		}
		if err := r.ema.Update(); err != nil {
			log.Fatal(err)
		}
		if err := r.sched.Step(); err != nil {
			log.Fatal(err)
		}
	}
}

// Example_wholeLoop is a PyTorch training loop ported to Go with nothing
// written by hand around the library: AdamW in two groups, gradients
// accumulated over 4 micro-batches into the optimizer's own buffers
// (torch's p.grad), a frozen parameter, clipping, a linear three-phase
// OneCycleLR stepped to its end, an EMA of the weights, and the whole
// training state saved halfway in one file and resumed by a new process,
// which ends with the bits of the uninterrupted run.
func Example_wholeLoop() {
	dir, err := os.MkdirTemp("", "optim-loop")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "run.safetensors")

	whole := newRun()
	whole.train(0, loopSteps)

	first := newRun()
	first.train(0, loopSteps/2)
	if err := first.state.SaveFile(path); err != nil {
		log.Fatal(err)
	}
	resumed := newRun() // a new process
	if err := resumed.state.LoadFile(path); err != nil {
		log.Fatal(err)
	}
	resumed.train(loopSteps/2, loopSteps)

	fmt.Println("resumed = uninterrupted:", slices.Equal(resumed.w, whole.w) && slices.Equal(resumed.ema.Params()[0], whole.ema.Params()[0]))
	fmt.Println("frozen embedding:", resumed.emb)
	st, _ := resumed.opt.State(2)
	fmt.Println("its state: step", st.Step, "exp_avg", st.ExpAvg)
	fmt.Printf("weights %.3f, EMA %.3f\n", resumed.w, resumed.ema.Params()[0])
	fmt.Printf("last rate %.3g (torch's, held: no step uses it)\n", resumed.opt.GroupLR(0))
	// torch 1.13 runs the same loop (testdata/torch-loop/loop.py: AdamW,
	// foreach=False, clip_grad_norm_, lerp_ for the EMA) to the same
	// weights, EMA and last rate.

	// Output:
	// resumed = uninterrupted: true
	// frozen embedding: [1 1]
	// its state: step 0 exp_avg []
	// weights [0.291 -0.102 0.461], EMA [0.248 -0.123 0.425]
	// last rate -0.000222 (torch's, held: no step uses it)
}

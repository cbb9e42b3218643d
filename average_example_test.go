package optim_test

import (
	"fmt"
	"log"

	"github.com/simdoptim/optim"
)

// An exponential moving average of the weights next to the optimizer, as
// torch's AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.9))
// with ema.update_parameters(model) after each optimizer.step().
func ExampleNewAveraged() {
	w := []float32{1, -2}
	g := make([]float32, len(w))
	opt, err := optim.New(optim.SGD{LR: 0.1}, w)
	if err != nil {
		log.Fatal(err)
	}
	defer opt.Close()
	ema, err := optim.NewAveraged(optim.EMA(0.9), w)
	if err != nil {
		log.Fatal(err)
	}
	defer ema.Close()
	for range 10 {
		for i := range w {
			g[i] = 2 * w[i] // the gradient of sum(w^2)
		}
		if err := opt.Step(g); err != nil {
			log.Fatal(err)
		}
		if err := ema.Update(); err != nil { // the first copies w
			log.Fatal(err)
		}
	}
	fmt.Printf("model %.4f\n", w)
	fmt.Printf("EMA   %.4f of %d models\n", ema.Params()[0], ema.NAveraged())
	// Output:
	// model [0.1074 -0.2147]
	// EMA   [0.4720 -0.9440] of 10 models
}

// Stochastic weight averaging from epoch 3 on, of a model with a named
// weight and a BatchNorm-like buffer, which is copied rather than averaged
// (torch's use_buffers=False), then saved and restored as a checkpoint
// does.
func ExampleNewAveragedModel() {
	weight := []float32{0.5, -0.5}
	runningMean := []float32{0}
	swa, err := optim.NewAveragedModel(optim.SWA(), optim.Model[float32]{
		Params: [][]float32{weight}, Names: []string{"fc.weight"},
		Buffers: [][]float32{runningMean}, BufferNames: []string{"bn.running_mean"},
	})
	if err != nil {
		log.Fatal(err)
	}
	for epoch := range 6 {
		// An epoch of training moves the model.
		weight[0], weight[1] = weight[0]+0.25, weight[1]-0.25
		runningMean[0] = float32(epoch)
		if epoch >= 3 {
			if err := swa.Update(); err != nil {
				log.Fatal(err)
			}
		}
	}
	fmt.Println(swa.Names(), swa.Params(), "of", swa.NAveraged(), "models")
	fmt.Println(swa.BufferNames(), swa.Buffers())

	// A checkpoint holds the State (written out before the next Update);
	// a new process makes the same Averaged and restores it.
	state := swa.State()
	resumed, err := optim.NewAveragedModel(optim.SWA(), optim.Model[float32]{
		Params: [][]float32{weight}, Names: []string{"fc.weight"},
		Buffers: [][]float32{runningMean}, BufferNames: []string{"bn.running_mean"},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := resumed.Restore(state); err != nil {
		log.Fatal(err)
	}
	fmt.Println(resumed.Params(), "of", resumed.NAveraged(), "models")
	// Output:
	// [fc.weight] [[1.75 -1.75]] of 3 models
	// [bn.running_mean] [[5]]
	// [[1.75 -1.75]] of 3 models
}

// The average of a bfloat16 model is bfloat16 too, as torch's
// AveragedModel of a bfloat16 module: each Update computes the lerp in
// float32 and rounds it once to bfloat16. Here next to a LowOptimizer that
// steps the model in place.
func ExampleNewAveraged_bfloat16() {
	w := []optim.BFloat16{optim.BFloat16From(1), optim.BFloat16From(-2)}
	g := make([]optim.BFloat16, len(w))
	opt, err := optim.NewLow(optim.SGD{LR: 0.1}, optim.LowOptions{}, w)
	if err != nil {
		log.Fatal(err)
	}
	defer opt.Close()
	ema, err := optim.NewAveraged(optim.EMA(0.9), w)
	if err != nil {
		log.Fatal(err)
	}
	defer ema.Close()
	for range 10 {
		for i := range w {
			g[i] = optim.BFloat16From(2 * w[i].Float32()) // the gradient of sum(w^2)
		}
		if err := opt.Step(g); err != nil {
			log.Fatal(err)
		}
		if err := ema.Update(); err != nil { // the first copies w
			log.Fatal(err)
		}
	}
	avg := ema.Params()[0]
	fmt.Printf("model %.4f %.4f\n", w[0].Float32(), w[1].Float32())
	fmt.Printf("EMA   %.4f %.4f of %d models\n", avg[0].Float32(), avg[1].Float32(), ema.NAveraged())
	// Output:
	// model 0.1069 -0.2139
	// EMA   0.4707 -0.9414 of 10 models
}

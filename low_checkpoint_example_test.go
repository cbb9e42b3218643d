package optim_test

import (
	"bytes"
	"fmt"
	"log"
	"slices"

	"github.com/simdoptim/optim"
)

// A bfloat16 model's optimizer saved and resumed: the file stores the
// state as the optimizer keeps it (here in bfloat16, as torch's state_dict
// of a bfloat16 model), and the resumed run continues with the
// uninterrupted run's bits. An optimizer that keeps its state in float32
// refuses the file rather than convert it.
func ExampleLowOptimizer_Save() {
	weights := []optim.BFloat16{optim.BFloat16From(0.5), optim.BFloat16From(-0.25), optim.BFloat16From(1)}
	grad := []optim.BFloat16{optim.BFloat16From(0.1), optim.BFloat16From(0.2), optim.BFloat16From(-0.3)}
	opt, err := optim.NewLow(optim.DefaultAdam(), optim.LowOptions{}, weights)
	if err != nil {
		log.Fatal(err)
	}
	for range 3 {
		if err := opt.Step(grad); err != nil {
			log.Fatal(err)
		}
	}
	var file bytes.Buffer
	if err := opt.Save(&file); err != nil {
		log.Fatal(err)
	}

	resumed := slices.Clone(weights)
	opt2, err := optim.NewLow(optim.DefaultAdam(), optim.LowOptions{}, resumed)
	if err != nil {
		log.Fatal(err)
	}
	wide, err := optim.NewLow(optim.DefaultAdam(), optim.LowOptions{StateFloat32: true}, slices.Clone(weights))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("float32 state refuses it:", wide.Load(bytes.NewReader(file.Bytes())) != nil)
	if err := opt2.Load(&file); err != nil {
		log.Fatal(err)
	}
	for _, o := range []*optim.LowOptimizer[optim.BFloat16]{opt, opt2} {
		if err := o.Step(grad); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("steps", opt2.Steps(), "same bits:", slices.Equal(weights, resumed))
	// Output:
	// float32 state refuses it: true
	// steps 4 same bits: true
}

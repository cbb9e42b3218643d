package optim_test

import (
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/simdoptim/optim"
)

// A training loop that saves a checkpoint, and a new process that resumes
// from it: the resumed run continues with exactly the bits of an
// uninterrupted one. The caller's own state (here an epoch counter; in
// practice a schedule's or a gradient scaler's) travels in the same file.
func ExampleOptimizer_SaveFileWith() {
	dir, err := os.MkdirTemp("", "optim-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "opt.safetensors")

	weights := []float32{0.5, -0.25, 1}
	grad := []float32{0.1, 0.2, -0.3}
	opt, err := optim.New(optim.DefaultAdamW(), weights)
	if err != nil {
		log.Fatal(err)
	}
	for range 3 {
		if err := opt.Step(grad); err != nil {
			log.Fatal(err)
		}
	}
	epoch, _ := json.Marshal(3)
	if err := opt.SaveFileWith(path, map[string]json.RawMessage{"epoch": epoch}); err != nil {
		log.Fatal(err)
	}

	// A new process: the model's weights come from the model's own
	// checkpoint; the optimizer's state from the optimizer's.
	resumed := append([]float32(nil), weights...)
	opt2, err := optim.New(optim.DefaultAdamW(), resumed)
	if err != nil {
		log.Fatal(err)
	}
	var restoredEpoch int
	err = opt2.LoadFileWith(path, func(extra map[string]json.RawMessage) error {
		return json.Unmarshal(extra["epoch"], &restoredEpoch)
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("epoch", restoredEpoch, "steps", opt2.Steps())
	// Output: epoch 3 steps 3
}

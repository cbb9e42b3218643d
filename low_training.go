package optim

import (
	"io"
	"unsafe"

	"github.com/simdoptim/optim/internal/safetensors"
)

// LowTraining is Training for a bfloat16 or float16 model stepped by a
// LowOptimizer: the whole state of a run (the model's tensors by name, the
// optimizer, the schedulers, the gradient scaler, the averaged model and
// the caller's own values and tensors) in one safetensors file, which
// Save writes and Load restores in place, with Training's file, checks
// and guarantees (see Training).
//
// The model's, the averaged model's and the extra tensors are of the
// model's dtype (BF16 or F16, optim.dtype), as torch's state_dict of a
// bfloat16 or float16 module holds them. The optimizer's state is what
// its own checkpoint holds (LowOptimizer.Save): tensors of the model's
// dtype, or F32 with LowOptions.StateFloat32, recorded as
// optimizer.state_storage; Load refuses a file of the other storage or
// format rather than convert it. The rounding (Stochastic, Seed) is not
// saved: made with the same LowOptions, the loading optimizer continues
// the run bit for bit.
//
// A file that safetensors' save_file writes from a bfloat16 torch model's
// state_dict loads into a LowTraining[BFloat16] as Training describes, and
// torch reads a LowTraining's file with Training's recipe, the dtype map
// extended with "BF16": torch.bfloat16 and "F16": torch.float16.
type LowTraining[H BFloat16 | Float16] struct {
	// Model is the model's tensors, each under its torch state_dict name,
	// as Training.Model: when it is nil and the Optimizer's parameters are
	// named (LowGroup.Names), the model is the optimizer's parameters.
	Model []Tensor[H]
	// Optimizer, if not nil, is saved with its state as its Save writes
	// it.
	Optimizer *LowOptimizer[H]
	// Schedulers are saved by name, as their JSON.
	Schedulers map[string]Stateful
	// Scaler, if not nil, is saved as its State.
	Scaler *GradScaler
	// Averaged, if not nil, is saved as its State, as Training.Averaged.
	Averaged *Averaged[H]
	// Extra holds the caller's own values by name, saved as JSON, as
	// Training.Extra.
	Extra map[string]any
	// ExtraTensors are the caller's own tensors by name.
	ExtraTensors []Tensor[H]
}

func (t *LowTraining[H]) parts() *trainingParts[H] {
	p := &trainingParts[H]{model: t.Model, schedulers: t.Schedulers, scaler: t.Scaler, averaged: t.Averaged, extra: t.Extra, extraTensors: t.ExtraTensors}
	if t.Optimizer != nil {
		p.opt = t.Optimizer
	}
	return p
}

// Save writes the training state to w, as Training.Save.
func (t *LowTraining[H]) Save(w io.Writer) error { return t.parts().save("LowTraining.Save", w) }

// SaveFile writes the training state to path atomically, as
// Training.SaveFile.
func (t *LowTraining[H]) SaveFile(path string) error {
	return t.parts().saveFile("LowTraining.SaveFile", path)
}

// Load replaces the state of the LowTraining's components with the state
// saved in r by Save, as Training.Load: everything is read and verified
// before anything changes, and on any error nothing has changed.
func (t *LowTraining[H]) Load(r io.Reader) error { return t.parts().load("LowTraining.Load", r, -1) }

// LoadFile loads the training state from path, as Load.
func (t *LowTraining[H]) LoadFile(path string) error {
	return t.parts().loadFile("LowTraining.LoadFile", path)
}

// namedParams returns the parameters as the caller gave them, the very
// slices, and their names.
func (o *LowOptimizer[H]) namedParams() ([]string, [][]H) {
	params := make([][]H, len(o.params))
	for i, p := range o.params {
		params[i] = unsafe.Slice((*H)(unsafe.Pointer(unsafe.SliceData(p))), len(p))
	}
	return o.names.names, params
}

func (o *LowOptimizer[H]) trainingState(op string) ([]safetensors.Tensor, []filePiece, []safetensors.Meta, error) {
	var (
		tensors []safetensors.Tensor
		pieces  []filePiece
		entries []safetensors.Meta
		err     error
	)
	if o.opts.StateFloat32 {
		var ps []piece[float32]
		tensors, ps, entries, err = encodeLowState(o, op, nil, o.state32)
		pieces = boxPieces(ps)
	} else {
		var ps []piece[uint16]
		tensors, ps, entries, err = encodeLowState(o, op, nil, o.state16)
		pieces = boxPieces(ps)
	}
	storage := safetensors.Meta{Key: storageKey, Value: o.checkpointTypes().storage}
	return tensors, pieces, append([]safetensors.Meta{storage}, entries...), err
}

func (o *LowOptimizer[H]) prepareTraining(op string, x *stateTensors, meta map[string]string, mine bool) (pendingState, error) {
	if o.opts.StateFloat32 {
		return prepareLowTraining(o, op, x, meta, mine, o.state32, keepFloat32)
	}
	return prepareLowTraining(o, op, x, meta, mine, o.state16, o.format.Narrow)
}

// prepareLowTraining is prepareTraining for o, whose state slices are
// state (init as for loadLow).
func prepareLowTraining[H BFloat16 | Float16, E uint16 | float32](o *LowOptimizer[H], op string, x *stateTensors,
	meta map[string]string, mine bool, state [][3][]E, init func(float32) E) (pendingState, error) {
	l, err := prepareLoad[float32, E](o, op, x, meta, mine, false)
	if err != nil {
		return nil, err
	}
	return &pendingLoad[E]{l: l, commit: func(l *loaded[E]) { commitLow(o, l, state, init) }}, nil
}

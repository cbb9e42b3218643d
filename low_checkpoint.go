package optim

import (
	"cmp"
	"encoding/json"
	"io"
	"slices"

	"github.com/simdoptim/optim/internal/safetensors"
	"github.com/simdoptim/optim/kernels"
)

// Storage names of optim.state_storage.
const (
	storageParam   = "param"
	storageFloat32 = "float32"
)

// Save writes the optimizer's complete state as Optimizer.Save does: its
// groups with their rules, step counts and every state slice, streamed
// from its memory. Parameters are the model's, not saved.
//
// The file is an Optimizer checkpoint (docs/guide.md#checkpoints): the same
// tensors, names, metadata, checksum and guarantees, with these
// differences. optim.dtype is the parameters' format, "BF16" or "F16"
// (safetensors' names of torch.bfloat16 and torch.float16). The state
// slices are stored as the optimizer keeps them, which an entry records:
//
//	optim.state_storage  "param": tensors in the parameters' format (BF16 or F16), the
//	                     default, as torch's state_dict of a bfloat16 or float16 model
//	                     holds them; "float32": F32 tensors (LowOptions.StateFloat32)
//
// step and the scalar states are 0-d F32 tensors, as always. The rounding
// (LowOptions.Stochastic and Seed) belongs to the optimizer, not to its
// state, and is not saved: a run continues bit for bit when the optimizer
// that loads the file was made with the same LowOptions (stochastic
// rounding's random bits are a function of the seed, the parameter, the
// element and the step count, which the file holds).
func (o *LowOptimizer[H]) Save(w io.Writer) error { return o.save("Save", w, nil) }

// SaveWith is Save with the caller's own entries, as Optimizer.SaveWith.
func (o *LowOptimizer[H]) SaveWith(w io.Writer, extra map[string]json.RawMessage) error {
	return o.save("SaveWith", w, extra)
}

// SaveFile writes Save's checkpoint to path atomically, as
// Optimizer.SaveFile.
func (o *LowOptimizer[H]) SaveFile(path string) error { return o.saveFile("SaveFile", path, nil) }

// SaveFileWith is SaveFile with the caller's entries, as SaveWith.
func (o *LowOptimizer[H]) SaveFileWith(path string, extra map[string]json.RawMessage) error {
	return o.saveFile("SaveFileWith", path, extra)
}

// Load replaces the optimizer's state with a saved one, as Optimizer.Load:
// everything is read and verified before anything changes, and what it
// reads is bounded by the optimizer, not by the file. The file's groups
// must match the optimizer's, its optim.dtype the parameters' format and
// its state's storage (optim.state_storage, and each state tensor's dtype)
// the optimizer's: a file of the other storage is refused, not converted,
// as is a file of float32 or float64 parameters (Optimizer's). A file
// written by torch without the optim.* entries (its state_dict of a model
// in torch.bfloat16 or torch.float16, converted as Optimizer.Load
// describes) has its state in the parameters' format, and loads into an
// optimizer that keeps it so (the default).
func (o *LowOptimizer[H]) Load(r io.Reader) error { return o.load("Load", r, -1, nil) }

// LoadWith is Load for a file written by SaveWith, as Optimizer.LoadWith:
// accept, if not nil, gets the caller's entries once the whole file is
// verified, and the optimizer changes only if it returns nil.
func (o *LowOptimizer[H]) LoadWith(r io.Reader, accept func(extra map[string]json.RawMessage) error) error {
	return o.load("LoadWith", r, -1, accept)
}

// LoadFile loads a checkpoint from path, as Load.
func (o *LowOptimizer[H]) LoadFile(path string) error { return o.loadFile("LoadFile", path, nil) }

// LoadFileWith loads a checkpoint from path, as LoadWith.
func (o *LowOptimizer[H]) LoadFileWith(path string, accept func(extra map[string]json.RawMessage) error) error {
	return o.loadFile("LoadFileWith", path, accept)
}

// checkpointTypes are the element types of its checkpoints
// (checkpointed): the parameters' format, and the state's storage.
func (o *LowOptimizer[H]) checkpointTypes() fileTypes {
	dt := safetensors.BF16
	if o.format == kernels.Float16 {
		dt = safetensors.F16
	}
	if o.opts.StateFloat32 {
		return fileTypes{dtype: dt, state: safetensors.F32, storage: storageFloat32}
	}
	return fileTypes{dtype: dt, state: dt, storage: storageParam}
}

func (o *LowOptimizer[H]) save(op string, w io.Writer, extra map[string]json.RawMessage) error {
	if o.opts.StateFloat32 {
		return saveLow(o, op, w, extra, o.state32)
	}
	return saveLow(o, op, w, extra, o.state16)
}

// saveLow writes o's checkpoint, whose state slices are state.
func saveLow[H BFloat16 | Float16, E uint16 | float32](o *LowOptimizer[H], op string, w io.Writer, extra map[string]json.RawMessage, state [][3][]E) error {
	tensors, pieces, entries, err := encodeLowState(o, op, extra, state)
	if err != nil {
		return err
	}
	header, err := encodeHeader(o, op, tensors, entries)
	if err != nil {
		return err
	}
	return writeSealed(op, w, header, pieces)
}

// encodeLowState lists o's tensors, whose state slices are state, with
// their data, in file order, and its metadata entries but fileMeta's and
// the storage's, as Optimizer.encodeState.
func encodeLowState[H BFloat16 | Float16, E uint16 | float32](o *LowOptimizer[H], op string, extra map[string]json.RawMessage, state [][3][]E) ([]safetensors.Tensor, []piece[E], []safetensors.Meta, error) {
	var (
		tensors []safetensors.Tensor
		pieces  []piece[E]
	)
	dt := o.checkpointTypes().state
	for gi := range o.groups {
		g := &o.groups[gi]
		for i := g.first; i < g.end; i++ {
			if !o.hasState(i, g.rule.kind()) && !(g.matrix && o.steps[i] > 0) {
				continue // as in torch's state dict: no state yet, no tensors
			}
			tensors, pieces = appendParam(tensors, pieces, paramTensors[E]{
				i: i, rule: g.rule, matrix: g.matrix, slots: state[i], dtype: dt,
				key: o.slotKey, shape: o.tensorShape, step: o.steps[i], scalars: &o.scalars[i],
			})
		}
	}
	entries, err := groupsMeta(&o.groupSet, op, o.steps, o.groupNames, extra)
	if err != nil {
		return nil, nil, nil, err
	}
	return tensors, pieces, entries, nil
}

func (o *LowOptimizer[H]) saveFile(op, path string, extra map[string]json.RawMessage) error {
	return saveAtomic(op, path, func(w io.Writer) error { return o.save(op, w, extra) })
}

func (o *LowOptimizer[H]) loadFile(op, path string, accept func(map[string]json.RawMessage) error) error {
	f, size, err := openSized(path)
	if err != nil {
		return ckErr(op, err, "opening")
	}
	defer f.Close()
	return o.load(op, f, size, accept)
}

func (o *LowOptimizer[H]) load(op string, r io.Reader, size int64, accept func(map[string]json.RawMessage) error) error {
	if o.opts.StateFloat32 {
		return loadLow(o, op, r, size, accept, o.state32, keepFloat32)
	}
	return loadLow(o, op, r, size, accept, o.state16, o.format.Narrow)
}

// keepFloat32 is a float32 state slot's initial value from the rule's:
// itself.
func keepFloat32(x float32) float32 { return x }

// loadLow reads a checkpoint of o, whose state slices are state (init
// gives a slot's initial value from the rule's, in their storage), and
// commits it.
func loadLow[H BFloat16 | Float16, E uint16 | float32](o *LowOptimizer[H], op string, r io.Reader, size int64,
	accept func(map[string]json.RawMessage) error, state [][3][]E, init func(float32) E) error {
	l, err := readCheckpoint[float32, E](o, op, r, size, accept != nil)
	if err != nil {
		return named(err, o.Name)
	}
	if accept != nil {
		if err := accept(l.extra); err != nil {
			return err
		}
	}
	commitLow(o, l, state, init)
	return nil
}

// commitLow installs a verified checkpoint l of o, whose state slices are
// state (init gives a slot's initial value from the rule's, in their
// storage). Nothing in it can fail.
func commitLow[H BFloat16 | Float16, E uint16 | float32](o *LowOptimizer[H], l *loaded[E], state [][3][]E, init func(float32) E) {
	// The slots the file's rules use or the
	// file keeps besides are created, those it lacks and its rules do not
	// use dropped, and the regions updated once: a slot at a time, each
	// merge or removal would move every region, O(n²) for n parameters.
	var (
		added []span
		gone  map[uintptr]bool
	)
	for gi := range o.groups {
		o.setRule(gi, l.rules[gi])
		g := &o.groups[gi]
		if g.matrix {
			commitMatrix(l, g, state, o.steps, o.created)
			continue
		}
		used := usedSlots[float32](g.rule)
		v := init(initialState[float32](g.rule))
		for i := g.first; i < g.end; i++ {
			for k := range 3 {
				dst, src := state[i][k], l.slot(i, k)
				switch {
				case src == nil && !used[k]:
					// A slot kept from an earlier configuration that the
					// file does not have (if any): dropped, as the file
					// says.
					if len(dst) > 0 {
						if gone == nil {
							gone = map[uintptr]bool{}
						}
						gone[base(dst)] = true
					}
					state[i][k] = nil
					continue
				case dst == nil:
					// The new rule's, or one the file keeps besides.
					dst = make([]E, len(o.params[i]))
					state[i][k] = dst
					if len(dst) > 0 {
						added = append(added, region(dst, Slot{Kind: "state", Index: i, Key: stateKey(g.rule.kind(), k)}))
					}
				}
				if src != nil {
					copy(dst, src)
				} else {
					// Not created yet: as in a new optimizer.
					for j := range dst {
						dst[j] = v
					}
				}
			}
			o.steps[i] = l.steps[i]
			o.created[i] = l.created[i]
			o.scalars[i] = l.scalars[i]
		}
	}
	if gone != nil {
		o.owned = slices.DeleteFunc(o.owned, func(s span) bool { return gone[s.lo] })
	}
	if len(added) > 0 {
		slices.SortFunc(added, func(a, b span) int { return cmp.Compare(a.lo, b.lo) })
		o.owned.merge(added)
		clear(o.clear) // new spans: every grad must be checked again
	}
	o.held = l.held
	o.growMatWork() // the file's rules may need more (Muon's NSBFloat16)
}

package optim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/simdoptim/optim/internal/safetensors"
)

// Training is the whole state of a training run, which Save writes to one
// safetensors file and Load restores in place: the model's tensors by
// name, the optimizer, the schedulers, the gradient scaler, the averaged
// model and the caller's own values and tensors. Every field is optional;
// a Training loads only a file that holds exactly its components.
//
// The file is checksummed, as an optimizer checkpoint is, and SaveFile
// replaces it atomically. Load reads and verifies everything (the
// checksum, every tensor's name, dtype and shape, the optimizer's state as
// Optimizer.Load verifies it, each scheduler's, the scaler's and the
// averaged model's state) before it changes anything: on error, nothing
// has changed. A LowTraining saves the run of a bfloat16 or float16 model
// in the same file.
//
// # The file
//
// Tensors:
//
//	<name>                        each Model tensor under its own name, with its Shape:
//	                              torch's model.state_dict() layout ("fc.weight", "norm.bias")
//	optimizer.state.<i>.<key>     the optimizer's state, as an optimizer checkpoint's
//	                              state.<i>.<key> (see Optimizer.Save)
//	averaged.module.<name>        the averaged model's params and buffers, under their
//	averaged.n_averaged           names (or indices), and its count as a 0-d I64 tensor:
//	                              torch's AveragedModel.state_dict() under "averaged."
//	extra.<name>                  each of ExtraTensors
//
// Metadata (strings):
//
//	optim.checksum, optim.version, optim.dtype   as in an optimizer checkpoint
//	optim.format                  "github.com/simdoptim/optim training"
//	optimizer.param_groups        torch's param_groups, as JSON (with param_names when
//	                              the parameters are named)
//	optimizer.rules, optimizer.steps, optimizer.held
//	                              the optimizer checkpoint's optim.rules, optim.steps and
//	                              (when a group holds a rate) optim.held
//	scheduler.<name>              each scheduler's JSON (schedule.State for a *schedule.Scheduler)
//	scaler                        the GradScalerState as JSON, with torch's state_dict keys
//	extra.<name>                  each of Extra, as JSON
//
// Data of 8-byte elements comes first, so that every tensor is aligned to
// its element size. A model tensor's name may not start with "optimizer.",
// "averaged." or "extra.", so that no name stands for two tensors.
//
// # Torch
//
// A file that safetensors' own save_file writes from a torch model's
// state_dict, without this package's metadata, loads into a Training that
// has only a Model, ExtraTensors and an Averaged (from "averaged."
// tensors), or also an Optimizer when the file holds torch's optimizer
// state_dict as optimizer.state.<i>.<key> tensors with
// optimizer.param_groups in its metadata (as Optimizer.Load reads a torch
// file; no checksum then). In Python, with the safetensors package, a file
// of ours loads so:
//
//	import json, torch
//	from safetensors import safe_open
//	from safetensors.torch import load_file
//	tensors = load_file(path)
//	with safe_open(path, "pt") as f:
//	    meta = f.metadata()
//	model.load_state_dict({k: v for k, v in tensors.items() if not k.startswith(("optimizer.", "averaged.", "extra."))})
//	params = [p for g in optimizer.param_groups for p in g["params"]]
//	state = {}
//	for k, v in tensors.items():
//	    if k.startswith("optimizer.state."):
//	        i, key = k[len("optimizer.state."):].split(".", 1)
//	        # this package saves state flat; torch wants the parameter's shape
//	        state.setdefault(int(i), {})[key] = v if v.dim() == 0 else v.view_as(params[int(i)])
//	optimizer.load_state_dict({"state": state, "param_groups": json.loads(meta["optimizer.param_groups"])})
//	ema_model.load_state_dict({k[len("averaged."):]: v for k, v in tensors.items() if k.startswith("averaged.")})
//	scaler.load_state_dict(json.loads(meta["scaler"]))
//
// Give each Model tensor the Shape of its torch parameter, so that
// load_state_dict accepts it; the averaged model's tensors take the Shape
// of the Model tensor of their name.
type Training[T float32 | float64] struct {
	// Model is the model's tensors (parameters and buffers), each under
	// its torch state_dict name, in the order they are written. When it
	// is nil and the Optimizer's parameters are named (Group.Names), the
	// model is the optimizer's parameters under their names, in their
	// Group.Shapes, flat without them (give Model for the buffers). When
	// the Optimizer's
	// parameters are named, each must be the Data of the Model tensor of
	// its name, the very slice: a copy would be saved and loaded in the
	// parameter's place.
	Model []Tensor[T]
	// Optimizer, if not nil, is saved with its state as Save writes it.
	Optimizer *Optimizer[T]
	// Schedulers are saved by name, as their JSON; a *schedule.Scheduler
	// is one.
	Schedulers map[string]Stateful
	// Scaler, if not nil, is saved as its State.
	Scaler *GradScaler
	// Averaged, if not nil, is saved as its State: n_averaged and the
	// averaged params and buffers, under their names (Model.Names), or
	// under their indices when unnamed.
	Averaged *Averaged[T]
	// Extra holds the caller's own values by name, saved as JSON with
	// encoding/json. To load, each must be a non-nil pointer: Load decodes
	// the saved value into a new one and, once everything is verified,
	// stores it through the pointer (it replaces the value: it does not
	// merge into it). They are saved in the header, which safetensors
	// readers bound at 100 MB: keep large data in ExtraTensors.
	Extra map[string]any
	// ExtraTensors are the caller's own tensors by name, of any size: the
	// weights of a teacher model, say.
	ExtraTensors []Tensor[T]
}

// Tensor is a named tensor: an entry of torch's state_dict.
type Tensor[T float32 | float64 | BFloat16 | Float16] struct {
	Name string // torch's name: "fc.weight", "norm.bias"
	Data []T
	// Shape is the tensor's shape in the file, nil for [len(Data)]. torch's
	// load_state_dict wants each tensor in its parameter's shape ([out,
	// in] for an nn.Linear weight). Its product must be len(Data). With a
	// Shape, Load accepts only that shape; without one, any shape of
	// len(Data) elements.
	Shape []int
}

// Stateful is an object whose state Training saves as JSON and restores in
// place: *schedule.Scheduler, or an object of the caller's.
// UnmarshalJSON must verify the state completely and change nothing when
// it returns an error, and must accept what MarshalJSON returned: Load
// restores with it the state taken before when a later component fails.
type Stateful interface {
	json.Marshaler
	json.Unmarshaler
}

// TrainingError reports a Training that cannot be saved or loaded, naming
// the component at fault.
type TrainingError struct {
	// "Training.Save", "Training.SaveFile", "Training.Load",
	// "Training.LoadFile", or LowTraining's.
	Op string
	// Component is "model", "optimizer", "scheduler", "scaler",
	// "averaged", "extra" (Extra and ExtraTensors), or "file" for the file
	// as a whole (its format, length, checksum, reading or writing it).
	Component string
	// Name is the model tensor's, the scheduler's, the averaged tensor's
	// or the extra's name, when the error is about one ("" otherwise: the
	// optimizer's errors name its tensors in their text).
	Name string
	// Err is the cause: ErrChecksum, an I/O error, a safetensors format
	// error, the optimizer's *CheckpointError, *ShapeError, *StateError,
	// *RuleError or *HyperparameterError, the Averaged's *StateError, a
	// scheduler's error.
	Err error
}

func (e *TrainingError) Error() string {
	what := e.Component
	if e.Name != "" {
		what += fmt.Sprintf(" %q", e.Name)
	}
	// The cause's own "optim: Op: " is this error's.
	msg := strings.TrimPrefix(e.Err.Error(), "optim: ")
	msg = strings.TrimPrefix(msg, e.Op+": ")
	return fmt.Sprintf("optim: %s: %s: %s", e.Op, what, msg)
}

func (e *TrainingError) Unwrap() error { return e.Err }

func trainingErr(op, component, name string, format string, args ...any) error {
	return &TrainingError{Op: op, Component: component, Name: name, Err: fmt.Errorf(format, args...)}
}

// The names of a training file besides the model's.
const (
	trainingFormat  = "github.com/simdoptim/optim training"
	optimizerPrefix = "optimizer." // the optimizer's tensors and metadata
	averagedPrefix  = "averaged."  // the averaged model's tensors
	extraPrefix     = "extra."     // ExtraTensors' tensors, Extra's metadata
	schedulerPrefix = "scheduler." // metadata
	scalerKey       = "scaler"     // metadata
	// The averaged model's tensors after averagedPrefix, as torch's
	// AveragedModel.state_dict() names them.
	averagedModule = "module."
	nAveraged      = "n_averaged"
)

// reservedPrefixes begin the tensor names of the components other than
// the model's.
var reservedPrefixes = []string{optimizerPrefix, averagedPrefix, extraPrefix}

// maxHeader is the reference safetensors implementation's limit on a
// header's length.
const maxHeader = 100_000_000

// optimizerKey is the training file's key of an optimizer checkpoint's
// metadata key: optim.rules is optimizer.rules, param_groups
// optimizer.param_groups.
func optimizerKey(key string) string { return optimizerPrefix + strings.TrimPrefix(key, ours) }

// trainedOptimizer is what a training file holds of an optimizer whose
// parameters have element type M (Optimizer, LowOptimizer): its
// checkpoint's tensors and entries, and their loading.
type trainedOptimizer[M float32 | float64 | BFloat16 | Float16] interface {
	checkpointed
	Name(i int) string
	// namedParams returns the parameters and their names (nil when
	// unnamed).
	namedParams() ([]string, [][]M)
	// trainingState lists the optimizer's tensors with their data and its
	// metadata entries, named as in its own checkpoint (without the
	// file's: fileMeta's).
	trainingState(op string) ([]safetensors.Tensor, []filePiece, []safetensors.Meta, error)
	// prepareTraining checks the optimizer's part of a header, which x
	// took, and its metadata (named as in its checkpoint), as its Load
	// does, and allocates the scratch its data is read into.
	prepareTraining(op string, x *stateTensors, meta map[string]string, mine bool) (pendingState, error)
}

// pendingState is an optimizer's state being loaded from a training file.
type pendingState interface {
	// read reads the data of the optimizer's tensor id into scratch.
	read(op string, x *stateTensors, id int, r io.Reader, crc hash.Hash32, mine bool) error
	finish()  // once every tensor is read
	install() // once the whole file is verified: cannot fail
}

// pendingLoad is the pendingState of a checkpoint's state slices of
// element type E, which commit installs.
type pendingLoad[E element] struct {
	l      *loaded[E]
	commit func(*loaded[E])
}

func (p *pendingLoad[E]) read(op string, x *stateTensors, id int, r io.Reader, crc hash.Hash32, mine bool) error {
	return readTensor(op, x, p.l, id, r, crc, mine)
}
func (p *pendingLoad[E]) finish()  { p.l.finish() }
func (p *pendingLoad[E]) install() { p.commit(p.l) }

func (o *Optimizer[T]) namedParams() ([]string, [][]T) { return o.names.names, o.params }

func (o *Optimizer[T]) trainingState(op string) ([]safetensors.Tensor, []filePiece, []safetensors.Meta, error) {
	ts, ps, entries, err := o.encodeState(op, nil)
	return ts, boxPieces(ps), entries, err
}

func (o *Optimizer[T]) prepareTraining(op string, x *stateTensors, meta map[string]string, mine bool) (pendingState, error) {
	l, err := prepareLoad[T, T](o, op, x, meta, mine, false)
	if err != nil {
		return nil, err
	}
	return &pendingLoad[T]{l: l, commit: o.commit}, nil
}

// boxPieces returns ps as filePieces.
func boxPieces[E element](ps []piece[E]) []filePiece {
	out := make([]filePiece, len(ps))
	for k, p := range ps {
		out[k] = p
	}
	return out
}

// trainingParts are the components of a Training or a LowTraining, whose
// model's element type is M: what the file holds.
type trainingParts[M float32 | float64 | BFloat16 | Float16] struct {
	model        []Tensor[M]
	opt          trainedOptimizer[M] // nil for none
	schedulers   map[string]Stateful
	scaler       *GradScaler
	averaged     *Averaged[M]
	extra        map[string]any
	extraTensors []Tensor[M]
}

func (t *Training[T]) parts() *trainingParts[T] {
	p := &trainingParts[T]{model: t.Model, schedulers: t.Schedulers, scaler: t.Scaler, averaged: t.Averaged, extra: t.Extra, extraTensors: t.ExtraTensors}
	if t.Optimizer != nil {
		p.opt = t.Optimizer
	}
	return p
}

// Save writes the training state to w, as SaveFile does to a file. The
// data streams from memory: nothing the size of the tensors is allocated.
func (t *Training[T]) Save(w io.Writer) error { return t.parts().save("Training.Save", w) }

// SaveFile writes the training state to path atomically, as
// Optimizer.SaveFile writes a checkpoint: a crash leaves the old file or
// the new one; a symbolic link is followed; a path that is not a regular
// file is refused.
func (t *Training[T]) SaveFile(path string) error {
	return t.parts().saveFile("Training.SaveFile", path)
}

func (t *trainingParts[M]) saveFile(op, path string) error {
	err := saveAtomic(op, path, func(w io.Writer) error { return t.save(op, w) })
	var te *TrainingError
	if err != nil && !errors.As(err, &te) {
		err = &TrainingError{Op: op, Component: "file", Err: err}
	}
	return err
}

func (t *trainingParts[M]) save(op string, w io.Writer) error {
	header, pieces, err := t.encode(op)
	if err != nil {
		return err
	}
	if err := writeSealed(op, w, header, pieces); err != nil {
		return &TrainingError{Op: op, Component: "file", Err: err}
	}
	return nil
}

// check verifies the components, for Save and, with forLoad, for Load
// (where each Extra must be a pointer to decode into), and returns the
// model's tensors: Model, or the named optimizer's parameters.
func (t *trainingParts[M]) check(op string, forLoad bool) ([]Tensor[M], error) {
	model := t.model
	var (
		names  []string
		params [][]M
	)
	if t.opt != nil {
		names, params = t.opt.namedParams()
	}
	named := names != nil
	if model == nil && named {
		model = make([]Tensor[M], len(params))
		for i, p := range params {
			model[i] = Tensor[M]{Name: names[i], Data: p, Shape: t.opt.paramShape(i)}
		}
	}
	index := make(map[string]int, len(model))
	for k, m := range model {
		if err := checkTensor(op, "model", m, index, k); err != nil {
			return nil, err
		}
		for _, p := range reservedPrefixes {
			if strings.HasPrefix(m.Name, p) {
				return nil, trainingErr(op, "model", m.Name, "a model tensor's name may not start with %q, which names another component's tensors", p)
			}
		}
	}
	if named && t.model != nil {
		for i, name := range names {
			k, ok := index[name]
			switch p := params[i]; {
			case !ok:
				return nil, trainingErr(op, "model", name, "the optimizer's parameter %d has this name, no Model tensor has it", i)
			case len(model[k].Data) != len(p) || len(p) > 0 && &model[k].Data[0] != &p[0]:
				return nil, trainingErr(op, "model", name, "the tensor's Data is not the optimizer's parameter %d of this name but another slice: it would be saved and loaded in the parameter's place", i)
			}
		}
	}
	clear(index)
	for k, m := range t.extraTensors {
		if err := checkTensor(op, "extra", m, index, k); err != nil {
			return nil, err
		}
	}
	for name, s := range t.schedulers {
		if name == "" || s == nil || isNilPointer(s) {
			return nil, trainingErr(op, "scheduler", name, "a scheduler needs a name and a non-nil value")
		}
	}
	for name, v := range t.extra {
		if name == "" {
			return nil, trainingErr(op, "extra", name, "an extra value needs a name")
		}
		if rv := reflect.ValueOf(v); forLoad && (rv.Kind() != reflect.Pointer || rv.IsNil()) {
			return nil, trainingErr(op, "extra", name, "Load decodes into a non-nil pointer, not a %T", v)
		}
	}
	return model, nil
}

func isNilPointer(v any) bool {
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

// checkTensor verifies m's name (not empty, not in index, which it joins
// as k) and shape.
func checkTensor[T float32 | float64 | BFloat16 | Float16](op, component string, m Tensor[T], index map[string]int, k int) error {
	if m.Name == "" || m.Name == safetensors.MetadataKey {
		return trainingErr(op, component, m.Name, "a tensor needs a name, and not %q", safetensors.MetadataKey)
	}
	if _, ok := index[m.Name]; ok {
		return trainingErr(op, component, m.Name, "two tensors of that name")
	}
	index[m.Name] = k
	if m.Shape == nil {
		return nil
	}
	n := 1
	for _, d := range m.Shape {
		if d < 0 || d > 0 && n > len(m.Data)/d {
			n = -1
			break
		}
		n *= d
	}
	if n != len(m.Data) || len(m.Shape) > maxDims {
		return trainingErr(op, component, m.Name, "Shape %v for %d elements (and at most %d dimensions)", m.Shape, len(m.Data), maxDims)
	}
	return nil
}

// fileShape is the shape m has in the file.
func fileShape[T float32 | float64 | BFloat16 | Float16](m Tensor[T]) []int64 {
	if m.Shape == nil {
		return []int64{int64(len(m.Data))}
	}
	s := make([]int64, len(m.Shape))
	for i, d := range m.Shape {
		s[i] = int64(d)
	}
	return s
}

// encode builds the header, with the checksum placeholder, and lists the
// data in file order.
func (t *trainingParts[M]) encode(op string) ([]byte, []filePiece, error) {
	model, err := t.check(op, false)
	if err != nil {
		return nil, nil, err
	}
	dt := dtypeOf[M]()
	var (
		tensors []safetensors.Tensor
		pieces  []filePiece
	)
	add := func(prefix string, ms []Tensor[M]) {
		for _, m := range ms {
			tensors = append(tensors, safetensors.Tensor{Name: prefix + m.Name, DType: dt, Shape: fileShape(m)})
			pieces = append(pieces, piece[M]{s: nonNil(m.Data)})
		}
	}
	add("", model)
	meta := fileMeta(trainingFormat, dt)
	if o := t.opt; o != nil {
		ts, ps, entries, err := o.trainingState(op)
		if err != nil {
			return nil, nil, &TrainingError{Op: op, Component: "optimizer", Err: err}
		}
		for k := range ts {
			ts[k].Name = optimizerPrefix + ts[k].Name
		}
		tensors, pieces = append(tensors, ts...), append(pieces, ps...)
		for _, e := range entries {
			meta = append(meta, safetensors.Meta{Key: optimizerKey(e.Key), Value: e.Value})
		}
	}
	if a := t.averaged; a != nil {
		add(averagedPrefix+averagedModule, averagedTensors(a, model))
		tensors = append(tensors, safetensors.Tensor{Name: averagedPrefix + nAveraged, DType: safetensors.I64, Shape: []int64{}})
		pieces = append(pieces, piece[M]{count: a.n, isCount: true})
	}
	add(extraPrefix, t.extraTensors)
	for _, name := range sortedKeys(t.schedulers) {
		js, err := t.schedulers[name].MarshalJSON()
		if err == nil && !json.Valid(js) {
			err = errors.New("MarshalJSON returned invalid JSON")
		}
		if err != nil {
			return nil, nil, &TrainingError{Op: op, Component: "scheduler", Name: name, Err: err}
		}
		meta = append(meta, safetensors.Meta{Key: schedulerPrefix + name, Value: compactJSON(js)})
	}
	if t.scaler != nil {
		meta = append(meta, safetensors.Meta{Key: scalerKey, Value: mustJSON(t.scaler.State())})
	}
	for _, name := range sortedKeys(t.extra) {
		js, err := json.Marshal(t.extra[name])
		if err != nil {
			return nil, nil, &TrainingError{Op: op, Component: "extra", Name: name, Err: err}
		}
		meta = append(meta, safetensors.Meta{Key: extraPrefix + name, Value: string(js)})
	}
	// 8-byte elements first: every tensor's data is then aligned to its
	// element size (the data starts 8-aligned), as safetensors' own
	// writer aligns it.
	order := make([]int, len(tensors))
	for k := range order {
		order[k] = k
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return int(tensors[b].DType.Size() - tensors[a].DType.Size())
	})
	sortedTensors := make([]safetensors.Tensor, len(tensors))
	sortedPieces := make([]filePiece, len(pieces))
	for k, from := range order {
		sortedTensors[k], sortedPieces[k] = tensors[from], pieces[from]
	}
	header, _, err := safetensors.Encode(meta, sortedTensors)
	if err != nil {
		return nil, nil, &TrainingError{Op: op, Component: "file", Err: err}
	}
	if n := len(header) - safetensors.PrefixLen; n > maxHeader {
		return nil, nil, trainingErr(op, "file", "", "the header takes %d bytes, more than the %d safetensors readers accept (large extras belong in ExtraTensors)", n, maxHeader)
	}
	return header, sortedPieces, nil
}

// averagedTensors returns a's params and buffers (its own memory) as
// Tensors under their names, or their indices when unnamed, each with the
// Shape of the model tensor of its name where that has as many elements.
func averagedTensors[T float32 | float64 | BFloat16 | Float16](a *Averaged[T], model []Tensor[T]) []Tensor[T] {
	shapes := make(map[string][]int, len(model))
	for _, m := range model {
		shapes[m.Name] = m.Shape
	}
	out := make([]Tensor[T], len(a.dst))
	for i, s := range a.dst {
		name := a.name(i)
		if name == "" {
			name = strconv.Itoa(i)
		}
		out[i] = Tensor[T]{Name: name, Data: s}
		if shape := shapes[name]; shape != nil && checkTensor("", "", Tensor[T]{Name: name, Data: s, Shape: shape}, map[string]int{}, 0) == nil {
			out[i].Shape = shape
		}
	}
	return out
}

// nonNil returns s, or an empty non-nil slice for a nil s: a piece with a
// nil slice is a scalar.
func nonNil[T float32 | float64 | BFloat16 | Float16](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// compactJSON returns valid JSON js without its insignificant spaces.
func compactJSON(js []byte) string {
	var b bytes.Buffer
	if err := json.Compact(&b, js); err != nil {
		return string(js)
	}
	return b.String()
}

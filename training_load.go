package optim

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"reflect"
	"slices"
	"strings"

	"github.com/simdoptim/optim/internal/safetensors"
)

// Load replaces the state of the Training's components with the state
// saved in r by Save: the model's and ExtraTensors' data, the optimizer's
// state and groups (as Optimizer.Load replaces them), each scheduler's
// state (its UnmarshalJSON), the scaler's (GradScaler.Restore), the
// averaged model's (Averaged.Restore) and each Extra value. The file must
// hold exactly the Training's components, and its model, averaged and
// extra tensors exactly the Training's, by name, each of the Training's
// element type and of its Tensor's Shape (of its length, for a Tensor
// without a Shape).
//
// Everything is read and verified before anything changes: the checksum,
// every name, dtype and shape, the optimizer's state as Optimizer.Load
// verifies it, the scaler's and the averaged model's states as their
// Restore does, every Extra value's decoding. The schedulers then restore
// themselves, each verifying its own state: if one refuses, those restored
// before it get their earlier state back. On any error, nothing has
// changed. Load reads r to its end.
//
// What Load builds is bounded by the Training, not by the file: the
// header streams through a small buffer; the tensors it records are the
// Training's (and up to 1024 more, to name the first that is not); the
// metadata values it keeps are those of the keys the Training has, each
// bounded by the header's length, itself bounded by 100 MB (safetensors'
// own limit) and, for LoadFile, by the file's size; its scratch memory is
// the size of the data it loads, allocated once the header is verified
// (and, for LoadFile, found to match the file's size). Whatever the input,
// it adds at most three times the header's length, twice the data and the
// state the Training holds, and 8 MiB, besides what decoding the Extra
// values builds.
func (t *Training[T]) Load(r io.Reader) error { return t.parts().load("Training.Load", r, -1) }

// LoadFile loads the training state from path, as Load.
func (t *Training[T]) LoadFile(path string) error {
	return t.parts().loadFile("Training.LoadFile", path)
}

func (t *trainingParts[M]) loadFile(op, path string) error {
	f, size, err := openSized(path)
	if err != nil {
		return &TrainingError{Op: op, Component: "file", Err: err}
	}
	defer f.Close()
	return t.load(op, f, size)
}

// trainingReader is Load's reading of a training file: what the header
// says of each component's tensors, checked once the header is read.
type trainingReader[M float32 | float64 | BFloat16 | Float16] struct {
	t  *trainingParts[M]
	op string
	// The model's, the extra tensors' and the averaged model's (nil
	// without an Averaged); the optimizer's, nil without an Optimizer
	// (the optimizer's loader takes them as Optimizer.Load does).
	model, extra, averaged *namedTensors[M]
	x                      *stateTensors
	// n_averaged's entry, and its ID.
	count   fileTensor
	countID int
	// The first tensor of no component, and how many there are.
	unknown  string
	unknowns int
	sawOurs  bool  // a metadata key of ours has been read
	limit    int64 // the header's length at most
}

// namedTensors are the Tensors of the Model, of ExtraTensors or of the
// Averaged, as the header describes them; their IDs in the file are base
// + index.
type namedTensors[M float32 | float64 | BFloat16 | Float16] struct {
	component, prefix string
	want              []Tensor[M]
	index             map[string]int
	got               []fileTensor
	base              int
	backing           []M // scratch for the data, from offset[i]
	offset            []int
}

// fileTensor is what a header says of a tensor.
type fileTensor struct {
	found bool
	dtype safetensors.DType
	shape []int64
	begin int64
}

func newNamedTensors[M float32 | float64 | BFloat16 | Float16](component, prefix string, want []Tensor[M], base int) *namedTensors[M] {
	n := &namedTensors[M]{component: component, prefix: prefix, want: want, index: make(map[string]int, len(want)), got: make([]fileTensor, len(want)), base: base}
	for i, m := range want {
		n.index[m.Name] = i
	}
	return n
}

// take records the tensor of name (prefix cut), and reports whether it is
// one of n's.
func (n *namedTensors[M]) take(op string, name []byte, t safetensors.Tensor) (bool, error) {
	i, ok := n.index[string(name)]
	if !ok {
		return false, nil
	}
	if n.got[i].found {
		return true, trainingErr(op, n.component, n.want[i].Name, "two tensors of that name in the header")
	}
	n.got[i] = fileTensor{found: true, dtype: t.DType, shape: slices.Clone(t.Shape), begin: t.Begin}
	return true, nil
}

// check verifies that the header has each of n's tensors, of dtype dt and
// of its shape.
func (n *namedTensors[M]) check(op string, dt safetensors.DType) error {
	for i, m := range n.want {
		g := n.got[i]
		switch elems, _ := safetensors.Elems(g.shape); {
		case !g.found:
			return trainingErr(op, n.component, m.Name, "tensor %q is missing from the file", n.prefix+m.Name)
		case g.dtype != dt:
			return trainingErr(op, n.component, m.Name, "dtype %s, want %s", g.dtype, dt)
		case m.Shape != nil && !slices.Equal(g.shape, fileShape(m)):
			return trainingErr(op, n.component, m.Name, "shape %v, want %v", g.shape, m.Shape)
		case elems != int64(len(m.Data)):
			return trainingErr(op, n.component, m.Name, "shape %v: %d elements, want %d", g.shape, elems, len(m.Data))
		}
	}
	return nil
}

// spans appends the data ranges of n's tensors.
func (n *namedTensors[M]) spans(dst []safetensors.Span) []safetensors.Span {
	size := dtypeOf[M]().Size()
	for i, g := range n.got {
		dst = append(dst, safetensors.Span{Begin: g.begin, End: g.begin + size*int64(len(n.want[i].Data)), ID: n.base + i})
	}
	return dst
}

// alloc allocates the scratch the data is read into.
func (n *namedTensors[M]) alloc() {
	n.offset = make([]int, len(n.want))
	total := 0
	for i, m := range n.want {
		n.offset[i] = total
		total += len(m.Data)
	}
	n.backing = make([]M, total)
}

func (n *namedTensors[M]) scratch(i int) []M {
	return n.backing[n.offset[i] : n.offset[i]+len(n.want[i].Data)]
}

// commit copies the data read into the Tensors.
func (n *namedTensors[M]) commit() {
	for i, m := range n.want {
		copy(m.Data, n.scratch(i))
	}
}

// tensor is the header's sink.
func (tr *trainingReader[M]) tensor(name []byte, t safetensors.Tensor) error {
	var (
		ok  bool
		err error
	)
	switch {
	case bytes.HasPrefix(name, []byte(optimizerPrefix)):
		if tr.x != nil {
			if err := tr.x.tensor(name, t); err != nil {
				return &TrainingError{Op: tr.op, Component: "optimizer", Err: err}
			}
			return nil
		}
	case bytes.HasPrefix(name, []byte(averagedPrefix)):
		rest := name[len(averagedPrefix):]
		switch module, isModule := bytes.CutPrefix(rest, []byte(averagedModule)); {
		case tr.averaged == nil:
		case string(rest) == nAveraged && tr.count.found:
			return trainingErr(tr.op, "averaged", nAveraged, "two tensors of that name in the header")
		case string(rest) == nAveraged:
			tr.count = fileTensor{found: true, dtype: t.DType, shape: slices.Clone(t.Shape), begin: t.Begin}
			return nil
		case isModule:
			ok, err = tr.averaged.take(tr.op, module, t)
		}
	case bytes.HasPrefix(name, []byte(extraPrefix)):
		ok, err = tr.extra.take(tr.op, name[len(extraPrefix):], t)
	default:
		ok, err = tr.model.take(tr.op, name, t)
	}
	if ok || err != nil {
		return err
	}
	if tr.unknowns == maxForeign {
		return tr.unknownErr()
	}
	if tr.unknowns == 0 {
		tr.unknown = string(name)
	}
	tr.unknowns++
	return nil
}

// unknownErr reports the first tensor of no component.
func (tr *trainingReader[M]) unknownErr() error {
	name := tr.unknown
	switch {
	case strings.HasPrefix(name, optimizerPrefix):
		return trainingErr(tr.op, "optimizer", "", "the file holds optimizer state (tensor %q), the Training has no Optimizer", name)
	case strings.HasPrefix(name, averagedPrefix) && tr.averaged == nil:
		return trainingErr(tr.op, "averaged", "", "the file holds an averaged model (tensor %q), the Training has no Averaged", name)
	case strings.HasPrefix(name, averagedPrefix):
		return trainingErr(tr.op, "averaged", strings.TrimPrefix(name, averagedPrefix+averagedModule), "tensor %q is in the file, not in the Averaged", name)
	case strings.HasPrefix(name, extraPrefix):
		return trainingErr(tr.op, "extra", strings.TrimPrefix(name, extraPrefix), "tensor %q is in the file, not in ExtraTensors", name)
	}
	return trainingErr(tr.op, "model", name, "tensor %q is in the file, not in the Model", name)
}

// fileKeys are the metadata keys of an optimizer checkpoint that are not
// the optimizer's in a training file: the file's own, and the optimizer
// checkpoint's extras (a Training has its own).
var fileKeys = map[string]bool{checksumKey: true, formatKey: true, versionKey: true, dtypeKey: true, extraKey: true}

// optimizerMetaKey returns the optimizer checkpoint's key for the training
// file's optimizer.<x>, and whether it is one: in a file of ours (mine),
// optim.<x>, one of ourKeys but fileKeys; in torch's, param_groups, torch
// or optimizer.
func optimizerMetaKey(key string, mine bool) (string, bool) {
	x, ok := strings.CutPrefix(key, optimizerPrefix)
	switch {
	case !ok:
		return "", false
	case x == groupsKey:
		return x, true
	case mine:
		k := ours + x
		return k, slices.Contains(ourKeys, k) && !fileKeys[k]
	}
	return x, torchMeta[x]
}

// admit bounds the value of each metadata key (the header's Limits.Meta),
// refusing a key of a component the Training does not have.
func (tr *trainingReader[M]) admit(key string) (int, error) {
	tr.sawOurs = tr.sawOurs || strings.HasPrefix(key, ours)
	t, op := tr.t, tr.op
	switch name, _ := strings.CutPrefix(key, schedulerPrefix); {
	case key == checksumKey || key == formatKey || key == versionKey || key == dtypeKey:
		return 256, nil
	case strings.HasPrefix(key, optimizerPrefix):
		if t.opt == nil {
			return 0, trainingErr(op, "optimizer", "", "the file holds an optimizer (metadata %q), the Training has none", key)
		}
		if k, ok := optimizerMetaKey(key, tr.sawOurs); ok {
			if k == storageKey {
				return 256, nil // checked against the optimizer's once read
			}
			return metaLimit(t.opt, k), nil
		}
		if !tr.sawOurs {
			return 0, trainingErr(op, "optimizer", "", "metadata key %q: a file without the %s marker may only have torch's (%s, %s, %s)",
				key, formatKey, optimizerKey(groupsKey), optimizerPrefix+"torch", optimizerPrefix+"optimizer")
		}
		return 0, trainingErr(op, "optimizer", "", "unknown metadata key %q", key)
	case strings.HasPrefix(key, schedulerPrefix):
		if _, ok := t.schedulers[name]; ok {
			return int(tr.limit), nil
		}
		return 0, trainingErr(op, "scheduler", name, "in the file, not in the Training's Schedulers")
	case key == scalerKey:
		if t.scaler != nil {
			return 4096, nil
		}
		return 0, trainingErr(op, "scaler", "", "in the file, the Training has no Scaler")
	case strings.HasPrefix(key, extraPrefix):
		name := key[len(extraPrefix):]
		if _, ok := t.extra[name]; ok {
			return int(tr.limit), nil
		}
		return 0, trainingErr(op, "extra", name, "in the file, not in the Training's Extra")
	case key == "format" && !tr.sawOurs:
		return 256, nil // what safetensors' save_model writes: {"format": "pt"}
	case slices.Contains(ourKeys, key):
		return 0, trainingErr(op, "file", "", "metadata key %q is an optimizer checkpoint's: Optimizer.Load reads that file", key)
	}
	return 0, trainingErr(op, "file", "", "unknown metadata key %q", key)
}

// limits bounds the header by the Training.
func (tr *trainingReader[M]) limits() safetensors.Limits {
	t := tr.t
	name := max(len(optimizerPrefix+groupsKey), len(optimizerPrefix+"optimizer"), len(scalerKey), len("format"), len(averagedPrefix+nAveraged))
	for _, k := range ourKeys {
		name = max(name, len(k), len(optimizerKey(k)))
	}
	tensors := maxForeign
	for _, n := range []*namedTensors[M]{tr.model, tr.extra, tr.averaged} {
		if n == nil {
			continue
		}
		tensors += len(n.want) + 1 // n_averaged's
		for _, m := range n.want {
			name = max(name, len(n.prefix+m.Name))
		}
	}
	for k := range t.schedulers {
		name = max(name, len(schedulerPrefix+k))
	}
	for k := range t.extra {
		name = max(name, len(extraPrefix+k))
	}
	if tr.x != nil {
		opt := tr.x.limits(0, nil)
		name = max(name, len(optimizerPrefix)+opt.Name)
		tensors += opt.Tensors
	}
	return safetensors.Limits{Bytes: tr.limit, Tensors: tensors, Name: name, Dims: maxDims, Meta: tr.admit}
}

// load reads a training file of size bytes (-1: unknown) from r.
func (t *trainingParts[M]) load(op string, r io.Reader, size int64) error {
	model, err := t.check(op, true)
	if err != nil {
		return err
	}
	tr := &trainingReader[M]{t: t, op: op, limit: maxHeader}
	if size >= 0 {
		tr.limit = min(tr.limit, max(0, size-safetensors.PrefixLen))
	}
	// Tensor IDs: the model's, the extra tensors', the averaged model's
	// and its n_averaged, then the optimizer's.
	tr.model = newNamedTensors("model", "", model, 0)
	tr.extra = newNamedTensors("extra", extraPrefix, t.extraTensors, len(model))
	base := len(model) + len(t.extraTensors)
	a := t.averaged
	if a != nil {
		tr.averaged = newNamedTensors("averaged", averagedPrefix+averagedModule, averagedTensors(a, nil), base)
		base += len(a.dst)
		tr.countID = base
		base++
	}
	optBase := base
	o := t.opt
	if o != nil {
		tr.x = newStateTensors(o, op)
		tr.x.prefix = optimizerPrefix
	}
	parts := []*namedTensors[M]{tr.model, tr.extra}
	if a != nil {
		parts = append(parts, tr.averaged)
	}

	// The header.
	br := bufio.NewReaderSize(r, 4096)
	sum := &headerSum{crc: crc32.New(castagnoli)}
	h, err := safetensors.ReadHeader(io.TeeReader(br, sum), tr.limits(), tr.tensor)
	if err != nil {
		var te *TrainingError
		if errors.As(err, &te) {
			return err
		}
		return &TrainingError{Op: op, Component: "file", Err: fmt.Errorf("reading the header: %w", err)}
	}
	meta := h.Metadata
	mine := false
	for k := range meta {
		mine = mine || strings.HasPrefix(k, ours)
	}
	dt := dtypeOf[M]()
	if mine {
		if err := checkTrainingMeta(op, meta, sum.head[:min(sum.n, len(sum.head))], dt); err != nil {
			return err
		}
	} else {
		// torch's files hold tensors only.
		const why = "the file has none: a file without the %s marker holds only tensors"
		switch {
		case len(t.schedulers) > 0:
			return trainingErr(op, "scheduler", sortedKeys(t.schedulers)[0], why, formatKey)
		case t.scaler != nil:
			return trainingErr(op, "scaler", "", why, formatKey)
		case len(t.extra) > 0:
			return trainingErr(op, "extra", sortedKeys(t.extra)[0], why, formatKey)
		}
	}

	// Each component, as the header describes it.
	if tr.unknowns > 0 {
		return tr.unknownErr()
	}
	if err := tr.model.check(op, dt); err != nil {
		return err
	}
	var l pendingState
	if o != nil {
		if l, err = tr.optimizer(meta, mine); err != nil {
			return &TrainingError{Op: op, Component: "optimizer", Err: named(err, o.Name)}
		}
	}
	for _, name := range sortedKeys(t.schedulers) {
		if _, ok := meta[schedulerPrefix+name]; !ok {
			return trainingErr(op, "scheduler", name, "missing from the file")
		}
	}
	if _, ok := meta[scalerKey]; t.scaler != nil && !ok {
		return trainingErr(op, "scaler", "", "missing from the file")
	}
	if a != nil {
		if err := tr.averaged.check(op, dt); err != nil {
			return err
		}
		switch c := tr.count; {
		case !c.found:
			return trainingErr(op, "averaged", nAveraged, "tensor %q is missing from the file", averagedPrefix+nAveraged)
		case c.dtype != safetensors.I64 || len(c.shape) != 0:
			return trainingErr(op, "averaged", nAveraged, "dtype %s, shape %v, want a 0-d I64 tensor", c.dtype, c.shape)
		}
	}
	for _, name := range sortedKeys(t.extra) {
		if _, ok := meta[extraPrefix+name]; !ok {
			return trainingErr(op, "extra", name, "missing from the file")
		}
	}
	if err := tr.extra.check(op, dt); err != nil {
		return err
	}

	// The data: every tensor's range, which must tile the data section,
	// read in file order into scratch.
	var spans []safetensors.Span
	for _, n := range parts {
		spans = n.spans(spans)
	}
	if a != nil {
		spans = append(spans, safetensors.Span{Begin: tr.count.begin, End: tr.count.begin + 8, ID: tr.countID})
	}
	if tr.x != nil {
		for id, e := range tr.x.got {
			if e.found() {
				spans = append(spans, safetensors.Span{Begin: e.begin, End: e.begin + e.elems*e.dType().Size(), ID: optBase + id})
			}
		}
	}
	owner := func(id int) *namedTensors[M] {
		for _, n := range parts {
			if id >= n.base && id < n.base+len(n.want) {
				return n
			}
		}
		return nil
	}
	name := func(id int) string {
		switch n := owner(id); {
		case n != nil:
			return n.prefix + n.want[id-n.base].Name
		case id == tr.countID && a != nil:
			return averagedPrefix + nAveraged
		}
		return tr.x.name(id - optBase)
	}
	dataLen, err := safetensors.Tile(spans, name)
	if err != nil {
		return &TrainingError{Op: op, Component: "file", Err: fmt.Errorf("reading the header: %w", err)}
	}
	if size >= 0 && h.Len+dataLen != size {
		return trainingErr(op, "file", "", "the header and the tensors it describes take %d bytes, the file has %d", h.Len+dataLen, size)
	}
	for _, n := range parts {
		n.alloc()
	}
	crc := sum.crc
	var count [8]byte
	for _, s := range spans {
		n := owner(s.ID)
		switch {
		case n != nil:
			i := s.ID - n.base
			if err := readInto(br, crc, n.scratch(i)); err != nil {
				return &TrainingError{Op: op, Component: n.component, Name: n.want[i].Name, Err: fmt.Errorf("reading tensor %q: %w", n.prefix+n.want[i].Name, unexpectedEOF(err))}
			}
		case s.ID == tr.countID && a != nil:
			if _, err := io.ReadFull(br, count[:]); err != nil {
				return &TrainingError{Op: op, Component: "averaged", Name: nAveraged, Err: fmt.Errorf("reading tensor %q: %w", averagedPrefix+nAveraged, unexpectedEOF(err))}
			}
			crc.Write(count[:])
		default:
			if err := l.read(op, tr.x, s.ID-optBase, br, crc, mine); err != nil {
				return &TrainingError{Op: op, Component: "optimizer", Err: named(err, o.Name)}
			}
		}
	}
	var one [1]byte
	if n, err := br.Read(one[:]); n != 0 || err != io.EOF {
		if err == nil || err == io.EOF {
			return trainingErr(op, "file", "", "data beyond the last tensor")
		}
		return &TrainingError{Op: op, Component: "file", Err: fmt.Errorf("reading past the last tensor: %w", err)}
	}
	if mine {
		if got := hex8(crc.Sum32()); meta[checksumKey] != got {
			return &TrainingError{Op: op, Component: "file", Err: fmt.Errorf("stored %s, content %s: %w", meta[checksumKey], got, ErrChecksum)}
		}
	}
	if l != nil {
		l.finish()
	}
	var averaged AveragedState[M]
	if a != nil {
		averaged.NAveraged = int64(binary.LittleEndian.Uint64(count[:]))
		for i := range a.dst {
			if i < a.params {
				averaged.Params = append(averaged.Params, tr.averaged.scratch(i))
			} else {
				averaged.Buffers = append(averaged.Buffers, tr.averaged.scratch(i))
			}
		}
		if err := a.checkState(op, averaged); err != nil {
			return &TrainingError{Op: op, Component: "averaged", Err: err}
		}
	}

	// The components saved as JSON, now that the file is known intact.
	var scaler GradScalerState
	if t.scaler != nil {
		if err := decodeStrict([]byte(meta[scalerKey]), &scaler); err != nil {
			return &TrainingError{Op: op, Component: "scaler", Err: err}
		}
		if err := new(GradScaler).Restore(scaler); err != nil {
			return &TrainingError{Op: op, Component: "scaler", Err: err}
		}
	}
	extras := make(map[string]reflect.Value, len(t.extra))
	for name, v := range t.extra {
		fresh := reflect.New(reflect.TypeOf(v).Elem())
		if err := json.Unmarshal([]byte(meta[extraPrefix+name]), fresh.Interface()); err != nil {
			return &TrainingError{Op: op, Component: "extra", Name: name, Err: err}
		}
		extras[name] = fresh
	}
	names := sortedKeys(t.schedulers)
	before := make([][]byte, len(names))
	for i, name := range names {
		if !json.Valid([]byte(meta[schedulerPrefix+name])) {
			return trainingErr(op, "scheduler", name, "its metadata is not JSON")
		}
		if before[i], err = t.schedulers[name].MarshalJSON(); err != nil {
			return &TrainingError{Op: op, Component: "scheduler", Name: name, Err: fmt.Errorf("taking its state before the load: %w", err)}
		}
	}

	// The schedulers first, since each verifies its own state: if one
	// refuses, those before it are put back. Nothing after them can fail.
	for i, name := range names {
		if err := t.schedulers[name].UnmarshalJSON([]byte(meta[schedulerPrefix+name])); err != nil {
			for j := i - 1; j >= 0; j-- {
				if back := t.schedulers[names[j]].UnmarshalJSON(before[j]); back != nil {
					err = errors.Join(err, fmt.Errorf("scheduler %q could not be put back: %w", names[j], back))
				}
			}
			return &TrainingError{Op: op, Component: "scheduler", Name: name, Err: err}
		}
	}
	if o != nil {
		l.install()
	}
	if t.scaler != nil {
		_ = t.scaler.Restore(scaler) // verified above: cannot fail
	}
	if a != nil {
		a.setState(averaged)
	}
	tr.model.commit()
	tr.extra.commit()
	for name, v := range t.extra {
		reflect.ValueOf(v).Elem().Set(extras[name].Elem())
	}
	return nil
}

// optimizer checks the optimizer's part of the header and allocates its
// scratch, as Optimizer.Load does.
func (tr *trainingReader[M]) optimizer(meta map[string]string, mine bool) (pendingState, error) {
	x := tr.x
	// Its metadata, named as in an optimizer checkpoint.
	plain := map[string]string{}
	for k, v := range meta {
		if p, ok := optimizerMetaKey(k, mine); ok {
			plain[p] = v
		}
	}
	required := []string{groupsKey}
	if mine {
		required = append(required, rulesKey, stepsKey)
	}
	for _, k := range required {
		if _, ok := plain[k]; !ok {
			return nil, fmt.Errorf("metadata %q is missing: the file holds no optimizer, or a damaged one", optimizerKey(k))
		}
	}
	if mine {
		st, ok := plain[storageKey]
		if err := checkStorage(optimizerKey(storageKey), st, ok, tr.t.opt.checkpointTypes()); err != nil {
			return nil, err
		}
	}
	return tr.t.opt.prepareTraining(tr.op, x, plain, mine)
}

// checkTrainingMeta verifies the entries of a training file of ours:
// marker, version, element type, the checksum's place and spelling.
func checkTrainingMeta(op string, meta map[string]string, head []byte, dt safetensors.DType) error {
	switch f := meta[formatKey]; f {
	case trainingFormat:
	case formatName:
		return trainingErr(op, "file", "", "an optimizer checkpoint, not a training file: Optimizer.Load reads it")
	default:
		return trainingErr(op, "file", "", "metadata has %s keys but %s is %q, want %q: a damaged or foreign file", ours, formatKey, f, trainingFormat)
	}
	if v := meta[versionKey]; v != formatVersion {
		return trainingErr(op, "file", "", "%s %q: this package reads version %s", versionKey, v, formatVersion)
	}
	if d := meta[dtypeKey]; d != string(dt) {
		return trainingErr(op, "file", "", "%s is %q, the Training's element type is %s", dtypeKey, d, dt)
	}
	if err := checkChecksumPlace(meta, head); err != nil {
		return &TrainingError{Op: op, Component: "file", Err: err}
	}
	return nil
}

// decodeStrict decodes the JSON object js into v, refusing unknown fields
// and anything after the object.
func decodeStrict(js []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
}

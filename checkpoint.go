package optim

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"unsafe"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/safetensors"
	"github.com/simdoptim/optim/kernels"
)

// A checkpoint is a safetensors file that any safetensors reader opens and
// that torch's Optimizer.load_state_dict accepts after the few lines of
// Python below. Tensors are named as in torch's state_dict:
// state.<index>.<key>, index counting parameters across groups, key one of
// a state slice's (exp_avg, exp_avg_sq, max_exp_avg_sq, momentum_buffer,
// sum, square_avg, grad_avg, exp_inf, acc_delta, prev, step_size, ax), step,
// or a scalar state's (mu_product, eta, mu). As in torch, step and the
// scalar states are 0-d float32 tensors, SGD keeps no step, and the state
// that the first step creates (see State) is absent until it has: every
// tensor of a parameter that has not had a gradient yet (a frozen one
// never has any), and an SGD momentum buffer until a step with a momentum.
// The string-to-string __metadata__ holds param_groups, a JSON string in
// torch's layout (with param_names, the parameters' names, when they have
// some, as torch 2.x saves them), and this package's own entries:
//
//	optim.checksum  CRC-32C of the whole file with these 8 hex digits as "00000000"
//	optim.format    the format marker, "github.com/simdoptim/optim checkpoint"
//	optim.version   "1"
//	optim.dtype     "F32" or "F64", the element type ("BF16" or "F16": a LowOptimizer's,
//	                whose files also record optim.state_storage, see LowOptimizer.Save)
//	optim.rules     JSON list of each group's torch class: SGD, Adagrad, RMSprop, Adam, AdamW,
//	                NAdam, RAdam, Adamax, Adadelta, Rprop, ASGD, or Lion (not a torch class)
//	optim.steps     JSON list of each parameter's exact step count (float32 step
//	                tensors are exact only up to 2^24; these are the counts Load uses)
//	optim.extra     (optional) JSON object of the caller's entries, see SaveWith
//	optim.held      (only when a group holds a rate or momentum, see HoldGroupLR) JSON
//	                object from each such group's index to the scheduler class that set it;
//	                param_groups has the values, as torch's does
//
// The checksum is CRC-32C rather than SHA-256: at 10^8 float32 Adam
// parameters (800 MB of state) it took 0.4 s against SHA-256's 2 to 3.4 s
// here, and a CRC detects every error of up to 32 consecutive bits, so any
// flipped bit; it guards against corruption, not against tampering. It is
// the first metadata entry, at a fixed offset, so that it can be computed
// with placeholder digits while the header is written before the data.
//
// Loading one of these files in PyTorch (torch.optim over the same
// parameters, in the same groups):
//
//	import json, struct, torch
//	def load_simdoptim(path, optimizer):
//	    with open(path, "rb") as f:
//	        n = struct.unpack("<Q", f.read(8))[0]
//	        header, data = json.loads(f.read(n)), f.read()
//	    meta = header.pop("__metadata__")
//	    state = {}
//	    for name, t in header.items():
//	        _, index, key = name.split(".")
//	        dtype = {"F32": torch.float32, "F64": torch.float64,
//	                 "BF16": torch.bfloat16, "F16": torch.float16}[t["dtype"]]
//	        begin, end = t["data_offsets"]
//	        x = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype).reshape(t["shape"])
//	        state.setdefault(int(index), {})[key] = x
//	    optimizer.load_state_dict({"state": state, "param_groups": json.loads(meta["param_groups"])})
//
// (or, with the safetensors package, safetensors.torch.load_file(path) and
// safe_open(path, "pt").metadata() in place of the parsing). A file written
// by torch the same way, without the optim.* entries, loads here: see Load.

// The metadata keys. Keys with the prefix ours are this package's.
const (
	ours        = "optim."
	checksumKey = ours + "checksum"
	formatKey   = ours + "format"
	versionKey  = ours + "version"
	dtypeKey    = ours + "dtype"
	rulesKey    = ours + "rules"
	stepsKey    = ours + "steps"
	extraKey    = ours + "extra"
	storageKey  = ours + "state_storage"
	groupsKey   = "param_groups"

	formatName    = "github.com/simdoptim/optim checkpoint"
	formatVersion = "1"
)

// checksumAt is how every file of ours starts after the header length:
// the checksum is the first metadata value, so its 8 hex digits sit at a
// fixed offset.
const checksumAt = `{"__metadata__":{"` + checksumKey + `":"`

// checksumPlaceholder stands for the checksum while it is computed.
const checksumPlaceholder = "00000000"

// torchMeta are the metadata keys a file without our marker may have:
// param_groups, and what converters of torch's state_dict record (the
// torch version and the optimizer class).
var torchMeta = map[string]bool{groupsKey: true, "torch": true, "optimizer": true}

// maxExtra bounds the caller's entries of SaveWith, encoded.
const maxExtra = 1 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CheckpointError reports a checkpoint that cannot be written or read:
// malformed, damaged, or not matching the optimizer. Err, when not nil,
// is the underlying error (ErrChecksum, an I/O error, a safetensors
// format error).
type CheckpointError struct {
	Op     string // "Save", "Load", "SaveFile", ...
	Reason string
	Err    error
}

func (e *CheckpointError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("optim: %s: %s: %v", e.Op, e.Reason, e.Err)
	}
	return fmt.Sprintf("optim: %s: %s", e.Op, e.Reason)
}

func (e *CheckpointError) Unwrap() error { return e.Err }

// ErrChecksum reports a checkpoint whose content does not match its
// checksum: the file is damaged.
var ErrChecksum = errors.New("checksum mismatch: the file is damaged")

func ckErr(op string, err error, format string, args ...any) error {
	return &CheckpointError{Op: op, Reason: fmt.Sprintf(format, args...), Err: err}
}

// Save writes the optimizer's complete state: groups with their rules,
// step counts, every state slice. Parameters themselves are the model's,
// not saved. The data streams from the optimizer's memory: nothing the
// size of the state is allocated.
func (o *Optimizer[T]) Save(w io.Writer) error { return o.save("Save", w, nil) }

// SaveWith is Save with the caller's own entries in the same file, for
// state that belongs with the optimizer's, such as a learning-rate
// schedule's or a gradient scaler's: extra maps a name of the caller's
// choice to any JSON value, 1 MiB in all at most. They are covered by the
// checksum; LoadWith hands them back. They are stored as one JSON object
// in the metadata entry optim.extra, which torch ignores.
//
// The caller's state travels with the optimizer's this way:
//
//	sched, _ := json.Marshal(scheduleState) // e.g. a schedule.Scheduler's
//	err := opt.SaveFileWith(path, map[string]json.RawMessage{"schedule": sched})
//	...
//	var restored scheduleState
//	err = opt.LoadFileWith(path, func(extra map[string]json.RawMessage) error {
//		return json.Unmarshal(extra["schedule"], &restored) // validate here
//	})
//	// on success, install restored: optimizer and schedule changed together
//
// A Training keeps a run's whole state in one file (the model, the
// schedulers, the scaler, the averaged model, extras of any size) and
// restores it all together.
func (o *Optimizer[T]) SaveWith(w io.Writer, extra map[string]json.RawMessage) error {
	return o.save("SaveWith", w, extra)
}

// piece is one tensor's data: a state slice (of values, or of a 16-bit
// format's bits), or a 0-d float32 tensor (a step count or a scalar state)
// when s is nil.
type piece[T element] struct {
	s      []T
	scalar float32
	// count, when isCount, is a 0-d int64 tensor's value in place of
	// scalar (a training file's n_averaged).
	count   int64
	isCount bool
}

// dtypeOf is the safetensors dtype of element type T.
func dtypeOf[T float32 | float64 | BFloat16 | Float16]() safetensors.DType {
	switch any(T(0)).(type) {
	case float32:
		return safetensors.F32
	case float64:
		return safetensors.F64
	case BFloat16:
		return safetensors.BF16
	}
	return safetensors.F16
}

// fileTypes are the element types of a checkpoint of an optimizer: its
// parameters' (optim.dtype) and its state slices', with the state's
// storage (optim.state_storage) when it may differ from the parameters'.
type fileTypes struct {
	dtype, state safetensors.DType
	storage      string // "" for none: Optimizer's files have no such entry
}

// sameTypes are the file types of an optimizer whose state is stored as
// its parameters of element type T are.
func sameTypes[T float32 | float64]() fileTypes {
	return fileTypes{dtype: dtypeOf[T](), state: dtypeOf[T]()}
}

func (o *Optimizer[T]) checkpointTypes() fileTypes { return sameTypes[T]() }

func (o *Optimizer[T]) save(op string, w io.Writer, extra map[string]json.RawMessage) error {
	header, pieces, err := o.encode(op, extra)
	if err != nil {
		return err
	}
	return writeSealed(op, w, header, pieces)
}

// writeSealed writes a file of ours, its header and the data of pieces,
// with the checksum in place of the header's placeholder.
func writeSealed[P filePiece](op string, w io.Writer, header []byte, pieces []P) error {
	// The checksum is computed in a first pass over memory, so that the
	// header, which holds it, can be written before the data.
	h := crc32.New(castagnoli)
	h.Write(header)
	if err := eachChunk(pieces, func(b []byte) error { h.Write(b); return nil }); err != nil {
		return err
	}
	at := safetensors.PrefixLen + len(checksumAt)
	copy(header[at:], fmt.Sprintf("%08x", h.Sum32()))

	bw := bufio.NewWriterSize(w, 1<<16)
	if _, err := bw.Write(header); err != nil {
		return ckErr(op, err, "writing")
	}
	if err := eachChunk(pieces, func(b []byte) error { _, err := bw.Write(b); return err }); err != nil {
		return ckErr(op, err, "writing")
	}
	if err := bw.Flush(); err != nil {
		return ckErr(op, err, "writing")
	}
	return nil
}

// encode builds the header, with the checksum placeholder, and lists the
// data in file order.
func (o *Optimizer[T]) encode(op string, extra map[string]json.RawMessage) ([]byte, []piece[T], error) {
	tensors, pieces, entries, err := o.encodeState(op, extra)
	if err != nil {
		return nil, nil, err
	}
	header, err := encodeHeader(o, op, tensors, entries)
	return header, pieces, err
}

// encodeHeader builds the header of o's checkpoint, with the checksum
// placeholder: fileMeta's entries, then entries, then the tensors.
func encodeHeader(o checkpointed, op string, tensors []safetensors.Tensor, entries []safetensors.Meta) ([]byte, error) {
	ft := o.checkpointTypes()
	meta := fileMeta(formatName, ft.dtype)
	if ft.storage != "" {
		meta = append(meta, safetensors.Meta{Key: storageKey, Value: ft.storage})
	}
	header, _, err := safetensors.Encode(append(meta, entries...), tensors)
	if err != nil {
		return nil, ckErr(op, err, "encoding the header")
	}
	if limit := headerLimit(o); int64(len(header)-safetensors.PrefixLen) > limit {
		return nil, ckErr(op, nil, "the header takes %d bytes, more than the %d Load accepts", len(header), limit)
	}
	return header, nil
}

// fileMeta are the first metadata entries of a file of ours: the checksum
// placeholder (first, at its fixed offset), the format, its version and
// the element type.
func fileMeta(format string, dt safetensors.DType) []safetensors.Meta {
	return []safetensors.Meta{
		{Key: checksumKey, Value: checksumPlaceholder},
		{Key: formatKey, Value: format},
		{Key: versionKey, Value: formatVersion},
		{Key: dtypeKey, Value: string(dt)},
	}
}

// encodeState lists the optimizer's tensors with their data, in file
// order, and its metadata entries but fileMeta's, named as in an optimizer
// checkpoint.
func (o *Optimizer[T]) encodeState(op string, extra map[string]json.RawMessage) ([]safetensors.Tensor, []piece[T], []safetensors.Meta, error) {
	dt := dtypeOf[T]()
	var (
		tensors []safetensors.Tensor
		pieces  []piece[T]
	)
	for gi := range o.groups {
		g := &o.groups[gi]
		for i := g.first; i < g.end; i++ {
			if !o.hasState(i, g.rule.kind()) && !(g.matrix && o.steps[i] > 0) {
				continue // as in torch's state dict: no state yet, no tensors
			}
			tensors, pieces = appendParam(tensors, pieces, paramTensors[T]{
				i: i, rule: g.rule, matrix: g.matrix, slots: o.state[i], dtype: dt,
				key: o.slotKey, shape: o.tensorShape, step: o.steps[i], scalars: &o.scalars[i],
			})
		}
	}
	meta, err := groupsMeta(&o.groupSet, op, o.steps, o.groupNames, extra)
	if err != nil {
		return nil, nil, nil, err
	}
	return tensors, pieces, meta, nil
}

// paramTensors is what a checkpoint holds of parameter i, under rule: its
// state slots, of dtype, keyed and shaped by key and shape, its step
// count and its scalar state.
type paramTensors[E element] struct {
	i       int
	rule    Rule
	matrix  bool
	slots   [3][]E
	dtype   safetensors.DType
	key     func(i, k int) string
	shape   func(i, k int) []int64
	step    int64
	scalars *generic.Scalars
}

// appendParam appends p's tensors and their data, in file order, to
// tensors and pieces: every state slot that exists, as torch saves every
// tensor in its state (the rule's, and one kept from an earlier
// configuration: SGD's buffer after Momentum went to 0), then the step
// (but SGD's, which torch does not keep) and the scalar states, 0-d
// float32 tensors.
func appendParam[E element](tensors []safetensors.Tensor, pieces []piece[E], p paramTensors[E]) ([]safetensors.Tensor, []piece[E]) {
	for k, st := range p.slots {
		if st != nil {
			tensors = append(tensors, safetensors.Tensor{Name: tensorName(p.i, p.key(p.i, k)), DType: p.dtype, Shape: p.shape(p.i, k)})
			pieces = append(pieces, piece[E]{s: st})
		}
	}
	if !p.rule.torch().noStep {
		tensors = append(tensors, safetensors.Tensor{Name: tensorName(p.i, "step"), DType: safetensors.F32, Shape: []int64{}})
		pieces = append(pieces, piece[E]{scalar: float32(p.step)})
	}
	if p.matrix {
		return tensors, pieces // no scalar state
	}
	for j, key := range scalarKeys[p.rule.kind()] {
		tensors = append(tensors, safetensors.Tensor{Name: tensorName(p.i, key), DType: safetensors.F32, Shape: []int64{}})
		pieces = append(pieces, piece[E]{scalar: p.scalars[j]})
	}
	return tensors, pieces
}

// groupsMeta are the metadata entries of a checkpoint of the groups of o
// but fileMeta's: each group's torch class, the step counts, the caller's
// extra entries, the values groups hold, and param_groups (with the
// parameters' names, names(gi), if any).
func groupsMeta(o *groupSet, op string, steps []int64, names func(gi int) []string, extra map[string]json.RawMessage) ([]safetensors.Meta, error) {
	rules := make([]string, len(o.groups))
	groups := make([]json.RawMessage, len(o.groups))
	for gi := range o.groups {
		rules[gi] = className(o.groups[gi].rule)
		groups[gi] = torchGroup(o.reportedRule(gi), o.groups[gi].first, o.groups[gi].end, names(gi))
	}
	meta := []safetensors.Meta{
		{Key: rulesKey, Value: mustJSON(rules)},
		{Key: stepsKey, Value: mustJSON(steps)},
	}
	if len(extra) > 0 {
		for k, v := range extra {
			if !json.Valid(v) {
				return nil, ckErr(op, nil, "extra[%q] is not valid JSON", k)
			}
		}
		js := mustJSON(extra) // compacts each value, sorts the keys
		if len(js) > maxExtra {
			return nil, ckErr(op, nil, "the extra entries take %d bytes of JSON, more than the %d allowed", len(js), maxExtra)
		}
		meta = append(meta, safetensors.Meta{Key: extraKey, Value: js})
	}
	if held := o.heldMeta(); held != "" {
		meta = append(meta, safetensors.Meta{Key: heldKey, Value: held})
	}
	meta = append(meta, safetensors.Meta{Key: groupsKey, Value: mustJSON(groups)})
	return meta, nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("optim: unreachable: " + err.Error())
	}
	return string(b)
}

func tensorName(i int, key string) string { return fmt.Sprintf("state.%d.%s", i, key) }

// usedSlots reports which of the kernel's state slots rule r keeps, as the
// optimizer allocates them.
func usedSlots[T float32 | float64](r Rule) [3]bool {
	_, v, _ := coefficients[T](r, 1, true, generic.Scalars{})
	var u [3]bool
	u[0], u[1], u[2] = kernels.Uses(r.kind(), v)
	return u
}

// headerLimit bounds the header Load reads, from the optimizer's size: a
// tensor entry, a step count and a parameter index take well under 1 KiB
// per parameter, a group's hyperparameters well under 1 KiB, and the
// caller's entries at most maxExtra, the parameters' names namesBytes.
// The absolute cap is the reference safetensors implementation's, which
// rejects longer headers anyway.
func headerLimit(o checkpointed) int64 {
	const safetensorsMax = 100_000_000
	return min(safetensorsMax, 64<<10+maxExtra+1024*int64(o.Len()+o.Groups())+int64(o.namesBytes()))
}

// littleEndian reports whether the machine's byte order is the file's, so
// that slices are written and read as they lie in memory.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// bytesOf returns s's memory as bytes (little-endian machines only).
func bytesOf[T element](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(T(0))))
}

// filePiece is a tensor's data: a piece of some element type, or a
// training file's list of pieces of several (a LowOptimizer's float32
// state beside a 16-bit model).
type filePiece interface {
	// chunks passes the data, in the file's byte order, to f; *buf is
	// scratch for big-endian machines.
	chunks(buf *[]byte, f func([]byte) error) error
}

func (p piece[T]) chunks(buf *[]byte, f func([]byte) error) error {
	switch {
	case p.isCount:
		var eight [8]byte
		binary.LittleEndian.PutUint64(eight[:], uint64(p.count))
		return f(eight[:])
	case p.s == nil:
		var four [4]byte
		binary.LittleEndian.PutUint32(four[:], math.Float32bits(p.scalar))
		return f(four[:])
	case littleEndian:
		return f(bytesOf(p.s))
	}
	if *buf == nil {
		*buf = make([]byte, 1<<16)
	}
	size := int(unsafe.Sizeof(T(0)))
	for s := p.s; len(s) > 0; {
		n := min(len(s), len(*buf)/size)
		putLE((*buf)[:n*size], s[:n])
		if err := f((*buf)[:n*size]); err != nil {
			return err
		}
		s = s[n:]
	}
	return nil
}

// eachChunk passes the data of pieces, in order and in the file's byte
// order, to f.
func eachChunk[P filePiece](pieces []P, f func([]byte) error) error {
	var buf []byte
	for _, p := range pieces {
		if err := p.chunks(&buf, f); err != nil {
			return err
		}
	}
	return nil
}

func putLE[T element](b []byte, s []T) {
	switch s := bitsOf(s).(type) {
	case []uint16:
		for i, x := range s {
			binary.LittleEndian.PutUint16(b[2*i:], x)
		}
	case []float32:
		for i, x := range s {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
	case []float64:
		for i, x := range s {
			binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
		}
	}
}

func getLE[T element](s []T, b []byte) {
	switch s := bitsOf(s).(type) {
	case []uint16:
		for i := range s {
			s[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
	case []float32:
		for i := range s {
			s[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case []float64:
		for i := range s {
			s[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
	}
}

// bitsOf returns s, or for a slice of a 16-bit format (BFloat16, Float16)
// the same memory as []uint16, so that a type switch sees every 16-bit
// slice as its bits.
func bitsOf[T element](s []T) any {
	if _, ok := any(T(0)).(uint16); !ok && unsafe.Sizeof(T(0)) == 2 {
		return unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
	}
	return s
}

// readInto fills s from r (file byte order), feeding h.
func readInto[T element](r io.Reader, h hash.Hash32, s []T) error {
	if littleEndian {
		b := bytesOf(s)
		if _, err := io.ReadFull(r, b); err != nil {
			return err
		}
		h.Write(b)
		return nil
	}
	size := int(unsafe.Sizeof(T(0)))
	buf := make([]byte, min(len(s)*size, 1<<16))
	for len(s) > 0 {
		n := min(len(s), len(buf)/size)
		if _, err := io.ReadFull(r, buf[:n*size]); err != nil {
			return err
		}
		h.Write(buf[:n*size])
		getLE(s[:n], buf)
		s = s[n:]
	}
	return nil
}

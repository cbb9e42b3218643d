package optim

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/simdoptim/optim/internal/safetensors"
)

// A SparseAdam checkpoint is an optimizer checkpoint (see the Save of
// Optimizer: the same format marker, version, checksum and metadata
// entries, optim.rules ["SparseAdam"]), with torch's state of each table
// that has stepped:
//
//	state.<i>.step        0-d I64: torch's SparseAdam keeps the step as a Python int
//	state.<i>.exp_avg     [rows, cols], the table's shape and element type
//	state.<i>.exp_avg_sq  [rows, cols]
//
// and param_groups holds one group, {"lr", "betas", "eps", "maximize",
// "params"}, in torch's layout. A table that has not stepped has no
// tensors, as torch has no state for it. torch loads it with the lines
// that the Save of Optimizer shows, with two changes: I64 in the dtype
// map, and the step as an int,
//
//	dtype = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}[t["dtype"]]
//	state.setdefault(int(index), {})[key] = int(x) if key == "step" else x
//
// (a step tensor would turn torch's bias corrections into float32
// arithmetic). So loaded, torch continues the run with this package's
// bits (checked with testdata/torch-sparse-adam's run, loaded here, saved
// and loaded into torch 1.13).

// sparseClass is SparseAdam's torch class, as checkpoints name it.
const sparseClass = "SparseAdam"

// sparseKeys are a table's tensors, in torch's state-dict order.
var sparseKeys = [3]string{"step", "exp_avg", "exp_avg_sq"}

// Save writes the optimizer's state: the hyperparameters, each table's
// step count and moments. The tables themselves are the model's, not
// saved. The data streams from the optimizer's memory.
func (o *SparseAdamOptimizer[T]) Save(w io.Writer) error {
	header, pieces, err := o.encode("Save")
	if err != nil {
		return err
	}
	return writeSealed("Save", w, header, pieces)
}

// SaveFile writes Save's checkpoint to path atomically, as
// Optimizer.SaveFile does.
func (o *SparseAdamOptimizer[T]) SaveFile(path string) error {
	return saveAtomic("SaveFile", path, func(w io.Writer) error {
		header, pieces, err := o.encode("SaveFile")
		if err != nil {
			return err
		}
		return writeSealed("SaveFile", w, header, pieces)
	})
}

func (o *SparseAdamOptimizer[T]) encode(op string) ([]byte, []piece[T], error) {
	dt := dtypeOf[T]()
	var (
		tensors []safetensors.Tensor
		pieces  []piece[T]
	)
	for i, t := range o.tables {
		if o.steps[i] == 0 {
			continue // as in torch's state dict: no state yet, no tensors
		}
		shape := []int64{int64(t.Rows()), int64(t.Cols)}
		tensors = append(tensors,
			safetensors.Tensor{Name: tensorName(i, "step"), DType: safetensors.I64, Shape: []int64{}},
			safetensors.Tensor{Name: tensorName(i, "exp_avg"), DType: dt, Shape: shape},
			safetensors.Tensor{Name: tensorName(i, "exp_avg_sq"), DType: dt, Shape: shape})
		pieces = append(pieces, piece[T]{count: o.steps[i], isCount: true}, piece[T]{s: o.expAvg[i]}, piece[T]{s: o.expSq[i]})
	}
	meta := append(fileMeta(formatName, dt),
		safetensors.Meta{Key: rulesKey, Value: mustJSON([]string{sparseClass})},
		safetensors.Meta{Key: stepsKey, Value: mustJSON(o.steps)},
		safetensors.Meta{Key: groupsKey, Value: "[" + string(o.torchGroup()) + "]"})
	header, _, err := safetensors.Encode(meta, tensors)
	if err != nil {
		return nil, nil, ckErr(op, err, "encoding the header")
	}
	return header, pieces, nil
}

// torchGroup is the param_groups entry, in torch's key order.
func (o *SparseAdamOptimizer[T]) torchGroup() []byte {
	params := make([]int, len(o.tables))
	for i := range params {
		params[i] = i
	}
	c := o.cfg
	return []byte(`{"lr":` + mustJSON(c.LR) + `,"betas":` + mustJSON([2]float64{c.Beta1, c.Beta2}) +
		`,"eps":` + mustJSON(c.Eps) + `,"maximize":` + mustJSON(c.Maximize) + `,"params":` + mustJSON(params) + `}`)
}

// headerLimit bounds the header Load reads: a table's tensors and its
// entries in optim.steps and params take well under 1 KiB.
func (o *SparseAdamOptimizer[T]) headerLimit() int64 {
	return 64<<10 + 1024*int64(len(o.tables))
}

// Load replaces the optimizer's hyperparameters and state with a saved
// one: a file of Save, or torch's SparseAdam state_dict in the layout Save
// writes (metadata param_groups, and optionally torch and optimizer, which
// must then be SparseAdam; tensors state.<i>.step, a 0-d I64, F32 or F64
// integral count, and exp_avg and exp_avg_sq of the table's shape and
// element type, all three or none for each table). The file must have one
// group over every table in order, whose hyperparameters are validated as
// NewSparseAdam validates them. A file of ours is verified against its
// checksum. State that no step produces is refused: NaN in a moment, a
// negative exp_avg_sq. Everything is read and verified before anything
// changes: on error, nothing did. What Load reads is bounded by the
// optimizer, not by the file (the header by headerLimit, the tensors by
// the tables' count, their names and dimensions), and its scratch memory
// is the size of the state. Load reads r to its end.
func (o *SparseAdamOptimizer[T]) Load(r io.Reader) error { return o.load("Load", r, -1) }

// LoadFile loads a checkpoint from path, as Load.
func (o *SparseAdamOptimizer[T]) LoadFile(path string) error {
	f, size, err := openSized(path)
	if err != nil {
		return ckErr("LoadFile", err, "opening")
	}
	defer f.Close()
	return o.load("LoadFile", f, size)
}

// sparseEntry is what the header says of one tensor.
type sparseEntry struct {
	found       bool
	dtype       safetensors.DType
	shape       [2]int64
	dims        int
	begin, size int64
}

func (o *SparseAdamOptimizer[T]) parseName(name []byte) (table, key int, ok bool) {
	rest, ok := strings.CutPrefix(string(name), "state.")
	digits, k, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || len(digits) == 0 || len(digits) > 1 && digits[0] == '0' {
		return 0, 0, false
	}
	i, err := strconv.Atoi(digits)
	if err != nil || i < 0 || i >= len(o.tables) || digits[0] == '+' {
		return 0, 0, false
	}
	for j, want := range sparseKeys {
		if k == want {
			return i, j, true
		}
	}
	return 0, 0, false
}

func (o *SparseAdamOptimizer[T]) load(op string, r io.Reader, size int64) error {
	br := bufio.NewReaderSize(r, 4096)
	limit := o.headerLimit()
	if size >= 0 {
		limit = min(limit, max(0, size-safetensors.PrefixLen))
	}
	entries := make([][3]sparseEntry, len(o.tables))
	sink := func(name []byte, t safetensors.Tensor) error {
		i, k, ok := o.parseName(name)
		if !ok {
			return ckErr(op, nil, "tensor %q: not a state of this SparseAdam optimizer's %d tables (state.<i>.step, exp_avg or exp_avg_sq)", name, len(o.tables))
		}
		e := &entries[i][k]
		if e.found {
			return ckErr(op, nil, "tensor %q: duplicate key in the header", name)
		}
		e.found, e.dtype, e.dims, e.begin = true, t.DType, len(t.Shape), t.Begin
		copy(e.shape[:], t.Shape)
		n, _ := safetensors.Elems(t.Shape)
		e.size = n * t.DType.Size()
		return nil
	}
	admit := func(key string) (int, error) {
		switch key {
		case checksumKey, formatKey, versionKey, dtypeKey, rulesKey, "torch", "optimizer":
			return 256, nil
		case stepsKey:
			return 256 + 32*len(o.tables), nil
		case groupsKey:
			return 4096 + 32*len(o.tables), nil
		}
		return 0, ckErr(op, nil, "unknown metadata key %q in a SparseAdam checkpoint", key)
	}
	nameMax := len(tensorName(max(len(o.tables)-1, 0), "exp_avg_sq"))
	for _, k := range ourKeys {
		nameMax = max(nameMax, len(k))
	}
	// One tensor beyond the tables' reaches the sink, which names it.
	lim := safetensors.Limits{Bytes: limit, Tensors: 3*len(o.tables) + 1, Name: nameMax, Dims: 2, Meta: admit}
	sum := &headerSum{crc: crc32.New(castagnoli)}
	h, err := safetensors.ReadHeader(io.TeeReader(br, sum), lim, sink)
	if err != nil {
		if !errors.Is(err, safetensors.ErrFormat) {
			return err
		}
		return ckErr(op, err, "reading the header")
	}
	meta := h.Metadata
	mine := false
	for k := range meta {
		mine = mine || strings.HasPrefix(k, ours)
	}
	steps := make([]int64, len(o.tables))
	if mine {
		if err := checkOurMeta(op, meta, sum.head[:min(sum.n, len(sum.head))], sameTypes[T]()); err != nil {
			return err
		}
		var classes []string
		if err := json.Unmarshal([]byte(meta[rulesKey]), &classes); err != nil || len(classes) != 1 || classes[0] != sparseClass {
			return ckErr(op, nil, "%s is %s, want [%q]: not a SparseAdam checkpoint", rulesKey, meta[rulesKey], sparseClass)
		}
		var saved []int64
		if err := json.Unmarshal([]byte(meta[stepsKey]), &saved); err != nil {
			return ckErr(op, nil, "%s: %v", stepsKey, err)
		}
		if len(saved) != len(o.tables) {
			return &ShapeError{Op: op, What: "step counts", Index: -1, Got: len(saved), Want: len(o.tables)}
		}
		copy(steps, saved)
	} else if c, ok := meta["optimizer"]; ok && c != sparseClass {
		return ckErr(op, nil, "the checkpoint is torch's %s, not SparseAdam", c)
	}
	cfg, err := decodeSparseGroup[T](op, meta[groupsKey], len(o.tables))
	if err != nil {
		return err
	}

	// Which tables have state, and what it must be.
	dt := dtypeOf[T]()
	spans := make([]safetensors.Span, 0, 3*len(o.tables))
	offset := make([]int, len(o.tables)) // in backing, -1 without state
	total := 0
	for i, t := range o.tables {
		es := &entries[i]
		n := 0
		for k := range es {
			if es[k].found {
				n++
				spans = append(spans, safetensors.Span{Begin: es[k].begin, End: es[k].begin + es[k].size, ID: 3*i + k})
			}
		}
		offset[i] = -1
		switch {
		case n == 0 && mine && steps[i] != 0:
			return ckErr(op, nil, "param %d: step count %d in %s but no state tensors", i, steps[i], stepsKey)
		case n == 0:
			continue
		case n != 3:
			return ckErr(op, nil, "param %d: %d of its 3 state tensors are missing", i, 3-n)
		}
		if e := es[0]; e.dims != 0 || !(e.dtype == safetensors.I64 || !mine && (e.dtype == safetensors.F32 || e.dtype == safetensors.F64)) {
			return ckErr(op, nil, "tensor %q: dtype %s, %d dimensions, want a 0-d I64 tensor", tensorName(i, "step"), e.dtype, e.dims)
		}
		for k := 1; k < 3; k++ {
			e := es[k]
			if e.dtype != dt {
				return ckErr(op, nil, "tensor %q: dtype %s, want %s", tensorName(i, sparseKeys[k]), e.dtype, dt)
			}
			if e.dims != 2 || e.shape != [2]int64{int64(t.Rows()), int64(t.Cols)} {
				return ckErr(op, nil, "tensor %q: shape %v, want the table's [%d %d]", tensorName(i, sparseKeys[k]), e.shape[:e.dims], t.Rows(), t.Cols)
			}
		}
		offset[i] = total
		total += 2 * len(t.Data)
	}
	if _, err := safetensors.Tile(spans, func(id int) string { return tensorName(id/3, sparseKeys[id%3]) }); err != nil {
		return ckErr(op, err, "reading the header")
	}
	backing := make([]T, total)
	crc := sum.crc
	var small [8]byte
	for _, s := range spans {
		i, k := s.ID/3, s.ID%3
		name := tensorName(i, sparseKeys[k])
		if k == 0 {
			b := small[:entries[i][0].size]
			if _, err := io.ReadFull(br, b); err != nil {
				return ckErr(op, unexpectedEOF(err), "reading tensor %q", name)
			}
			crc.Write(b)
			n, err := sparseStep(op, i, name, entries[i][0].dtype, b)
			if err != nil {
				return err
			}
			if n == 0 {
				// torch creates the state at a step, which it counts; Save
				// writes no state for a table at step 0.
				return ckErr(op, nil, "tensor %q: param %d: step 0 beside state tensors: the state is created at a counted step", name, i)
			}
			if mine && n != steps[i] {
				return ckErr(op, nil, "param %d: step tensor %d disagrees with the step count %d of %s", i, n, steps[i], stepsKey)
			}
			steps[i] = n
			continue
		}
		n := len(o.tables[i].Data)
		dst := backing[offset[i]+(k-1)*n : offset[i]+k*n]
		if err := readInto(br, crc, dst); err != nil {
			return ckErr(op, unexpectedEOF(err), "reading tensor %q", name)
		}
		if j := firstInvalid(dst, k == 2); j >= 0 {
			want := "a number"
			if k == 2 {
				want = "a number >= 0"
			}
			return ckErr(op, nil, "tensor %q: param %d: element %d is %v, want %s", name, i, j, dst[j], want)
		}
	}
	if err := checkTail(op, br, crc, meta, mine); err != nil {
		return err
	}

	// Verified: commit. Nothing below can fail.
	o.cfg = cfg
	for i := range o.tables {
		o.steps[i] = steps[i]
		if offset[i] < 0 {
			clear(o.expAvg[i])
			clear(o.expSq[i])
			continue
		}
		n := len(o.tables[i].Data)
		copy(o.expAvg[i], backing[offset[i]:offset[i]+n])
		copy(o.expSq[i], backing[offset[i]+n:offset[i]+2*n])
	}
	return nil
}

// sparseStep reads a step tensor: an I64 count, or (torch files) an F32
// or F64 integral count.
func sparseStep(op string, i int, name string, dt safetensors.DType, b []byte) (int64, error) {
	var v float64
	switch dt {
	case safetensors.I64:
		n := int64(binary.LittleEndian.Uint64(b))
		if err := checkStepCount(op, i, n, name); err != nil {
			return 0, err
		}
		return n, nil
	case safetensors.F32:
		v = float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
	default:
		v = math.Float64frombits(binary.LittleEndian.Uint64(b))
	}
	if !(v >= 0 && v < 1<<63 && v == math.Trunc(v)) {
		return 0, ckErr(op, nil, "param %d: step %v is not a count an int64 holds", i, v)
	}
	return int64(v), nil
}

// decodeSparseGroup decodes param_groups: one group over every table, in
// order, with SparseAdam's keys (initial_lr and torch's implementation
// flags are ignored; maximize may be absent, false), validated for T.
func decodeSparseGroup[T float32 | float64](op, js string, tables int) (SparseAdam, error) {
	var groups []json.RawMessage
	if err := json.Unmarshal([]byte(js), &groups); err != nil {
		return SparseAdam{}, ckErr(op, nil, "%s is missing or not a JSON list", groupsKey)
	}
	if len(groups) != 1 {
		return SparseAdam{}, ckErr(op, nil, "the checkpoint has %d parameter groups; a SparseAdamOptimizer has one", len(groups))
	}
	bad := func(format string, args ...any) error {
		return ckErr(op, nil, "param_groups[0]: %s", fmt.Sprintf(format, args...))
	}
	raw := groups[0]
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return SparseAdam{}, bad("not a JSON object")
	}
	if k, ok := duplicateKey(raw); ok {
		return SparseAdam{}, bad("key %q appears twice", k)
	}
	for k := range m {
		switch k {
		case "lr", "betas", "eps", "maximize", "params":
		default:
			if !ignoredGroupKeys[k] {
				return SparseAdam{}, bad("unknown key %q for SparseAdam", k)
			}
		}
	}
	var params []int
	if err := json.Unmarshal(m["params"], &params); err != nil || params == nil {
		return SparseAdam{}, bad("params is not a list of indices")
	}
	if len(params) != tables {
		return SparseAdam{}, &ShapeError{Op: op, What: "params of group 0", Index: -1, Got: len(params), Want: tables}
	}
	for j, p := range params {
		if p != j {
			return SparseAdam{}, bad("params[%d] = %d, want %d: the tables in order", j, p, j)
		}
	}
	var cfg SparseAdam
	var betas []float64
	for _, f := range []struct {
		key string
		dst any
	}{{"lr", &cfg.LR}, {"betas", &betas}, {"eps", &cfg.Eps}, {"maximize", &cfg.Maximize}} {
		v, ok := m[f.key]
		if !ok && f.key == "maximize" {
			continue // torch reads group.get('maximize', False): older files lack it
		}
		if !ok {
			return SparseAdam{}, bad("%q is missing", f.key)
		}
		if err := json.Unmarshal(v, f.dst); err != nil {
			return SparseAdam{}, bad("%q: %s is not of its type", f.key, v)
		}
	}
	if len(betas) != 2 {
		return SparseAdam{}, bad("betas has %d values, want 2", len(betas))
	}
	cfg.Beta1, cfg.Beta2 = betas[0], betas[1]
	if err := sparseAdamValidate[T](cfg); err != nil {
		return SparseAdam{}, err
	}
	return cfg, nil
}

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
	"math"
	"strings"

	"github.com/simdoptim/optim/internal/safetensors"
)

// An LBFGS checkpoint is a safetensors file in the layout of the
// optimizer checkpoints (see Optimizer.Save): torch's state_dict, whose
// LBFGS state is all under the first parameter, state.0.<key>:
//
//	func_evals, n_iter  I64 0-d: the counts of closure calls and iterations
//	d                   T [n]: the last direction (n: all the parameters' elements)
//	t                   F64 0-d: the last step length
//	old_dirs, old_stps  T [k, n]: the k <= history_size correction pairs, oldest first
//	ro                  T [k]
//	H_diag              T 0-d
//	prev_flat_grad      T [n]
//	prev_loss           F64 0-d
//	al                  T [m]: the m entries of torch's al that are not None
//
// T is F32 or F64, the element type. torch keeps t and prev_loss as
// Python floats (t is sometimes a 0-d tensor; its value is what counts)
// and the lists old_dirs, old_stps, ro and al as lists, here stacked. As
// in torch, a state that a step has not created is absent: func_evals and
// n_iter after the first Step, the rest after its first iteration, al
// after the first iteration of a later one. The metadata are those of an
// optimizer checkpoint: the optim.* entries (optim.rules is ["LBFGS"])
// and param_groups with torch's LBFGS keys. A file without the optim.*
// entries, written from torch's state_dict in this layout
// (testdata/torch-lbfgs/make_lbfgs_checkpoint.py does), loads too.

// lbfgsKeys are the state keys, in the order Save writes them.
var lbfgsKeys = []string{"func_evals", "n_iter", "d", "t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad", "prev_loss", "al"}

// lbfgsGroup is torch's param_groups entry of an LBFGS, in its key order.
type lbfgsGroup struct {
	LR              float64 `json:"lr"`
	MaxIter         int     `json:"max_iter"`
	MaxEval         int     `json:"max_eval"`
	ToleranceGrad   float64 `json:"tolerance_grad"`
	ToleranceChange float64 `json:"tolerance_change"`
	HistorySize     int     `json:"history_size"`
	LineSearchFn    *string `json:"line_search_fn"`
	Params          []int   `json:"params"`
}

// Save writes the optimizer's configuration and state (not the
// parameters) as an LBFGS checkpoint, described above. It allocates a
// little for the header; the vectors stream from the optimizer's memory.
func (o *LBFGSOptimizer[T]) Save(w io.Writer) error {
	header, pieces, err := o.encode()
	if err != nil {
		return err
	}
	return writeSealed("LBFGS.Save", w, header, pieces)
}

// SaveFile writes Save's checkpoint to path atomically, as
// Optimizer.SaveFile does.
func (o *LBFGSOptimizer[T]) SaveFile(path string) error {
	return saveAtomic("LBFGS.SaveFile", path, o.Save)
}

// LoadFile is Load from the file at path.
func (o *LBFGSOptimizer[T]) LoadFile(path string) error {
	f, size, err := openSized(path)
	if err != nil {
		return ckErr("LBFGS.LoadFile", err, "opening")
	}
	defer f.Close()
	return o.load("LBFGS.LoadFile", f, size)
}

// Load reads an LBFGS checkpoint (ours, verified by its checksum, or one
// written from torch's state_dict) and continues from it: the state, and
// the hyperparameters of its param_groups, as torch's load_state_dict
// does. The file must have as many parameters, with as many elements in
// all, and the same history_size (the history is allocated with the
// optimizer); its dtype must be the element type. Everything is read and
// verified before anything changes: on error, nothing did. What Load
// reads is bounded by the optimizer, not by the file.
func (o *LBFGSOptimizer[T]) Load(r io.Reader) error { return o.load("LBFGS.Load", r, -1) }

func (o *LBFGSOptimizer[T]) encode() ([]byte, []piece[T], error) {
	dt := dtypeOf[T]()
	n := int64(o.n)
	var tensors []safetensors.Tensor
	var pieces []piece[T]
	add := func(key string, dtype safetensors.DType, shape []int64, p ...piece[T]) {
		tensors = append(tensors, safetensors.Tensor{Name: tensorName(0, key), DType: dtype, Shape: shape})
		pieces = append(pieces, p...)
	}
	// An F64 0-d tensor is the 8 bytes of its bits, as piece writes a
	// count.
	f64 := func(v float64) piece[T] { return piece[T]{count: int64(math.Float64bits(v)), isCount: true} }
	if o.funcEvals > 0 || o.nIter > 0 {
		add("func_evals", safetensors.I64, []int64{}, piece[T]{count: o.funcEvals, isCount: true})
		add("n_iter", safetensors.I64, []int64{}, piece[T]{count: o.nIter, isCount: true})
	}
	if o.hasPrevLoss {
		h := o.cfg.HistorySize
		k := int64(o.count)
		add("d", dt, []int64{n}, piece[T]{s: o.d})
		add("t", safetensors.F64, []int64{}, f64(o.t.v))
		var dirs, stps []piece[T]
		ro := make([]T, o.count)
		for i := range o.count {
			s := (o.head + i) % h
			dirs = append(dirs, piece[T]{s: o.dirs[s]})
			stps = append(stps, piece[T]{s: o.stps[s]})
			ro[i] = T(o.ro[s])
		}
		add("old_dirs", dt, []int64{k, n}, dirs...)
		add("old_stps", dt, []int64{k, n}, stps...)
		add("ro", dt, []int64{k}, piece[T]{s: ro})
		add("H_diag", dt, []int64{}, piece[T]{s: []T{T(o.hDiag.v)}})
		add("prev_flat_grad", dt, []int64{n}, piece[T]{s: o.prevFlatGrad})
		add("prev_loss", safetensors.F64, []int64{}, f64(o.prevLoss))
	}
	if o.hasAl {
		al := make([]T, o.alSet)
		for i := range al {
			al[i] = T(o.al[i])
		}
		add("al", dt, []int64{int64(o.alSet)}, piece[T]{s: al})
	}
	meta := append(fileMeta(formatName, dt),
		safetensors.Meta{Key: rulesKey, Value: `["LBFGS"]`},
		safetensors.Meta{Key: groupsKey, Value: o.groupJSON()})
	header, _, err := safetensors.Encode(meta, tensors)
	if err != nil {
		return nil, nil, ckErr("LBFGS.Save", err, "encoding the header")
	}
	return header, pieces, nil
}

// groupJSON is torch's param_groups of the optimizer.
func (o *LBFGSOptimizer[T]) groupJSON() string {
	g := lbfgsGroup{LR: o.cfg.LR, MaxIter: o.cfg.MaxIter, MaxEval: o.cfg.maxEval(), ToleranceGrad: o.cfg.ToleranceGrad,
		ToleranceChange: o.cfg.ToleranceChange, HistorySize: o.cfg.HistorySize, Params: make([]int, len(o.params))}
	if o.cfg.LineSearch != NoLineSearch {
		s := string(o.cfg.LineSearch)
		g.LineSearchFn = &s
	}
	for i := range g.Params {
		g.Params[i] = i
	}
	return mustJSON([]lbfgsGroup{g})
}

// lbfgsLoaded is a checkpoint read and verified.
type lbfgsLoaded[T float32 | float64] struct {
	cfg              LBFGS
	got              map[string]bool
	funcEvals, nIter int64
	d, prevFlatGrad  []T
	t, prevLoss      float64
	dirs, stps       []T // k·n each, oldest first
	ro, al           []T
	hDiag            T
	k                int
}

func (o *LBFGSOptimizer[T]) load(op string, r io.Reader, size int64) error {
	l, err := o.read(op, r, size)
	if err != nil {
		return err
	}
	o.commit(l)
	return nil
}

// lbfgsMetaLimit bounds a metadata value Load reads; 0 refuses the key.
func (o *LBFGSOptimizer[T]) metaLimit(key string) int {
	switch key {
	case checksumKey, formatKey, versionKey, dtypeKey, rulesKey:
		return 256
	case groupsKey:
		return 4096 + 24*len(o.params)
	}
	if torchMeta[key] {
		return 256
	}
	return 0
}

func (o *LBFGSOptimizer[T]) read(op string, r io.Reader, size int64) (*lbfgsLoaded[T], error) {
	br := bufio.NewReaderSize(r, 4096)
	limit := int64(1<<16 + 24*len(o.params))
	if size >= 0 {
		limit = min(limit, max(0, size-safetensors.PrefixLen))
	}
	sawOurs := false
	admit := func(key string) (int, error) {
		sawOurs = sawOurs || strings.HasPrefix(key, ours)
		if n := o.metaLimit(key); n > 0 {
			return n, nil
		}
		return 0, ckErr(op, nil, "unknown metadata key %q", key)
	}
	sum := &headerSum{crc: crc32.New(castagnoli)}
	lim := safetensors.Limits{Bytes: limit, Tensors: len(lbfgsKeys), Name: 32, Dims: 2, Meta: admit}
	h, err := safetensors.ReadHeader(io.TeeReader(br, sum), lim, nil)
	if err != nil {
		if !errors.Is(err, safetensors.ErrFormat) {
			return nil, err
		}
		return nil, ckErr(op, err, "reading the header")
	}
	meta := h.Metadata
	mine := sawOurs
	if mine {
		if err := checkOurMeta(op, meta, sum.head[:min(sum.n, len(sum.head))], sameTypes[T]()); err != nil {
			return nil, err
		}
		if meta[rulesKey] != `["LBFGS"]` {
			return nil, ckErr(op, nil, "%s is %s, want [\"LBFGS\"]: not an LBFGS checkpoint", rulesKey, meta[rulesKey])
		}
	}
	l := &lbfgsLoaded[T]{got: map[string]bool{}}
	if l.cfg, err = o.decodeGroup(op, meta[groupsKey]); err != nil {
		return nil, err
	}
	// The tensors: names, dtypes and shapes, all checked before any data
	// is read or any scratch allocated.
	dt := dtypeOf[T]()
	n, hist := int64(o.n), int64(o.cfg.HistorySize)
	k := int64(-1)
	for _, t := range h.Tensors {
		key, ok := strings.CutPrefix(t.Name, "state.0.")
		if !ok || !contains(lbfgsKeys, key) {
			return nil, ckErr(op, nil, "tensor %q is no LBFGS state (state.0.<key>, key one of %s)", t.Name, strings.Join(lbfgsKeys, ", "))
		}
		l.got[key] = true
		want, shape := dt, []int64(nil)
		switch key {
		case "func_evals", "n_iter":
			want, shape = safetensors.I64, []int64{}
		case "t", "prev_loss":
			want, shape = safetensors.F64, []int64{}
		case "H_diag":
			shape = []int64{}
		case "d", "prev_flat_grad":
			shape = []int64{n}
		case "old_dirs", "old_stps", "ro":
			if len(t.Shape) >= 1 && t.Shape[0] >= 0 && t.Shape[0] <= hist {
				if k < 0 {
					k = t.Shape[0]
				}
			}
			shape = []int64{max(k, 0), n}
			if key == "ro" {
				shape = shape[:1]
			}
		case "al":
			shape = []int64{min(max(firstDim(t.Shape), 0), hist)}
		}
		if t.DType != want || !equalShape(t.Shape, shape) {
			return nil, ckErr(op, nil, "%s is %s %v, want %s %v", t.Name, t.DType, t.Shape, want, shape)
		}
	}
	has := func(keys ...string) bool {
		for _, key := range keys {
			if !l.got[key] {
				return false
			}
		}
		return true
	}
	some := func(keys ...string) bool {
		for _, key := range keys {
			if l.got[key] {
				return true
			}
		}
		return false
	}
	vectors := []string{"d", "t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad", "prev_loss"}
	switch {
	case l.got["func_evals"] != l.got["n_iter"]:
		return nil, ckErr(op, nil, "func_evals and n_iter come together; the file has one")
	case some(vectors...) && !has(vectors...):
		return nil, ckErr(op, nil, "the state of an iteration (%s) is given in part", strings.Join(vectors, ", "))
	case some(vectors...) && !l.got["n_iter"]:
		return nil, ckErr(op, nil, "the state of an iteration without n_iter")
	case l.got["al"] && !l.got["d"]:
		return nil, ckErr(op, nil, "al without the state of an iteration")
	}
	if k > 0 {
		l.dirs, l.stps = make([]T, k*n), make([]T, k*n)
	}
	l.k = int(max(k, 0))
	crc := sum.crc
	var eight [8]byte
	scalar := func() (uint64, error) {
		if _, err := io.ReadFull(br, eight[:]); err != nil {
			return 0, err
		}
		crc.Write(eight[:])
		return binary.LittleEndian.Uint64(eight[:]), nil
	}
	for _, t := range h.Tensors {
		key := strings.TrimPrefix(t.Name, "state.0.")
		var err error
		var u uint64
		switch key {
		case "func_evals", "n_iter", "t", "prev_loss":
			u, err = scalar()
			switch key {
			case "func_evals":
				l.funcEvals = int64(u)
			case "n_iter":
				l.nIter = int64(u)
			case "t":
				l.t = math.Float64frombits(u)
			case "prev_loss":
				l.prevLoss = math.Float64frombits(u)
			}
		case "H_diag":
			v := []T{0}
			err = readInto(br, crc, v)
			l.hDiag = v[0]
		case "d", "prev_flat_grad":
			v := make([]T, n)
			err = readInto(br, crc, v)
			if key == "d" {
				l.d = v
			} else {
				l.prevFlatGrad = v
			}
		case "old_dirs":
			err = readInto(br, crc, l.dirs)
		case "old_stps":
			err = readInto(br, crc, l.stps)
		case "ro":
			l.ro = make([]T, k)
			err = readInto(br, crc, l.ro)
		case "al":
			l.al = make([]T, t.Shape[0])
			err = readInto(br, crc, l.al)
		}
		if err != nil {
			return nil, ckErr(op, err, "reading %s", t.Name)
		}
	}
	if err := checkTail(op, br, crc, meta, mine); err != nil {
		return nil, err
	}
	switch {
	case l.funcEvals < 0 || l.nIter < 0 || l.nIter == math.MaxInt64:
		return nil, &StateError{Op: op, Param: 0, Key: "n_iter", Reason: fmt.Sprintf("func_evals %d and n_iter %d, want counts >= 0 that can grow", l.funcEvals, l.nIter)}
	case l.got["d"] && l.nIter == 0:
		return nil, &StateError{Op: op, Param: 0, Key: "n_iter", Reason: "n_iter 0 with the state of an iteration"}
	case len(l.al) > l.k && l.got["al"]:
		return nil, &StateError{Op: op, Param: 0, Key: "al", Reason: fmt.Sprintf("%d entries of al for %d correction pairs", len(l.al), l.k)}
	}
	return l, nil
}

func firstDim(s []int64) int64 {
	if len(s) == 0 {
		return -1
	}
	return s[0]
}

func equalShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// decodeGroup reads param_groups: one LBFGS group over every parameter,
// in order, with valid hyperparameters and this optimizer's history_size.
func (o *LBFGSOptimizer[T]) decodeGroup(op, js string) (LBFGS, error) {
	if js == "" {
		return LBFGS{}, ckErr(op, nil, "no %s in the metadata", groupsKey)
	}
	var groups []map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(js))
	if err := dec.Decode(&groups); err != nil {
		return LBFGS{}, ckErr(op, err, "%s is not a list of objects", groupsKey)
	}
	if len(groups) != 1 {
		return LBFGS{}, ckErr(op, nil, "%s has %d groups; LBFGS has one", groupsKey, len(groups))
	}
	var g lbfgsGroup
	raw := groups[0]
	for key := range raw {
		if !contains([]string{"lr", "max_iter", "max_eval", "tolerance_grad", "tolerance_change", "history_size", "line_search_fn", "params"}, key) {
			return LBFGS{}, ckErr(op, nil, "%s has key %q, not one of torch's LBFGS", groupsKey, key)
		}
	}
	b, _ := json.Marshal(raw)
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&g); err != nil {
		return LBFGS{}, ckErr(op, err, "%s", groupsKey)
	}
	for _, key := range []string{"lr", "max_iter", "max_eval", "tolerance_grad", "tolerance_change", "history_size", "line_search_fn", "params"} {
		if _, ok := raw[key]; !ok {
			return LBFGS{}, ckErr(op, nil, "%s lacks %q", groupsKey, key)
		}
	}
	if len(g.Params) != len(o.params) {
		return LBFGS{}, ckErr(op, nil, "the file has %d params, the optimizer %d", len(g.Params), len(o.params))
	}
	for i, p := range g.Params {
		if p != i {
			return LBFGS{}, ckErr(op, nil, "params are %v, want 0 to %d in order", g.Params, len(o.params)-1)
		}
	}
	c := LBFGS{LR: g.LR, MaxIter: g.MaxIter, MaxEval: g.MaxEval, ToleranceGrad: g.ToleranceGrad,
		ToleranceChange: g.ToleranceChange, HistorySize: g.HistorySize}
	if g.LineSearchFn != nil {
		c.LineSearch = LineSearch(*g.LineSearchFn)
	}
	if c.MaxEval == 0 {
		c.MaxEval = 1 // torch's max_eval 0 stops as 1 does, and 0 here is None
	}
	if c.MaxEval == c.MaxIter/4*5+c.MaxIter%4*5/4 {
		c.MaxEval = 0 // the default: kept as None, so that a new MaxIter moves it
	}
	if err := c.validate(); err != nil {
		return LBFGS{}, ckErr(op, err, "%s", groupsKey)
	}
	if c.HistorySize != o.cfg.HistorySize {
		return LBFGS{}, ckErr(op, nil, "history_size is %d, the optimizer's %d: make the optimizer with the file's", c.HistorySize, o.cfg.HistorySize)
	}
	return c, nil
}

// commit installs a verified checkpoint. Nothing in it can fail.
func (o *LBFGSOptimizer[T]) commit(l *lbfgsLoaded[T]) {
	o.cfg = l.cfg
	o.funcEvals, o.nIter = l.funcEvals, l.nIter
	o.hasPrevLoss = l.got["d"]
	o.head, o.count = 0, 0
	if o.hasPrevLoss {
		copy(o.d, l.d)
		copy(o.prevFlatGrad, l.prevFlatGrad)
		o.t, o.prevLoss = lbPy(l.t), l.prevLoss
		o.hDiag = lbTensor(float64(l.hDiag))
		o.count = l.k
		n := o.n
		for i := range l.k {
			copy(o.dirs[i], l.dirs[i*n:(i+1)*n])
			copy(o.stps[i], l.stps[i*n:(i+1)*n])
			o.ro[i] = float64(l.ro[i])
		}
	}
	o.hasAl, o.alSet = l.got["al"], len(l.al)
	clear(o.al)
	for i, v := range l.al {
		o.al[i] = float64(v)
	}
}

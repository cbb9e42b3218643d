package optim

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/safetensors"
	"github.com/simdoptim/optim/kernels"
)

// Load replaces the optimizer's state with a saved one. The saved groups
// must match this optimizer's groups in count, parameter lengths and rule
// type (Adam and AdamW are different types, as in torch); their
// hyperparameters replace the groups' rules, validated as New validates
// them, but for a learning rate or momentum the rule refuses that a
// scheduler wrote (see HoldGroupLR): held in the file (its optim.held lists
// the group), or in torch's param_groups, which keep whatever torch's
// schedulers wrote (a negative rate after OneCycleLR's last step), it is
// held again, and Step refuses it. Everything is read and verified before
// anything changes: on error, nothing did. Load reads r to its end.
//
// What Load builds is bounded by the optimizer, not by the file: the
// header streams through a small buffer, and the tensors, names, shapes,
// metadata keys and values, groups and step counts it may hold are
// bounded by what this optimizer can have, each checked as it is read and
// refused at the first excess, before anything is built for it. Whatever
// the input, Load adds at most the header's length, twice the state its
// rules can keep (every slot of their kinds, and the optimizer's record
// of each parameter's state), and 8 MiB. It parses the header at hundreds
// of MB/s; what follows takes about 0.2 µs per parameter (creating the
// state the file's groups call for, say) besides reading the data. Its
// scratch memory is the size of the state (not of anything the file
// claims).
//
// A file of this package is verified against its checksum. A file without
// its marker, such as torch's state_dict converted to safetensors, has no
// checksum, so it is accepted only in exactly torch's layout: metadata
// param_groups and optionally torch and optimizer (the class, which must
// then match each group's; without it, an Adam group takes AdamW's
// decoupled weight decay only from torch 2's decoupled_weight_decay key or
// from the optimizer's own rule), each parameter's tensors all present
// (or all absent: torch creates a parameter's state at its first step),
// step a 0-d F32, F64 or I64 tensor, scalar states (mu_product, eta, mu)
// 0-d F32 tensors, nothing else. In both kinds of file, the state that
// the first step creates (see State) is absent as a whole before it: the
// next step is then a first step, as in torch; present, it is continued.
// SGD's step count, which torch does not keep, is then 0. Any optim.*
// metadata key makes the file one of ours, so a damaged marker is an
// error, never an unchecked load.
//
// In both kinds of file, state that no step produces from finite values
// and after which the next step breaks is refused, naming the tensor and
// the parameter: NaN in any state, a negative number in the squares,
// their maxima and the step sizes (exp_avg_sq, max_exp_avg_sq, sum,
// square_avg, acc_delta, exp_inf, step_size), scalar states that are not
// finite, and a step count of math.MaxInt64, at which Step fails.
// Infinities in the slices load: a finite float32 gradient of 1e30 makes
// Adam's exp_avg_sq +Inf, here as in torch, and what the optimizer
// reaches must load back.
func (o *Optimizer[T]) Load(r io.Reader) error { return o.load("Load", r, -1, nil) }

// LoadWith is Load for a file written by SaveWith. accept, if not nil, is
// called with the caller's entries (nil if there are none) once the whole
// file has been verified and before anything changes; if it returns an
// error, LoadWith returns that error and the optimizer is unchanged. The
// caller decodes its own state there and keeps it until LoadWith returns
// nil, so that the optimizer and the caller's state change together.
// Decoding the entries for accept adds to Load's memory up to about 9
// times their size, which SaveWith bounds at 1 MiB (a map of tiny
// entries costs that much more than their JSON).
func (o *Optimizer[T]) LoadWith(r io.Reader, accept func(extra map[string]json.RawMessage) error) error {
	return o.load("LoadWith", r, -1, accept)
}

// loaded is a checkpoint read and verified, ready to commit: its state
// slices of element type T (values, or a 16-bit format's bits).
type loaded[T element] struct {
	rules []Rule
	// has[i][k] reports that the file holds slot k of parameter i: every
	// slot its rule uses once the state is created, and any other slot of
	// the rule's kind that exists (kept from an earlier configuration:
	// SGD's buffer after Momentum went to 0, AMSGrad's maximum after
	// AMSGrad was turned off), as torch keeps and saves it.
	has [][3]bool
	// backing is scratch for the state: from offset[i], each slot
	// parameter i has, in order; offset[i] is -1 where it has none.
	backing []T
	offset  []int
	steps   []int64
	created []bool
	scalars []generic.Scalars
	extra   map[string]json.RawMessage
	held    []heldValues // what each group holds (see HoldGroupLR)
	// What finish needs: how many of each parameter's state tensors the
	// file holds, and whether it holds a slot the rule does not use.
	presence []int32
	kept     []bool
	small    [8]byte // scratch for a step or scalar tensor
	// slotLen is the length of slot k of parameter i: the parameter's,
	// or what a matrix rule's slot holds (Adafactor's row_var).
	slotLen func(i, k int) int
	// format is the 16-bit format of state slices of bits (T uint16).
	format kernels.Format
}

// checkpointed is what Load checks a checkpoint against, and bounds what
// it reads by: an optimizer's groups and parameters (Optimizer,
// LowOptimizer).
type checkpointed interface {
	groupSetOf() *groupSet
	Len() int
	Groups() int
	// slotLen is the length of state slot k of parameter i, slotShape
	// its shape in torch (nil when the parameter has none), paramShape the
	// parameter's (nil for none).
	slotLen(i, k int) int
	slotShape(i, k int) Shape
	paramShape(i int) Shape
	// namesBytes bounds the JSON of the parameters' names, and
	// checkGroupNames checks those of entry gi of param_groups.
	namesBytes() int
	checkGroupNames(op string, gi int, raw json.RawMessage) error
	// checkpointTypes are the element types of its checkpoints.
	checkpointTypes() fileTypes
}

func (o *groupSet) groupSetOf() *groupSet { return o }

// slot returns the scratch of slot k of parameter i, of group gi: nil
// where the file holds no such slot.
func (l *loaded[T]) slot(i, k int) []T {
	if !l.has[i][k] {
		return nil
	}
	at := l.offset[i]
	for s := range k {
		if l.has[i][s] {
			at += l.slotLen(i, s)
		}
	}
	n := l.slotLen(i, k)
	return l.backing[at : at+n : at+n]
}

// load reads a checkpoint of size bytes (-1: unknown) from r.
func (o *Optimizer[T]) load(op string, r io.Reader, size int64, accept func(map[string]json.RawMessage) error) error {
	l, err := readCheckpoint[T, T](o, op, r, size, accept != nil)
	if err != nil {
		return named(err, o.Name)
	}
	if accept != nil {
		if err := accept(l.extra); err != nil {
			return err
		}
	}
	o.commit(l)
	return nil
}

// What Load reads is bounded by the optimizer, not by the file, so that a
// hostile header costs no more than the optimizer's state and the header's
// own bytes: the tensors it may hold (stateTensors), the length of their
// names, their dimensions (maxDims), the metadata keys it reads and the
// length of each value (metaLimit), the entries of param_groups
// (boundGroups), of optim.steps and of optim.rules. Each is checked as it
// is read, before anything is built for it.

// maxDims bounds a state tensor's dimensions: torch's state tensors have
// their parameter's shape, and no parameter has nearly as many.
const maxDims = 64

// metaLimit is the most bytes the value of metadata key may take in a
// checkpoint for o, decoded, or 0 for a key Load does not read. Each is
// generous for what Save and torch write (whitespace included).
func metaLimit(o checkpointed, key string) int {
	params, groups := o.Len(), o.Groups()
	switch key {
	case checksumKey, formatKey, versionKey, dtypeKey:
		return 256
	case storageKey:
		if o.checkpointTypes().storage == "" {
			return 0 // not a key of this optimizer's files
		}
		return 256
	case rulesKey:
		return 256 + 64*groups // a class name, quoted, and a comma each
	case stepsKey:
		return 256 + 32*params // 19 digits and a comma each
	case extraKey:
		return maxExtra // what SaveWith writes at most
	case heldKey:
		return 256 + 256*groups // an index and a class name each
	case groupsKey:
		return 4096 + 4096*groups + 32*params + o.namesBytes() // hyperparameters, an index and a name each
	}
	if torchMeta[key] {
		return 256 // torch's version, the optimizer's class
	}
	return 0
}

// ourKeys are the metadata keys of our files.
var ourKeys = []string{checksumKey, formatKey, versionKey, dtypeKey, storageKey, rulesKey, stepsKey, extraKey, heldKey, groupsKey}

// maxGroupMembers bounds the members of a param_groups entry: torch's
// have a rule's hyperparameters, its implementation flags, initial_lr and
// params, fewer than 20.
const maxGroupMembers = 32

// tensorLayout is what a checkpoint holds of a parameter under a rule of
// one kind.
type tensorLayout struct {
	// keys are the tensors' keys, in this order: the state slots (slot k
	// at k), step (every rule but SGD), the scalar states.
	keys  []string
	slots int
	step  bool
	// nonNegative[k] reports that slot k holds squares, their maxima or
	// step sizes, which no step makes negative (generic.Slot.NonNegative):
	// a negative value makes the next step's square root NaN.
	nonNegative [3]bool
}

// layouts[kind][0] is kind's layout with a step tensor, [1] without one
// (a rule whose torch form says noStep: SGD).
var layouts = func() (out [generic.KindCount][2]tensorLayout) {
	for _, d := range generic.Rules() {
		for noStep := range 2 {
			l := &out[d.Kind][noStep]
			for k, s := range d.Slots {
				l.keys = append(l.keys, s.Key)
				l.nonNegative[k] = s.NonNegative
			}
			l.slots, l.step = len(d.Slots), noStep == 0
			if l.step {
				l.keys = append(l.keys, "step")
			}
			l.keys = append(l.keys, d.ScalarKeys...)
		}
	}
	return out
}()

// layoutOf is what a checkpoint holds of a parameter under rule r.
func layoutOf(r Rule) *tensorLayout {
	if mr, ok := r.(matrixRule); ok {
		return mr.layout()
	}
	noStep := 0
	if r.torch().noStep {
		noStep = 1
	}
	return &layouts[r.kind()][noStep]
}

// role tells what keys[j] is: state slot slot, the step, or scalar state
// scalar (the others -1 and false).
func (l *tensorLayout) role(j int) (slot int, step bool, scalar int) {
	switch {
	case j < l.slots:
		return j, false, -1
	case j == l.slots && l.step:
		return -1, true, -1
	case l.step:
		return -1, false, j - l.slots - 1
	}
	return -1, false, j - l.slots
}

// stateTensors takes the tensors of Load's header (its tensor method is
// the safetensors.Sink): the tensors a checkpoint may hold for o, whatever
// hyperparameters it gives the groups (every key of its layout, for each
// parameter), and what the header says of each; a tensor's ID is base[i]
// plus the index of its key in the layout. Names that are none of these
// are kept, up to maxForeign more than there are of these, to be reported
// once the header's other errors have been: a file of another optimizer
// is reported by what differs first (the group count, the element type).
type stateTensors struct {
	o       checkpointed
	op      string
	prefix  string // of the names: "" in an optimizer checkpoint
	base    []int  // the first ID of each parameter; base[len(o.params)] is the count
	got     []tensorEntry
	found   int // the entries of got found
	foreign []string
}

// maxForeign is how many more tensors than it may read Load takes from a
// header before it refuses the first that is not a state of the
// optimizer's.
const maxForeign = 1024

// tensorEntry is what a header says of a tensor Load may read, in 24
// bytes: there is one for every tensor the optimizer may have.
type tensorEntry struct {
	elems, begin int64
	dims         int32
	dtype        uint8 // an index in dtypes; 0 for a tensor not found
}

// dtypes are the dtypes of tensorEntry.
var dtypes = [...]safetensors.DType{"", safetensors.F32, safetensors.F64, safetensors.I64, safetensors.BF16, safetensors.F16}

func (e tensorEntry) found() bool              { return e.dtype != 0 }
func (e tensorEntry) dType() safetensors.DType { return dtypes[e.dtype] }

func newStateTensors(o checkpointed, op string) *stateTensors {
	x := &stateTensors{o: o, op: op, base: make([]int, o.Len()+1)}
	for _, g := range o.groupSetOf().groups {
		keys := layoutOf(g.rule).keys
		for i := g.first; i < g.end; i++ {
			x.base[i+1] = x.base[i] + len(keys)
		}
	}
	x.got = make([]tensorEntry, x.base[o.Len()])
	return x
}

// groupOf returns the group of parameter i.
func (x *stateTensors) groupOf(i int) int {
	gi, _ := slices.BinarySearchFunc(x.o.groupSetOf().groups, i, func(g group, i int) int { return cmp.Compare(g.end-1, i) })
	return gi
}

// layoutOf returns the layout of parameter i's rule.
func (x *stateTensors) layoutOf(i int) *tensorLayout {
	return layoutOf(x.o.groupSetOf().groups[x.groupOf(i)].rule)
}

// at returns the parameter and the key index of ID id.
func (x *stateTensors) at(id int) (param, key int) {
	i, found := slices.BinarySearch(x.base, id)
	if !found {
		i--
	}
	return i, id - x.base[i]
}

// name returns the name of the tensor of ID id.
func (x *stateTensors) name(id int) string {
	i, j := x.at(id)
	return x.prefix + tensorName(i, x.layoutOf(i).keys[j])
}

// parseName returns the ID of the tensor name, "state.<param>.<key>".
func (x *stateTensors) parseName(name []byte) (int, bool) {
	rest, ok := bytes.CutPrefix(name, []byte(x.prefix+"state."))
	digits, key, ok2 := bytes.Cut(rest, []byte("."))
	if !ok || !ok2 || len(digits) == 0 || len(digits) > 1 && digits[0] == '0' {
		return 0, false
	}
	i := 0
	for _, c := range digits {
		if c < '0' || c > '9' || i > (x.o.Len()-int(c-'0'))/10 {
			return 0, false
		}
		i = 10*i + int(c-'0')
	}
	if i >= x.o.Len() {
		return 0, false
	}
	j := slices.Index(x.layoutOf(i).keys, string(key))
	if j < 0 {
		return 0, false
	}
	return x.base[i] + j, true
}

// tensor records what the header says of a tensor, to be checked once
// the rest of the header has been; only what makes its entry malformed
// for its name is an error here: a step or scalar state that is not 0-d.
func (x *stateTensors) tensor(name []byte, t safetensors.Tensor) error {
	id, ok := x.parseName(name)
	if !ok {
		if len(x.foreign) == len(x.got)+maxForeign {
			return x.foreignErr()
		}
		x.foreign = append(x.foreign, string(name))
		return nil
	}
	if x.got[id].found() {
		return ckErr(x.op, nil, "tensor %q: duplicate key in the header", name)
	}
	i, j := x.at(id)
	slot, _, _ := x.layoutOf(i).role(j)
	if slot < 0 && len(t.Shape) != 0 {
		return ckErr(x.op, nil, "tensor %q: dtype %s, shape %v, want a 0-d F32 tensor", name, t.DType, t.Shape)
	}
	if want := x.o.slotShape(i, slot); slot >= 0 && want != nil && !shapeFits(t.Shape, want) {
		return ckErr(x.op, nil, "tensor %q: shape %v, want %v (the state of a param of shape %v), or flat", name, t.Shape, want, x.o.paramShape(i))
	}
	elems, _ := safetensors.Elems(t.Shape)
	x.got[id] = tensorEntry{elems: elems, begin: t.Begin, dims: int32(min(len(t.Shape), maxDims)), dtype: uint8(slices.Index(dtypes[:], t.DType))}
	x.found++
	return nil
}

// foreignErr reports the first tensor that is not a state of the
// optimizer's.
func (x *stateTensors) foreignErr() error {
	return ckErr(x.op, nil, "tensor %q: not a state of this optimizer's groups and rules", x.foreign[0])
}

// order returns the IDs of the tensors found, in the order of their data,
// which must tile the data section: each tensor's data takes its size by
// its dtype and elements (the decoder checked data_offsets against them).
// With tensors that are not the optimizer's, it returns nil: foreignErr
// reports them.
func (x *stateTensors) order() ([]safetensors.Span, error) {
	if len(x.foreign) > 0 {
		return nil, nil
	}
	spans := make([]safetensors.Span, 0, x.found)
	for id, e := range x.got {
		if e.found() {
			spans = append(spans, safetensors.Span{Begin: e.begin, End: e.begin + e.elems*e.dType().Size(), ID: id})
		}
	}
	if _, err := safetensors.Tile(spans, x.name); err != nil {
		return nil, ckErr(x.op, err, "reading the header")
	}
	return spans, nil
}

// limits bounds the header by the optimizer.
func (x *stateTensors) limits(headerBytes int64, meta func(string) (int, error)) safetensors.Limits {
	name := 0
	for _, l := range layouts {
		for _, k := range l[0].keys { // the layout with a step has every key
			name = max(name, len(k))
		}
	}
	name += len(tensorName(max(x.o.Len()-1, 0), ""))
	for _, k := range ourKeys {
		name = max(name, len(k))
	}
	for k := range torchMeta {
		name = max(name, len(k))
	}
	// tensor refuses the foreign tensors beyond len(x.got)+maxForeign.
	return safetensors.Limits{Bytes: headerBytes, Tensors: 2*len(x.got) + maxForeign, Name: name, Dims: maxDims, Meta: meta}
}

// headerSum is the checksum of a header as it streams past, with the
// checksum's digits replaced by the placeholder, and keeps the header's
// first bytes, where the checksum of one of our files is.
type headerSum struct {
	crc  hash.Hash32
	n    int // bytes seen
	head [safetensors.PrefixLen + len(checksumAt) + len(checksumPlaceholder)]byte
}

func (h *headerSum) Write(b []byte) (int, error) {
	if h.n < len(h.head) {
		copy(h.head[h.n:], b)
	}
	// The part of b where the digits are is replaced.
	from := safetensors.PrefixLen + len(checksumAt)
	lo := min(max(from-h.n, 0), len(b))
	hi := min(max(from+len(checksumPlaceholder)-h.n, 0), len(b))
	h.crc.Write(b[:lo])
	if lo < hi {
		var placeholder [len(checksumPlaceholder)]byte
		copy(placeholder[:], checksumPlaceholder)
		h.crc.Write(placeholder[h.n+lo-from : h.n+hi-from])
	}
	h.crc.Write(b[hi:])
	h.n += len(b)
	return len(b), nil
}

// firstInvalid returns the index of the first value of s that no step
// produces from finite values and after which the next step breaks: NaN,
// or, in a slot of squares or step sizes, a negative number; -1 if none.
// Infinities are valid: a finite float32 gradient of 1e30 makes Adam's
// exp_avg_sq +Inf, in torch as here, and such a state must load back.
func firstInvalid[T float32 | float64](s []T, nonNeg bool) int {
	for i, x := range s {
		if x != x || nonNeg && x < 0 {
			return i
		}
	}
	return -1
}

// invalidAt is firstInvalid for a state slice of values or, of format f,
// of bits; it returns the index and the value (-1 and nil if none).
func invalidAt[T element](s []T, nonNeg bool, f kernels.Format) (int, any) {
	switch s := any(s).(type) {
	case []float32:
		if k := firstInvalid(s, nonNeg); k >= 0 {
			return k, s[k]
		}
	case []float64:
		if k := firstInvalid(s, nonNeg); k >= 0 {
			return k, s[k]
		}
	case []uint16:
		for k, h := range s {
			if x := f.Widen(h); x != x || nonNeg && x < 0 {
				return k, x
			}
		}
	}
	return -1, nil
}

// readCheckpoint reads and verifies a checkpoint of o of size bytes (-1:
// unknown) from r: its rules' arithmetic is T's, its state slices' element
// type E (o's checkpointTypes say their dtype, and so the 16-bit format of
// bits, E uint16).
func readCheckpoint[T float32 | float64, E element](o checkpointed, op string, r io.Reader, size int64, wantExtra bool) (*loaded[E], error) {
	// Step tensors are 4 bytes each: buffer them; large reads bypass the
	// buffer.
	br := bufio.NewReaderSize(r, 4096)
	limit := headerLimit(o)
	if size >= 0 {
		limit = min(limit, max(0, size-safetensors.PrefixLen))
	}
	x := newStateTensors(o, op)
	sawOurs := false
	admit := func(key string) (int, error) {
		sawOurs = sawOurs || strings.HasPrefix(key, ours)
		if n := metaLimit(o, key); n > 0 {
			return n, nil
		}
		if sawOurs && strings.HasPrefix(key, optimizerPrefix) {
			return 0, ckErr(op, nil, "unknown metadata key %q: a training file's (Training.Load reads it)", key)
		}
		if sawOurs {
			return 0, ckErr(op, nil, "unknown metadata key %q", key)
		}
		return 0, ckErr(op, nil, "metadata key %q: a file without the %s marker may only have torch's keys (param_groups, torch, optimizer)", key, formatKey)
	}
	sum := &headerSum{crc: crc32.New(castagnoli)}
	h, err := safetensors.ReadHeader(io.TeeReader(br, sum), x.limits(limit, admit), x.tensor)
	if err != nil {
		if !errors.Is(err, safetensors.ErrFormat) {
			return nil, err // the sink's and admit's, reported as they are
		}
		return nil, ckErr(op, err, "reading the header")
	}
	order, err := x.order()
	if err != nil {
		return nil, err
	}
	meta := h.Metadata
	mine := false
	for k := range meta {
		if strings.HasPrefix(k, ours) {
			mine = true
		}
	}
	if mine {
		if err := checkOurMeta(op, meta, sum.head[:min(sum.n, len(sum.head))], o.checkpointTypes()); err != nil {
			return nil, err
		}
	}
	l, err := prepareLoad[T, E](o, op, x, meta, mine, wantExtra)
	if err != nil {
		return nil, err
	}
	crc := sum.crc
	for _, t := range order {
		if err := readTensor(op, x, l, t.ID, br, crc, mine); err != nil {
			return nil, err
		}
	}
	if err := checkTail(op, br, crc, meta, mine); err != nil {
		return nil, err
	}
	l.finish()
	return l, nil
}

// prepareLoad checks the metadata and the tensors of the header, which x
// took, against the optimizer, and allocates the scratch that the tensors'
// data is read into: everything but the data. meta holds the optimizer's keys
// as an optimizer checkpoint names them; mine reports a file of ours,
// whose marker the caller has checked.
func prepareLoad[T float32 | float64, E element](o checkpointed, op string, x *stateTensors, meta map[string]string, mine, wantExtra bool) (*loaded[E], error) {
	gs, params := o.groupSetOf(), o.Len()
	l := &loaded[E]{}
	var classes []string
	stepCounts := -1 // of optim.steps, when not decoded
	if mine {
		if err := json.Unmarshal([]byte(meta[rulesKey]), &classes); err != nil {
			return nil, ckErr(op, nil, "%s is not a list of class names", rulesKey)
		}
		// A list of another length is reported below, without decoding it.
		steps := []byte(meta[stepsKey])
		l.steps = make([]int64, 0, params) // decoded in place
		if n, ok := jsonArrayLen(steps); ok && n != params && json.Valid(steps) {
			stepCounts = n
		} else if err := json.Unmarshal(steps, &l.steps); err != nil {
			return nil, ckErr(op, nil, "%s: %v", stepsKey, err)
		}
		if js, ok := meta[extraKey]; ok {
			if err := decodeExtra(js, wantExtra, &l.extra); err != nil {
				return nil, ckErr(op, nil, "%s is not a JSON object", extraKey)
			}
		}
	} else {
		l.steps = make([]int64, params)
	}

	groups, err := boundGroups(gs, op, []byte(meta[groupsKey]))
	if err != nil {
		return nil, err
	}
	if mine && len(classes) != len(groups) {
		return nil, ckErr(op, nil, "%s has %d entries for %d groups", rulesKey, len(classes), len(groups))
	}
	if stepCounts < 0 {
		stepCounts = len(l.steps)
	}
	if stepCounts != params {
		return nil, &ShapeError{Op: op, What: "step counts", Index: -1, Got: stepCounts, Want: params}
	}
	for i, s := range l.steps {
		if err := checkStepCount(op, i, s, stepsKey); err != nil {
			return nil, err
		}
	}
	l.rules = make([]Rule, len(groups))
	l.held = make([]heldValues, len(groups))
	heldBy := make([]*string, len(groups)) // of heldKey: which groups of our file hold values
	if js, ok := meta[heldKey]; ok {
		if heldBy, err = parseHeld(op, js, len(groups)); err != nil {
			return nil, err
		}
	}
	for gi := range groups {
		g := &gs.groups[gi]
		have := className(g.rule)
		class := have
		if mine {
			class = classes[gi]
		} else if c, ok := meta["optimizer"]; ok {
			class = c
		}
		if class != have {
			return nil, &RuleError{Group: gi, Rule: class, Reason: "Load: the checkpoint's group is " + class + ", the optimizer's is " + have + ": the rule type of a group cannot change"}
		}
		raw, err := decodeGroup(op, groups[gi], gi, class, g.rule.torch(), g.first, g.end)
		if err != nil {
			return nil, err
		}
		// torch's files keep what torch's schedulers wrote, and ours say
		// which groups hold values; see HoldGroupLR.
		by := ""
		if heldBy[gi] != nil {
			by = *heldBy[gi]
		}
		rule, held, err := loadHeld[T](raw, g.rule, gi, !mine || heldBy[gi] != nil, by)
		if err != nil {
			return nil, err
		}
		if heldBy[gi] != nil && !held.any() {
			return nil, ckErr(op, nil, "%s lists group %d, whose param_groups entry holds no value its rule refuses", heldKey, gi)
		}
		if err := o.checkGroupNames(op, gi, groups[gi]); err != nil {
			return nil, err
		}
		l.rules[gi], l.held[gi] = rule, held
	}

	// Which of the tensors the header may hold these rules call for, and
	// what they must be. Every tensor of a parameter must be there, except
	// that the state torch creates at a parameter's first step is absent
	// before it, as a whole (see lazyState): SGD's momentum buffer, every
	// tensor of the rules whose first step differs, and in torch's files
	// every tensor of any rule.
	if len(x.foreign) > 0 {
		return nil, x.foreignErr()
	}
	dt := o.checkpointTypes().state
	l.format = formatOfDType(dt)
	l.has = make([][3]bool, params)
	presence := make([]int32, params)
	kept := make([]bool, params) // a slot the rule does not use is there
	lazyParam := make([]bool, params)
	l.slotLen = o.slotLen
	for gi := range gs.groups {
		g := &gs.groups[gi]
		used := usedSlots[T](l.rules[gi])
		layout := layoutOf(l.rules[gi])
		for i := g.first; i < g.end; i++ {
			lazyParam[i] = lazyState(l.rules[gi].kind()) && !g.matrix
			if g.matrix {
				used = [3]bool{o.slotLen(i, 0) > 0, o.slotLen(i, 1) > 0, o.slotLen(i, 2) > 0}
			}
			count := int32(0)
			for j, key := range layout.keys {
				name := func() string { return x.prefix + tensorName(i, key) }
				e := x.got[x.base[i]+j]
				slot, step, _ := layout.role(j)
				want := slot < 0 || used[slot]
				switch {
				case !want && !e.found():
					continue
				case !e.found():
					// A parameter that has not had a gradient has no
					// state at all; one that has stepped has all of it,
					// which for these rules Save always writes.
					if mine && !lazyParam[i] && l.steps[i] > 0 {
						return nil, ckErr(op, nil, "tensor %q is missing", name())
					}
				case slot < 0 && e.dType() != safetensors.F32 && !(step && !mine):
					// torch's scalar states are float32 whatever the
					// parameters' dtype, and their float32 rounding is part
					// of the result; its step may be F32, F64 or I64.
					return nil, ckErr(op, nil, "tensor %q: dtype %s, shape [], want a 0-d F32 tensor", name(), e.dType())
				case slot >= 0 && e.dType() != dt:
					return nil, ckErr(op, nil, "tensor %q: dtype %s, want %s", name(), e.dType(), dt)
				case slot >= 0 && e.elems != int64(o.slotLen(i, slot)):
					return nil, &ShapeError{Op: op, What: name(), Index: i, Got: int(min(e.elems, math.MaxInt32)), Want: o.slotLen(i, slot)}
				case slot >= 0 && mine && e.dims != 1 && o.slotShape(i, slot) == nil:
					// Torch's files keep the parameter's shape; ours are flat unless the param has a shape.
					return nil, ckErr(op, nil, "tensor %q: %d dimensions, want the shape [%d]: this package saves state flat", name(), e.dims, o.slotLen(i, slot))
				}
				if !want {
					// Kept from a configuration that used it: loaded,
					// but not required.
					l.has[i][slot], kept[i] = true, true
					continue
				}
				count++
				if e.found() {
					presence[i]++
					if slot >= 0 {
						l.has[i][slot] = true
					}
				}
			}
			if presence[i] != 0 && presence[i] != count {
				return nil, ckErr(op, nil, "param %d: %d of its %d state tensors are missing", i, count-presence[i], count)
			}
		}
	}

	// Read the data, in file order, into scratch.
	l.offset = make([]int, params)
	total := 0
	for gi := range gs.groups {
		for i := gs.groups[gi].first; i < gs.groups[gi].end; i++ {
			l.offset[i] = total
			for k, h := range l.has[i] {
				if h {
					total += o.slotLen(i, k)
				}
			}
		}
	}
	l.backing = make([]E, total)
	l.scalars = make([]generic.Scalars, params)
	l.presence, l.kept = presence, kept
	return l, nil
}

// readTensor reads the data of the tensor of ID id from r into l's
// scratch, feeding crc, and checks it.
func readTensor[E element](op string, x *stateTensors, l *loaded[E], id int, r io.Reader, crc hash.Hash32, mine bool) error {
	i, j := x.at(id)
	layout := x.layoutOf(i)
	name := func() string { return x.prefix + tensorName(i, layout.keys[j]) }
	var err error
	switch slot, step, scalar := layout.role(j); {
	case slot >= 0:
		s := l.slot(i, slot)
		if err = readInto(r, crc, s); err == nil {
			if k, v := invalidAt(s, layout.nonNegative[slot], l.format); k >= 0 {
				want := "a number"
				if layout.nonNegative[slot] {
					want = "a number >= 0"
				}
				return ckErr(op, nil, "tensor %q: param %d: element %d is %v, want %s", name(), i, k, v, want)
			}
		}
	case step:
		b := l.small[:x.got[id].dType().Size()]
		if _, err = io.ReadFull(r, b); err == nil {
			crc.Write(b)
			err = l.setStep(op, i, name(), x.got[id].dType(), b, mine)
		}
	default:
		b := l.small[:4]
		if _, err = io.ReadFull(r, b); err == nil {
			crc.Write(b)
			v := math.Float32frombits(binary.LittleEndian.Uint32(b))
			if math.IsInf(float64(v), 0) || math.IsNaN(float64(v)) {
				return ckErr(op, nil, "tensor %q: %v, want a finite scalar state", name(), v)
			}
			l.scalars[i][scalar] = v
		}
	}
	if err != nil {
		var ce *CheckpointError
		var se *StateError
		if errors.As(err, &ce) || errors.As(err, &se) {
			return err
		}
		return ckErr(op, unexpectedEOF(err), "reading tensor %q", name())
	}
	return nil
}

// finish records which parameters' state exists, once the data has been
// read.
func (l *loaded[E]) finish() {
	l.created = make([]bool, len(l.presence))
	for i := range l.created {
		l.created[i] = l.presence[i] > 0 || l.kept[i]
	}
}

// boundGroups splits param_groups into its entries, refusing, before
// anything is built for it, a list of more entries than the optimizer has
// groups, an entry of more than maxGroupMembers members, and a member
// array longer than its group's parameters (or the 2 of betas): within
// these, decodeGroup's decoding of each entry costs about its bytes.
func boundGroups(o *groupSet, op string, js []byte) ([]json.RawMessage, error) {
	n, ok := jsonArrayLen(js)
	if !ok || !json.Valid(js) {
		return nil, ckErr(op, nil, "%s is missing or not a JSON list", groupsKey)
	}
	if n != len(o.groups) {
		return nil, ckErr(op, nil, "the checkpoint has %d parameter groups, the optimizer %d", n, len(o.groups))
	}
	groups := make([]json.RawMessage, 0, n)
	eachElement(js, func(elem []byte) bool {
		groups = append(groups, elem)
		return true
	})
	for gi, g := range groups {
		if g[0] != '{' {
			continue // decodeGroup reports it
		}
		members, most := 0, max(3, o.groups[gi].end-o.groups[gi].first) // 3: Muon's ns_coefficients
		var err error
		eachMember(g, func(key, value []byte) bool {
			members++
			if members > maxGroupMembers {
				err = ckErr(op, nil, "param_groups[%d]: more than %d keys", gi, maxGroupMembers)
			} else if k, ok := jsonArrayLen(value); ok && k > most {
				err = ckErr(op, nil, "param_groups[%d]: %s has %d entries, more than the group's %d parameters", gi, key, k, most)
			}
			return err == nil
		})
		if err != nil {
			return nil, err
		}
	}
	return groups, nil
}

// decodeExtra checks that js is a JSON object and, if want, decodes it
// into extra; the caller's entries are decoded only for LoadWith's accept.
func decodeExtra(js string, want bool, extra *map[string]json.RawMessage) error {
	b := []byte(js)
	if !json.Valid(b) || b[skipSpace(b, 0)] != '{' {
		return errors.New("not a JSON object")
	}
	if !want {
		return nil
	}
	// Sized for its entries, the map does not grow while it is decoded.
	n := 0
	eachMember(b[skipSpace(b, 0):], func(_, _ []byte) bool { n++; return true })
	*extra = make(map[string]json.RawMessage, n)
	return json.Unmarshal(b, extra)
}

// The walk over JSON below finds the extent of values without building
// them. It is right for valid JSON (json.Valid), and never reads out of
// bounds of any other input.

func skipSpace(js []byte, i int) int {
	for i < len(js) && (js[i] == ' ' || js[i] == '\t' || js[i] == '\n' || js[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the offset just past the value at js[i] (no space
// before it).
func skipValue(js []byte, i int) int {
	depth := 0
	for ; i < len(js); i++ {
		switch js[i] {
		case '"':
			for i++; i < len(js) && js[i] != '"'; i++ {
				if js[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i
			}
			continue
		default:
			continue
		}
		if depth <= 0 {
			// Past a string or a container; before a bracket that closes
			// an enclosing one.
			return min(i+1+depth, len(js))
		}
	}
	return len(js)
}

// eachElement calls f with each element of the JSON array js, while f
// returns true.
func eachElement(js []byte, f func(elem []byte) bool) {
	i := skipSpace(js, skipSpace(js, 0)+1)
	for i < len(js) && js[i] != ']' {
		end := max(skipValue(js, i), i+1)
		if !f(js[i:min(end, len(js))]) {
			return
		}
		i = skipSpace(js, end)
		if i < len(js) && js[i] == ',' {
			i = skipSpace(js, i+1)
		}
	}
}

// eachMember calls f with the (raw, quoted) key and the value of each
// member of the JSON object js, while f returns true.
func eachMember(js []byte, f func(key, value []byte) bool) {
	i := skipSpace(js, 1)
	for i < len(js) && js[i] != '}' {
		keyEnd := max(skipValue(js, i), i+1)
		v := min(skipSpace(js, skipSpace(js, keyEnd)+1), len(js))
		end := max(skipValue(js, v), v)
		if !f(js[i:min(keyEnd, len(js))], js[v:end]) {
			return
		}
		i = skipSpace(js, max(end, v+1))
		if i < len(js) && js[i] == ',' {
			i = skipSpace(js, i+1)
		}
	}
}

// jsonArrayLen returns the number of elements of js if it is a JSON array
// (valid JSON assumed: the count is only a bound on what decoding it
// would build).
func jsonArrayLen(js []byte) (int, bool) {
	i := skipSpace(js, 0)
	if i == len(js) || js[i] != '[' {
		return 0, false
	}
	n := 0
	eachElement(js[i:], func([]byte) bool { n++; return true })
	return n, true
}

func hex8(x uint32) string {
	const digits = "0123456789abcdef"
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = digits[x&15]
		x >>= 4
	}
	return string(b[:])
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// setStep records parameter i's step count from its step tensor b, named
// name. In our files the exact count is in optim.steps, and the tensor
// must be its float32 rounding.
func (l *loaded[T]) setStep(op string, i int, name string, dt safetensors.DType, b []byte, mine bool) error {
	var v float64
	switch dt {
	case safetensors.F32:
		v = float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
	case safetensors.F64:
		v = math.Float64frombits(binary.LittleEndian.Uint64(b))
	case safetensors.I64:
		n := int64(binary.LittleEndian.Uint64(b))
		if err := checkStepCount(op, i, n, name); err != nil {
			return err
		}
		l.steps[i] = n
		return nil
	}
	if mine {
		if float32(v) != float32(l.steps[i]) {
			return ckErr(op, nil, "param %d: step tensor %v disagrees with the step count %d of %s", i, v, l.steps[i], stepsKey)
		}
		return nil
	}
	// 2^63 is the first float64 beyond int64; the last below it is far
	// from math.MaxInt64, which checkStepCount refuses.
	if !(v >= 0 && v < 1<<63 && v == math.Trunc(v)) {
		if v < 0 {
			return stepCountErr(op, i, int64(math.Max(v, math.MinInt64)))
		}
		return ckErr(op, nil, "param %d: step %v is not a count an int64 holds", i, v)
	}
	l.steps[i] = int64(v)
	return nil
}

// checkStepCount refuses a step count of parameter i, read from what, that
// Step refuses: a negative one, or math.MaxInt64, after which every Step
// fails.
func checkStepCount(op string, i int, steps int64, what string) error {
	if steps < 0 {
		return stepCountErr(op, i, steps)
	}
	if steps == math.MaxInt64 {
		return ckErr(op, stepCountErr(op, i, steps), "%s: param %d: a step count after which every Step fails", what, i)
	}
	return nil
}

// checkOurMeta verifies the entries of our format: marker, version,
// element type, the checksum's place and spelling, and that no key is
// unknown. head is the start of the file, as far as checksumAt and the
// checksum's digits reach.
func checkOurMeta(op string, meta map[string]string, head []byte, ft fileTypes) error {
	if meta[formatKey] != formatName {
		return ckErr(op, nil, "metadata has %s keys but %s is %q, want %q: a damaged or foreign file", ours, formatKey, meta[formatKey], formatName)
	}
	if v := meta[versionKey]; v != formatVersion {
		return ckErr(op, nil, "%s %q: this package reads version %s", versionKey, v, formatVersion)
	}
	if dt := meta[dtypeKey]; dt != string(ft.dtype) {
		return ckErr(op, nil, "%s is %q, the optimizer's element type is %s", dtypeKey, dt, ft.dtype)
	}
	st, ok := meta[storageKey]
	if err := checkStorage(storageKey, st, ok, ft); err != nil {
		return ckErr(op, nil, "%v", err)
	}
	for k := range meta {
		if !slices.Contains(ourKeys, k) {
			return ckErr(op, nil, "unknown metadata key %q", k)
		}
	}
	if err := checkChecksumPlace(meta, head); err != nil {
		return ckErr(op, nil, "%v", err)
	}
	return nil
}

// checkStorage verifies a file's state storage, st (ok: given), under
// key, against the optimizer's file types.
func checkStorage(key, st string, ok bool, ft fileTypes) error {
	switch {
	case st == ft.storage:
		return nil
	case ft.storage == "":
		return fmt.Errorf("%s %q: a LowOptimizer's checkpoint", key, st)
	case !ok:
		return fmt.Errorf("%s is missing: the optimizer keeps its state in %s (%s)", key, ft.state, ft.storage)
	}
	return fmt.Errorf("%s is %q, the optimizer keeps its state in %s (%s): the state's storage is fixed when the optimizer is made (LowOptions.StateFloat32)", key, st, ft.state, ft.storage)
}

// checkChecksumPlace verifies that the checksum of a file of ours is the
// first metadata entry, 8 hex digits at their fixed offset. head is the
// start of the file, as far as checksumAt and the digits reach.
func checkChecksumPlace(meta map[string]string, head []byte) error {
	raw := head[min(len(head), safetensors.PrefixLen):]
	if !bytes.HasPrefix(raw, []byte(checksumAt)) || len(raw) < len(checksumAt)+len(checksumPlaceholder) {
		return errors.New("the checksum is not the header's first entry: a damaged file")
	}
	sum := meta[checksumKey]
	if len(sum) != len(checksumPlaceholder) || string(raw[len(checksumAt):len(checksumAt)+len(sum)]) != sum {
		return fmt.Errorf("the checksum %q is not 8 hex digits at its place: a damaged file", sum)
	}
	return nil
}

// commit installs a verified checkpoint. Nothing in it can fail.
func (o *Optimizer[T]) commit(l *loaded[T]) {
	for gi := range o.groups {
		o.setRule(gi, l.rules[gi])
		g := &o.groups[gi]
		if g.matrix {
			commitMatrix(l, g, o.state, o.steps, o.created)
			continue
		}
		// The slots the rules use, and those the file keeps besides.
		o.allocState(gi, gi+1, func(i, k int) bool { return l.has[i][k] })
		init := initialState[T](g.rule)
		used := usedSlots[T](g.rule)
		for i := g.first; i < g.end; i++ {
			for k := range 3 {
				dst := o.state[i][k]
				switch src := l.slot(i, k); {
				case src != nil:
					copy(dst, src)
				case used[k]:
					// Not created yet: as in a new optimizer.
					for j := range dst {
						dst[j] = init
					}
				case dst != nil:
					// A slot kept from an earlier configuration that the
					// file does not have: dropped, as the file says.
					o.dropState(i, k)
				}
			}
			o.steps[i] = l.steps[i]
			o.created[i] = l.created[i]
			o.scalars[i] = l.scalars[i]
		}
	}
	o.held = l.held
	o.growMatWork() // the file's rules may need more (Muon's NSBFloat16)
}

// commitMatrix installs the state of group g, of a matrix rule, from a
// verified checkpoint: its slots, which have the lengths of the rule and
// shape that the file's rule (of the same class) shares, its step counts
// and whether its state exists.
func commitMatrix[E element](l *loaded[E], g *group, state [][3][]E, steps []int64, created []bool) {
	for i := g.first; i < g.end; i++ {
		for k, dst := range state[i] {
			if src := l.slot(i, k); src != nil {
				copy(dst, src)
			} else {
				clear(dst) // not created yet: as in a new optimizer
			}
		}
		steps[i] = l.steps[i]
		created[i] = l.created[i]
	}
}

// checkTail ends the reading of a checkpoint after its last tensor:
// nothing may follow it, and a file this package wrote must match the
// checksum its metadata stores.
func checkTail(op string, br *bufio.Reader, crc hash.Hash32, meta map[string]string, mine bool) error {
	if _, err := br.ReadByte(); err != io.EOF {
		if err == nil {
			return ckErr(op, nil, "data beyond the last tensor")
		}
		return ckErr(op, err, "reading past the last tensor")
	}
	if mine {
		if got := hex8(crc.Sum32()); meta[checksumKey] != got {
			return ckErr(op, ErrChecksum, "stored %s, content %s", meta[checksumKey], got)
		}
	}
	return nil
}

// formatOfDType is the 16-bit format of dtype dt (BF16 or F16); the
// zero Format for the others, whose slices hold values.
func formatOfDType(dt safetensors.DType) kernels.Format {
	if dt == safetensors.F16 {
		return kernels.Float16
	}
	return kernels.BFloat16
}

package optim

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"
	"math"
	"strings"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/safetensors"
)

// Load replaces the optimizer's state with a saved one. The saved groups
// must match this optimizer's groups in count, parameter lengths and rule
// type (Adam and AdamW are different types, as in torch); their
// hyperparameters replace the groups' rules, validated as New validates
// them. Everything is read and verified before anything changes: on error,
// nothing did. Load allocates scratch memory the size of the state (not of
// anything the file claims) and reads r to its end.
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
// Scalar states must be finite. SGD's step count,
// which torch does not keep, is then 0. Any optim.* metadata key makes
// the file one of ours, so a damaged marker is an error, never an
// unchecked load.
func (o *Optimizer[T]) Load(r io.Reader) error { return o.load("Load", r, -1, nil) }

// LoadWith is Load for a file written by SaveWith. accept, if not nil, is
// called with the caller's entries (nil if there are none) once the whole
// file has been verified and before anything changes; if it returns an
// error, LoadWith returns that error and the optimizer is unchanged. The
// caller decodes its own state there and keeps it until LoadWith returns
// nil, so that the optimizer and the caller's state change together.
func (o *Optimizer[T]) LoadWith(r io.Reader, accept func(extra map[string]json.RawMessage) error) error {
	return o.load("LoadWith", r, -1, accept)
}

// expect is a tensor the file may hold: where its data goes.
type expect struct {
	param  int
	slot   int // 0..2, or -1 for a 0-d tensor: step, or scalar state
	scalar int // the index in Scalars of a scalar state, or -1
	found  bool
}

// loaded is a checkpoint read and verified, ready to commit.
type loaded[T float32 | float64] struct {
	rules   []Rule
	state   [][3][]T // scratch, nil where the rule keeps no slot or the state is not created
	steps   []int64
	created []bool
	scalars []generic.Scalars
	extra   map[string]json.RawMessage
}

// load reads a checkpoint of size bytes (-1: unknown) from r.
func (o *Optimizer[T]) load(op string, r io.Reader, size int64, accept func(map[string]json.RawMessage) error) error {
	l, err := o.read(op, r, size)
	if err != nil {
		return err
	}
	if accept != nil {
		if err := accept(l.extra); err != nil {
			return err
		}
	}
	o.commit(l)
	return nil
}

func (o *Optimizer[T]) read(op string, r io.Reader, size int64) (*loaded[T], error) {
	// Step tensors are 4 bytes each: buffer them; large reads bypass the
	// buffer.
	r = bufio.NewReaderSize(r, 4096)
	limit := o.headerLimit()
	if size >= 0 {
		limit = min(limit, max(0, size-safetensors.PrefixLen))
	}
	h, err := safetensors.ReadHeader(r, limit)
	if err != nil {
		return nil, ckErr(op, err, "reading the header")
	}
	meta := h.Metadata
	mine := false
	for k := range meta {
		if strings.HasPrefix(k, ours) {
			mine = true
		}
	}
	l := &loaded[T]{extra: nil}
	var classes []string
	crc := crc32.New(castagnoli)
	if mine {
		if err := checkOurMeta[T](op, h); err != nil {
			return nil, err
		}
		raw := bytes.Clone(h.Raw)
		at := safetensors.PrefixLen + len(checksumAt)
		copy(raw[at:], checksumPlaceholder)
		crc.Write(raw)
		if err := json.Unmarshal([]byte(meta[rulesKey]), &classes); err != nil {
			return nil, ckErr(op, nil, "%s is not a list of class names", rulesKey)
		}
		if err := json.Unmarshal([]byte(meta[stepsKey]), &l.steps); err != nil {
			return nil, ckErr(op, nil, "%s: %v", stepsKey, err)
		}
		if js, ok := meta[extraKey]; ok {
			if err := json.Unmarshal([]byte(js), &l.extra); err != nil || l.extra == nil {
				return nil, ckErr(op, nil, "%s is not a JSON object", extraKey)
			}
		}
	} else {
		for k := range meta {
			if !torchMeta[k] {
				return nil, ckErr(op, nil, "metadata key %q: a file without the %s marker may only have torch's keys (param_groups, torch, optimizer)", k, formatKey)
			}
		}
		l.steps = make([]int64, len(o.params))
	}

	var groups []json.RawMessage
	if err := json.Unmarshal([]byte(meta[groupsKey]), &groups); err != nil || groups == nil {
		return nil, ckErr(op, nil, "%s is missing or not a JSON list", groupsKey)
	}
	if len(groups) != len(o.groups) {
		return nil, ckErr(op, nil, "the checkpoint has %d parameter groups, the optimizer %d", len(groups), len(o.groups))
	}
	if mine && len(classes) != len(groups) {
		return nil, ckErr(op, nil, "%s has %d entries for %d groups", rulesKey, len(classes), len(groups))
	}
	if len(l.steps) != len(o.params) {
		return nil, &ShapeError{Op: op, What: "step counts", Index: -1, Got: len(l.steps), Want: len(o.params)}
	}
	for i, s := range l.steps {
		if s < 0 {
			return nil, stepCountErr(op, i, s)
		}
	}
	l.rules = make([]Rule, len(groups))
	for gi := range groups {
		g := &o.groups[gi]
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
		rule, err := parseGroup[T](op, groups[gi], gi, class, g.rule.torch(), g.first, g.end)
		if err != nil {
			return nil, err
		}
		l.rules[gi] = rule
	}

	// The tensors the rules call for, and their scratch memory, sized from
	// the optimizer; the file only selects among them.
	dt := dtypeOf[T]()
	want := make(map[string]*expect)
	var order []string // want's keys, by parameter
	total := 0
	used := make([][3]bool, len(groups))
	for gi := range o.groups {
		g := &o.groups[gi]
		used[gi] = usedSlots[T](l.rules[gi])
		kind := l.rules[gi].kind()
		for i := g.first; i < g.end; i++ {
			for k, u := range used[gi] {
				if u {
					name := tensorName(i, stateKey(kind, k))
					want[name] = &expect{param: i, slot: k, scalar: -1}
					order = append(order, name)
					total += len(o.params[i])
				}
			}
			if !l.rules[gi].torch().noStep {
				name := tensorName(i, "step")
				want[name] = &expect{param: i, slot: -1, scalar: -1}
				order = append(order, name)
			}
			for j, key := range scalarKeys[kind] {
				name := tensorName(i, key)
				want[name] = &expect{param: i, slot: -1, scalar: j}
				order = append(order, name)
			}
		}
	}
	for _, t := range h.Tensors {
		e := want[t.Name]
		if e == nil {
			return nil, ckErr(op, nil, "tensor %q: not a state of this optimizer's groups and rules", t.Name)
		}
		e.found = true
		if e.scalar >= 0 {
			// torch's scalar states are float32 whatever the parameters'
			// dtype, and their float32 rounding is part of the result.
			if len(t.Shape) != 0 || t.DType != safetensors.F32 {
				return nil, ckErr(op, nil, "tensor %q: dtype %s, shape %v, want a 0-d F32 tensor", t.Name, t.DType, t.Shape)
			}
			continue
		}
		if e.slot < 0 {
			if len(t.Shape) != 0 || !(t.DType == safetensors.F32 || !mine && (t.DType == safetensors.F64 || t.DType == safetensors.I64)) {
				return nil, ckErr(op, nil, "tensor %q: dtype %s, shape %v, want a 0-d F32 tensor", t.Name, t.DType, t.Shape)
			}
			continue
		}
		n := len(o.params[e.param])
		if t.DType != dt {
			return nil, ckErr(op, nil, "tensor %q: dtype %s, want %s", t.Name, t.DType, dt)
		}
		elems, _ := safetensors.Elems(t.Shape)
		if elems != int64(n) {
			return nil, &ShapeError{Op: op, What: t.Name, Index: e.param, Got: int(min(elems, math.MaxInt32)), Want: n}
		}
		if mine && len(t.Shape) != 1 {
			// Torch's files keep the parameter's shape; ours are flat.
			return nil, ckErr(op, nil, "tensor %q: shape %v, want [%d]: this package saves state flat", t.Name, t.Shape, n)
		}
	}
	// Every tensor of a parameter must be there, except that the state
	// torch creates at a parameter's first step is absent before it, as a
	// whole (see lazyState): SGD's momentum buffer, every tensor of the
	// rules whose first step differs, and in torch's files every tensor of
	// any rule.
	l.created = make([]bool, len(o.params))
	presence := make([]int, len(o.params))
	count := make([]int, len(o.params))
	lazyParam := make([]bool, len(o.params))
	for gi := range o.groups {
		for i := o.groups[gi].first; i < o.groups[gi].end; i++ {
			lazyParam[i] = lazyState(l.rules[gi].kind())
		}
	}
	for _, name := range order {
		e := want[name]
		count[e.param]++
		switch {
		case e.found:
			presence[e.param]++
		case mine && !lazyParam[e.param]:
			return nil, ckErr(op, nil, "tensor %q is missing", name)
		}
	}
	for i := range o.params {
		if presence[i] != 0 && presence[i] != count[i] {
			return nil, ckErr(op, nil, "param %d: %d of its %d state tensors are missing", i, count[i]-presence[i], count[i])
		}
	}

	// Read the data, in file order, into scratch.
	backing := make([]T, total)
	l.state = make([][3][]T, len(o.params))
	for gi := range o.groups {
		g := &o.groups[gi]
		init := initialState[T](l.rules[gi])
		for i := g.first; i < g.end; i++ {
			n := len(o.params[i])
			for k, u := range used[gi] {
				if !u || lazyParam[i] && presence[i] == 0 {
					continue
				}
				l.state[i][k], backing = backing[:n:n], backing[n:]
				if init != 0 && presence[i] == 0 {
					for j := range l.state[i][k] {
						l.state[i][k][j] = init
					}
				}
			}
		}
	}
	var scalar [8]byte
	l.scalars = make([]generic.Scalars, len(o.params))
	for _, t := range h.Tensors {
		e := want[t.Name]
		var err error
		if e.slot >= 0 {
			err = readInto(r, crc, l.state[e.param][e.slot])
		} else if e.scalar >= 0 {
			b := scalar[:4]
			if _, err = io.ReadFull(r, b); err == nil {
				crc.Write(b)
				v := math.Float32frombits(binary.LittleEndian.Uint32(b))
				if math.IsInf(float64(v), 0) || math.IsNaN(float64(v)) {
					return nil, ckErr(op, nil, "tensor %q: %v, want a finite scalar state", t.Name, v)
				}
				l.scalars[e.param][e.scalar] = v
			}
		} else {
			b := scalar[:t.DType.Size()]
			if _, err = io.ReadFull(r, b); err == nil {
				crc.Write(b)
				err = l.setStep(op, e.param, t.DType, b, mine)
			}
		}
		if err != nil {
			return nil, ckErr(op, unexpectedEOF(err), "reading tensor %q", t.Name)
		}
	}
	if n, err := r.Read(scalar[:1]); n != 0 || err != io.EOF {
		if err == nil || err == io.EOF {
			return nil, ckErr(op, nil, "data beyond the last tensor")
		}
		return nil, ckErr(op, err, "reading past the last tensor")
	}
	if mine {
		at := safetensors.PrefixLen + len(checksumAt)
		stored := string(h.Raw[at : at+len(checksumPlaceholder)])
		if got := hex8(crc.Sum32()); stored != got {
			return nil, ckErr(op, ErrChecksum, "stored %s, content %s", stored, got)
		}
	}
	for i := range o.params {
		if lazyParam[i] {
			l.created[i] = presence[i] > 0
		} else {
			// Irrelevant to these rules' steps; a step would have set it.
			l.created[i] = l.steps[i] > 0
		}
	}
	return l, nil
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

// setStep records parameter i's step count from its step tensor b. In our
// files the exact count is in optim.steps, and the tensor must be its
// float32 rounding.
func (l *loaded[T]) setStep(op string, i int, dt safetensors.DType, b []byte, mine bool) error {
	var v float64
	switch dt {
	case safetensors.F32:
		v = float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
	case safetensors.F64:
		v = math.Float64frombits(binary.LittleEndian.Uint64(b))
	case safetensors.I64:
		n := int64(binary.LittleEndian.Uint64(b))
		if n < 0 {
			return stepCountErr(op, i, n)
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
	// 2^63 is the first float64 beyond int64.
	if !(v >= 0 && v < 1<<63 && v == math.Trunc(v)) {
		if v < 0 {
			return stepCountErr(op, i, int64(math.Max(v, math.MinInt64)))
		}
		return ckErr(op, nil, "param %d: step %v is not a count an int64 holds", i, v)
	}
	l.steps[i] = int64(v)
	return nil
}

// checkOurMeta verifies the entries of our format: marker, version,
// element type, the checksum's place and spelling, and that no key is
// unknown.
func checkOurMeta[T float32 | float64](op string, h *safetensors.Header) error {
	meta := h.Metadata
	if meta[formatKey] != formatName {
		return ckErr(op, nil, "metadata has %s keys but %s is %q, want %q: a damaged or foreign file", ours, formatKey, meta[formatKey], formatName)
	}
	if v := meta[versionKey]; v != formatVersion {
		return ckErr(op, nil, "%s %q: this package reads version %s", versionKey, v, formatVersion)
	}
	if dt := meta[dtypeKey]; dt != string(dtypeOf[T]()) {
		return ckErr(op, nil, "%s is %q, the optimizer's element type is %s", dtypeKey, dt, dtypeOf[T]())
	}
	for k := range meta {
		switch k {
		case checksumKey, formatKey, versionKey, dtypeKey, rulesKey, stepsKey, extraKey, groupsKey:
		default:
			return ckErr(op, nil, "unknown metadata key %q", k)
		}
	}
	raw := h.Raw[safetensors.PrefixLen:]
	if !bytes.HasPrefix(raw, []byte(checksumAt)) || len(raw) < len(checksumAt)+len(checksumPlaceholder) {
		return ckErr(op, nil, "the checksum is not the header's first entry: a damaged file")
	}
	sum := meta[checksumKey]
	if len(sum) != len(checksumPlaceholder) || string(raw[len(checksumAt):len(checksumAt)+len(sum)]) != sum {
		return ckErr(op, nil, "the checksum %q is not 8 hex digits at its place: a damaged file", sum)
	}
	return nil
}

// commit installs a verified checkpoint. Nothing in it can fail.
func (o *Optimizer[T]) commit(l *loaded[T]) {
	for gi := range o.groups {
		o.setRule(gi, l.rules[gi])
		o.allocState(gi, gi+1)
		for i := o.groups[gi].first; i < o.groups[gi].end; i++ {
			for k := range 3 {
				if dst := o.state[i][k]; dst != nil {
					// Slots the new rule does not use, or an SGD buffer not
					// created yet, are zero, as in a new optimizer.
					if src := l.state[i][k]; src != nil {
						copy(dst, src)
					} else {
						clear(dst)
					}
				}
			}
			o.steps[i] = l.steps[i]
			o.created[i] = l.created[i]
			o.scalars[i] = l.scalars[i]
		}
	}
}

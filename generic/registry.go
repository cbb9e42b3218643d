package generic

import (
	"fmt"
	"slices"
	"unsafe"
)

// Kind names an update rule; it indexes Rules().
type Kind int

// The rules, in the order of Rules(). A new rule adds its constant here and
// its description to the table below; everything else about it lives in its
// own file (sgd.go, adagrad.go, ...).
const (
	KindSGD Kind = iota
	KindAdagrad
	KindRMSProp
	KindAdam
	KindNAdam
	KindRAdam
	KindAdamax
	KindAdadelta
	KindRprop
	KindASGD
	KindLion
	KindCount // the number of rules
)

var table = [KindCount]*RuleDesc{KindSGD: &sgdRule, KindAdagrad: &adagradRule, KindRMSProp: &rmspropRule, KindAdam: &adamRule,
	KindNAdam: &nadamRule, KindRAdam: &radamRule, KindAdamax: &adamaxRule, KindAdadelta: &adadeltaRule,
	KindRprop: &rpropRule, KindASGD: &asgdRule, KindLion: &lionRule}

// String is the rule's Go name: "SGD", "Adagrad", "RMSProp", "Adam", ...
func (k Kind) String() string {
	if k < 0 || k >= KindCount {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return table[k].GoName
}

// Slot is one state slice of a rule: the kernel's s0, s1 or s2.
type Slot struct {
	// Key is the slice's name in torch's state dict, e.g. "exp_avg".
	Key string
	// Used reports whether the kernel reads and writes the slot under a
	// variant; an unused slot may be nil.
	Used func(Variant) bool
	// NonNegative reports that the slot holds squares, their maxima or
	// step sizes, which no step makes negative: the optimizer's Load
	// refuses a negative value there (the next step's square root would
	// be NaN), and tests draw mostly non-negative values for it, as
	// training does.
	NonNegative bool
}

// RuleDesc describes one update rule completely: the kernel sets, the
// generators, package kernels, the optimizer and the tests all derive what
// they know of the rule from it. Its loop body, as an operation list, is
// internal: the generators reach it through internal/ir's Build.
type RuleDesc struct {
	Kind Kind
	// GoName is Kind's String, the name of the reference kernel in this
	// package, of its coefficient function (with "Coeffs") and of the Kind
	// constant ("Adam": Adam, AdamCoeffs, KindAdam).
	GoName string
	// Summary says what the rule computes, as the object of "applies one
	// step of": "torch.optim.Adam, or AdamW with decoupled weight decay".
	// The documentation of package kernels' function for the rule, which
	// is generated, begins with it.
	Summary string
	// Name is the lower-case symbol name of generated code: "adam".
	Name string
	// Slots are the kernel's s0, s1, s2 in order (at most 3).
	Slots []Slot
	// ScalarKeys name the rule's per-parameter scalar state (Scalars) in
	// torch's state dict, in order: NAdam's "mu_product", ASGD's "eta" and
	// "mu". The coefficient function reads and advances it.
	ScalarKeys []string
	// Axes are the independent choices of operations: every variant the
	// coefficient function produces is the OR of one choice per axis.
	Axes [][]Variant
	// TypicalVariant is the variant that a training run takes once past
	// its first steps with torch's default hyperparameters and no weight
	// decay (SGD's with momentum, which nearly every SGD run sets although
	// torch's default is 0): the variant that benchmarks time.
	TypicalVariant Variant
	// program states the reference kernel's loop body as an operation
	// list, operation for operation and in the same order (program.go).
	program func(b builder, v Variant)
	// Produced returns every variant the rule's coefficient function returns,
	// found by calling it with every option that selects operations; a test
	// checks that it equals Variants().
	Produced func() []Variant

	ref32 Kernel[float32]
	ref64 Kernel[float64]
}

// Scalars is one parameter's scalar state beyond its step count, which
// torch keeps as 0-dim float32 tensors whatever the parameters' dtype:
// their float32 rounding is part of the result. RuleDesc.ScalarKeys names
// the elements a rule uses; the others stay zero.
type Scalars [2]float32

// Rules returns every rule's description, indexed by Kind.
func Rules() []RuleDesc {
	out := make([]RuleDesc, KindCount)
	for k, r := range table {
		out[k] = *r
	}
	return out
}

// Variants returns every variant of the rule, the product of its axes, in a
// fixed order.
func (r RuleDesc) Variants() []Variant {
	out := []Variant{0}
	for _, axis := range r.Axes {
		var next []Variant
		for _, a := range out {
			for _, b := range axis {
				next = append(next, a|b)
			}
		}
		out = next
	}
	return out
}

// Uses reports which of the state slices s0, s1, s2 the rule's kernel reads
// and writes under variant v.
func (r RuleDesc) Uses(v Variant) [3]bool {
	var out [3]bool
	for i, s := range r.Slots {
		out[i] = s.Used(v)
	}
	return out
}

// Reference returns the reference kernel of rule k for element type T.
func Reference[T Float](k Kind) Kernel[T] {
	r := table[k]
	switch f := any(r.ref32).(type) {
	case Kernel[T]:
		return f
	}
	if f, ok := any(r.ref64).(Kernel[T]); ok {
		return f
	}
	// A named float type (type MyFloat float32) shares its underlying
	// type's memory layout, so the instance for that type serves it.
	var zero T
	if unsafe.Sizeof(zero) == 4 {
		return retype[T](r.ref32)
	}
	return retype[T](r.ref64)
}

// retype adapts kernel f over element type U to element type T of the same
// underlying type.
func retype[T, U Float](f Kernel[U]) Kernel[T] {
	conv := func(s []T) []U { return unsafe.Slice((*U)(unsafe.Pointer(unsafe.SliceData(s))), len(s)) }
	return func(v Variant, c *Coeffs[T], p, g, s0, s1, s2 []T) {
		f(v, (*Coeffs[U])(unsafe.Pointer(c)), conv(p), conv(g), conv(s0), conv(s1), conv(s2))
	}
}

// produced collects the variants seen by a rule's Produced function.
type produced map[Variant]bool

func (p produced) sorted() []Variant {
	var out []Variant
	for v := range p {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

var bools = []bool{false, true}

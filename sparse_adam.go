package optim

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/simdoptim/optim/internal/detmath"
)

// SparseAdam is torch.optim.SparseAdam (torch 1.13): the lazy Adam of
// embedding tables, whose gradient holds a few rows. Only the rows present
// in a step's gradient change, their parameters and both moments, with the
// bias corrections of the table's step count, which counts the steps in
// which the table had a gradient. It has no weight decay, as torch's has
// none. It is not a Rule: its optimizer is a SparseAdamOptimizer, over
// tables rather than flat slices (NewSparseAdam).
type SparseAdam struct {
	LR, Beta1, Beta2, Eps float64
	// Maximize ascends the objective: torch negates the gradient first.
	Maximize bool
}

// DefaultSparseAdam returns torch's SparseAdam defaults: lr 1e-3, betas
// (0.9, 0.999), eps 1e-8.
func DefaultSparseAdam() SparseAdam { return SparseAdam{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8} }

// validate applies torch's ranges (lr > 0, eps > 0, betas in [0, 1)), and
// what the element type T must hold: an Eps that stays positive and a
// step size that stays finite once rounded to T.
func sparseAdamValidate[T float32 | float64](r SparseAdam) error {
	const name = "SparseAdam"
	bad := func(field string, v float64, want string) error {
		return &HyperparameterError{Group: -1, Rule: name, Field: field, Value: v, Want: want}
	}
	switch {
	case !(r.LR > 0) || math.IsInf(r.LR, 0):
		return bad("LR", r.LR, "a finite value > 0 (torch's SparseAdam refuses lr <= 0)")
	case !(r.Beta1 >= 0 && r.Beta1 < 1):
		return bad("Beta1", r.Beta1, "in [0, 1)")
	case !(r.Beta2 >= 0 && r.Beta2 < 1):
		return bad("Beta2", r.Beta2, "in [0, 1)")
	case !(r.Eps > 0) || math.IsInf(r.Eps, 0):
		return bad("Eps", r.Eps, "a finite value > 0 (start from optim.DefaultSparseAdam() for torch's defaults)")
	case T(r.Eps) == 0:
		return bad("Eps", r.Eps, fmt.Sprintf("a value that stays > 0 in %s (a zero eps gives 0/0 = NaN on a zero gradient)", typeName[T]()))
	}
	// Every step's step size lr·sqrt(1-β2^t)/(1-β1^t) is at most
	// lr/(1-β1): the first step's bias correction is the smallest.
	if s := r.LR / (1 - r.Beta1); math.IsInf(float64(T(s)), 0) {
		return bad("LR", r.LR, fmt.Sprintf("a value whose step size LR/(1-Beta1) is finite in %s", typeName[T]()))
	}
	return nil
}

func typeName[T float32 | float64]() string {
	if unsafe.Sizeof(T(0)) == 4 {
		return "float32"
	}
	return "float64"
}

// Table is a 2-D parameter of Rows() × Cols, row-major, such as an
// embedding table (torch's nn.Embedding weight): row r is
// Data[r*Cols : (r+1)*Cols].
type Table[T float32 | float64] struct {
	Data []T
	Cols int
}

// Rows is the table's number of rows.
func (t Table[T]) Rows() int {
	if t.Cols <= 0 {
		return 0
	}
	return len(t.Data) / t.Cols
}

// SparseGrad is the sparse gradient of one table, as torch's sparse COO
// gradient of an embedding (nn.Embedding(sparse=True)): the rows present
// and their values, len(Rows) × Cols, row k of the gradient being
// Values[k*Cols : (k+1)*Cols], for table row Rows[k].
//
// Rows may be in any order and may repeat. As torch coalesces the
// gradient, the values of a repeated row are summed in the order in which
// torch 1.13's sort of the rows (libstdc++'s std::sort, unstable) puts
// them, reproduced step for step, so that a row repeated three times or
// more rounds as in torch (up to 16 entries that order is the order of
// appearance).
//
// A SparseGrad without rows (Rows nil or empty, and no Values) is no
// gradient (torch's p.grad is None): the table does not step and its step
// count stays. (torch 1.13's SparseAdam fails on a sparse gradient without
// entries, after counting the step.)
type SparseGrad[T float32 | float64] struct {
	Rows   []int
	Values []T
}

// SparseGradError reports a sparse gradient that does not fit its table:
// values of the wrong length, or a row out of range. Nothing was written.
type SparseGradError struct {
	Op    string // "Step"
	Param int    // the table's index
	// Entry is the index in Rows of the row at fault (Row its value), or
	// -1 when the lengths disagree.
	Entry, Row int
	Rows       int // the table's rows
	Got, Want  int // the length of Values and the length Rows × Cols requires, when Entry is -1
}

func (e *SparseGradError) Error() string {
	if e.Entry < 0 {
		return fmt.Sprintf("optim: %s: grad %d has %d values, want %d (len(Rows) × the table's Cols)", e.Op, e.Param, e.Got, e.Want)
	}
	return fmt.Sprintf("optim: %s: grad %d: Rows[%d] = %d is out of range [0, %d) of table %d", e.Op, e.Param, e.Entry, e.Row, e.Rows, e.Param)
}

// SparseAdamOptimizer steps tables with SparseAdam. Its state is torch's:
// per table, the step count (step) and the two moments (exp_avg,
// exp_avg_sq), of the table's shape. It is not safe for concurrent use.
type SparseAdamOptimizer[T float32 | float64] struct {
	cfg    SparseAdam
	tables []Table[T]
	expAvg []([]T)
	expSq  []([]T)
	steps  []int64
	regs   regions // the tables' and the state's memory, which gradients must not overlap

	// Coalescing scratch, grown as needed and kept: mark[r] is false
	// for every row r between steps.
	mark  []bool
	order []coalesceEntry
	uRows []int
	uVals []T
}

// NewSparseAdam returns an optimizer of cfg over tables (each with Cols > 0
// and len(Data) a multiple of Cols), whose Data Step updates in place. The
// state is allocated here, two slices of each table's size, so that Step
// never allocates but to grow its scratch for repeated rows. Tables must
// not overlap in memory.
func NewSparseAdam[T float32 | float64](cfg SparseAdam, tables ...Table[T]) (*SparseAdamOptimizer[T], error) {
	if err := sparseAdamValidate[T](cfg); err != nil {
		return nil, err
	}
	o := &SparseAdamOptimizer[T]{cfg: cfg, tables: make([]Table[T], len(tables)),
		expAvg: make([][]T, len(tables)), expSq: make([][]T, len(tables)), steps: make([]int64, len(tables))}
	var regs regions
	most := 0
	for i, t := range tables {
		if t.Cols <= 0 || len(t.Data)%t.Cols != 0 {
			return nil, argErr("NewSparseAdam", fmt.Sprintf("tables[%d].Cols", i), float64(t.Cols), fmt.Sprintf("a positive divisor of len(tables[%d].Data) = %d", i, len(t.Data)))
		}
		if err := regs.insert("NewSparseAdam", region(t.Data, Slot{Kind: "param", Index: i})); err != nil {
			return nil, err
		}
		o.tables[i] = Table[T]{Data: t.Data[:len(t.Data):len(t.Data)], Cols: t.Cols}
		o.expAvg[i] = make([]T, len(t.Data))
		o.expSq[i] = make([]T, len(t.Data))
		// Fresh allocations, disjoint from everything: insert cannot fail.
		regs.insert("NewSparseAdam", region(o.expAvg[i], Slot{Kind: "state", Index: i, Key: "exp_avg"}))
		regs.insert("NewSparseAdam", region(o.expSq[i], Slot{Kind: "state", Index: i, Key: "exp_avg_sq"}))
		most = max(most, t.Rows())
	}
	o.regs = regs
	o.mark = make([]bool, most)
	return o, nil
}

// Config returns the optimizer's hyperparameters.
func (o *SparseAdamOptimizer[T]) Config() SparseAdam { return o.cfg }

// SetConfig replaces the hyperparameters (a schedule's learning rate, say),
// validated as NewSparseAdam validates them; on error nothing changes.
func (o *SparseAdamOptimizer[T]) SetConfig(cfg SparseAdam) error {
	if err := sparseAdamValidate[T](cfg); err != nil {
		return err
	}
	o.cfg = cfg
	return nil
}

// Len is the number of tables.
func (o *SparseAdamOptimizer[T]) Len() int { return len(o.tables) }

// SparseAdamState is one table's state, as torch's state[p]: Step is
// state['step'], ExpAvg and ExpAvgSq are state['exp_avg'] and
// state['exp_avg_sq'], row-major like the table. Before the table's first
// step torch has no state; here the moments are then zero.
type SparseAdamState[T float32 | float64] struct {
	Step             int64
	ExpAvg, ExpAvgSq []T
}

// State returns table i's state. The slices are the optimizer's own
// memory, which Step and Load update: read them, do not write.
func (o *SparseAdamOptimizer[T]) State(i int) (SparseAdamState[T], error) {
	if i < 0 || i >= len(o.tables) {
		return SparseAdamState[T]{}, &IndexError{Op: "State", What: "param", Index: i, Len: len(o.tables)}
	}
	return SparseAdamState[T]{Step: o.steps[i], ExpAvg: o.expAvg[i], ExpAvgSq: o.expSq[i]}, nil
}

// Step applies one step: grads[i] is table i's gradient (without rows
// for none). Everything is validated before the first write: the number of
// gradients, each gradient's length and rows, their memory (which must not
// overlap a table or the state), and the step counts; on error nothing has
// changed. Step does not allocate, but to grow its scratch the first
// times a gradient repeats rows.
//
// Each row present gets torch's operations, in torch's order and in the
// element type (torch's sparse_adam, with m, v the row's moments, g its
// gradient, its repeats summed as SparseGrad says and negated with
// Maximize, t the table's step count after the increment):
//
//	m' = m + T((g - m) · T(1-β1))
//	v' = v + T((T(g·g) - v) · T(1-β2))
//	p' = p + T(T(-s) · (m' / (sqrt(v') + T(eps))))
//	s  = lr·sqrt(1-β2^t)/(1-β1^t)   (float64, as Python computes it)
//
// with every product rounded before its sum (never fused), so that every
// CPU gives the same bits. β^t is detmath.Pow, within an ulp of torch's
// (the C library's pow) and the same on every architecture.
func (o *SparseAdamOptimizer[T]) Step(grads ...SparseGrad[T]) error {
	if len(grads) != len(o.tables) {
		return &ShapeError{Op: "Step", What: "gradients", Index: -1, Got: len(grads), Want: len(o.tables)}
	}
	for i := range grads {
		if err := o.check(i, &grads[i]); err != nil {
			return err
		}
	}
	for i := range grads {
		if len(grads[i].Rows) == 0 {
			continue
		}
		o.steps[i]++
		o.stepTable(i, grads[i].Rows, grads[i].Values)
	}
	return nil
}

// check validates gradient i against its table.
func (o *SparseAdamOptimizer[T]) check(i int, g *SparseGrad[T]) error {
	t := o.tables[i]
	n := t.Rows()
	if len(g.Values)%t.Cols != 0 || len(g.Values)/t.Cols != len(g.Rows) {
		want := len(g.Rows) * t.Cols
		if len(g.Rows) > math.MaxInt/t.Cols {
			want = math.MaxInt
		}
		return &SparseGradError{Op: "Step", Param: i, Entry: -1, Row: -1, Rows: n, Got: len(g.Values), Want: want}
	}
	for k, r := range g.Rows {
		if uint(r) >= uint(n) {
			return &SparseGradError{Op: "Step", Param: i, Entry: k, Row: r, Rows: n}
		}
	}
	if len(g.Rows) > 0 && o.steps[i] == math.MaxInt64 {
		return stepCountErr("Step", i, o.steps[i])
	}
	if slot, ok := o.regs.overlapping(base(g.Values), byteLen(g.Values)); ok {
		return &OverlapError{Op: "Step", A: Slot{Kind: "grad", Index: i}, B: slot}
	}
	return nil
}

// sparseAdamCoeffs are one step's scalars in the element type.
type sparseAdamCoeffs[T float32 | float64] struct {
	omb1, omb2, eps, negStep T
	neg                      bool
}

func (o *SparseAdamOptimizer[T]) coeffs(step int64) sparseAdamCoeffs[T] {
	r := o.cfg
	bc1 := 1 - detmath.Pow(r.Beta1, float64(step))
	bc2 := 1 - detmath.Pow(r.Beta2, float64(step))
	stepSize := r.LR * math.Sqrt(bc2) / bc1
	return sparseAdamCoeffs[T]{omb1: T(1 - r.Beta1), omb2: T(1 - r.Beta2), eps: T(r.Eps), negStep: T(-stepSize), neg: r.Maximize}
}

// stepTable steps table i with a validated gradient, coalescing repeated
// rows first as torch does (sparse_adam_coalesce.go).
func (o *SparseAdamOptimizer[T]) stepTable(i int, rows []int, vals []T) {
	cols := o.tables[i].Cols
	mark := o.mark
	dup := false
	for _, r := range rows {
		dup = dup || mark[r]
		mark[r] = true
	}
	for _, r := range rows {
		mark[r] = false
	}
	if dup {
		// torch's coalesce: sort the entries by row as its std::sort
		// does, then add each run of equal rows in that order, into
		// scratch, one entry per distinct row (in increasing order).
		o.order = o.order[:0]
		for k, r := range rows {
			o.order = append(o.order, coalesceEntry{r, k})
		}
		torchSort(o.order)
		o.uRows = o.uRows[:0]
		o.uVals = o.uVals[:0]
		for _, e := range o.order {
			src := vals[e.pos*cols : (e.pos+1)*cols]
			if u := len(o.uRows); u > 0 && o.uRows[u-1] == e.row {
				dst := o.uVals[(u-1)*cols : u*cols]
				for j, v := range src {
					dst[j] += v
				}
				continue
			}
			o.uRows = append(o.uRows, e.row)
			o.uVals = append(o.uVals, src...)
		}
		rows, vals = o.uRows, o.uVals
	}
	sparseAdamRows(o.tables[i].Data, o.expAvg[i], o.expSq[i], cols, rows, vals, o.coeffs(o.steps[i]))
}

// sparseAdamRows applies the update to each row rows[k] (distinct) with
// gradient vals[k*cols:(k+1)*cols]. The explicit conversions round every
// product before it is added (Go fuses a*b+c otherwise on arm64 and at
// GOAMD64=v3), so the bits are torch's on every CPU.
func sparseAdamRows[T float32 | float64](p, m, v []T, cols int, rows []int, vals []T, c sparseAdamCoeffs[T]) {
	omb1, omb2, eps, ns := c.omb1, c.omb2, c.eps, c.negStep
	for k, r := range rows {
		g := vals[k*cols : (k+1)*cols]
		pr := p[r*cols : (r+1)*cols]
		mr := m[r*cols : (r+1)*cols]
		vr := v[r*cols : (r+1)*cols]
		pr, mr, vr = pr[:len(g)], mr[:len(g)], vr[:len(g)]
		if c.neg {
			for j, gj := range g {
				sparseAdamElem(&pr[j], &mr[j], &vr[j], -gj, omb1, omb2, eps, ns)
			}
			continue
		}
		for j, gj := range g {
			sparseAdamElem(&pr[j], &mr[j], &vr[j], gj, omb1, omb2, eps, ns)
		}
	}
}

// sparseAdamElem is one element of torch's sparse_adam, op for op.
func sparseAdamElem[T float32 | float64](p, m, v *T, g, omb1, omb2, eps, negStep T) {
	mi := *m + T((g-*m)*omb1)
	vi := *v + T((T(g*g)-*v)*omb2)
	*m, *v = mi, vi
	denom := T(math.Sqrt(float64(vi))) + eps
	*p += T(negStep * (mi / denom))
}

package optim

import (
	"fmt"
	"math"
	mathbits "math/bits"
	"unsafe"

	"github.com/simdoptim/optim/generic"
)

// LineSearch chooses LBFGS's step length: torch's line_search_fn.
type LineSearch string

const (
	// NoLineSearch moves by LR·d and evaluates the closure once per
	// iteration (torch's line_search_fn=None).
	NoLineSearch LineSearch = ""
	// StrongWolfe searches for a step length that satisfies the strong
	// Wolfe conditions (c1 = 1e-4, c2 = 0.9, at most 25 evaluations), as
	// torch's _strong_wolfe.
	StrongWolfe LineSearch = "strong_wolfe"
)

// LBFGS is torch.optim.LBFGS's configuration: the limited-memory BFGS
// method, which calls a closure for the loss and gradient several times
// per step. Unlike the elementwise rules it is not a Rule: NewLBFGS
// builds its optimizer, whose Step takes the closure.
//
// Every field means exactly its value, except MaxEval, whose zero is
// torch's None. DefaultLBFGS returns torch's defaults; the zero value is
// not usable (its LR, MaxIter and HistorySize of 0 are errors).
type LBFGS struct {
	// LR scales the step length: positive and finite (torch's lr).
	LR float64
	// MaxIter is the most iterations per Step: at least 1 (max_iter).
	MaxIter int
	// MaxEval is the most closure calls per Step, checked after each
	// iteration (max_eval): 0 means torch's None, MaxIter·5/4 rounded
	// down; otherwise at least 1.
	MaxEval int
	// ToleranceGrad ends a Step when the largest |gradient| is at most
	// it: finite and >= 0 (tolerance_grad).
	ToleranceGrad float64
	// ToleranceChange ends a Step when the directional derivative, the
	// largest step or the loss change is below it: finite and >= 0
	// (tolerance_change). As in torch, the line search keeps its own
	// 1e-9.
	ToleranceChange float64
	// HistorySize is how many correction pairs the inverse Hessian
	// approximation keeps: at least 1 (history_size). The optimizer
	// holds 2·HistorySize vectors of all the parameters' length.
	HistorySize int
	// LineSearch is NoLineSearch or StrongWolfe (line_search_fn).
	LineSearch LineSearch
}

// DefaultLBFGS returns torch's defaults: LR 1, MaxIter 20, MaxEval 0
// (that is 25), ToleranceGrad 1e-7, ToleranceChange 1e-9, HistorySize 100
// and no line search.
func DefaultLBFGS() LBFGS {
	return LBFGS{LR: 1, MaxIter: 20, ToleranceGrad: 1e-7, ToleranceChange: 1e-9, HistorySize: 100}
}

// maxEval is torch's max_eval: MaxEval, or max_iter*5//4 for None.
func (c *LBFGS) maxEval() int {
	if c.MaxEval == 0 {
		return c.MaxIter/4*5 + c.MaxIter%4*5/4 // without overflow
	}
	return c.MaxEval
}

// validate checks the fields, in declaration order.
func (c *LBFGS) validate() error {
	fieldErr := func(field string, v float64, want string) error {
		return &HyperparameterError{Group: -1, Rule: "LBFGS", Field: field, Value: v, Want: want + " (start from DefaultLBFGS())"}
	}
	switch {
	case !(c.LR > 0 && !math.IsInf(c.LR, 0)):
		return fieldErr("LR", c.LR, "> 0 and finite")
	case c.MaxIter < 1:
		return fieldErr("MaxIter", float64(c.MaxIter), ">= 1")
	case c.MaxEval < 0:
		return fieldErr("MaxEval", float64(c.MaxEval), ">= 1, or 0 for MaxIter·5/4")
	case math.IsNaN(c.ToleranceGrad) || math.IsInf(c.ToleranceGrad, 0) || c.ToleranceGrad < 0:
		return fieldErr("ToleranceGrad", c.ToleranceGrad, "a finite value >= 0")
	case math.IsNaN(c.ToleranceChange) || math.IsInf(c.ToleranceChange, 0) || c.ToleranceChange < 0:
		return fieldErr("ToleranceChange", c.ToleranceChange, "a finite value >= 0")
	case c.HistorySize < 1:
		return fieldErr("HistorySize", float64(c.HistorySize), ">= 1")
	case c.LineSearch != NoLineSearch && c.LineSearch != StrongWolfe:
		return &RuleError{Group: -1, Rule: "LBFGS", Reason: fmt.Sprintf("LBFGS.LineSearch = %q, want %q (none) or %q", string(c.LineSearch), string(NoLineSearch), string(StrongWolfe))}
	}
	return nil
}

// ClosureError wraps the error of LBFGSOptimizer.Step's closure, which
// ended the step: Step returns at once, with the parameters restored to
// the last point at which the closure succeeded (see Step).
type ClosureError struct {
	Eval int   // the closure call of this step that failed, from 1
	Err  error // the closure's error
}

func (e *ClosureError) Error() string {
	return fmt.Sprintf("optim: LBFGS.Step: closure call %d failed: %v", e.Eval, e.Err)
}

func (e *ClosureError) Unwrap() error { return e.Err }

// LBFGSOptimizer runs torch.optim.LBFGS on float32 or float64 parameter
// slices, taken together as one vector (torch flattens them in order).
// It owns one gradient buffer per parameter (Grad), which the closure of
// Step fills.
//
// Every vector operation has torch's operation order and rounds in the
// element type T: torch's add_(v, alpha=a) is one fused multiply-add, as
// torch's CPU kernels compute it; the scalars follow torch's types, a
// Python float (float64) where torch calls item() or float() and a
// 0-dimensional tensor of T elsewhere. Dot products are the reference
// BLAS's (lbDot) and the first step length's sum torch's (torchSum), in
// plain Go with every rounding explicit, so every CPU and kernel set gives
// the same bits, and torch's recorded trajectories replay bit for bit.
//
// An LBFGSOptimizer is not safe for concurrent use.
type LBFGSOptimizer[T float32 | float64] struct {
	cfg    LBFGS
	params [][]T
	offs   []int // offs[i] is param i's offset in the flat vectors; offs[len] = n
	n      int

	grad []T // the closure's gradients, flat; Grad(i) is a view

	// torch's state (see lbfgsState for the keys).
	funcEvals, nIter int64
	d                []T // the last direction
	t                lbScalar
	dirs, stps       [][]T // history ring: old_dirs[i] is dirs[(head+i)%H]
	head, count      int
	ro, al           []float64 // T's values; ro is in ring order, al in history order
	alSet            int       // how many entries of al torch has set (the rest are None)
	hasAl            bool      // torch's state has al (a two-loop recursion has run)
	hDiag            lbScalar
	prevFlatGrad     []T
	prevLoss         float64
	hasPrevLoss      bool // prev_loss, d, t and prev_flat_grad are set

	// scratch
	flatGrad, q, y, s, x []T
	gPrev                []T
	pool                 [3][]T // line-search bracket gradients
}

// NewLBFGS returns an LBFGS optimizer of params (at least one element in
// all), validating cfg. It allocates everything a step needs, including
// the whole history (2·HistorySize·n elements for n parameters in all),
// so that Step allocates nothing. params must not overlap.
func NewLBFGS[T float32 | float64](cfg LBFGS, params ...[]T) (*LBFGSOptimizer[T], error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	n := 0
	var spans regions
	for i, p := range params {
		n += len(p)
		if err := spans.insert("NewLBFGS", region(p, Slot{Kind: "param", Index: i})); err != nil {
			return nil, err
		}
	}
	if n == 0 {
		return nil, &ShapeError{Op: "NewLBFGS", What: "elements in params", Index: -1, Got: 0, Want: 1}
	}
	size := int(unsafe.Sizeof(T(0)))
	if cfg.HistorySize > math.MaxInt/size/2/n-16 {
		return nil, &HyperparameterError{Group: -1, Rule: "LBFGS", Field: "HistorySize", Value: float64(cfg.HistorySize),
			Want: fmt.Sprintf("at most %d for %d parameters: the history holds 2·HistorySize·n elements", math.MaxInt/size/2/n-16, n)}
	}
	o := &LBFGSOptimizer[T]{cfg: cfg, n: n}
	o.params = append([][]T(nil), params...)
	o.offs = make([]int, len(params)+1)
	for i, p := range params {
		o.offs[i+1] = o.offs[i] + len(p)
	}
	h := cfg.HistorySize
	slab := make([]T, (12+2*h)*n)
	next := func() []T {
		v := slab[:n:n]
		slab = slab[n:]
		return v
	}
	o.grad, o.d, o.prevFlatGrad = next(), next(), next()
	o.flatGrad, o.q, o.y, o.s, o.x, o.gPrev = next(), next(), next(), next(), next(), next()
	for i := range o.pool {
		o.pool[i] = next()
	}
	o.dirs, o.stps = make([][]T, h), make([][]T, h)
	for i := range h {
		o.dirs[i], o.stps[i] = next(), next()
	}
	o.ro, o.al = make([]float64, h), make([]float64, h)
	return o, nil
}

// Config returns the configuration.
func (o *LBFGSOptimizer[T]) Config() LBFGS { return o.cfg }

// Len returns the number of parameter slices.
func (o *LBFGSOptimizer[T]) Len() int { return len(o.params) }

// Grad returns the gradient buffer of param i, which the closure of Step
// fills. Step sets every buffer to zero before each call of the closure,
// so the closure may add into it (an unset element is a zero gradient, as
// torch's missing grad). It panics if i is out of range, as an index does.
func (o *LBFGSOptimizer[T]) Grad(i int) []T { return o.grad[o.offs[i]:o.offs[i+1]:o.offs[i+1]] }

// Iterations returns torch's state n_iter: the iterations begun by every
// step so far.
func (o *LBFGSOptimizer[T]) Iterations() int64 { return o.nIter }

// Evaluations returns torch's state func_evals: the successful closure
// calls of every step so far.
func (o *LBFGSOptimizer[T]) Evaluations() int64 { return o.funcEvals }

// Step runs one torch LBFGS step: up to MaxIter iterations and about
// MaxEval closure calls (the count is checked after each iteration, so a
// line search may pass it). closure computes the loss at the current
// parameters, writes the gradient into the Grad buffers (zeroed before
// each call) and returns the loss; it must not change the parameters.
// Step returns the loss of its first closure call, as torch does.
//
// Step allocates nothing. A NaN or infinite loss or gradient is not an
// error: it flows through the arithmetic as in torch (which may leave NaN
// in the parameters).
//
// If the closure returns an error, Step returns it at once wrapped in a
// *ClosureError. The parameters are then those of the last point at which
// the closure succeeded during this step: the parameters Step began with
// when the first call fails, else the start of the current iteration
// (a line search's trial points are undone). The state counts the
// iterations begun and the successful calls, and keeps the current
// iteration's direction; the next Step continues from the parameters as
// they are, its first evaluation finds the gradient unchanged and adds no
// correction pair.
func (o *LBFGSOptimizer[T]) Step(closure func() (float64, error)) (float64, error) {
	if closure == nil {
		return 0, fmt.Errorf("optim: LBFGS.Step: closure is nil")
	}
	cfg := &o.cfg
	evals := 0
	eval := func() (float64, error) {
		clear(o.grad)
		loss, err := closure()
		evals++
		if err != nil {
			return 0, &ClosureError{Eval: evals, Err: err}
		}
		o.funcEvals++
		return loss, nil
	}
	// evaluate initial f(x) and df/dx
	origLoss, err := eval()
	if err != nil {
		return 0, err
	}
	loss := origLoss
	currentEvals := 1
	copy(o.flatGrad, o.grad)
	tolGrad := float64(T(cfg.ToleranceGrad))
	tolChange := float64(T(cfg.ToleranceChange))
	if le(maxAbsNaN(o.flatGrad), tolGrad) {
		return origLoss, nil
	}
	maxEval := cfg.maxEval()
	h := cfg.HistorySize
	nIter := 0
	for nIter < cfg.MaxIter {
		nIter++
		o.nIter++
		// compute gradient descent direction
		if o.nIter == 1 {
			for i, g := range o.flatGrad {
				o.d[i] = -g
			}
			o.head, o.count = 0, 0
			o.hDiag = lbPy(1)
		} else {
			tt := T(o.t.v)
			for i, g := range o.flatGrad {
				o.y[i] = g - o.prevFlatGrad[i]
				o.s[i] = o.d[i] * tt
			}
			ys := lbDot(o.y, o.s)
			if ys > T(1e-10) {
				var slot int
				if o.count == h {
					slot = o.head
					o.head = (o.head + 1) % h
				} else {
					slot = (o.head + o.count) % h
					o.count++
				}
				o.dirs[slot], o.y = o.y, o.dirs[slot]
				o.stps[slot], o.s = o.s, o.stps[slot]
				o.ro[slot] = float64(1 / ys)
				o.hDiag = lbTensor(float64(ys / lbDot(o.dirs[slot], o.dirs[slot])))
			}
			// the two-loop recursion, in one buffer q
			for i, g := range o.flatGrad {
				o.q[i] = -g
			}
			for i := o.count - 1; i >= 0; i-- {
				k := (o.head + i) % h
				al := T(lbDot(o.stps[k], o.q) * T(o.ro[k]))
				o.al[i] = float64(al)
				axpy(o.q, o.dirs[k], -al)
			}
			o.alSet, o.hasAl = o.count, true
			hd := T(o.hDiag.v)
			for i, v := range o.q {
				o.d[i] = v * hd
			}
			for i := range o.count {
				k := (o.head + i) % h
				be := T(lbDot(o.dirs[k], o.d) * T(o.ro[k]))
				axpy(o.d, o.stps[k], T(T(o.al[i])-be))
			}
		}
		copy(o.prevFlatGrad, o.flatGrad)
		o.prevLoss = loss
		o.hasPrevLoss = true

		// compute step length
		if o.nIter == 1 {
			inv := lbTensor(float64(1 / torchSum(o.flatGrad, true)))
			m := lbPy(1)
			if lt(inv.v, 1) {
				m = inv
			}
			o.t = lbMul[T](m, lbPy(cfg.LR))
		} else {
			o.t = lbPy(cfg.LR)
		}
		gtd := lbTensor(float64(lbDot(o.flatGrad, o.d)))
		if gt(gtd.v, float64(T(-cfg.ToleranceChange))) {
			break
		}

		lsEvals := 0
		optCond := false
		copy(o.x, o.flatParams())
		if cfg.LineSearch == StrongWolfe {
			var g []T
			loss, g, lsEvals, err = o.strongWolfe(eval, loss, gtd)
			if err != nil {
				o.restore()
				return 0, err
			}
			copy(o.flatGrad, g)
			o.addGrad(T(o.t.v))
			optCond = le(maxAbsNaN(o.flatGrad), tolGrad)
		} else {
			o.addGrad(T(o.t.v))
			if nIter != cfg.MaxIter {
				l, err := eval()
				if err != nil {
					o.restore()
					return 0, err
				}
				loss = l
				copy(o.flatGrad, o.grad)
				optCond = le(maxAbsNaN(o.flatGrad), tolGrad)
				lsEvals = 1
			}
		}
		currentEvals += lsEvals

		// check conditions
		if nIter == cfg.MaxIter || currentEvals >= maxEval || optCond {
			break
		}
		// lack of progress
		tt := T(o.t.v)
		m := 0.0
		for _, v := range o.d {
			a := math.Abs(float64(v * tt))
			if a != a { // NaN propagates, as torch's max
				m = a
				break
			}
			m = max(m, a)
		}
		if le(m, tolChange) {
			break
		}
		if math.Abs(loss-o.prevLoss) < cfg.ToleranceChange {
			break
		}
	}
	return origLoss, nil
}

// flatParams is the parameters as one vector, in o.q's storage when there
// are several (only called where q is free).
func (o *LBFGSOptimizer[T]) flatParams() []T {
	if len(o.params) == 1 {
		return o.params[0]
	}
	for i, p := range o.params {
		copy(o.q[o.offs[i]:], p)
	}
	return o.q
}

// restore sets the parameters to x.
func (o *LBFGSOptimizer[T]) restore() {
	for i, p := range o.params {
		copy(p, o.x[o.offs[i]:o.offs[i+1]])
	}
}

// addGrad is torch's _add_grad: p.add_(d, alpha=t), fused.
func (o *LBFGSOptimizer[T]) addGrad(t T) {
	for i, p := range o.params {
		axpy(p, o.d[o.offs[i]:o.offs[i+1]], t)
	}
}

// directional evaluates the closure at x + t·d (torch's
// _directional_evaluate) and restores x; the gradient is left in o.grad.
func (o *LBFGSOptimizer[T]) directional(eval func() (float64, error), t lbScalar) (float64, error) {
	o.addGrad(T(t.v))
	loss, err := eval()
	o.restore()
	return loss, err
}

// The constants of torch's _strong_wolfe, whose tolerance_change LBFGS
// does not pass on.
const (
	wolfeC1      = 1e-4
	wolfeC2      = 0.9
	wolfeTolChg  = 1e-9
	wolfeMaxIter = 25
)

// strongWolfe is torch's _strong_wolfe from x = o.x along o.d, starting at
// o.t, with f the loss at x, its gradient o.flatGrad and gtd the
// directional derivative there. It sets o.t and returns the loss and
// gradient at the chosen point (a buffer of the pool, gPrev or flatGrad)
// and the number of evaluations.
func (o *LBFGSOptimizer[T]) strongWolfe(eval func() (float64, error), f float64, gtd lbScalar) (float64, []T, int, error) {
	dNorm := lbTensor(maxAbsNaN(o.d))
	g := o.flatGrad // torch clones it; nothing writes flatGrad during the search
	t := o.t
	fNew, err := o.directional(eval, t)
	if err != nil {
		return 0, nil, 0, err
	}
	lsEvals := 1
	gtdNew := lbTensor(float64(lbDot(o.grad, o.d)))

	tPrev, fPrev, gPrev, gtdPrev := lbPy(0), f, g, gtd
	done := false
	lsIter := 0
	var bracket, bracketGtd [2]lbScalar
	var bracketF [2]float64
	var bracketG [2][]T
	nb := 2 // len(bracket)
	// fresh returns a pool buffer that no bracket entry holds.
	fresh := func() []T {
		for _, b := range o.pool {
			if !sameBuf(b, bracketG[0]) && !sameBuf(b, bracketG[1]) {
				return b
			}
		}
		panic("unreachable")
	}
	clone := func() []T {
		b := fresh()
		copy(b, o.grad)
		return b
	}
	// armijo is f_new > (f + c1 * t * gtd), compared in T (a tensor).
	armijo := func(fNew float64, t lbScalar) bool {
		return lbLess[T](lbAdd[T](lbPy(f), lbMul[T](lbMul[T](lbPy(wolfeC1), t), gtd)), lbPy(fNew))
	}
	curv := func() float64 { return lbMul[T](lbPy(-wolfeC2), gtd).v } // -c2 * gtd, a tensor
	for lsIter < wolfeMaxIter {
		if armijo(fNew, t) || (lsIter > 1 && fNew >= fPrev) {
			bracket, bracketF = [2]lbScalar{tPrev, t}, [2]float64{fPrev, fNew}
			bracketG = [2][]T{gPrev, nil}
			bracketG[1] = clone()
			bracketGtd = [2]lbScalar{gtdPrev, gtdNew}
			break
		}
		if le(math.Abs(gtdNew.v), curv()) {
			bracket[0], bracketF[0] = t, fNew
			bracketG = [2][]T{clone(), nil}
			nb = 1
			done = true
			break
		}
		if ge(gtdNew.v, 0) {
			bracket, bracketF = [2]lbScalar{tPrev, t}, [2]float64{fPrev, fNew}
			bracketG = [2][]T{gPrev, nil}
			bracketG[1] = clone()
			bracketGtd = [2]lbScalar{gtdPrev, gtdNew}
			break
		}
		// interpolate
		minStep := lbAdd[T](t, lbMul[T](lbPy(0.01), lbSub[T](t, tPrev)))
		maxStep := lbMul[T](t, lbPy(10))
		tmp := t
		t = lbCubic[T](tPrev, lbPy(fPrev), gtdPrev, t, lbPy(fNew), gtdNew, &[2]lbScalar{minStep, maxStep})
		// next step
		tPrev = tmp
		fPrev = fNew
		copy(o.gPrev, o.grad)
		gPrev = o.gPrev
		gtdPrev = gtdNew
		if fNew, err = o.directional(eval, t); err != nil {
			return 0, nil, 0, err
		}
		lsEvals++
		gtdNew = lbTensor(float64(lbDot(o.grad, o.d)))
		lsIter++
	}
	// reached max number of iterations?
	if lsIter == wolfeMaxIter {
		bracket, bracketF = [2]lbScalar{lbPy(0), t}, [2]float64{f, fNew}
		bracketG = [2][]T{g, nil}
		bracketG[1] = clone()
		nb = 2
	}
	// zoom phase
	insufProgress := false
	lowPos, highPos := 0, 1
	// torch compares bracket_f[0] with bracket_f[-1]; with one entry and a
	// NaN loss it then indexes past the end (an IndexError), here the one
	// entry is the low point.
	if nb == 2 && !(bracketF[0] <= bracketF[1]) {
		lowPos, highPos = 1, 0
	}
	for !done && lsIter < wolfeMaxIter {
		// line-search bracket is so small
		if lt(lbMul[T](lbAbs(lbSub[T](bracket[1], bracket[0])), dNorm).v, float64(T(wolfeTolChg))) {
			break
		}
		t = lbCubic[T](bracket[0], lbPy(bracketF[0]), bracketGtd[0], bracket[1], lbPy(bracketF[1]), bracketGtd[1], nil)
		hi, lo := lbMax[T](bracket[0], bracket[1]), lbMin[T](bracket[0], bracket[1])
		eps := lbMul[T](lbPy(0.1), lbSub[T](hi, lo))
		if lbLess[T](lbMin[T](lbSub[T](hi, t), lbSub[T](t, lo)), eps) {
			// interpolation close to boundary
			if insufProgress || lbGE[T](t, hi) || lbGE[T](lo, t) {
				if lbLess[T](lbAbs(lbSub[T](t, hi)), lbAbs(lbSub[T](t, lo))) {
					t = lbSub[T](hi, eps)
				} else {
					t = lbAdd[T](lo, eps)
				}
				insufProgress = false
			} else {
				insufProgress = true
			}
		} else {
			insufProgress = false
		}
		// Evaluate new point
		if fNew, err = o.directional(eval, t); err != nil {
			return 0, nil, 0, err
		}
		lsEvals++
		gtdNew = lbTensor(float64(lbDot(o.grad, o.d)))
		lsIter++

		if armijo(fNew, t) || fNew >= bracketF[lowPos] {
			// Armijo condition not satisfied or not lower than lowest point
			bracket[highPos], bracketF[highPos], bracketGtd[highPos] = t, fNew, gtdNew
			bracketG[highPos] = nil
			bracketG[highPos] = clone()
			lowPos, highPos = 0, 1
			if !(bracketF[0] <= bracketF[1]) {
				lowPos, highPos = 1, 0
			}
		} else {
			if le(math.Abs(gtdNew.v), curv()) {
				done = true
			} else if ge(lbMul[T](gtdNew, lbSub[T](bracket[highPos], bracket[lowPos])).v, 0) {
				// old high becomes new low
				bracket[highPos], bracketF[highPos] = bracket[lowPos], bracketF[lowPos]
				bracketG[highPos], bracketGtd[highPos] = bracketG[lowPos], bracketGtd[lowPos]
			}
			// new point becomes new low
			bracket[lowPos], bracketF[lowPos], bracketGtd[lowPos] = t, fNew, gtdNew
			bracketG[lowPos] = nil
			bracketG[lowPos] = clone()
		}
	}
	o.t = bracket[lowPos]
	return bracketF[lowPos], bracketG[lowPos], lsEvals, nil
}

// sameBuf reports whether a and b are the same buffer.
func sameBuf[T float32 | float64](a, b []T) bool {
	return len(a) > 0 && len(b) > 0 && &a[0] == &b[0]
}

// axpy is torch's y.add_(x, alpha=a) on the CPU: y + a·x with one
// rounding, a fused multiply-add (torch's vectorized kernel is
// vec::fmadd, and its scalar tail is contracted alike).
func axpy[T float32 | float64](y, x []T, a T) {
	x = x[:len(y)]
	if unsafe.Sizeof(a) == 4 {
		for i, v := range x {
			y[i] = T(fma32(float32(a), float32(v), float32(y[i])))
		}
		return
	}
	for i, v := range x {
		y[i] = T(math.FMA(float64(a), float64(v), float64(y[i])))
	}
}

// fma32 is the float32 fused multiply-add a·b + c, rounded once. The
// product is exact in float64; the sum is rounded to odd in float64
// (the error of the float64 sum, by TwoSum, decides the last bit), which
// float32 rounding then rounds correctly, since 53 >= 24 + 2.
func fma32(a, b, c float32) float32 {
	p := float64(float64(a) * float64(b)) // exact
	s := float64(p + float64(c))
	bv := float64(s - p)
	e := float64(p-float64(s-bv)) + float64(float64(c)-bv)
	if u := math.Float64bits(s); e != 0 && u&1 == 0 && !math.IsInf(s, 0) {
		if (e > 0) == (s > 0) {
			u++
		} else {
			u--
		}
		s = math.Float64frombits(u)
	}
	return float32(s)
}

// lbDot is torch's x.dot(y) as the reference BLAS computes it (netlib's
// ddot and sdot, which the golden files' torch called): the products
// rounded to T, added one after the other in T, with no fused
// multiply-add. The order is not the package's blocked one: LBFGS on a
// function like Rosenbrock is chaotic, and a dot product that rounds
// differently at the last place moves the parameters by 1e-4 after a few
// steps, so torch's trajectories are reproduced only by torch's order.
// Plain Go with every rounding explicit gives the same bits on every CPU;
// it is a dependency chain, about one addition's latency per element.
func lbDot[T float32 | float64](x, y []T) T {
	y = y[:len(x)]
	var acc T
	for i, v := range x {
		acc = T(acc + T(v*y[i]))
	}
	return acc
}

// torchSum is torch 1.13's x.sum() (x.abs().sum() if abs) of a
// contiguous vector on a CPU with AVX2, torch's usual kernel set on x86:
// vectorized_inner_sum in aten/src/ATen/native/cpu/SumKernel.cpp, in T.
// The whole vectors of w elements (w = 8 float32 or 4 float64) form rows
// of 4 vectors, summed lane by lane into 4 chains by torch's 4-level
// cascade; the vectors after the last whole row go into the first chain,
// and the chains are added in order. The result starts from the elements
// after the last whole vector, in order, then adds the lanes in order. A
// vector shorter than w is summed as w = 1 would (scalar_inner_sum).
// Torch sums vectors above 32768 elements in chunks, one per thread;
// this is its order for one thread. LBFGS uses it once, for the first
// step length, where the float64 golden trajectories need torch's bits.
func torchSum[T float32 | float64](x []T, abs bool) T {
	const chains, levels = 4, 4
	w := 8
	if unsafe.Sizeof(T(0)) == 8 {
		w = 4
	}
	if len(x) < w {
		// Shorter than a vector: torch's scalar_inner_sum, the same
		// cascade over single elements.
		w = 1
	}
	load := func(i int) T {
		if abs && x[i] < 0 {
			return -x[i]
		}
		return x[i]
	}
	nvec := len(x) / w
	size := nvec / chains
	power := 4
	if size > 2 {
		power = max(4, mathbits.Len(uint(size-1))/levels)
	}
	step := 1 << power
	mask := step - 1
	var acc [levels][chains][8]T
	row := func(i int) {
		for c := range chains {
			for l := range w {
				acc[0][c][l] = T(acc[0][c][l] + load((i*chains+c)*w+l))
			}
		}
	}
	i := 0
	for i+step <= size {
		for range step {
			row(i)
			i++
		}
		for lv := 1; lv < levels; lv++ {
			for c := range chains {
				for l := range w {
					acc[lv][c][l] = T(acc[lv][c][l] + acc[lv-1][c][l])
					acc[lv-1][c][l] = 0
				}
			}
			if i&(mask<<(lv*power)) != 0 {
				break
			}
		}
	}
	for ; i < size; i++ {
		row(i)
	}
	p := &acc[0]
	for lv := 1; lv < levels; lv++ {
		for c := range chains {
			for l := range w {
				p[c][l] = T(p[c][l] + acc[lv][c][l])
			}
		}
	}
	for v := size * chains; v < nvec; v++ {
		for l := range w {
			p[0][l] = T(p[0][l] + load(v*w+l))
		}
	}
	for c := 1; c < chains; c++ {
		for l := range w {
			p[0][l] = T(p[0][l] + p[c][l])
		}
	}
	var sum T
	for k := nvec * w; k < len(x); k++ {
		sum = T(sum + load(k))
	}
	for l := range w {
		sum = T(sum + p[0][l])
	}
	return sum
}

// maxAbsNaN is torch's x.abs().max(): exact, NaN if any element is NaN.
func maxAbsNaN[T float32 | float64](x []T) float64 { return generic.MaxAbs(x) }

// lbScalar is one of torch's scalars in LBFGS: a Python float (float64)
// or, when tensor, a 0-dimensional tensor of the parameters' dtype T,
// whose value v then holds exactly. Arithmetic between them follows
// torch's type promotion: two Python floats give a Python float; a
// tensor with a Python float rounds the float to T first and computes in
// T; a Python float divided by a tensor is reciprocal(tensor) * float
// (torch's Tensor.__rdiv__), two roundings.
type lbScalar struct {
	v      float64
	tensor bool
}

func lbPy(v float64) lbScalar     { return lbScalar{v: v} }
func lbTensor(v float64) lbScalar { return lbScalar{v: v, tensor: true} }

// lbT rounds a scalar to T.
func lbT[T float32 | float64](a lbScalar) T { return T(a.v) }

func lbAdd[T float32 | float64](a, b lbScalar) lbScalar {
	if a.tensor || b.tensor {
		return lbTensor(float64(lbT[T](a) + lbT[T](b)))
	}
	return lbPy(a.v + b.v)
}

func lbSub[T float32 | float64](a, b lbScalar) lbScalar {
	if a.tensor || b.tensor {
		return lbTensor(float64(lbT[T](a) - lbT[T](b)))
	}
	return lbPy(a.v - b.v)
}

func lbMul[T float32 | float64](a, b lbScalar) lbScalar {
	if a.tensor || b.tensor {
		return lbTensor(float64(lbT[T](a) * lbT[T](b)))
	}
	return lbPy(float64(a.v * b.v))
}

// lbDiv divides. Python raises ZeroDivisionError for a Python float
// divided by zero; here it is IEEE's ±Inf or NaN, which the line search
// never reaches (its bracket test stops first).
func lbDiv[T float32 | float64](a, b lbScalar) lbScalar {
	switch {
	case !a.tensor && b.tensor:
		return lbTensor(float64((1 / lbT[T](b)) * lbT[T](a)))
	case a.tensor || b.tensor:
		return lbTensor(float64(lbT[T](a) / lbT[T](b)))
	}
	return lbPy(a.v / b.v)
}

func lbAbs(a lbScalar) lbScalar { a.v = math.Abs(a.v); return a }

// lbCmp returns the operands as compared: in T if either is a tensor.
func lbCmp[T float32 | float64](a, b lbScalar) (float64, float64) {
	if a.tensor || b.tensor {
		return float64(lbT[T](a)), float64(lbT[T](b))
	}
	return a.v, b.v
}

// lbLess is a < b.
func lbLess[T float32 | float64](a, b lbScalar) bool { x, y := lbCmp[T](a, b); return x < y }

// lbGE is a >= b.
func lbGE[T float32 | float64](a, b lbScalar) bool { x, y := lbCmp[T](a, b); return x >= y }

// lbMax is Python's max(a, b): b if b > a, else a (NaN keeps a).
func lbMax[T float32 | float64](a, b lbScalar) lbScalar {
	if lbLess[T](a, b) {
		return b
	}
	return a
}

// lbMin is Python's min(a, b): b if b < a, else a.
func lbMin[T float32 | float64](a, b lbScalar) lbScalar {
	if lbLess[T](b, a) {
		return b
	}
	return a
}

// lbCubic is torch's _cubic_interpolate, bounds nil for its None.
func lbCubic[T float32 | float64](x1, f1, g1, x2, f2, g2 lbScalar, bounds *[2]lbScalar) lbScalar {
	var xmin, xmax lbScalar
	if bounds != nil {
		xmin, xmax = bounds[0], bounds[1]
	} else if x, y := lbCmp[T](x1, x2); x <= y {
		xmin, xmax = x1, x2
	} else {
		xmin, xmax = x2, x1
	}
	// d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
	d1 := lbSub[T](lbAdd[T](g1, g2), lbDiv[T](lbMul[T](lbPy(3), lbSub[T](f1, f2)), lbSub[T](x1, x2)))
	// d2_square = d1**2 - g1 * g2; a tensor's **2 is d1*d1
	d2sq := lbSub[T](lbMul[T](d1, d1), lbMul[T](g1, g2))
	if lbGE[T](d2sq, lbPy(0)) {
		d2 := d2sq
		d2.v = float64(T(math.Sqrt(float64(lbT[T](d2sq)))))
		var minPos lbScalar
		if x, y := lbCmp[T](x1, x2); x <= y {
			// x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
			r := lbDiv[T](lbSub[T](lbAdd[T](g2, d2), d1), lbAdd[T](lbSub[T](g2, g1), lbMul[T](lbPy(2), d2)))
			minPos = lbSub[T](x2, lbMul[T](lbSub[T](x2, x1), r))
		} else {
			r := lbDiv[T](lbSub[T](lbAdd[T](g1, d2), d1), lbAdd[T](lbSub[T](g1, g2), lbMul[T](lbPy(2), d2)))
			minPos = lbSub[T](x1, lbMul[T](lbSub[T](x1, x2), r))
		}
		return lbMin[T](lbMax[T](minPos, xmin), xmax)
	}
	return lbDiv[T](lbAdd[T](xmin, xmax), lbPy(2))
}

// Comparisons of a tensor with a value already rounded to T.
func lt(a, b float64) bool { return a < b }
func le(a, b float64) bool { return a <= b }
func gt(a, b float64) bool { return a > b }
func ge(a, b float64) bool { return a >= b }

package optim

import (
	"fmt"
	"reflect"
)

// The matrix rules (Muon, Adafactor) step each parameter whole: their
// products and norms span the parameter, so it is never split between
// workers. Step runs them on the caller before the elementwise rules, one
// parameter after the other (each is independent of the others, so the
// order changes no bit); Muon's products use up to Workers goroutines
// inside linalg.Gemm, which splits the rows or columns of each product and
// gives the same bits for every count. Their state lives in the
// optimizer's state slots, with the lengths the rule asks for (Adafactor's
// row and column factors are shorter than the parameter).

// matWork is the scratch of the matrix rules' steps, sized at
// construction for the largest parameter, so that Step allocates nothing.
type matWork[T float32 | float64] struct {
	ns   nsWork[T]       // Muon's iteration in T
	ns32 nsWork[float32] // Muon's bfloat16 iteration, accumulated in float32
	u    []T             // Muon's Nesterov update; Adafactor's chunk of the update
	cols []float64       // Adafactor's column sums of squares
}

// growMatWork sizes the scratch for the matrix rules of every group.
func (o *Optimizer[T]) growMatWork() {
	for gi := range o.groups {
		g := &o.groups[gi]
		if !g.matrix {
			continue
		}
		if o.mat == nil {
			o.mat = new(matWork[T])
		}
		w := o.mat
		for i := g.first; i < g.end; i++ {
			need := 0
			switch r := g.rule.(type) {
			case Muon:
				s := o.shapes[i]
				m, n := min(s[0], s[1]), max(s[0], s[1])
				if r.NSBFloat16 {
					w.ns32.grow(m, n)
				} else {
					w.ns.grow(m, n)
				}
				if r.Nesterov {
					need = m * n
				}
			case Adafactor:
				var s Shape
				if o.shapes != nil {
					s = o.shapes[i]
				}
				need = adafactorChunk(s, len(o.params[i]))
				if len(s) >= 2 && len(w.cols) < s[len(s)-1] {
					w.cols = make([]float64, s[len(s)-1])
				}
			}
			if len(w.u) < need {
				w.u = make([]T, need)
			}
		}
	}
}

// allocMatrixState allocates the state slots of the matrix rules of groups
// [first, end) that do not exist yet, zero, from one array.
func (o *Optimizer[T]) allocMatrixState(first, end int) {
	total := 0
	each := func(f func(i, k, n int, key string)) {
		for gi := first; gi < end; gi++ {
			g := &o.groups[gi]
			mr, ok := g.rule.(matrixRule)
			if !ok {
				continue
			}
			for i := g.first; i < g.end; i++ {
				lens, keys, _ := o.matrixSlots(i, mr)
				for k, n := range lens {
					if n > 0 && o.state[i][k] == nil {
						f(i, k, n, keys[k])
					}
				}
			}
		}
	}
	each(func(i, _, n int, _ string) { total += n })
	if total == 0 {
		return
	}
	clear(o.clear) // new spans: every grad must be checked again
	backing := make([]T, total)
	var spans []span
	each(func(i, k, n int, key string) {
		st := backing[:n:n]
		backing = backing[n:]
		o.state[i][k] = st
		spans = append(spans, region(st, Slot{Kind: "state", Index: i, Key: key}))
	})
	o.owned.merge(spans)
}

// stepMatrices steps every parameter of a matrix rule that has a gradient,
// on the caller (see the top of this file). The gradients are validated.
func (o *Optimizer[T]) stepMatrices(grads [][]T) {
	w := o.mat
	workers := o.parallelism(o.matElems)
	w.ns.gemm.Workers, w.ns32.gemm.Workers = workers, workers
	for gi := range o.groups {
		g := &o.groups[gi]
		if !g.matrix {
			continue
		}
		for i := g.first; i < g.end; i++ {
			if grads[i] == nil {
				continue
			}
			o.steps[i]++
			o.created[i] = true
			switch r := g.rule.(type) {
			case Muon:
				s := o.shapes[i]
				muonStep(w, &r, o.params[i], grads[i], o.state[i][0], s[0], s[1])
			case Adafactor:
				var s Shape
				if o.shapes != nil {
					s = o.shapes[i]
				}
				adafactorStep(w, &r, o.params[i], grads[i], &o.state[i], s, o.steps[i])
			}
		}
	}
}

// matrixSlots returns the state slots of parameter i of a matrix rule: their
// lengths, torch keys, and whether each has the parameter's shape.
func (o *Optimizer[T]) matrixSlots(i int, mr matrixRule) (lens [3]int, keys [3]string, full [3]bool) {
	var s Shape
	if o.shapes != nil {
		s = o.shapes[i]
	}
	return mr.stateSlots(s, len(o.params[i]))
}

// matrixTorchForm is newTorchForm for a matrix rule, which has no kernel of
// its own to be named after, and whose keys may hold an int (ns_steps), a
// string (adjust_lr_fn) or three numbers (ns_coefficients).
func matrixTorchForm[R Rule](f torchForm) torchForm {
	f.typ = reflect.TypeFor[R]()
	held := 0
	for _, k := range f.keys {
		for _, name := range k.fields {
			if _, ok := f.typ.FieldByName(name); !ok {
				panic(fmt.Sprintf("optim: the torch form of %s names the missing field %s", f.typ.Name(), name))
			}
			held++
		}
	}
	if held != f.typ.NumField() {
		panic(fmt.Sprintf("optim: the torch form of %s holds %d of its %d fields", f.typ.Name(), held, f.typ.NumField()))
	}
	return f
}

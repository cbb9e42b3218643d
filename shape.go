package optim

import (
	"fmt"
	"math"
)

// Shape is a parameter's shape, row-major, as torch's p.shape: Shape{rows,
// cols} for a weight matrix, Shape{batch, rows, cols} for a stack of them,
// Shape{n} or nil for a flat vector. The parameter's slice holds the
// elements in that order, so the product of the dimensions is its length.
//
// Elementwise rules (SGD, Adam, ...) ignore shapes; Muon needs two
// dimensions and Adafactor factors the last two. The shape travels with
// the parameter: Optimizer.Shape returns it, and checkpoints save the
// state tensors that have the parameter's layout with it, as torch does.
type Shape []int

// Elems returns the number of elements of the shape: the product of its
// dimensions (1 for the empty shape, as torch's scalar), and ok false when
// a dimension is negative or the product overflows int.
func (s Shape) Elems() (n int, ok bool) {
	n = 1
	for _, d := range s {
		if d < 0 {
			return 0, false
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// String formats the shape as torch prints a size: [3, 4].
func (s Shape) String() string {
	out := "["
	for k, d := range s {
		if k > 0 {
			out += ", "
		}
		out += fmt.Sprint(d)
	}
	return out + "]"
}

// Shape returns a copy of the i-th parameter's shape (across all groups),
// or nil when it has none (a flat parameter) or i is out of range.
func (o *Optimizer[T]) Shape(i int) Shape {
	if i < 0 || i >= len(o.shapes) || o.shapes[i] == nil {
		return nil
	}
	return append(Shape(nil), o.shapes[i]...)
}

// checkShapes validates the shapes of groups, to be added to the
// optimizer's params: at most one per param, each matching its param's
// length, and of the form the group's rule needs (a matrix rule's
// checkShape). It returns the new params' shapes, copied (nil when no group
// gives any and no rule needs them).
func (o *Optimizer[T]) checkShapes(op string, groups []Group[T], rules []Rule) ([]Shape, error) {
	var out []Shape
	next := len(o.params)
	for gi, g := range groups {
		group := len(o.groups) + gi
		mr, matrix := rules[gi].(matrixRule)
		if g.Shapes != nil && len(g.Shapes) != len(g.Params) {
			return nil, &ParamShapeError{Op: op, Group: group, Param: -1, Got: len(g.Shapes), Len: len(g.Params)}
		}
		for k, p := range g.Params {
			var s Shape
			if g.Shapes != nil && g.Shapes[k] != nil {
				s = append(Shape{}, g.Shapes[k]...)
				n, ok := s.Elems()
				if !ok {
					n = -1
				}
				if n != len(p) {
					return nil, &ParamShapeError{Op: op, Group: group, Param: next + k, Shape: s, Got: n, Len: len(p)}
				}
			}
			if matrix {
				if err := mr.checkShape(s); err != nil {
					return nil, &ParamShapeError{Op: op, Group: group, Param: next + k, Shape: s, Got: len(p), Len: len(p),
						Rule: errorName(rules[gi]), Reason: err.Error()}
				}
			}
			if s != nil && out == nil {
				out = make([]Shape, next+k-len(o.params), total(groups))
			}
			if out != nil {
				out = append(out, s)
			}
		}
		next += len(g.Params)
	}
	return out, nil
}

// total counts the params of groups.
func total[T float32 | float64](groups []Group[T]) int {
	n := 0
	for _, g := range groups {
		n += len(g.Params)
	}
	return n
}

// isMatrix reports whether r steps each parameter whole, from its shape
// (Muon, Adafactor), rather than element by element.
func isMatrix(r Rule) bool {
	_, ok := r.(matrixRule)
	return ok
}

// matrixRule is a Rule that needs a parameter's shape and steps each
// parameter whole: its products and norms span the parameter, so the
// parameter is never split between workers. Its state lives in the
// optimizer's state slots, with lengths of its own (stateLens).
type matrixRule interface {
	Rule
	// checkShape reports why the rule cannot step a parameter of shape s
	// (nil: a flat parameter), as a phrase for a *ShapeError.
	checkShape(s Shape) error
	// stateLens returns the lengths of the rule's state slots for a
	// parameter of shape s with n elements (0: unused), and their torch
	// state-dict keys; full[k] reports that slot k has the parameter's
	// shape (torch's zeros_like(p)).
	stateSlots(s Shape, n int) (lens [3]int, keys [3]string, full [3]bool)
	// layout is what a checkpoint holds of a parameter of the rule.
	layout() *tensorLayout
}

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

// shapeSet is the parameters' shapes (Group.Shapes, LowGroup.Shapes),
// what Optimizer and LowOptimizer share; shapes is nil while no parameter
// has one.
type shapeSet struct {
	shapes []Shape
}

// Shape returns a copy of the i-th parameter's shape (across all groups),
// or nil when it has none (a flat parameter) or i is out of range.
func (o *shapeSet) Shape(i int) Shape {
	if i < 0 || i >= len(o.shapes) || o.shapes[i] == nil {
		return nil
	}
	return append(Shape(nil), o.shapes[i]...)
}

// paramShape is parameter i's shape, not copied (nil for none).
func (o *shapeSet) paramShape(i int) Shape {
	if o.shapes == nil {
		return nil
	}
	return o.shapes[i]
}

// addShapes records the shapes of n new parameters, after the first
// existing ones, as checkShapes returned them (nil: none has a shape).
func (o *shapeSet) addShapes(first, n int, shapes []Shape) {
	switch {
	case shapes != nil && o.shapes == nil:
		o.shapes = append(make([]Shape, first), shapes...)
	case shapes != nil:
		o.shapes = append(o.shapes, shapes...)
	case o.shapes != nil:
		o.shapes = append(o.shapes, make([]Shape, n)...)
	}
}

// checkShapes validates the shapes of new groups, whose params (params[gi]
// of group firstGroup+gi, numbered from first) and shapes (nil: none) are
// given group by group: at most one per param, each matching its param's
// length, and of the form the group's rule needs (a matrix rule's
// checkShape). It returns the new params' shapes, copied (nil when no group
// gives any).
func checkShapes[P any](op string, first, firstGroup int, rules []Rule, params [][][]P, shapes [][]Shape) ([]Shape, error) {
	var out []Shape
	count := 0
	for _, ps := range params {
		count += len(ps)
	}
	next := first
	for gi, ps := range params {
		group := firstGroup + gi
		mr, matrix := rules[gi].(matrixRule)
		gs := shapes[gi]
		if gs != nil && len(gs) != len(ps) {
			return nil, &ParamShapeError{Op: op, Group: group, Param: -1, Got: len(gs), Len: len(ps)}
		}
		for k, p := range ps {
			var s Shape
			if gs != nil && gs[k] != nil {
				s = append(Shape{}, gs[k]...)
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
				out = make([]Shape, next+k-first, count)
			}
			if out != nil {
				out = append(out, s)
			}
		}
		next += len(ps)
	}
	return out, nil
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

package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// compare runs every method on p and prints one table row per method.
func compare(w io.Writer, p *Problem, methods []Method, budget int, tol float64) {
	fmt.Fprintf(w, "== Problem %s\n%s\n", p.Name, p.Description)
	fmt.Fprintf(w, "Each method starts from the same point; the count is the steps until f - f* <= %g (budget %d).\n\n", tol, budget)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "method\tsteps to tol\tfinal f - f*\thyperparameters")
	for _, m := range methods {
		r := m.Run(p, budget, tol)
		steps := fmt.Sprint(r.Iters)
		switch {
		case r.Err != nil:
			steps = "error: " + r.Err.Error()
		case r.Diverged:
			steps = "diverged"
		case r.Iters < 0:
			steps = fmt.Sprintf("not reached in %d", budget)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.3g\t%s\n", m.Name, steps, r.Loss-p.FMin, r.Setting)
	}
	tw.Flush()
	if p.Name == "ravine" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(ravineLesson))
	}
}

// ravineLesson is what the ravine table shows, stated once under it.
const ravineLesson = `
Reading: gradient descent's step is capped by the steep direction (lr < 2/L), so
the flat direction shrinks only by (1 - mu/L) per step: ~kappa steps. Momentum
and Nesterov need ~sqrt(kappa). Adagrad, RMSProp and Adam rescale each
coordinate, which cures an axis-aligned ravine (try -angle 0) but not a rotated
one, where steep and flat directions share both coordinates.`

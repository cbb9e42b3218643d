// Command optim demonstrates the optim package: it reports the CPU and the
// kernel set in use, races first-order rules against Newton's method on two
// badly conditioned problems (pathological curvature), trains a small
// network, measures the update throughput of each rule on a million float32
// parameters, and draws all of it (PNG and SVG, with gonum.org/v1/plot),
// with a figure of SGD on bfloat16 weights rounded to nearest and
// stochastically.
//
// It is a module of its own, so that a program importing the library does
// not inherit the plotting modules in its module graph. From the repository
// root (-C makes relative paths start at cmd/optim):
//
//	go -C cmd/optim run .                            # everything; figures in a new temporary folder
//	go -C cmd/optim run . -plots ../../docs/figures  # figures in a folder of your choice
//	go -C cmd/optim run . -problem ravine -kappa 1e4 -throughput=false -plots=
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

// config is the command line.
type config struct {
	problem    string  // ravine, rosenbrock or all
	kappa      float64 // the ravine's condition number
	angle      float64 // the ravine's rotation, degrees
	budget     int     // steps per run
	tol        float64 // stop when f - f* <= tol
	throughput bool    // run the throughput table
	train      int     // epochs of the training run; 0 skips it
	n          int     // parameters in the throughput table
	perRule    time.Duration
	plots      string // folder for the figures; "" draws none
}

func main() {
	var c config
	flag.StringVar(&c.problem, "problem", "all", "problem to minimize: ravine, rosenbrock or all")
	flag.Float64Var(&c.kappa, "kappa", 1e3, "condition number of the ravine (>= 1)")
	flag.Float64Var(&c.angle, "angle", 30, "rotation of the ravine in degrees; 0 aligns it with the axes, where per-coordinate step sizes suffice")
	flag.IntVar(&c.budget, "budget", 50000, "step budget per optimizer and problem")
	flag.Float64Var(&c.tol, "tol", 1e-10, "tolerance: an optimizer has converged when f - f* <= tol")
	flag.BoolVar(&c.throughput, "throughput", true, "measure the update throughput of each rule")
	flag.IntVar(&c.train, "train", 12, "epochs of the training run (a small MLP with parameter groups, a schedule, an EMA and a checkpoint resumed halfway); 0 skips it")
	flag.IntVar(&c.n, "n", 1<<20, "float32 parameters in the throughput table")
	flag.DurationVar(&c.perRule, "time", 200*time.Millisecond, "time spent measuring each rule in the throughput table")
	flag.StringVar(&c.plots, "plots", "auto", `folder for the figures (PNG and SVG); "auto": a new temporary folder, named when the demo starts; "": no figures`)
	flag.Parse()
	if c.plots == "auto" {
		dir, err := os.MkdirTemp("", "optim-figures-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "optim:", err)
			os.Exit(2)
		}
		c.plots = dir
		fmt.Printf("Figures go to %s (-plots DIR to choose, -plots= for none)\n\n", dir)
	}
	if err := run(os.Stdout, c); err != nil {
		fmt.Fprintln(os.Stderr, "optim:", err)
		os.Exit(2)
	}
}

func run(w io.Writer, c config) error {
	problems, err := c.problems()
	if err != nil {
		return err
	}
	if c.budget < 0 || !(c.tol >= 0) || c.n < 1 || c.perRule <= 0 || c.train < 0 {
		return fmt.Errorf("want -budget >= 0, -tol >= 0, -n >= 1, -time > 0 and -train >= 0")
	}
	printMachine(w)
	for _, p := range problems {
		fmt.Fprintln(w)
		compare(w, p, Methods(), c.budget, c.tol)
	}
	var cmps []comparison
	if c.train > 0 {
		fmt.Fprintln(w)
		// The main run: warmup then cosine to a peak of 0.1; the
		// comparisons use their own rates (see compareTraining).
		tc := trainConfig{epochs: c.train, batch: 50, hidden: 32, lr: 0.1, resumeAt: c.train / 2}
		if _, err := train(w, tc); err != nil {
			return err
		}
		fmt.Fprintln(w)
		if cmps, err = compareTraining(tc); err != nil {
			return err
		}
		printComparisons(w, cmps, c.train)
	}
	if c.throughput {
		fmt.Fprintln(w)
		throughput(w, c.n, c.perRule)
	}
	if c.plots != "" {
		fmt.Fprintln(w)
		_, err := drawFigures(w, c.plots, c, cmps)
		return err
	}
	return nil
}

func (c config) problems() ([]*Problem, error) {
	if !(c.kappa >= 1) || c.kappa > 1e12 {
		return nil, fmt.Errorf("-kappa = %v, want a number in [1, 1e12]", c.kappa)
	}
	switch c.problem {
	case "ravine":
		return []*Problem{Ravine(c.kappa, c.angle)}, nil
	case "rosenbrock":
		return []*Problem{Rosenbrock()}, nil
	case "all":
		return []*Problem{Ravine(c.kappa, c.angle), Rosenbrock()}, nil
	}
	return nil, fmt.Errorf("-problem = %q, want ravine, rosenbrock or all", c.problem)
}

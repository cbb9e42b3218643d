package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/simdoptim/optim"
	"github.com/simdoptim/optim/kernels"
)

// rate is one throughput measurement.
type rate struct{ nsPerParam float64 }

// streamRule is one row of the throughput table: a rule and how many
// float32 values each parameter's update reads or writes.
type streamRule struct {
	name string
	rule optim.Rule
	// accesses counts each of p, g and every state slice read once, and p
	// and every state slice written once: plain SGD = p r/w + g r = 3.
	accesses int
}

var streamRules = []streamRule{
	{"SGD", optim.DefaultSGD(), 3},
	{"SGD+momentum", optim.SGD{LR: 1e-3, Momentum: 0.9}, 5},
	{"Adagrad", optim.DefaultAdagrad(), 5},
	{"RMSProp", optim.DefaultRMSProp(), 5},
	{"Adam", optim.DefaultAdam(), 7},
	{"AdamW", optim.DefaultAdamW(), 7},
}

// throughput times each rule's Step on n float32 parameters with the
// dispatched kernels, and with the generic kernels through the stateless
// layer when the dispatched set is not generic already.
func throughput(w io.Writer, n int, perRule time.Duration) {
	fmt.Fprintf(w, "== Throughput: one Step over %d float32 parameters, kernel set %s\n", n, optim.ISA())
	fmt.Fprintln(w, "GB/s counts each of p, g and every state slice read once and p and every state")
	fmt.Fprintln(w, "slice written once (4 bytes each); cache write-allocate traffic is not counted.")
	fmt.Fprintln(w)
	compareGeneric := optim.ISA() != "generic"
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := "rule\tbytes/param\tns/param\tGB/s\t"
	if compareGeneric {
		header += "generic ns/param\tspeedup\t"
	}
	fmt.Fprintln(tw, header)
	p := make([]float32, n)
	g := make([]float32, n)
	for i := range p {
		p[i] = float32(i%1000) * 1e-3
		g[i] = float32(i%777)*1e-3 - 0.3
	}
	for _, r := range streamRules {
		bytes := 4 * r.accesses
		d := timeDispatched(r.rule, p, g, perRule)
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.1f\t", r.name, bytes, d.nsPerParam, float64(bytes)/d.nsPerParam)
		if compareGeneric {
			gen := timeGeneric(r.rule, p, g, perRule)
			fmt.Fprintf(tw, "%.3f\t%.2fx\t", gen.nsPerParam, gen.nsPerParam/d.nsPerParam)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// timeDispatched measures optim.New + Step, the way a training loop runs.
func timeDispatched(rule optim.Rule, p, g []float32, budget time.Duration) rate {
	opt, err := optim.New[float32](rule, p)
	if err != nil {
		panic(err) // the rules above are valid constants
	}
	return timeSteps(len(p), budget, func() {
		if err := opt.Step(g); err != nil {
			panic(err)
		}
	})
}

// timeGeneric measures the same update with the portable reference kernels,
// through the stateless layer and a fixed step number (2: past SGD's
// buffer-initializing first step).
func timeGeneric(rule optim.Rule, p, g []float32, budget time.Duration) rate {
	c, v, err := optim.Coefficients[float32](rule, 2)
	if err != nil {
		panic(err)
	}
	n := len(p)
	set := kernels.Generic()
	s0, s1 := make([]float32, n), make([]float32, n)
	var step func() error
	switch rule.(type) {
	case optim.SGD:
		if rule.(optim.SGD).Momentum == 0 {
			s0 = nil
		}
		step = func() error { return kernels.SGD(set, v, &c, p, g, s0) }
	case optim.Adagrad:
		step = func() error { return kernels.Adagrad(set, v, &c, p, g, s0) }
	case optim.RMSProp:
		step = func() error { return kernels.RMSProp(set, v, &c, p, g, s0, nil, nil) }
	case optim.Adam:
		step = func() error { return kernels.Adam(set, v, &c, p, g, s0, s1, nil) }
	}
	return timeSteps(n, budget, func() {
		if err := step(); err != nil {
			panic(err)
		}
	})
}

// timeSteps runs step once to warm up, then repeatedly for about budget,
// and returns the time per parameter.
func timeSteps(n int, budget time.Duration, step func()) rate {
	step()
	var steps int
	start := time.Now()
	for steps == 0 || time.Since(start) < budget {
		step()
		steps++
	}
	ns := float64(time.Since(start).Nanoseconds()) / float64(steps) / float64(n)
	return rate{nsPerParam: ns}
}

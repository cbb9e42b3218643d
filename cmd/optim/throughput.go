package main

import (
	"fmt"
	"io"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/simdoptim/optim"
	"github.com/simdoptim/optim/internal/ir"
	"github.com/simdoptim/optim/kernels"
)

// rate is one throughput measurement, and the goroutines it ran on.
type rate struct {
	nsPerParam float64
	workers    int
}

// streamRule is one row of the throughput table.
type streamRule struct {
	name string
	rule optim.Rule
}

var streamRules = []streamRule{
	{"SGD", optim.DefaultSGD()},
	{"SGD+momentum", optim.SGD{LR: 1e-3, Momentum: 0.9}},
	{"Adagrad", optim.DefaultAdagrad()},
	{"RMSProp", optim.DefaultRMSProp()},
	{"Adam", optim.DefaultAdam()},
	{"AdamW", optim.DefaultAdamW()},
	{"NAdam", optim.DefaultNAdam()},
	{"RAdam", optim.DefaultRAdam()},
	{"Adamax", optim.DefaultAdamax()},
	{"Adadelta", optim.DefaultAdadelta()},
	{"Rprop", optim.DefaultRprop()},
	{"ASGD", optim.DefaultASGD()},
	{"Lion", optim.DefaultLion()},
}

// traffic returns how many float32 slices the update of rule's step 2
// reads, how many it writes and how many it touches, from the operation
// list the kernels are generated from: plain SGD reads p and g and writes
// p, two slices.
func traffic(rule optim.Rule) (reads, writes, slices int) {
	_, v, err := optim.Coefficients[float32](rule, 2)
	if err != nil {
		panic(err) // the rules above are valid constants
	}
	var read, written [ir.NumStreams]bool
	for _, in := range ir.Build(int(ruleKind(rule)), uint32(v)).Body {
		switch in.Op {
		case ir.OpLoad:
			read[in.Stream] = true
		case ir.OpStore:
			written[in.Stream] = true
		}
	}
	for s := range read {
		if read[s] {
			reads++
		}
		if written[s] {
			writes++
		}
		if read[s] || written[s] {
			slices++
		}
	}
	return reads, writes, slices
}

// throughput times each rule's Step on n float32 parameters with the
// dispatched kernels, and with the generic kernels through the stateless
// layer when the dispatched set is not generic already.
func throughput(w io.Writer, n int, perRule time.Duration) {
	fmt.Fprintf(w, "== Throughput: one Step over %d float32 parameters, kernel set %s, 1 worker and all workers\n", n, optim.ISA())
	fmt.Fprintln(w, "GB/s counts each of p, g and every state slice read once and p and every state")
	fmt.Fprintln(w, "slice written once (4 bytes each); cache write-allocate traffic is not counted.")
	fmt.Fprintln(w, "A working set that fits in the last-level cache measures cache, not DRAM, bandwidth:")
	fmt.Fprintln(w, "vary it with -n.")
	fmt.Fprintln(w)
	compareGeneric := optim.ISA() != "generic"
	all := dispatched(optim.DefaultSGD(), make([]float32, n), runtime.GOMAXPROCS(0)).Workers()
	if all > 1 {
		fmt.Fprintf(w, "The %d-workers column lowers the optimizer's split threshold (SetParallelMin) to\n", all)
		fmt.Fprintf(w, "n/%d elements, so that every worker steps a share; at the default, %d elements\n", all, kernels.ParallelMin)
		fmt.Fprintf(w, "per worker, this step would use %d.\n", defaultWorkers(n))
		fmt.Fprintln(w)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := "rule\tbytes/param\tworking set\tns/param\tGB/s\t"
	if all > 1 {
		header += fmt.Sprintf("%d workers ns/param\tGB/s\t", all)
	}
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
		reads, writes, slices := traffic(r.rule)
		bytes := 4 * (reads + writes)
		d := timeDispatched(r.rule, p, g, perRule, 1)
		set := float64(n*slices*4) / (1 << 20)
		fmt.Fprintf(tw, "%s\t%d\t%.0f MiB\t%.3f\t%.1f\t", r.name, bytes, set, d.nsPerParam, float64(bytes)/d.nsPerParam)
		if all > 1 {
			pd := timeDispatched(r.rule, p, g, perRule, all)
			fmt.Fprintf(tw, "%.3f\t%.1f\t", pd.nsPerParam, float64(bytes)/pd.nsPerParam)
		}
		if compareGeneric {
			gen := timeGeneric(r.rule, p, g, perRule)
			fmt.Fprintf(tw, "%.3f\t%.2fx\t", gen.nsPerParam, gen.nsPerParam/d.nsPerParam)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// timeDispatched measures optim.New + Step, the way a training loop runs,
// with the given number of workers, each given a share however small p is.
func timeDispatched(rule optim.Rule, p, g []float32, budget time.Duration, workers int) rate {
	opt := dispatched(rule, p, workers)
	defer opt.Close()
	r := timeSteps(len(p), budget, func() {
		if err := opt.Step(g); err != nil {
			panic(err)
		}
	})
	r.workers = opt.Workers()
	return r
}

// dispatched returns an optimizer of rule over p that steps on workers
// goroutines (as many as p has elements, if fewer): its split threshold
// is lowered to len(p)/workers elements, so that every worker gets a share.
func dispatched(rule optim.Rule, p []float32, workers int) *optim.Optimizer[float32] {
	opt, err := optim.New[float32](rule, p)
	if err != nil {
		panic(err) // the rules above are valid constants
	}
	if err := opt.SetWorkers(workers); err != nil {
		panic(err)
	}
	if err := opt.SetParallelMin(max(1, len(p)/workers)); err != nil {
		panic(err)
	}
	return opt
}

// defaultWorkers is how many goroutines an optimizer with the default
// settings steps n elements on.
func defaultWorkers(n int) int {
	opt, err := optim.New[float32](optim.DefaultSGD(), make([]float32, n))
	if err != nil {
		panic(err)
	}
	return opt.Workers()
}

// timeGeneric measures the same update with the portable reference kernels,
// through the stateless layer and a fixed step number (2: past SGD's
// buffer-initializing first step).
func timeGeneric(rule optim.Rule, p, g []float32, budget time.Duration) rate {
	return timeSet(kernels.Generic(), 1, rule, p, g, budget)
}

// timeSet measures rule's update with one kernel set through the stateless
// layer, as timeGeneric does, split across workers goroutines by
// kernels.Parallel (the optimizer itself always runs the dispatched set).
func timeSet(set *kernels.Set, workers int, rule optim.Rule, p, g []float32, budget time.Duration) rate {
	c, v, err := optim.Coefficients[float32](rule, 2)
	if err != nil {
		panic(err)
	}
	n := len(p)
	kind := ruleKind(rule)
	// The state slices the variant uses; a kernel never touches the others.
	var s [3][]float32
	u0, u1, u2 := kernels.Uses(kind, v)
	for k, used := range []bool{u0, u1, u2} {
		if used {
			s[k] = make([]float32, n)
		}
	}
	return timeSteps(n, budget, func() {
		if err := kernels.Parallel(workers, set, kind, v, &c, p, g, s[0], s[1], s[2]); err != nil {
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
	return rate{nsPerParam: ns, workers: 1}
}

// ruleKind is the kernel that runs rule.
func ruleKind(rule optim.Rule) kernels.Kind {
	k, err := optim.KernelKind(rule)
	if err != nil {
		panic(err) // the rules above are valid constants
	}
	return k
}

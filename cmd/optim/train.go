package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/simdoptim/optim"
	"github.com/simdoptim/optim/schedule"
)

// The training run: a small multilayer perceptron learns to tell three
// interleaved spirals apart, the way a PyTorch loop would train it:
// parameter groups (AdamW, no weight decay on the biases), a learning-rate
// schedule stepped every batch, gradient clipping, and a checkpoint saved
// halfway and resumed.

// spirals returns n points of three interleaved noisy spirals in the plane
// and their classes.
func spirals(n int, seed uint64) (x [][2]float32, y []int) {
	r := rand.New(rand.NewPCG(seed, 0x5b1a))
	for i := range n {
		c := i % 3
		t := r.Float64()
		radius := 0.1 + 0.9*t
		angle := 4.5*t + 2*math.Pi*float64(c)/3 + 0.25*r.NormFloat64()
		x = append(x, [2]float32{float32(radius * math.Cos(angle)), float32(radius * math.Sin(angle))})
		y = append(y, c)
	}
	return x, y
}

// mlp is a 2-hidden-classes network: 2 inputs, a tanh hidden layer, 3
// logits. Its parameters and gradients are flat slices, as a framework
// keeps them.
type mlp struct {
	hidden             int
	w1, b1, w2, b2     []float32 // w1: hidden x 2, w2: 3 x hidden
	gw1, gb1, gw2, gb2 []float32
	h                  []float32 // activations of one example
}

func newMLP(hidden int, seed uint64) *mlp {
	m := &mlp{hidden: hidden,
		w1: make([]float32, 2*hidden), b1: make([]float32, hidden),
		w2: make([]float32, 3*hidden), b2: make([]float32, 3),
		gw1: make([]float32, 2*hidden), gb1: make([]float32, hidden),
		gw2: make([]float32, 3*hidden), gb2: make([]float32, 3),
		h: make([]float32, hidden)}
	r := rand.New(rand.NewPCG(seed, 0x1217))
	for i := range m.w1 {
		m.w1[i] = float32(r.NormFloat64() * math.Sqrt(1.0/2))
	}
	for i := range m.w2 {
		m.w2[i] = float32(r.NormFloat64() * math.Sqrt(1.0/float64(hidden)))
	}
	return m
}

func (m *mlp) params() [][]float32 { return [][]float32{m.w1, m.b1, m.w2, m.b2} }
func (m *mlp) grads() [][]float32  { return [][]float32{m.gw1, m.gb1, m.gw2, m.gb2} }

// forward computes the logits of x into z and the hidden activations.
func (m *mlp) forward(x [2]float32, z *[3]float32) {
	for j := range m.hidden {
		a := m.b1[j] + m.w1[2*j]*x[0] + m.w1[2*j+1]*x[1]
		m.h[j] = float32(math.Tanh(float64(a)))
	}
	for k := range 3 {
		s := m.b2[k]
		for j := range m.hidden {
			s += m.w2[k*m.hidden+j] * m.h[j]
		}
		z[k] = s
	}
}

// softmax turns logits into probabilities and returns -log p[y].
func softmax(z *[3]float32, y int) float64 {
	mx := max(z[0], z[1], z[2])
	var sum float64
	var e [3]float64
	for k := range 3 {
		e[k] = math.Exp(float64(z[k] - mx))
		sum += e[k]
	}
	for k := range 3 {
		z[k] = float32(e[k] / sum)
	}
	return -math.Log(e[y] / sum)
}

// batchGrad zeroes the gradients, accumulates the mean cross-entropy
// gradient of a batch and returns its mean loss.
func (m *mlp) batchGrad(xs [][2]float32, ys []int) float64 {
	for _, g := range m.grads() {
		clear(g)
	}
	inv := 1 / float32(len(xs))
	var loss float64
	var z [3]float32
	for i, x := range xs {
		m.forward(x, &z)
		loss += softmax(&z, ys[i])
		z[ys[i]]--
		for k := range 3 {
			d := z[k] * inv
			m.gb2[k] += d
			for j := range m.hidden {
				m.gw2[k*m.hidden+j] += d * m.h[j]
			}
		}
		for j := range m.hidden {
			var d float32
			for k := range 3 {
				d += z[k] * inv * m.w2[k*m.hidden+j]
			}
			d *= 1 - m.h[j]*m.h[j]
			m.gb1[j] += d
			m.gw1[2*j] += d * x[0]
			m.gw1[2*j+1] += d * x[1]
		}
	}
	return loss / float64(len(xs))
}

// evaluate returns the mean loss and the accuracy on a data set.
func (m *mlp) evaluate(xs [][2]float32, ys []int) (loss, acc float64) {
	var z [3]float32
	correct := 0
	for i, x := range xs {
		m.forward(x, &z)
		loss += softmax(&z, ys[i])
		best := 0
		for k := 1; k < 3; k++ {
			if z[k] > z[best] {
				best = k
			}
		}
		if best == ys[i] {
			correct++
		}
	}
	return loss / float64(len(xs)), float64(correct) / float64(len(xs))
}

// trainConfig is one training run.
type trainConfig struct {
	epochs, batch, hidden int
	lr                    float64
}

// newTrainOptimizer builds the torch-style optimizer: AdamW with weight
// decay on the weight matrices, none on the biases.
func newTrainOptimizer(m *mlp, lr float64) (*optim.Optimizer[float32], error) {
	decay := optim.DefaultAdamW()
	decay.LR, decay.WeightDecay = lr, 1e-2
	noDecay := decay
	noDecay.WeightDecay = 0
	return optim.NewGroups(
		optim.Group[float32]{Rule: decay, Params: [][]float32{m.w1, m.w2}},
		optim.Group[float32]{Rule: noDecay, Params: [][]float32{m.b1, m.b2}},
	)
}

// groupGrads are the gradients in the order newTrainOptimizer's Step
// takes them: group order, then parameter order: w1, w2, b1, b2.
func (m *mlp) groupGrads() [][]float32 { return [][]float32{m.gw1, m.gw2, m.gb1, m.gb2} }

// train runs the training loop and prints the loss per epoch. Halfway it
// saves a checkpoint (the optimizer with the schedule's state in the same
// file), then continues with a fresh optimizer and schedule loaded from it,
// as a resumed process would; the run goes on with the same bits.
func train(w io.Writer, c trainConfig) error {
	xs, ys := spirals(1500, 1)
	testX, testY := spirals(600, 2)
	m := newMLP(c.hidden, 3)
	batches := (len(xs) + c.batch - 1) / c.batch
	opt, sched, err := newTrainState(m, c, batches)
	if err != nil {
		return err
	}
	defer func() { opt.Close() }()
	grads := m.groupGrads()
	fmt.Fprintf(w, "Training: a %d-unit MLP on three spirals (%d train, %d held out), AdamW (no decay on biases), %d epochs\n",
		c.hidden, len(xs), len(testX), c.epochs)
	fmt.Fprintf(w, "schedule: linear warmup over %d steps, then cosine annealing to 0 at step %d; gradients clipped to norm %g\n",
		batches, c.epochs*batches, clipNorm)
	fmt.Fprintf(w, "%6s %12s %12s %12s %10s %10s\n", "epoch", "lr", "train loss", "test loss", "test acc", "clipped")
	for epoch := range c.epochs {
		if epoch == c.epochs/2 && epoch > 0 {
			if opt, sched, err = checkpointAndResume(w, opt, sched, m, c, batches); err != nil {
				return err
			}
		}
		var sum float64
		clipped := 0
		for b := range batches {
			lo, hi := b*c.batch, min((b+1)*c.batch, len(xs))
			sum += m.batchGrad(xs[lo:hi], ys[lo:hi])
			norm, err := opt.ClipGradNorm(clipNorm, 2, true, grads...)
			if err != nil {
				return err
			}
			if norm > clipNorm {
				clipped++
			}
			if err := opt.Step(grads...); err != nil {
				return err
			}
			if err := sched.Step(); err != nil {
				return err
			}
		}
		tl, acc := m.evaluate(testX, testY)
		fmt.Fprintf(w, "%6d %12.3g %12.4f %12.4f %9.1f%% %6d/%d\n", epoch+1, opt.LR(), sum/float64(batches), tl, 100*acc, clipped, batches)
	}
	return nil
}

// clipNorm is the training run's gradient-norm bound: about the median
// norm of its batch gradients, so that the larger ones are clipped.
const clipNorm = 0.25

// newTrainState builds the training run's optimizer and its schedule.
func newTrainState(m *mlp, c trainConfig, batches int) (*optim.Optimizer[float32], *schedule.Scheduler, error) {
	opt, err := newTrainOptimizer(m, c.lr)
	if err != nil {
		return nil, nil, err
	}
	sched, err := schedule.New(opt, warmupCosine(batches, c.epochs*batches))
	if err != nil {
		opt.Close()
		return nil, nil, err
	}
	return opt, sched, nil
}

// checkpointAndResume saves opt and sched into one file, closes opt, and
// returns a new optimizer and schedule over the same model loaded from it.
func checkpointAndResume(w io.Writer, opt *optim.Optimizer[float32], sched *schedule.Scheduler, m *mlp, c trainConfig, batches int) (*optim.Optimizer[float32], *schedule.Scheduler, error) {
	dir, err := os.MkdirTemp("", "optim-demo-ckpt")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "train.safetensors")
	state, err := json.Marshal(sched.State())
	if err != nil {
		return nil, nil, err
	}
	if err := opt.SaveFileWith(path, map[string]json.RawMessage{"scheduler": state}); err != nil {
		return nil, nil, err
	}
	opt.Close()
	resumed, rsched, err := newTrainState(m, c, batches)
	if err != nil {
		return nil, nil, err
	}
	var st schedule.State
	if err := resumed.LoadFileWith(path, func(extra map[string]json.RawMessage) error {
		return json.Unmarshal(extra["scheduler"], &st)
	}); err != nil {
		resumed.Close()
		return nil, nil, err
	}
	if err := rsched.Restore(st); err != nil {
		resumed.Close()
		return nil, nil, err
	}
	info, err := os.Stat(path)
	if err != nil {
		resumed.Close()
		return nil, nil, err
	}
	fmt.Fprintf(w, "  checkpoint: %d steps saved to a %d-byte safetensors file with the schedule's state; resumed into a new optimizer\n",
		resumed.Steps(), info.Size())
	return resumed, rsched, nil
}

// The seeds' practical advice, demonstrated: three comparisons on the same
// network, data and initial weights, each two runs that differ in one
// choice.

// epochRecord is what one training epoch ends with.
type epochRecord struct {
	trainLoss, testLoss, testAcc float64
}

// trainRun is one run of a comparison.
type trainRun struct {
	name   string
	epochs []epochRecord
}

// final returns the last epoch's record.
func (r trainRun) final() epochRecord { return r.epochs[len(r.epochs)-1] }

// comparison is two runs that differ in one choice.
type comparison struct {
	name, figure, what string
	runs               [2]trainRun
}

// trainer is a run's optimizer, the order in which it takes the gradients,
// and the hooks the loop calls: beforeEpoch (may be nil) before each
// epoch's first step, afterStep (may be nil) after every step.
type trainer struct {
	opt         *optim.Optimizer[float32]
	grads       [][]float32
	beforeEpoch func(epoch int) error
	afterStep   func() error
}

// trainSetup builds a run's trainer for a fresh network.
type trainSetup func(m *mlp) (trainer, error)

// fit trains the network of c from the same initial weights with the
// optimizer setup builds and records every epoch.
func fit(c trainConfig, name string, setup trainSetup) (trainRun, error) {
	xs, ys := spirals(1500, 1)
	testX, testY := spirals(600, 2)
	m := newMLP(c.hidden, 3)
	t, err := setup(m)
	if err != nil {
		return trainRun{}, fmt.Errorf("%s: %w", name, err)
	}
	defer t.opt.Close()
	run := trainRun{name: name}
	batches := (len(xs) + c.batch - 1) / c.batch
	for epoch := range c.epochs {
		if t.beforeEpoch != nil {
			if err := t.beforeEpoch(epoch); err != nil {
				return run, fmt.Errorf("%s: %w", name, err)
			}
		}
		var sum float64
		for b := range batches {
			lo, hi := b*c.batch, min((b+1)*c.batch, len(xs))
			sum += m.batchGrad(xs[lo:hi], ys[lo:hi])
			if err := t.opt.Step(t.grads...); err != nil {
				return run, fmt.Errorf("%s: %w", name, err)
			}
			if t.afterStep != nil {
				if err := t.afterStep(); err != nil {
					return run, fmt.Errorf("%s: %w", name, err)
				}
			}
		}
		tl, acc := m.evaluate(testX, testY)
		run.epochs = append(run.epochs, epochRecord{sum / float64(batches), tl, acc})
	}
	return run, nil
}

// plainOptimizer is a one-group optimizer over all of m's parameters.
func plainOptimizer(rule optim.Rule) trainSetup {
	return func(m *mlp) (trainer, error) {
		opt, err := optim.New[float32](rule, m.params()...)
		return trainer{opt: opt, grads: m.grads()}, err
	}
}

// Hyperparameters of the comparisons, chosen once on this task (a small
// grid over lr; the other values are the textbook ones).
const (
	sgdLR       = 0.1  // SGD with momentum
	adamLR      = 0.02 // Adam
	annealFrom  = 0.5  // the momentum ramp: 0.5 up to 0.9 ...
	annealTo    = 0.9
	annealEpoch = 5 // ... over the first five epochs
	warmupSteps = 30
)

// compareTraining runs the three comparisons for c.epochs epochs.
func compareTraining(c trainConfig) ([]comparison, error) {
	sgd := optim.SGD{LR: sgdLR, Momentum: annealTo}
	annealed := func(m *mlp) (trainer, error) {
		opt, err := optim.New[float32](sgd, m.params()...)
		ramp := func(epoch int) error {
			t := min(1, float64(epoch)/float64(annealEpoch-1))
			return opt.SetGroupMomentum(0, annealFrom+t*(annealTo-annealFrom))
		}
		return trainer{opt: opt, grads: m.grads(), beforeEpoch: ramp}, err
	}
	adam := optim.DefaultAdam()
	adam.LR = adamLR
	batches := (1500 + c.batch - 1) / c.batch
	scheduled := func(m *mlp) (trainer, error) {
		opt, err := newTrainOptimizer(m, c.lr)
		if err != nil {
			return trainer{}, err
		}
		s, err := schedule.New(opt, warmupCosine(warmupSteps, c.epochs*batches))
		if err != nil {
			return trainer{}, err
		}
		return trainer{opt: opt, grads: m.groupGrads(), afterStep: s.Step}, nil
	}
	constant := func(m *mlp) (trainer, error) {
		opt, err := newTrainOptimizer(m, c.lr)
		return trainer{opt: opt, grads: m.groupGrads()}, err
	}
	specs := []struct {
		name, figure, what string
		names              [2]string
		setups             [2]trainSetup
	}{
		{"momentum", "8-train-momentum", "SGD with momentum: the momentum annealed over the first epochs, or fixed",
			[2]string{fmt.Sprintf("momentum %g -> %g over %d epochs", annealFrom, annealTo, annealEpoch), fmt.Sprintf("momentum fixed %g", annealTo)},
			[2]trainSetup{annealed, plainOptimizer(sgd)}},
		{"optimizer", "9-train-adam-sgd", "Adam against SGD with momentum",
			[2]string{fmt.Sprintf("Adam, lr %g", adamLR), fmt.Sprintf("SGD, lr %g, momentum %g", sgdLR, annealTo)},
			[2]trainSetup{plainOptimizer(adam), plainOptimizer(sgd)}},
		{"schedule", "10-train-schedule", "AdamW with a schedule, or at a constant rate",
			[2]string{fmt.Sprintf("warmup %d steps, then cosine from %g", warmupSteps, c.lr), fmt.Sprintf("constant %g", c.lr)},
			[2]trainSetup{scheduled, constant}},
	}
	var out []comparison
	for _, s := range specs {
		cmp := comparison{name: s.name, figure: s.figure, what: s.what}
		for i := range 2 {
			run, err := fit(c, s.names[i], s.setups[i])
			if err != nil {
				return nil, err
			}
			cmp.runs[i] = run
		}
		out = append(out, cmp)
	}
	return out, nil
}

// printComparisons writes one table row per comparison.
func printComparisons(w io.Writer, cmps []comparison, epochs int) {
	fmt.Fprintf(w, "Comparisons: the same network, data and initial weights; two runs each, %d epochs (A vs B)\n", epochs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "choice\trun A\trun B\ttrain loss A / B\ttest loss A / B\ttest acc A / B")
	for _, c := range cmps {
		a, b := c.runs[0].final(), c.runs[1].final()
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.4f / %.4f\t%.4f / %.4f\t%.1f%% / %.1f%%\n", c.name, c.runs[0].name, c.runs[1].name,
			a.trainLoss, b.trainLoss, a.testLoss, b.testLoss, 100*a.testAcc, 100*b.testAcc)
	}
	tw.Flush()
}

package main

import (
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
// parameter groups (AdamW, no weight decay on the biases), gradients
// written into the optimizer's own buffers (torch's p.grad), a
// learning-rate schedule stepped every batch to its end, gradient
// clipping, an EMA of the weights, and the whole training state saved
// halfway in one file and resumed.

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

// mlp is a 2-hidden-classes network: 2 inputs, a tanh hidden layer (fc1),
// 3 logits (fc2). Its parameters are flat slices, as a framework keeps
// them; their gradients are the optimizer's.
type mlp struct {
	hidden         int
	w1, b1, w2, b2 []float32 // w1: hidden x 2, w2: 3 x hidden
	h              []float32 // activations of one example
}

// mlpNames are the parameters' torch names (nn.Linear's), in params order.
var mlpNames = []string{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}

func newMLP(hidden int, seed uint64) *mlp {
	m := &mlp{hidden: hidden,
		w1: make([]float32, 2*hidden), b1: make([]float32, hidden),
		w2: make([]float32, 3*hidden), b2: make([]float32, 3),
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

// tensors are the parameters as torch's state_dict has them: by name, in
// nn.Linear's [out, in] shapes.
func (m *mlp) tensors() []optim.Tensor[float32] {
	shapes := [][]int{{m.hidden, 2}, {m.hidden}, {3, m.hidden}, {3}}
	var ts []optim.Tensor[float32]
	for i, p := range m.params() {
		ts = append(ts, optim.Tensor[float32]{Name: mlpNames[i], Data: p, Shape: shapes[i]})
	}
	return ts
}

// withParams returns a network of m's shape over p (in params order): the
// EMA's weights, to evaluate them.
func (m *mlp) withParams(p [][]float32) *mlp {
	return &mlp{hidden: m.hidden, w1: p[0], b1: p[1], w2: p[2], b2: p[3], h: make([]float32, m.hidden)}
}

// ownedGrads returns the optimizer's gradient buffers of an mlp's
// parameters, in params order, by name.
func ownedGrads(opt *optim.Optimizer[float32]) ([][]float32, error) {
	g := make([][]float32, len(mlpNames))
	for i, name := range mlpNames {
		var err error
		if g[i], err = opt.GradOf(name); err != nil {
			return nil, err
		}
	}
	return g, nil
}

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

// batchGrad adds the mean cross-entropy gradient of a batch into g (in
// params order: the optimizer's buffers, zeroed by ZeroGrad) and returns
// the batch's mean loss.
func (m *mlp) batchGrad(g [][]float32, xs [][2]float32, ys []int) float64 {
	gw1, gb1, gw2, gb2 := g[0], g[1], g[2], g[3]
	inv := 1 / float32(len(xs))
	var loss float64
	var z [3]float32
	for i, x := range xs {
		m.forward(x, &z)
		loss += softmax(&z, ys[i])
		z[ys[i]]--
		for k := range 3 {
			d := z[k] * inv
			gb2[k] += d
			for j := range m.hidden {
				gw2[k*m.hidden+j] += d * m.h[j]
			}
		}
		for j := range m.hidden {
			var d float32
			for k := range 3 {
				d += z[k] * inv * m.w2[k*m.hidden+j]
			}
			d *= 1 - m.h[j]*m.h[j]
			gb1[j] += d
			gw1[2*j] += d * x[0]
			gw1[2*j+1] += d * x[1]
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
	// resumeAt is the epoch before which the training run saves its
	// state and resumes from the file; 0 runs it uninterrupted.
	resumeAt int
}

// newTrainOptimizer builds the torch-style optimizer: AdamW with weight
// decay on the weight matrices, none on the biases; the parameters named.
func newTrainOptimizer(m *mlp, lr float64) (*optim.Optimizer[float32], error) {
	decay := optim.DefaultAdamW()
	decay.LR, decay.WeightDecay = lr, 1e-2
	noDecay := decay
	noDecay.WeightDecay = 0
	return optim.NewGroups(
		optim.Group[float32]{Rule: decay, Params: [][]float32{m.w1, m.w2}, Names: []string{"fc1.weight", "fc2.weight"}},
		optim.Group[float32]{Rule: noDecay, Params: [][]float32{m.b1, m.b2}, Names: []string{"fc1.bias", "fc2.bias"}},
	)
}

// newMuonOptimizer builds torch's Muon recipe over the same groups: Muon
// for the two weight matrices, in nn.Linear's [out, in] shapes, and AdamW
// without weight decay for the biases, at the same rate. With AdjustLR
// "match_rms_adamw" Muon scales its rate by 0.2·sqrt(max(rows, cols)), so
// that its orthogonalized updates have about AdamW's RMS, and one rate
// serves both groups.
func newMuonOptimizer(m *mlp, lr float64) (*optim.Optimizer[float32], error) {
	muon := optim.DefaultMuon()
	muon.LR, muon.WeightDecay, muon.AdjustLR = lr, 1e-2, "match_rms_adamw"
	noDecay := optim.DefaultAdamW()
	noDecay.LR, noDecay.WeightDecay = lr, 0
	return optim.NewGroups(
		optim.Group[float32]{Rule: muon, Params: [][]float32{m.w1, m.w2}, Names: []string{"fc1.weight", "fc2.weight"},
			Shapes: []optim.Shape{{m.hidden, 2}, {3, m.hidden}}},
		optim.Group[float32]{Rule: noDecay, Params: [][]float32{m.b1, m.b2}, Names: []string{"fc1.bias", "fc2.bias"}},
	)
}

// clipNorm is the training run's gradient-norm bound: about the median
// norm of its batch gradients, so that the larger ones are clipped.
const clipNorm = 0.25

// emaDecay is the EMA's decay per step: it averages over about the last
// 1/(1-decay) = 50 steps, under two epochs.
const emaDecay = 0.98

// trainState is everything a training process builds before its first
// step: the network, its optimizer, the schedule, the EMA of its weights,
// the counters, and the optim.Training that saves and loads all of them
// in one file.
type trainState struct {
	m            *mlp
	opt          *optim.Optimizer[float32]
	sched        *schedule.Scheduler
	ema          *optim.Averaged[float32]
	epoch, batch int // epochs and batches done
	file         *optim.Training[float32]
}

// newTrainState builds a fresh training state: the network at its
// initial weights, the optimizer, the schedule over every batch of the run
// and the EMA.
func newTrainState(c trainConfig, batches int) (*trainState, error) {
	s := &trainState{m: newMLP(c.hidden, 3)}
	var err error
	if s.opt, err = newTrainOptimizer(s.m, c.lr); err != nil {
		return nil, err
	}
	if s.sched, err = schedule.New(s.opt, warmupCosine(batches, c.epochs*batches)); err != nil {
		s.opt.Close()
		return nil, err
	}
	model := optim.Model[float32]{Params: s.m.params(), Names: mlpNames}
	if s.ema, err = optim.NewAveragedModel(optim.EMA(emaDecay), model); err != nil {
		s.opt.Close()
		return nil, err
	}
	s.file = &optim.Training[float32]{
		Model:      s.m.tensors(),
		Optimizer:  s.opt,
		Schedulers: map[string]optim.Stateful{"warmup_cosine": s.sched},
		Averaged:   s.ema,
		Extra:      map[string]any{"epoch": &s.epoch, "batch": &s.batch},
	}
	return s, nil
}

func (s *trainState) close() {
	s.opt.Close()
	s.ema.Close()
}

// step trains on one batch: the optimizer's gradients zeroed and filled,
// clipped, a step, the EMA and the schedule. It returns the batch's loss
// and whether the gradient was clipped.
func (s *trainState) step(xs [][2]float32, ys []int) (loss float64, clipped bool, err error) {
	s.opt.ZeroGrad()
	g, err := ownedGrads(s.opt)
	if err != nil {
		return 0, false, err
	}
	loss = s.m.batchGrad(g, xs, ys)
	norm, err := s.opt.ClipGradNorm(clipNorm, 2, true)
	if err != nil {
		return 0, false, err
	}
	if err := s.opt.Step(); err != nil {
		return 0, false, err
	}
	if err := s.ema.Update(); err != nil {
		return 0, false, err
	}
	if err := s.sched.Step(); err != nil {
		return 0, false, err
	}
	s.batch++
	return loss, norm > clipNorm, nil
}

// trained is what a training run ends with: the network's weights and
// the EMA's, in params order.
type trained struct {
	weights, ema [][]float32
}

// train runs the training loop and prints a row per epoch: the raw
// weights' held-out loss and accuracy beside the EMA's. Before epoch
// c.resumeAt it saves the whole training state in one file and goes on
// with a new state loaded from it, as a resumed process would; the run
// goes on with the same bits.
func train(w io.Writer, c trainConfig) (trained, error) {
	xs, ys := spirals(1500, 1)
	testX, testY := spirals(600, 2)
	batches := (len(xs) + c.batch - 1) / c.batch
	s, err := newTrainState(c, batches)
	if err != nil {
		return trained{}, err
	}
	defer func() { s.close() }()
	fmt.Fprintf(w, "Training: a %d-unit MLP on three spirals (%d train, %d held out), AdamW in two groups (no decay on biases), %d epochs\n",
		c.hidden, len(xs), len(testX), c.epochs)
	fmt.Fprintf(w, "gradients: written into the optimizer's own buffers (GradOf(\"fc1.weight\"), ...), clipped to norm %g\n", clipNorm)
	fmt.Fprintf(w, "schedule: linear warmup over %d steps, then cosine annealing to 0 at step %d, its last; EMA of the weights, decay %g\n",
		batches, c.epochs*batches, emaDecay)
	fmt.Fprintf(w, "%6s %10s %11s %10s %9s %10s %9s %8s\n", "epoch", "lr", "train loss", "test loss", "test acc", "EMA loss", "EMA acc", "clipped")
	for s.epoch < c.epochs {
		if s.epoch == c.resumeAt && s.epoch > 0 {
			resumed, err := s.checkpointAndResume(w, c, batches)
			if err != nil {
				return trained{}, err
			}
			s.close()
			s = resumed
		}
		var sum float64
		clipped := 0
		for b := range batches {
			lo, hi := b*c.batch, min((b+1)*c.batch, len(xs))
			loss, clip, err := s.step(xs[lo:hi], ys[lo:hi])
			if err != nil {
				return trained{}, err
			}
			sum += loss
			if clip {
				clipped++
			}
		}
		s.epoch++
		tl, acc := s.m.evaluate(testX, testY)
		el, eacc := s.m.withParams(s.ema.Params()).evaluate(testX, testY)
		fmt.Fprintf(w, "%6d %10.3g %11.4f %10.4f %8.1f%% %10.4f %8.1f%% %5d/%d\n",
			s.epoch, s.opt.LR(), sum/float64(batches), tl, 100*acc, el, 100*eacc, clipped, batches)
	}
	// Close stops workers only: the slices stay valid.
	return trained{weights: s.m.params(), ema: s.ema.Params()}, nil
}

// checkpointAndResume saves s, the whole training state, into one file
// and returns a new state, built from scratch as a new process would,
// loaded from it.
func (s *trainState) checkpointAndResume(w io.Writer, c trainConfig, batches int) (*trainState, error) {
	dir, err := os.MkdirTemp("", "optim-demo-ckpt")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "train.safetensors")
	if err := s.file.SaveFile(path); err != nil {
		return nil, err
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	resumed, err := newTrainState(c, batches)
	if err != nil {
		return nil, err
	}
	if err := resumed.file.LoadFile(path); err != nil {
		resumed.close()
		return nil, err
	}
	fmt.Fprintf(w, "  checkpoint: the weights by name, AdamW's state, the schedule, the EMA and the counters in one %d-byte file (optim.Training); resumed at epoch %d, batch %d, step %d\n",
		info.Size(), resumed.epoch, resumed.batch, resumed.opt.Steps())
	return resumed, nil
}

// The seeds' practical advice, demonstrated: four comparisons on the same
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

// trainer is a run's optimizer, over the network's named parameters, and
// the hooks the loop calls: beforeEpoch (may be nil) before each epoch's
// first step, afterStep (may be nil) after every step.
type trainer struct {
	opt         *optim.Optimizer[float32]
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
			t.opt.ZeroGrad()
			g, err := ownedGrads(t.opt)
			if err != nil {
				return run, fmt.Errorf("%s: %w", name, err)
			}
			sum += m.batchGrad(g, xs[lo:hi], ys[lo:hi])
			if err := t.opt.Step(); err != nil {
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

// oneGroup is a one-group optimizer over all of m's parameters, named.
func oneGroup(rule optim.Rule, m *mlp) (*optim.Optimizer[float32], error) {
	return optim.NewGroups(optim.Group[float32]{Rule: rule, Params: m.params(), Names: mlpNames})
}

// plainOptimizer is a one-group optimizer over all of m's parameters.
func plainOptimizer(rule optim.Rule) trainSetup {
	return func(m *mlp) (trainer, error) {
		opt, err := oneGroup(rule, m)
		return trainer{opt: opt}, err
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

// compareTraining runs the four comparisons for c.epochs epochs.
func compareTraining(c trainConfig) ([]comparison, error) {
	sgd := optim.SGD{LR: sgdLR, Momentum: annealTo}
	annealed := func(m *mlp) (trainer, error) {
		opt, err := oneGroup(sgd, m)
		ramp := func(epoch int) error {
			t := min(1, float64(epoch)/float64(annealEpoch-1))
			return opt.SetGroupMomentum(0, annealFrom+t*(annealTo-annealFrom))
		}
		return trainer{opt: opt, beforeEpoch: ramp}, err
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
		return trainer{opt: opt, afterStep: s.Step}, nil
	}
	constant := func(m *mlp) (trainer, error) {
		opt, err := newTrainOptimizer(m, c.lr)
		return trainer{opt: opt}, err
	}
	muon := func(m *mlp) (trainer, error) {
		opt, err := newMuonOptimizer(m, c.lr)
		return trainer{opt: opt}, err
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
		{"matrices", "11-train-muon", "Muon for the weight matrices (AdamW for the biases) against AdamW for all",
			[2]string{fmt.Sprintf("Muon + AdamW, lr %g", c.lr), fmt.Sprintf("AdamW, lr %g", c.lr)},
			[2]trainSetup{muon, constant}},
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

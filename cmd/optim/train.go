package main

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"

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

// train runs the training loop and prints the loss per epoch.
func train(w io.Writer, c trainConfig) error {
	xs, ys := spirals(1500, 1)
	testX, testY := spirals(600, 2)
	m := newMLP(c.hidden, 3)
	opt, err := newTrainOptimizer(m, c.lr)
	if err != nil {
		return err
	}
	defer opt.Close()
	// Step order: the optimizer takes gradients in group order, then
	// parameter order: w1, w2, b1, b2.
	grads := [][]float32{m.gw1, m.gw2, m.gb1, m.gb2}
	fmt.Fprintf(w, "Training: a %d-unit MLP on three spirals (%d train, %d held out), AdamW (no decay on biases), %d epochs\n",
		c.hidden, len(xs), len(testX), c.epochs)
	batches := (len(xs) + c.batch - 1) / c.batch
	// Warmup then cosine, stepped every batch: a linear ramp from 1/10 of
	// the rate over the first epoch, then a half cosine to zero.
	sched, err := schedule.New(opt, warmupCosine(batches, c.epochs*batches))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "schedule: linear warmup over %d steps, then cosine annealing to 0 at step %d\n", batches, c.epochs*batches)
	fmt.Fprintf(w, "%6s %12s %12s %12s %10s\n", "epoch", "lr", "train loss", "test loss", "test acc")
	for epoch := range c.epochs {
		var sum float64
		for b := range batches {
			lo, hi := b*c.batch, min((b+1)*c.batch, len(xs))
			sum += m.batchGrad(xs[lo:hi], ys[lo:hi])
			if err := opt.Step(grads...); err != nil {
				return err
			}
			if err := sched.Step(); err != nil {
				return err
			}
		}
		tl, acc := m.evaluate(testX, testY)
		fmt.Fprintf(w, "%6d %12.3g %12.4f %12.4f %9.1f%%\n", epoch+1, opt.LR(), sum/float64(batches), tl, 100*acc)
	}
	return nil
}

// warmupCosine is torch's usual warmup-plus-cosine recipe:
// SequentialLR([LinearLR(0.1, 1, warmup), CosineAnnealingLR(total-warmup)],
// milestones=[warmup]).
func warmupCosine(warmup, total int) schedule.Spec {
	return schedule.SequentialLR{
		Schedulers: []schedule.Spec{
			schedule.LinearLR{StartFactor: 0.1, EndFactor: 1, TotalIters: warmup},
			schedule.CosineAnnealingLR{TMax: total - warmup},
		},
		Milestones: []int{warmup},
	}
}

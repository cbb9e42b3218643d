package optim

import (
	"math"
	"unsafe"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/detmath"
	"github.com/simdoptim/optim/kernels"
)

// Adafactor is torch.optim.Adafactor (torch 2.5): Adam's second moment
// without its memory. For a parameter with two or more dimensions (its
// Group.Shapes entry, rows × cols or a stack ... × rows × cols) the
// running average of the squared gradient is kept factored, one value per
// row and one per column of each matrix (torch's row_var and col_var); a
// flat parameter (no shape, or one dimension) keeps it whole (variance).
//
// A step of a parameter P with gradient G at step t is torch's
// _single_tensor_adafactor:
//
//	w = t^Beta2Decay;  ρ = min(LR, 1/√t);  α = max(Eps2, RMS(P))·ρ
//	P = P·(1 - LR·WeightDecay)                     (when WeightDecay ≠ 0)
//	factored:  R = lerp(R, mean(G², cols), w);  C = lerp(C, mean(G², rows), w)
//	           V = R·C / max(mean(R), Eps1)
//	flat:      V = lerp(V, G², w)
//	U = G / √max(V, Eps1²);  P = P - α/max(1, RMS(U)/D) · U
//
// RMS(x) is ‖x‖₂/√len(x), and each norm is computed with float64 sums
// (deterministic, the same bits on every CPU) and rounded to the element
// type, as torch rounds its norms. Torch keeps the step count as a float32
// tensor, so past 2^24 steps its t stops counting exactly; here t is the
// step count rounded to float32, as torch reads it.
type Adafactor struct {
	LR float64
	// Beta2Decay is τ, at most 0: the average's weight of the new squared
	// gradient at step t is t^τ.
	Beta2Decay float64
	// Eps1 bounds the variance estimate from below (its square bounds V,
	// and the mean of the row factors is bounded by Eps1 itself); it must
	// be positive. With MachineEps1, Eps1 is ignored and the element type's
	// machine epsilon is used (2^-23 for float32, 2^-52 for float64),
	// torch's eps[0] = None.
	Eps1        float64
	MachineEps1 bool
	// Eps2 bounds the parameter's RMS from below in the step size.
	Eps2 float64
	// D is the clipping threshold of the update's RMS, at least 1.
	D           float64
	WeightDecay float64
	Maximize    bool
}

// DefaultAdafactor returns torch's Adafactor defaults: lr 1e-2,
// beta2_decay -0.8, eps (None, 1e-3), d 1, no weight decay.
func DefaultAdafactor() Adafactor {
	return Adafactor{LR: 1e-2, Beta2Decay: -0.8, MachineEps1: true, Eps2: 1e-3, D: 1}
}

func (r Adafactor) validate() error {
	cs := []hyperCheck{nonNegative("LR", r.LR)}
	if !(r.Beta2Decay <= 0) || math.IsInf(r.Beta2Decay, 0) {
		cs = append(cs, hyperCheck{"Beta2Decay", "a finite value <= 0", r.Beta2Decay})
	}
	if !r.MachineEps1 {
		cs = append(cs, nonNegative("Eps1", r.Eps1))
		if r.Eps1 == 0 {
			cs = append(cs, hyperCheck{"Eps1", "> 0 (a zero Eps1 gives 0·∞ = NaN on any zero gradient; " +
				"MachineEps1 is torch's default, the element type's machine epsilon)", r.Eps1})
		}
	}
	cs = append(cs, nonNegative("Eps2", r.Eps2))
	if !(r.D >= 1) || math.IsInf(r.D, 0) {
		cs = append(cs, hyperCheck{"D", "a finite value >= 1", r.D})
	}
	cs = append(cs, nonNegative("WeightDecay", r.WeightDecay))
	return checks("Adafactor", cs...)
}

// Adafactor has no elementwise kernel: kind names the kernel that the
// optimizer's tables hold for it, which never runs (see matrixRule).
func (Adafactor) kind() kernels.Kind          { return generic.KindSGD }
func (r Adafactor) lr() float64               { return r.LR }
func (r Adafactor) withLR(lr float64) Rule    { r.LR = lr; return r }
func (Adafactor) momentum() (float64, bool)   { return 0, false }
func (r Adafactor) withMomentum(float64) Rule { return r }
func (r Adafactor) coefficients32(stepInput) stepCoeffs[float32] {
	return adafactorCoefficients[float32](r)
}
func (r Adafactor) coefficients64(stepInput) stepCoeffs[float64] {
	return adafactorCoefficients[float64](r)
}

// adafactorCoefficients holds, for representable's checks, the scalars a
// step multiplies by in T: the decay and the bound Eps1.
func adafactorCoefficients[T generic.Float](r Adafactor) stepCoeffs[T] {
	c := generic.Coeffs[T]{NegLR: T(-r.LR), Decay: T(1 - r.LR*r.WeightDecay), Eps: 1}
	if !r.MachineEps1 {
		c.Eps = T(r.Eps1)
	}
	return stepCoeffs[T]{c: c}
}

func (r Adafactor) checkCoefficients(k *coeffChecker) {
	k.decay(r.WeightDecay)
	if !r.MachineEps1 {
		k.finite(k.c.Eps, "Eps1", r.Eps1, plainValue)
		if k.c.Eps == 0 {
			k.fail("Eps1", r.Eps1, "a value that does not round to 0 in "+k.typ)
		}
	}
}

func (Adafactor) checkShape(Shape) error { return nil }

func (Adafactor) stateSlots(s Shape, n int) (lens [3]int, keys [3]string, full [3]bool) {
	// The slots are row_var, col_var and variance, of which a parameter
	// uses the first two (factored) or the third, so that each key has one
	// slot, as in a checkpoint's layout.
	keys = [3]string{"row_var", "col_var", "variance"}
	if len(s) < 2 {
		return [3]int{0, 0, n}, keys, [3]bool{false, false, true}
	}
	rows, cols := s[len(s)-2], s[len(s)-1]
	batch := 0
	if rows*cols > 0 {
		batch = n / (rows * cols)
	}
	return [3]int{batch * rows, batch * cols, 0}, keys, [3]bool{}
}

// adafactorChunk is the scratch a step of a parameter of shape s and n
// elements needs: one row of the update (factored), or a block of it.
func adafactorChunk(s Shape, n int) int {
	if len(s) >= 2 {
		return s[len(s)-1]
	}
	return min(n, adafactorBlock)
}

// adafactorBlock is the length of the blocks of a flat parameter's update.
const adafactorBlock = 4096

// eps1 is the rule's Eps1 in T.
func (r *Adafactor) eps1(machine float64) float64 {
	if r.MachineEps1 {
		return machine
	}
	return r.Eps1
}

// lerpT is torch's lerp of one element, in T (see generic.Lerp).
func lerpT[T float32 | float64](v, x, w, comp T, high bool) T {
	if high {
		return x - T((x-v)*comp)
	}
	return v + T(w*(x-v))
}

// adafactorUpdate is one element of the update: g / √max(ve, floor), with
// torch's rsqrt (a square root, then its reciprocal, each rounded).
func adafactorUpdate[T float32 | float64](g, ve, floor T) T {
	if ve < floor { // clamp(min=floor); NaN stays NaN
		ve = floor
	}
	inv := T(1) / T(math.Sqrt(float64(ve)))
	return T(inv * g)
}

// rmsT is ‖x‖/√n from a float64 sum of squares s: the norm rounded to T,
// as torch's norm(2).item() returns it, over √n in float64.
func rmsT[T float32 | float64](s float64, n int) float64 {
	return float64(T(math.Sqrt(s))) / math.Sqrt(float64(n))
}

// adafactorStep is step number step of Adafactor on p (shape s) with
// gradient g and the state slots st.
func adafactorStep[T float32 | float64](w *matWork[T], r *Adafactor, p, g []T, st *[3][]T, s Shape, step int64) {
	n := len(p)
	if n == 0 {
		return
	}
	k := gradKernels[T]()
	neg := T(1)
	if r.Maximize {
		neg = -1 // torch's -grad: exact
	}
	t := float64(float32(step)) // torch's float32 step tensor, read by item()
	lw := T(detmath.Pow(t, r.Beta2Decay))
	rho := min(r.LR, 1/math.Sqrt(t))
	w.one[0] = p
	rms := float64(T(generic.Norm(k, 2, w.one[:]))) / math.Sqrt(float64(n)) // scaled past overflow, as torch's norm
	w.one[0] = nil
	alpha := r.Eps2
	if rms > alpha { // Python's max(eps2, rms): eps2 unless rms is larger
		alpha = rms
	}
	alpha *= rho
	if r.WeightDecay != 0 {
		k.Scale(p, T(1-r.LR*r.WeightDecay))
	}
	machine := 0x1p-52
	if unsafe.Sizeof(T(0)) == 4 {
		machine = 0x1p-23
	}
	e1 := r.eps1(machine)
	floor := T(e1 * e1)
	comp, high := T(1)-lw, generic.LerpHigh(lw)
	u := w.u
	// chunk computes chunk c of the update into u: a row of a factored
	// parameter, a block of a flat one; it returns its offset in p.
	var (
		chunks int
		chunk  func(c int) (off int, u []T)
	)
	if len(s) >= 2 {
		rows, cols := s[len(s)-2], s[len(s)-1]
		batch := n / (rows * cols)
		rv, cv := st[0], st[1]
		cs := w.cols[:cols]
		for b := range batch {
			gm := g[b*rows*cols : (b+1)*rows*cols]
			rb, cb := rv[b*rows:(b+1)*rows], cv[b*cols:(b+1)*cols]
			clear(cs)
			for i := range rows {
				row := gm[i*cols : (i+1)*cols]
				norm := T(math.Sqrt(k.SumSquares(row)))
				mean := T(norm*norm) / T(cols)
				rb[i] = lerpT(rb[i], mean, lw, comp, high)
				for j, v := range row {
					cs[j] += float64(float64(v) * float64(v)) // rounded: never fused
				}
			}
			for j, sq := range cs {
				norm := T(math.Sqrt(sq))
				mean := T(norm*norm) / T(rows)
				cb[j] = lerpT(cb[j], mean, lw, comp, high)
			}
		}
		chunks = batch * rows
		lastB, den := -1, T(0) // the divisor of matrix lastB
		chunk = func(c int) (int, []T) {
			b, i := c/rows, c%rows
			rb, cb := rv[b*rows:(b+1)*rows], cv[b*cols:(b+1)*cols]
			if b != lastB {
				sum := 0.0
				for _, v := range rb {
					sum += float64(v)
				}
				den = T(sum / float64(rows)) // row_var.mean(dim=-2)
				if den < T(e1) {
					den = T(e1) // clamp_(min=eps1)
				}
				lastB = b
			}
			off := c * cols
			ui := u[:cols]
			for j, v := range g[off : off+cols] {
				ve := T(rb[i]*cb[j]) / den
				ui[j] = adafactorUpdate(neg*v, ve, floor)
			}
			return off, ui
		}
	} else {
		v := st[2]
		for i, x := range g {
			v[i] = lerpT(v[i], T(x*x), lw, comp, high)
		}
		chunks = (n + adafactorBlock - 1) / adafactorBlock
		chunk = func(c int) (int, []T) {
			off := c * adafactorBlock
			end := min(n, off+adafactorBlock)
			ui := u[:end-off]
			for j, x := range g[off:end] {
				ui[j] = adafactorUpdate(neg*x, v[off+j], floor)
			}
			return off, ui
		}
	}
	// The update's norm first (torch materializes the update), then the
	// update again, with the same bits, into p.
	var tree generic.SumTree
	for c := range chunks {
		_, ui := chunk(c)
		tree.Push(k.SumSquares(ui))
	}
	denom := 1.0
	if x := rmsT[T](tree.Sum(), n) / r.D; x > denom {
		denom = x
	}
	a := T(-alpha / denom)
	for c := range chunks {
		off, ui := chunk(c)
		pi := p[off : off+len(ui)]
		for j, x := range ui {
			pi[j] += T(a * x) // torch's add_(update, alpha): the product rounded
		}
	}
}

// adafactorTorch: torch.optim.Adafactor's param_groups entry. eps holds
// Eps1 (null for MachineEps1) and Eps2.
var adafactorTorch = matrixTorchForm[Adafactor](torchForm{
	class: "Adafactor",
	keys: []groupKey{
		hyper("lr", "LR"), hyper("beta2_decay", "Beta2Decay"), hyper("eps", "Eps1", "Eps2", "MachineEps1"),
		hyper("d", "D"), hyper("weight_decay", "WeightDecay"), foreachKey, hyper("maximize", "Maximize"),
	},
})

func (Adafactor) torch() *torchForm { return &adafactorTorch }
